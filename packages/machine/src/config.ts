import {
  SZ_1G,
  ARCH_PROFILES,
  type ArchProfile,
  DEFAULT_KERNEL_VERSION,
  EINVAL,
  FAULT_MODELS,
  type FaultModel,
  type GupGeneration,
  KERNELS,
  KERNEL_VERSIONS,
  type KernelRelease,
  type OnlinePolicy,
  KernelError,
  VMEMMAP,
  VMEMMAP_OPTIMIZE_RULES,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  archByName,
  archForKernel,
  archOptimizesDaxVmemmap,
  isKernelVersion,
  isVmemmapGeneration,
  DEFAULT_PLATFORM,
  MEMMAP_INIT,
  MEMMAP_INIT_VARIANTS,
  type MemmapInitVariant,
  PLATFORM_NAMES,
  type Platform,
  isMemmapInitVariant,
  isPlatformName,
  platformByName,
} from '@daxsim/mm';
import { REGION_ALIGN } from '@daxsim/nvdimm';
import { humanBytes } from './size.js';


/** A persistent-memory region: its size, and whether its DIMMs carry namespace labels. */
export interface PmemConfig {
  readonly size: number;
  /**
   * false (the default): label-less, as QEMU's `-device nvdimm` without
   * label-size and the e820 ranges of `memmap=nn!ss` are: namespace<N>.0 is
   * raw over the whole region. true: a labelled region with an idle seed
   * namespace, subdivided by `ndctl create-namespace -s`.
   */
  readonly labels: boolean;
}

/** What the machine is made of; everything else follows from its operation log. */
export interface MachineConfig {
  readonly arch: string;
  /** RAM bytes per NUMA node. */
  readonly ram: readonly number[];
  /** Persistent-memory regions (regionN). */
  readonly pmem: readonly PmemConfig[];
  /** Soft-reserved ranges (dynamic dax regions, hmem.N), bytes each. */
  readonly softReserved: readonly number[];
  /** The vmemmap generation device-dax gets, overriding the kernel's (a proposal such as shared-tail). */
  readonly generation?: string;
  /**
   * How dax_set_mapping() computes page->index, overriding the kernel's:
   * 'align-down' (the kernel's 2024 fix) or 'align-up' (the seed's patch 5, ALIGN()).
   */
  readonly setMappingIndex?: string;
  /**
   * The NUMA node of each soft-reserved range (its dax region's
   * target_node): default 0, node 0 of the RAM. CXL and HBM memory usually
   * has a memory-only node of its own.
   */
  readonly softReservedNodes?: readonly number[];
  /** /sys/devices/system/memory/auto_online_blocks: offline (default), online, online_kernel, online_movable. */
  readonly autoOnline?: string;
  /** The memory_hotplug.memmap_on_memory parameter (default off). */
  readonly memmapOnMemory?: boolean;
  /**
   * The kernel release the machine runs (a row of @daxsim/mm's KERNELS:
   * 5.15, 5.19, 6.1, 6.6, 6.8, 7.3; default 7.3): every piece of the stack
   * as that release has it. `generation`, `setMappingIndex` and
   * `vmemmapOptimizeRule` override one piece each.
   */
  readonly kernel?: string;
  /** Which vmemmap_can_optimize() the kernel runs: seed, altmap-fix or reserve-nr (default: the kernel's). */
  readonly vmemmapOptimizeRule?: string;
  /** ppc64: the MMU the kernel runs under, radix (default) or hash (vmemmap dedup only under radix). */
  readonly ppc64Mmu?: string;
  /**
   * x86-64: whether the CPU has LA57 (default true, as the QEMU `-cpu max`
   * boxes of shared/real-kernel had): a kernel that pages 5-level where it
   * can then runs the x86_64-la57 profile.
   */
  readonly cpuLa57?: boolean;
  /**
   * Where firmware puts RAM and devices (QEMU's machine type): `pc` (i440fx,
   * QEMU's default and the x86-64 default here), `q35`, or `flat` (RAM from
   * address 0 in one piece, devices after it: the layout of daxsim before
   * machine types, and the default of the other architectures).
   */
  readonly machineType?: string;
  /**
   * The CPU + memory profile (@daxsim/mm PLATFORMS) the modelled kernel's
   * times are computed for: gup_test's Time line, memmap_init_zone_device's
   * log line. Default cascadelake-optane (the seed's class of box).
   */
  readonly platform?: string;
  /** How memmap_init_zone_device() writes struct pages: per-page (every kernel, default) or template-nt (Li Zhe's proposal). */
  readonly memmapInit?: string;
  /**
   * CXL type-3 memdevs (mem0, mem1, ...), each behind its own root port of
   * one host bridge, all under one CFMWS window (decoder0.0) sized to hold
   * them all, at interleave granularity 256: QEMU's `-device pxb-cxl`, one
   * `-device cxl-rp` and one `-device cxl-type3,volatile-memdev=` (or
   * `persistent-memdev=` for pmem) each, and `-M cxl-fmw.0.targets.0=...`.
   */
  readonly cxlMemdevs?: readonly CxlMemdevSpec[];
}

