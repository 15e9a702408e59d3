import { type ArchProfile, X86_64, X86_64_LA57 } from './arch.js';
import { EINVAL, KernelError } from './errno.js';
import {
  type DaxVmemmapGate,
  type FaultModel,
  GUP,
  type GupGeneration,
  MEMMAP_INIT,
  type MemmapInitVariant,
  VMEMMAP,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
} from './generation.js';
import { STRUCT_PAGE_V5_15, STRUCT_PAGE_V6_1, STRUCT_PAGE_V6_6, STRUCT_PAGE_V7_3, type StructPageLayout } from './struct-page.js';

/**
 * The generation registry: one typed row per kernel release the model runs,
 * naming the generation it runs of every piece of the stack, and one row per
 * proposal (a generation of one piece, never a kernel). Code reads the row a
 * machine was set up with; it never compares version strings.
 */

/** Kernel releases a machine can be told to run (`--kernel`). */
export const KERNEL_VERSIONS = ['5.15', '5.19', '6.1', '6.6', '6.8', '7.3'] as const;
export type KernelVersion = (typeof KERNEL_VERSIONS)[number];

/**
 * How the kernel's x86-64 page tables are chosen: `4-level` always, or
 * `5-level-if-la57` — 5-level paging when the CPU has LA57 (the la57 arch
 * profile), 4-level otherwise (CONFIG_X86_5LEVEL=y, as distributions build).
 */
export type PagingPolicy = '4-level' | '5-level-if-la57';

/** /sys/devices/system/memory/auto_online_blocks values (memhp_default_state=). */
export type OnlinePolicy = 'offline' | 'online' | 'online_kernel' | 'online_movable';

/** The memory-hotplug facts of a release that dax_kmem and daxctl meet. */
export interface HotplugSpec {
  /** What auto_online_blocks reads after boot (the distribution's CONFIG_MHP_DEFAULT_ONLINE_TYPE). */
  readonly defaultAutoOnline: OnlinePolicy;
  /**
   * /sys/bus/dax/devices/daxX.Y/memmap_on_memory exists and dax_kmem passes
   * MHP_MEMMAP_ON_MEMORY when it is set (6b8f0798b85a, 73954d379efd, v6.8).
   */
  readonly daxMemmapOnMemory: boolean;
  /**
   * dev_dax_kmem_probe() warns `DAX region truncated by <size> due to
   * alignment` when memory-block alignment trims a device (Gregory Price,
   * "DAX: warn when kmem regions are truncated for memory block alignment";
   * seen on 7.3, absent from 6.1: shared/real-kernel/kmem-ref).
   */
  readonly kmemTruncationWarning: boolean;
}

/** What /proc prints on a release (the lines procfs views print, in the kernel's order). */
export interface ProcfsSpec {
  /** /proc/vmstat has nr_memmap_pages and nr_memmap_boot_pages (15995a352474 "mm: report per-page metadata information", v6.11). */
  readonly vmstatMemmapCounters: boolean;
  /** The lines of /proc/meminfo, in the order meminfo_proc_show() and its arch and hugetlb hooks print them. */
  readonly meminfoFields: readonly string[];
}

/**
 * /proc/meminfo of Debian's 6.1.0-57-amd64 (6.1.192) under QEMU, read verbatim
 * (packages/machine/views-ref/raw-6.1.txt): Zswap and SecPageTables are there
 * (stable backports), CmaTotal/CmaFree are not (Debian's 6.1 has no CONFIG_CMA).
 * 5.15, 5.19, 6.6 and 6.8 were not measured and print these lines (not confirmed).
 */
