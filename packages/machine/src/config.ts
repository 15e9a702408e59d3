import {
  SZ_1G,
  ARCH_PROFILES,
  type ArchProfile,
  DEFAULT_VMEMMAP_GENERATION,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  EINVAL,
  KERNELS,
  KERNEL_VERSIONS,
  type KernelSpec,
  KernelError,
  VMEMMAP_OPTIMIZE_RULES,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  archByName,
  archForKernel,
  isKernelVersion,
  isVmemmapGeneration,
} from '@daxsim/mm';
import { DEFAULT_GUP_GENERATION, type GupGeneration } from '@daxsim/gup';
import { REGION_ALIGN } from '@daxsim/nvdimm';


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
  /** The vmemmap generation the simulated kernel runs (default tail-reuse). */
  readonly generation?: string;
  /**
   * How dax_set_mapping() computes page->index: 'align-down' (the kernel's
   * 2024 fix, default) or 'align-up' (the seed's patch 5, ALIGN()).
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
   * The kernel release the machine runs (@daxsim/mm KERNELS: 5.15, 5.19,
   * 6.1, 6.6, 7.3): its vmemmap generation, GUP generation, dax_set_mapping()
   * rounding, vmemmap_can_optimize() rule and x86-64 paging. `generation`,
   * `setMappingIndex` and `vmemmapOptimizeRule` override one piece each.
   * Unset: the pieces' own defaults (tail-reuse, align-down, reserve-nr,
   * per-page GUP, the paging `arch` names), i.e. 7.3 on a CPU without LA57.
   */
  readonly kernel?: string;
  /** Which vmemmap_can_optimize() the kernel runs: seed, altmap-fix or reserve-nr (default: the kernel's, else reserve-nr). */
  readonly vmemmapOptimizeRule?: string;
  /** ppc64: the MMU the kernel runs under, radix (default) or hash (vmemmap dedup only under radix). */
  readonly ppc64Mmu?: string;
  /**
   * x86-64 with a `kernel`: whether the CPU has LA57 (default true, as the
   * 7.3-rc7 box measured): a kernel that pages 5-level where it can (7.3)
   * then runs the x86_64-la57 profile.
   */
  readonly cpuLa57?: boolean;
}

/** The CPU of the 7.3-rc7 measurement had LA57. */
export const DEFAULT_CPU_LA57 = true;

/** What a configuration makes the kernel run, piece by piece (the kernel's, or an override, or the default). */
export interface KernelChoice {
  /** The kernel release, when the configuration names one. */
  readonly kernel: KernelSpec | undefined;
  /** The architecture profile the kernel runs (x86-64: the paging the kernel and CPU give). */
  readonly arch: ArchProfile;
  readonly generation: VmemmapGeneration;
  readonly setMappingIndex: 'align-down' | 'align-up';
  readonly gupGeneration: GupGeneration;
  readonly vmemmapOptimizeRule: VmemmapOptimizeRule;
  readonly ppc64Mmu: 'radix' | 'hash';
}

/**
 * The kernel pieces a configuration picks: each from the option that names
 * it, else from `kernel`, else the default. EINVAL naming the option when one
 * is not valid.
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
  if (config.cpuLa57 !== undefined && (config.kernel === undefined || !arch0.name.startsWith('x86_64')))
    throw new KernelError(EINVAL, `machine: --cpu-la57 picks the paging of an x86-64 --kernel (without --kernel, name the paging with --arch x86_64-la57)`);
  const spec = config.kernel === undefined ? undefined : KERNELS[config.kernel as keyof typeof KERNELS];
  return {
    kernel: spec,
    arch: spec ? archForKernel(spec, arch0, config.cpuLa57 ?? DEFAULT_CPU_LA57) : arch0,
    generation: (config.generation as VmemmapGeneration | undefined) ?? spec?.vmemmapGeneration ?? DEFAULT_VMEMMAP_GENERATION,
    setMappingIndex: smi ?? spec?.setMappingIndex ?? 'align-down',
    gupGeneration: spec?.gupGeneration ?? DEFAULT_GUP_GENERATION,
    vmemmapOptimizeRule: (rule as VmemmapOptimizeRule | undefined) ?? spec?.vmemmapOptimizeRule ?? DEFAULT_VMEMMAP_OPTIMIZE_RULE,
    ppc64Mmu: mmu ?? 'radix',
  };
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

/** Where everything sits: RAM nodes from 0, then each device range on the next 1 GiB boundary. */
export interface MachineLayout {
  readonly ram: readonly PhysRange[];
  readonly pmem: readonly PhysRange[];
  readonly softReserved: readonly PhysRange[];
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

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
  let at = 0;
  const ram = config.ram.map((size, nid) => {
    const r = { start: at, size, nid, name: `node${nid}` };
    at += size;
    return r;
  });
  const device = (size: number, name: string): PhysRange => {
    at = alignUp(at, SZ_1G);
    const r = { start: at, size, nid: 0, name };
    at += size;
    return r;
  };
  const pmem = config.pmem.map((p, i) => device(p.size, `region${i}`));
  const softReserved = config.softReserved.map((s, i) => ({ ...device(s, `hmem.${i}`), nid: config.softReservedNodes?.[i] ?? 0 }));
  if (at / arch.pageSize >= 2 ** 32)
    throw new KernelError(EINVAL, `machine: ${at} bytes of physical address space is more than the model's 2^32 pfns`);
  return { ram, pmem, softReserved };
}