/** One `--cxl-memdev SIZE[:pmem]`: a volatile (default) or persistent type-3 device of SIZE bytes. */
export interface CxlMemdevSpec {
  readonly size: number;
  readonly pmem: boolean;
}

/** QEMU machine types (and `flat`, no firmware hole): where RAM and device memory go. */
export const MACHINE_TYPES = ['pc', 'q35', 'flat'] as const;
export type MachineType = (typeof MACHINE_TYPES)[number];

/** The CPU of the 6.1 and 7.3-rc7 measurements had LA57. */
export const DEFAULT_CPU_LA57 = true;

/** What a configuration makes the kernel run, piece by piece (the release's, or an override). */
export interface KernelChoice {
  /** The release (its generation registry row): the named one, else DEFAULT_KERNEL_VERSION. */
  readonly release: KernelRelease;
  /** Whether the configuration named the release. */
  readonly named: boolean;
  /** The architecture profile the kernel runs (x86-64: the paging the kernel and CPU give). */
  readonly arch: ArchProfile;
  readonly generation: VmemmapGeneration;
  readonly setMappingIndex: 'align-down' | 'align-up';
  readonly gupGeneration: GupGeneration;
  readonly fault: FaultModel;
  readonly vmemmapOptimizeRule: VmemmapOptimizeRule;
  readonly ppc64Mmu: 'radix' | 'hash';
  readonly platform: Platform;
  readonly memmapInit: MemmapInitVariant;
  /** auto_online_blocks at boot: --auto-online, else the release's (release.hotplug.defaultAutoOnline: Debian's 7.3 onlines). */
  readonly autoOnline: OnlinePolicy;
}

/**
 * The kernel pieces a configuration picks: each from the option that names
 * it, else from the release's registry row. EINVAL naming the option when
 * one is not valid.
 */