const MEMINFO_6_1 = [
  'MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SwapCached', 'Active', 'Inactive', 'Active(anon)', 'Inactive(anon)',
  'Active(file)', 'Inactive(file)', 'Unevictable', 'Mlocked', 'SwapTotal', 'SwapFree', 'Zswap', 'Zswapped', 'Dirty', 'Writeback',
  'AnonPages', 'Mapped', 'Shmem', 'KReclaimable', 'Slab', 'SReclaimable', 'SUnreclaim', 'KernelStack', 'PageTables', 'SecPageTables',
  'NFS_Unstable', 'Bounce', 'WritebackTmp', 'CommitLimit', 'Committed_AS', 'VmallocTotal', 'VmallocUsed', 'VmallocChunk', 'Percpu',
  'HardwareCorrupted', 'AnonHugePages', 'ShmemHugePages', 'ShmemPmdMapped', 'FileHugePages', 'FilePmdMapped', 'HugePages_Total',
  'HugePages_Free', 'HugePages_Rsvd', 'HugePages_Surp', 'Hugepagesize', 'Hugetlb', 'DirectMap4k', 'DirectMap2M', 'DirectMap1G',
] as const;

/**
 * /proc/meminfo of Debian's 7.3-amd64 (7.3~rc7) under QEMU, read verbatim
 * (packages/machine/views-ref/raw-7.3-offline.txt): 6.1's lines plus
 * CmaTotal/CmaFree, Unaccepted, Balloon, GPUActive and GPUReclaim.
 */
const MEMINFO_7_3 = [
  ...MEMINFO_6_1.slice(0, MEMINFO_6_1.indexOf('HugePages_Total')),
  'CmaTotal', 'CmaFree', 'Unaccepted', 'Balloon', 'GPUActive', 'GPUReclaim',
  ...MEMINFO_6_1.slice(MEMINFO_6_1.indexOf('HugePages_Total')),
] as const;

const PROCFS_6_1: ProcfsSpec = { vmstatMemmapCounters: false, meminfoFields: MEMINFO_6_1 };

/**
 * The format of dev_dax_huge_fault()'s dev_dbg line (drivers/dax/device.c),
 * printed once per fault attempt when dynamic debug is on for the file:
 * - `pe-size`: `<comm>: <read|write> (<vm_start> - <vm_end>) size = <pe_size>`,
 *   pe_size the enum page_entry_size (0 PTE, 1 PMD, 2 PUD);
 * - `order`: `<comm>: <read|write> (<vm_start> - <vm_end>) order:<order>`:
 *   1d024e7a8dab "mm: remove enum page_entry_size" (v6.6) passes the order;
 * - `op-addr-order`: `<comm>: op=<read|write> addr=<address aligned to the order> order=<order>`:
 *   Peter Xu, "mm/dax: dump start address in fault handler" (v5 posted
 *   12 Aug 2024, mainline by v6.12; its mainline commit id is not confirmed here).
 * Source only: none of shared/real-kernel's runs enabled dynamic debug.
 */
export type DaxFaultDbgFormat = 'pe-size' | 'order' | 'op-addr-order';

/** What a release's kernel log lines look like where they changed between releases. */
export interface KlogSpec {
  readonly daxFaultDbg: DaxFaultDbgFormat;
}

/** What one kernel release runs, piece by piece; each value cites its source where the row is written. */
export interface KernelRelease {
  readonly kind: 'release';
  readonly version: KernelVersion;
  /** The vmemmap generation device-dax gets. */
  readonly vmemmap: VmemmapGeneration;
  /** Which vmemmap_can_optimize() it runs. */
  readonly vmemmapOptimizeRule: VmemmapOptimizeRule;
  /** The struct page / struct folio layout, page flag numbers and tail encoding. */
  readonly layout: StructPageLayout;
  /** How device-dax faults map a unit (a devmap pfn leaf, or a refcounted, rmapped folio). */
  readonly fault: FaultModel;
  /** Whether huge device-dax leaves carry the pte/pmd devmap bit (removed by d438d2734170, v6.17). */
  readonly devmapBit: boolean;
  /** get_user_pages_fast()'s generation for huge device-dax leaves. */
  readonly gup: GupGeneration;
  /** How memmap_init_zone_device() writes struct pages (every release so far: per-page stores). */
  readonly memmapInit: MemmapInitVariant;
  /** How dax_set_mapping() rounds the fault address: ALIGN() as the seed's patch 5, or ALIGN_DOWN since 7fcbd9785d4c. */
  readonly setMappingIndex: 'align-down' | 'align-up';
  readonly paging: PagingPolicy;
  readonly hotplug: HotplugSpec;
  /**
   * Whether removing the sections of a device (destroying its namespace)
   * takes its PG_hwpoison pages off num_poisoned_pages (/proc/meminfo
   * HardwareCorrupted): clear_hwpoisoned_pages() in sparse_remove_section().
   * Measured: 6.1 drops 4 kB per poisoned folio, 7.3 keeps the count
   * (shared/real-kernel/poison-ref); the releases between are not confirmed
   * and follow 6.1.
   */
  readonly hwpoisonDroppedAtRemove: boolean;
  readonly procfs: ProcfsSpec;
  /**
   * The Kconfig symbol vmemmap_can_optimize() is built under in this
   * release (generation.ts DaxVmemmapGate): none before 87a7ae75d738 (v6.4),
   * ARCH_WANT_OPTIMIZE_DAX_VMEMMAP since 0b6f15824cc7 (v6.6). Whether an
   * architecture selects it is arch.ts's; see archOptimizesDaxVmemmap().
   */
  readonly daxVmemmapGate: DaxVmemmapGate;
  readonly klog: KlogSpec;
}

