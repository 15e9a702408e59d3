import { ARCH_PROFILES, EINVAL, KernelError, archByName, isVmemmapGeneration } from '@daxsim/mm';
import { REGION_ALIGN } from '@daxsim/nvdimm';

const GiB = 2 ** 30;

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
}

/** The default machine: x86-64, 64 GiB of RAM on node 0, one label-less 128 GiB pmem region. */
export const DEFAULT_CONFIG: MachineConfig = Object.freeze({
  arch: 'x86_64',
  ram: [64 * GiB],
  pmem: [{ size: 128 * GiB, labels: false }],
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
  const arch = archByName(config.arch);
  if (!arch) throw new KernelError(EINVAL, `machine: --arch ${config.arch} is not one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  if (config.generation !== undefined && !isVmemmapGeneration(config.generation))
    throw new KernelError(EINVAL, `machine: --generation ${config.generation} is not a vmemmap generation`);
  const smi = config.setMappingIndex ?? 'align-down';
  if (smi !== 'align-down' && smi !== 'align-up')
    throw new KernelError(EINVAL, `machine: --set-mapping-index ${smi} is not align-down or align-up`);
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
    at = alignUp(at, GiB);
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