export function kernelChoice(config: MachineConfig): KernelChoice {
  const arch0 = archByName(config.arch);
  if (!arch0) throw new KernelError(EINVAL, `machine: --arch ${config.arch} is not one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  if (config.kernel !== undefined && !isKernelVersion(config.kernel))
    throw new KernelError(EINVAL, `machine: --kernel ${config.kernel} is not one of ${KERNEL_VERSIONS.join(', ')}`);
  if (config.generation !== undefined && !isVmemmapGeneration(config.generation))
    throw new KernelError(EINVAL, `machine: --generation ${config.generation} is not a vmemmap generation`);
  const smi = config.setMappingIndex;
  if (smi !== undefined && smi !== 'align-down' && smi !== 'align-up')
    throw new KernelError(EINVAL, `machine: --set-mapping-index ${smi} is not align-down or align-up`);
  const rule = config.vmemmapOptimizeRule;
  if (rule !== undefined && !(VMEMMAP_OPTIMIZE_RULES as readonly string[]).includes(rule))
    throw new KernelError(EINVAL, `machine: --vmemmap-optimize-rule ${rule} is not one of ${VMEMMAP_OPTIMIZE_RULES.join(', ')}`);
  const mmu = config.ppc64Mmu;
  if (mmu !== undefined && mmu !== 'radix' && mmu !== 'hash') throw new KernelError(EINVAL, `machine: --ppc64-mmu ${mmu} is not radix or hash`);
  if (mmu !== undefined && !arch0.name.startsWith('ppc64')) throw new KernelError(EINVAL, `machine: --ppc64-mmu ${mmu}: --arch ${arch0.name} is not ppc64`);
  if (config.cpuLa57 !== undefined && !arch0.name.startsWith('x86_64'))
    throw new KernelError(EINVAL, `machine: --cpu-la57 is a property of an x86-64 CPU, not of --arch ${arch0.name}`);
  const release = KERNELS[(config.kernel ?? DEFAULT_KERNEL_VERSION) as keyof typeof KERNELS];
  // --arch x86_64-la57 names the paging itself: the CPU has LA57 and the kernel must page 5-level
  const la57 = arch0.name === 'x86_64-la57' ? true : (config.cpuLa57 ?? DEFAULT_CPU_LA57);
  const arch = archForKernel(release, arch0, la57);
  if (arch0.name === 'x86_64-la57' && arch !== arch0)
    throw new KernelError(EINVAL, `machine: --arch x86_64-la57: kernel ${release.version} does not page 5-level`);
  const generation = (config.generation as VmemmapGeneration | undefined) ?? release.vmemmap;
  if (config.platform !== undefined && !isPlatformName(config.platform))
    throw new KernelError(EINVAL, `machine: --platform ${config.platform} is not one of ${PLATFORM_NAMES.join(', ')}`);
  if (config.memmapInit !== undefined && !isMemmapInitVariant(config.memmapInit))
    throw new KernelError(EINVAL, `machine: --memmap-init ${config.memmapInit} is not one of ${MEMMAP_INIT_VARIANTS.join(', ')}`);
  return {
    release,
    named: config.kernel !== undefined,
    arch,
    generation,
    setMappingIndex: smi ?? release.setMappingIndex,
    gupGeneration: release.gup,
    fault: release.fault,
    vmemmapOptimizeRule: (rule as VmemmapOptimizeRule | undefined) ?? release.vmemmapOptimizeRule,
    ppc64Mmu: mmu ?? 'radix',
    platform: platformByName(config.platform ?? DEFAULT_PLATFORM),
    memmapInit: (config.memmapInit as MemmapInitVariant | undefined) ?? release.memmapInit,
    // auto_online_blocks at boot: --auto-online, else what the release's distribution built (Debian's 7.3,
    // the default machine's kernel: online; the others: CONFIG_MHP_DEFAULT_ONLINE_TYPE_OFFLINE)
    autoOnline: (config.autoOnline as OnlinePolicy | undefined) ?? release.hotplug.defaultAutoOnline,
  };
}

/** One line per piece: what the machine's kernel runs and where each choice comes from (machine show, help texts). */
export function describeKernelChoice(config: MachineConfig, kc: KernelChoice = kernelChoice(config)): string[] {
  const r = kc.release;
  const from = (own: unknown, option: string) => (own !== undefined ? ` (${option})` : '');
  return [
    `kernel: ${r.version}${kc.named ? '' : ' (the default)'}: its registry row (proposals such as shared-tail are --generation, never a kernel)`,
    `vmemmap generation: ${kc.generation}${from(config.generation, '--generation')} [${VMEMMAP[kc.generation].status}]; vmemmap_can_optimize rule: ${kc.vmemmapOptimizeRule}${from(config.vmemmapOptimizeRule, '--vmemmap-optimize-rule')}`,
    r.daxVmemmapGate === null
      ? 'vmemmap_can_optimize: no Kconfig gate (every architecture may reuse vmemmap tails)'
      : `vmemmap_can_optimize: built under ${r.daxVmemmapGate}, which ${kc.arch.name} ${archOptimizesDaxVmemmap(r.daxVmemmapGate, kc.arch) ? 'selects' : 'does not select: no vmemmap tail reuse whatever the generation'}`,
    `faults: ${kc.fault} (${FAULT_MODELS[kc.fault].refcounted ? 'a folio reference and rmap per mapping' : 'devmap pfn leaves, no reference'}); GUP: ${kc.gupGeneration}; dax_set_mapping index: ${kc.setMappingIndex}${from(config.setMappingIndex, '--set-mapping-index')}`,
    `struct page layout: ${r.layout.name} (tails hold the head as a ${r.layout.tailEncoding})`,
    `memmap init: ${kc.memmapInit}${from(config.memmapInit, '--memmap-init')} [${MEMMAP_INIT[kc.memmapInit].status}]; platform: ${kc.platform.name}${config.platform !== undefined ? '' : ' (the default)'}: ${kc.platform.description}`,
  ];
}

/** The default machine: x86-64, 64 GiB of RAM on node 0, one label-less 128 GiB pmem region. */
export const DEFAULT_CONFIG: MachineConfig = Object.freeze({
  arch: 'x86_64',
  ram: [64 * SZ_1G],
  pmem: [{ size: 128 * SZ_1G, labels: false }],
  softReserved: [],
});

/** A physical range of the machine's layout. */
export interface PhysRange {
  readonly start: number;
  readonly size: number;
  readonly nid: number;
  readonly name: string;
}

/**
 * Where everything sits: RAM of each node (one or two ranges: below and
 * above the 4 GiB hole of a pc/q35 machine), then each device range on the
 * next 1 GiB boundary of the device memory region.
 */
export interface MachineLayout {
  readonly machineType: MachineType;
  readonly ram: readonly PhysRange[];
  readonly pmem: readonly PhysRange[];
  readonly softReserved: readonly PhysRange[];
  /** CFMWS windows ("CXL Window N"), each on a memory-only node of its own after the RAM and soft-reserved nodes. */
  readonly cxlWindows: readonly PhysRange[];
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

const SZ_4G = 4 * SZ_1G;

/** The machine type a configuration runs: its own, else pc on x86-64 and flat elsewhere; EINVAL naming the option when it does not fit. */
export function machineTypeOf(config: MachineConfig): MachineType {
  const t = config.machineType ?? (config.arch.startsWith('x86_64') ? 'pc' : 'flat');
  if (!(MACHINE_TYPES as readonly string[]).includes(t)) throw new KernelError(EINVAL, `machine: --machine-type ${t} is not one of ${MACHINE_TYPES.join(', ')}`);
  if (t !== 'flat' && !config.arch.startsWith('x86_64'))
    throw new KernelError(EINVAL, `machine: --machine-type ${t} is a QEMU x86 machine; --arch ${config.arch} has no 4 GiB PCI hole (use flat)`);
  return t as MachineType;
}

/**
 * How much RAM QEMU maps below 4 GiB (x86ms->below_4g_mem_size), with
 * max-ram-below-4g unset and a gigabyte-aligned machine type: pc_init1()
 * (i440fx) keeps up to 3.5 GiB below, but only 3 GiB once the guest has
 * 3.5 GiB or more; pc_q35_init() keeps up to 2.75 GiB below, but only 2 GiB
 * once the guest has 2.75 GiB or more. The rest goes above 4 GiB.
 */
export function qemuBelow4g(type: 'pc' | 'q35', ramSize: number): number {
  const lowmem = type === 'pc' ? (ramSize >= 0xe0000000 ? 0xc0000000 : 0xe0000000) : ramSize >= 0xb0000000 ? 0x80000000 : 0xb0000000;
  return Math.min(ramSize, lowmem);
}

/**
 * Checks a configuration (EINVAL naming the option) and lays it out. Device
 * ranges start on a 1 GiB boundary so that 1 GiB compound pages can start at
 * the beginning of a region.
 */
export function layoutMachine(config: MachineConfig): MachineLayout {
  const { arch } = kernelChoice(config);
  if (config.autoOnline !== undefined && !['offline', 'online', 'online_kernel', 'online_movable'].includes(config.autoOnline))
    throw new KernelError(EINVAL, `machine: --auto-online ${config.autoOnline} is not offline, online, online_kernel or online_movable`);
  for (const n of config.softReservedNodes ?? [])
    if (!Number.isInteger(n) || n < 0 || n > 63) throw new KernelError(EINVAL, `machine: --soft-reserved-node ${n} is not a node number 0..63`);
  if ((config.softReservedNodes?.length ?? 0) > config.softReserved.length)
    throw new KernelError(EINVAL, `machine: --soft-reserved-node given ${config.softReservedNodes!.length} times for ${config.softReserved.length} soft-reserved ranges`);
  const subsection = 2 ** arch.subsectionShift;
  const check = (what: string, sizes: readonly number[], unit: number) => {
    for (const s of sizes)
      if (!Number.isSafeInteger(s) || s <= 0 || s % unit)
        throw new KernelError(EINVAL, `machine: ${what} ${s} must be a positive multiple of ${unit / 2 ** 20}M`);
  };
  check('--ram', config.ram, subsection);
  check('--pmem', config.pmem.map((p) => p.size), REGION_ALIGN);
  check('--soft-reserved', config.softReserved, subsection);
  if (!config.ram.length) throw new KernelError(EINVAL, 'machine: --ram: at least one node needs memory');
  const type = machineTypeOf(config);
  let at = 0;
  const ram: PhysRange[] = [];
  if (type === 'flat') {
    config.ram.forEach((size, nid) => {
      ram.push({ start: at, size, nid, name: `node${nid}` });
      at += size;
    });
  } else {
    // the nodes take consecutive slices of guest RAM (SRAT memory affinity in -numa order); a slice that
    // crosses the end of low RAM continues at 4 GiB
    const below = qemuBelow4g(type, config.ram.reduce((a, b) => a + b, 0));
    let offset = 0;
    config.ram.forEach((size, nid) => {
      const lo = Math.max(0, Math.min(size, below - offset));
      if (lo) ram.push({ start: offset, size: lo, nid, name: `node${nid}` });
      if (size > lo) ram.push({ start: SZ_4G + Math.max(0, offset - below), size: size - lo, nid, name: `node${nid}` });
      offset += size;
    });
    // pc_memory_init(): the device memory region (NVDIMMs, pc-dimms) starts on the 1 GiB boundary after RAM above 4 GiB
    at = SZ_4G + Math.max(0, offset - below);
  }
  const device = (size: number, name: string): PhysRange => {
    at = alignUp(at, SZ_1G);
    const r = { start: at, size, nid: 0, name };
    at += size;
    return r;
  };
  const pmem = config.pmem.map((p, i) => device(p.size, `region${i}`));
  const softReserved = config.softReserved.map((s, i) => ({ ...device(s, `hmem.${i}`), nid: config.softReservedNodes?.[i] ?? 0 }));
  // CXL capacity comes in 256 MiB units (CXL 3.1 8.1.3.8: the range size registers count 256 MiB)
  check('--cxl-memdev', (config.cxlMemdevs ?? []).map((m) => m.size), 256 * 2 ** 20);
  const cxlTotal = (config.cxlMemdevs ?? []).reduce((a, m) => a + m.size, 0);
  // acpi_parse_cfmws(): a window that SRAT leaves out gets the next free node
  const cxlNid = Math.max(config.ram.length, ...(config.softReservedNodes ?? []).map((n) => n + 1));
  const cxlWindows = cxlTotal ? [{ ...device(cxlTotal, 'CXL Window 0'), nid: cxlNid }] : [];
  // MAX_PHYSMEM_BITS of the paging the kernel runs (arch/x86/include/asm/sparsemem.h: 46 with 4-level,
  // 52 with 5-level page tables; arm64 48, ppc64 51): a range above it has no section number
  const limit = 2 ** arch.maxPhysmemBits;
  const beyond = [
    ...ram.map((r) => ['--ram', r] as const),
    ...pmem.map((r) => ['--pmem', r] as const),
    ...softReserved.map((r) => ['--soft-reserved', r] as const),
    ...cxlWindows.map((r) => ['--cxl-memdev', r] as const),
  ].find(([, r]) => r.start + r.size > limit);
  if (beyond !== undefined) {
    const [opt, r] = beyond;
    const end = r.start + r.size;
    const hint = arch.name === 'x86_64' ? ' (5-level paging addresses 52 bits: an LA57 CPU, --cpu-la57, the default)' : '';
    throw new KernelError(
      EINVAL,
      `machine: ${opt} ${humanBytes(r.size)}: ${r.name} would end at 0x${end.toString(16)} (${humanBytes(end)}), beyond MAX_PHYSMEM_BITS ${arch.maxPhysmemBits} of ${arch.name}: at most 0x${limit.toString(16)} (${humanBytes(limit)}) of physical address space${hint}`,
    );
  }
  return { machineType: type, ram, pmem, softReserved, cxlWindows };
}