const OFFLINE_NO_MOM: HotplugSpec = { defaultAutoOnline: 'offline', daxMemmapOnMemory: false, kmemTruncationWarning: false };

/**
 * The releases, each fact with where it comes from. What the sources could
 * not confirm is said in the mm README.
 */
export const KERNELS: Readonly<Record<KernelVersion, KernelRelease>> = {
  // v5.15: no compound devmaps yet (they came in v5.17); the seed's struct
  // page; dev_dax_huge_fault set page->index from ALIGN_DOWN of the address.
  '5.15': {
    kind: 'release', version: '5.15', vmemmap: 'pre-series', vmemmapOptimizeRule: 'seed', layout: STRUCT_PAGE_V5_15,
    fault: 'pfn', devmapBit: true, gup: 'per-page', memmapInit: 'per-page', setMappingIndex: 'align-down', paging: '5-level-if-la57', hotplug: OFFLINE_NO_MOM, hwpoisonDroppedAtRemove: true, procfs: PROCFS_6_1,
    daxVmemmapGate: null, klog: { daxFaultDbg: 'pe-size' },
  },
  // v5.19: 4917f55b4ef9 (2 vmemmap pages per compound page); compound_pincount
  // in the first tail since 5232c63f46fd (v5.18); dax_set_mapping() with
  // ALIGN() as the seed's patch 5 wrote it.
  '5.19': {
    kind: 'release', version: '5.19', vmemmap: 'tail-reuse', vmemmapOptimizeRule: 'seed', layout: STRUCT_PAGE_V6_1,
    fault: 'pfn', devmapBit: true, gup: 'per-page', memmapInit: 'per-page', setMappingIndex: 'align-up', paging: '5-level-if-la57', hotplug: OFFLINE_NO_MOM, hwpoisonDroppedAtRemove: true, procfs: PROCFS_6_1,
    daxVmemmapGate: null, klog: { daxFaultDbg: 'pe-size' },
  },
  // v6.1, measured (Debian 12's 6.1.192, shared/real-kernel): page[1] holds
  // dtor, order, compound_mapcount, compound_pincount, compound_nr; faults
  // insert devmap pfn PMDs (vmf_insert_pfn_pmd_prot, no reference, no rmap);
  // GUP takes get_dev_pagemap + try_grab_page per 4 KiB page; auto_online_blocks
  // offline; CONFIG_X86_5LEVEL=y (5-level on the LA57 CPU); no dax
  // memmap_on_memory. 87a7ae75d738 is mainline v6.4 (its 6.1.y backport is not modelled).
  // dax_set_mapping() rounds down: 6.1.192 carries 7fcbd9785d4c from stable
  // (measured, shared/real-kernel/poison-ref: memory_failure() finds the
  // mapper at the folio's own address, which the ALIGN() index would miss).
  '6.1': {
    kind: 'release', version: '6.1', vmemmap: 'tail-reuse', vmemmapOptimizeRule: 'seed', layout: STRUCT_PAGE_V6_1,
    fault: 'pfn', devmapBit: true, gup: 'per-page', memmapInit: 'per-page', setMappingIndex: 'align-down', paging: '5-level-if-la57', hotplug: OFFLINE_NO_MOM, hwpoisonDroppedAtRemove: true, procfs: PROCFS_6_1,
    daxVmemmapGate: null, klog: { daxFaultDbg: 'pe-size' },
  },
  // v6.6: c1a6c536fb08 (VMEMMAP_RESERVE_NR, ppc64 radix override); struct
  // folio without _folio_dtor/_folio_order and the page flags rearranged
  // (Matthew Wilcox, Aug 2023). 7fcbd9785d4c (dax_set_mapping ALIGN_DOWN) is later (2024).
  '6.6': {
    kind: 'release', version: '6.6', vmemmap: 'tail-reuse', vmemmapOptimizeRule: 'reserve-nr', layout: STRUCT_PAGE_V6_6,
    fault: 'pfn', devmapBit: true, gup: 'per-page', memmapInit: 'per-page', setMappingIndex: 'align-up', paging: '5-level-if-la57', hotplug: OFFLINE_NO_MOM, hwpoisonDroppedAtRemove: true, procfs: PROCFS_6_1,
    daxVmemmapGate: 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP', klog: { daxFaultDbg: 'order' },
  },
  // v6.8: dax_kmem's memmap_on_memory (6b8f0798b85a, 73954d379efd), the
  // dax device attribute of that name; otherwise as 6.6.
  '6.8': {
    kind: 'release', version: '6.8', vmemmap: 'tail-reuse', vmemmapOptimizeRule: 'reserve-nr', layout: STRUCT_PAGE_V6_6,
    fault: 'pfn', devmapBit: true, gup: 'per-page', memmapInit: 'per-page', setMappingIndex: 'align-up', paging: '5-level-if-la57',
    hotplug: { defaultAutoOnline: 'offline', daxMemmapOnMemory: true, kmemTruncationWarning: false }, hwpoisonDroppedAtRemove: true, procfs: PROCFS_6_1,
    daxVmemmapGate: 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP', klog: { daxFaultDbg: 'order' },
  },
  // v7.3-rc7, measured on Debian's experimental kernel: device-dax still
  // tail-reuse (2 vmemmap pages per compound page at 2M and 1G); folios
  // refcounted and rmapped per mapping (aed877c2b425, v6.15); no devmap bit
  // and GUP-fast takes a PMD/PUD leaf as one folio (d438d2734170,
  // fd2825b0760a, v6.17), no get_dev_pagemap in GUP (0 hits); tails hold the
  // compound_info mask (v7.1); dax_set_mapping() rounds down (7fcbd9785d4c);
  // 5-level paging on a CPU with LA57 (vmemmap_base 0xffd4000000000000);
  // auto_online_blocks online (Debian's build).
  '7.3': {
    kind: 'release', version: '7.3', vmemmap: 'tail-reuse', vmemmapOptimizeRule: 'reserve-nr', layout: STRUCT_PAGE_V7_3,
    fault: 'folio', devmapBit: false, gup: 'folio', memmapInit: 'per-page', setMappingIndex: 'align-down', paging: '5-level-if-la57',
    hotplug: { defaultAutoOnline: 'online', daxMemmapOnMemory: true, kmemTruncationWarning: true }, hwpoisonDroppedAtRemove: false,
    // /proc/vmstat nr_memmap_pages/nr_memmap_boot_pages and 7.3's meminfo lines, read on 7.3~rc7
    procfs: { vmstatMemmapCounters: true, meminfoFields: MEMINFO_7_3 },
    daxVmemmapGate: 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP', klog: { daxFaultDbg: 'op-addr-order' },
  },
};

/**
 * Whether device-dax may reuse vmemmap tails on `arch` under `gate` (a
 * release's daxVmemmapGate, or a rule's VMEMMAP_OPTIMIZE_RULE_GATE): no gate,
 * or the architecture's Kconfig selects it. Where it does not, the
 * kernel's vmemmap_can_optimize() is the `#else` stub that answers false:
 * the full memmap, whatever the generation (7.3 on arm64: 8 vmemmap pages
 * per 2 MiB compound page, not 2).
 */
export function archOptimizesDaxVmemmap(gate: DaxVmemmapGate, arch: ArchProfile): boolean {
  return gate === null || arch.daxVmemmapSelects.includes(gate);
}

/** The release a machine runs when none is named: today's. */
export const DEFAULT_KERNEL_VERSION: KernelVersion = '7.3';
/**
 * The release the library's building blocks assume when a caller names none
 * (createKernel() without `kernel`): the seed's, whose struct page and fault
 * path the packages' own tests are written against.
 */
export const SEED_KERNEL_VERSION: KernelVersion = '5.15';

export function isKernelVersion(s: string): s is KernelVersion {
  return (KERNEL_VERSIONS as readonly string[]).includes(s);
}

/** The registry row of a release; -EINVAL naming the value for an unknown one. */
export function kernelRelease(version: string): KernelRelease {
  if (!isKernelVersion(version)) throw new KernelError(EINVAL, `kernel ${version} is not one of ${KERNEL_VERSIONS.join(', ')}`);
  return KERNELS[version];
}

/**
 * Whether a GUP generation can walk this release's device-dax leaves. The
 * devmap generations (per-page, head-once, grab-first) find the pgmap through
 * the devmap bit of a leaf; v6.17 maps device-dax without it (d438d2734170)
 * and GUP-fast takes the leaf as one folio, so only `folio` runs there.
 */
export function gupRunsOn(release: KernelRelease, gen: GupGeneration): boolean {
  return GUP[gen].grab === 'folio' || release.devmapBit;
}

/** The newest release that maps device-dax with the devmap bit: where the devmap GUP generations last ran. */
export function lastDevmapRelease(): KernelRelease {
  const devmap = KERNEL_VERSIONS.map((v) => KERNELS[v]).filter((r) => r.devmapBit);
  return devmap[devmap.length - 1]!;
}

/** A piece of the stack a proposal replaces. */
export type ProposalAxis = 'vmemmap' | 'gup' | 'memmap-init';

/** A proposal: one generation of one piece, with where it was posted. It is run on a release, never as one. */
export interface Proposal {
  readonly kind: 'proposal';
  readonly name: string;
  readonly axis: ProposalAxis;
  /** The generation it is (the name in that piece's table). */
  readonly generation: string;
  readonly source: string;
  readonly status: 'never-merged' | 'proposed';
}

/** Every proposal the model runs. */
export const PROPOSALS: readonly Proposal[] = [
  ...(Object.values(VMEMMAP) as { name: string; status: string; source: string }[])
    .filter((g) => g.status !== 'merged')
    .map((g): Proposal => ({ kind: 'proposal', name: g.name, axis: 'vmemmap', generation: g.name, source: g.source, status: g.status as Proposal['status'] })),
  ...(Object.values(GUP) as { name: string; status: string; source: string }[])
    .filter((g) => g.status !== 'merged')
    .map((g): Proposal => ({ kind: 'proposal', name: g.name, axis: 'gup', generation: g.name, source: g.source, status: g.status as Proposal['status'] })),
  ...(Object.values(MEMMAP_INIT) as { name: string; status: string; source: string }[])
    .filter((g) => g.status !== 'merged')
    .map((g): Proposal => ({ kind: 'proposal', name: g.name, axis: 'memmap-init', generation: g.name, source: g.source, status: g.status as Proposal['status'] })),
];

/**
 * The x86-64 page-table profile a kernel runs on a CPU: 5-level (the la57
 * profile, vmemmap_base 0xffd4000000000000) when the kernel pages that way
 * and the CPU has LA57, 4-level otherwise. Other architectures are returned
 * as given.
 */
export function archForKernel(spec: KernelRelease, arch: ArchProfile, cpuHasLa57: boolean): ArchProfile {
  if (!arch.name.startsWith('x86_64')) return arch;
  return spec.paging === '5-level-if-la57' && cpuHasLa57 ? X86_64_LA57 : X86_64;
}
