import type { DaxRegion, DevDax } from '@daxsim/device-dax';
import { type DaxctlMemoryInfo, type Machine, type NdDimm, daxctlMemoryInfo, displaySize, regionSetCookie } from '@daxsim/machine';
import { type Namespace, type PmemRegion, REGION_ALIGN, availableSize, maxAvailableExtent, namespaceName } from '@daxsim/nvdimm';

/** Sizes as the tools print them: plain numbers, or display_size() strings with -u. */
const sz = (bytes: number, human: boolean): number | string => (human ? displaySize(bytes) : bytes);
/** util_json_object_hex(): a number, or "0x..." with -u. */
const hexv = (n: number, human: boolean): number | string => (human ? '0x' + n.toString(16) : n);

/** daxctl's device object (daxctl/json.c util_daxctl_dev_to_json); `memory` is daxctlMemoryInfo() (system-ram mode), or null. */
export function daxDeviceJson(dev: DevDax, opts: { human: boolean; mappings: boolean; memory?: DaxctlMemoryInfo | null }): Record<string, unknown> {
  const o: Record<string, unknown> = {
    chardev: dev.name,
    size: sz(dev.size, opts.human),
    target_node: dev.targetNode,
    align: dev.align,
    mode: opts.memory ? 'system-ram' : 'devdax',
  };
  if (opts.memory) {
    o['online_memblocks'] = opts.memory.online_memblocks;
    o['total_memblocks'] = opts.memory.total_memblocks;
    if (opts.memory.movable !== undefined) o['movable'] = opts.memory.movable;
  }
  if (!dev.bound && !opts.memory) o['state'] = 'disabled';
  if (opts.mappings) {
    // libdaxctl pushes each mappingN at the head of its list: they print in reverse index order
    const maps = [...dev.mappings()].sort((a, b) => Number(b.name.slice(7)) - Number(a.name.slice(7)));
    o['mappings'] = maps.map((m) => ({
      page_offset: hexv(m.pageOffset, opts.human),
      start: hexv(m.start, opts.human),
      end: hexv(m.end, opts.human),
      size: sz(m.size, opts.human),
    }));
  }
  return o;
}

/** daxctl's region object (util_daxctl_region_to_json); `path` is left out when nested in ndctl output. */
export function daxRegionJson(
  region: DaxRegion,
  opts: { human: boolean; devices: boolean; mappings: boolean; idle: boolean; path: boolean; machine?: Machine },
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (opts.path) o['path'] = region.isStatic ? `/${region.parentName}` : `/platform/${region.parentName}`;
  o['id'] = region.id;
  o['size'] = sz(region.size, opts.human);
  if (!region.isStatic && region.availableSize) o['available_size'] = sz(region.availableSize, opts.human);
  o['align'] = region.align;
  if (opts.devices) {
    const devs = region.devicesById().filter((d) => opts.idle || d.size > 0);
    if (devs.length) o['devices'] = devs.map((d) => daxDeviceJson(d, { ...opts, memory: opts.machine ? daxctlMemoryInfo(opts.machine, d) : null }));
  }
  return o;
}

/** ndctl's namespace object (util_namespace_to_json()), keys in its order. */
export function namespaceJson(m: Machine, ns: Namespace, opts: { human: boolean; dax: boolean; verbose?: boolean }): Record<string, unknown> {
  const o: Record<string, unknown> = { dev: namespaceName(ns), mode: ns.mode };
  if (ns.mode !== 'raw') o['map'] = ns.map;
  const usable = ns.pfn ? ns.size - ns.pfn.dataoff - ns.pfn.endTrunc : ns.size;
  o['size'] = sz(usable, opts.human);
  // a label-less raw namespace has no uuid; a pfn/dax claim prints its own
  if (ns.uuid !== null) o['uuid'] = ns.uuid;
  if (ns.mode === 'devdax') {
    const region = m.nvdimm.daxRegionOf(ns);
    if (opts.dax && region) {
      o['daxregion'] = daxRegionJson(region, { human: opts.human, devices: true, mappings: false, idle: true, path: false, machine: m });
    } else if (region) {
      o['chardev'] = `dax${ns.region}.${ns.id}`;
    }
  } else o['sector_size'] = 512;
  if (ns.mode === 'fsdax' || ns.mode === 'devdax') o['align'] = ns.align;
  // the block device exists while the namespace is enabled (devdax has a character device instead)
  if (ns.mode !== 'devdax' && ns.enabled) o['blockdev'] = ns.id === 0 ? `pmem${ns.region}` : `pmem${ns.region}.${ns.id}`;
  // -v: the namespace's numa_node and target_node attributes (its region's node)
  if (opts.verbose) {
    o['numa_node'] = m.pmem[ns.region]!.nid;
    o['target_node'] = m.pmem[ns.region]!.nid;
  }
  if (ns.altName) o['name'] = ns.altName;
  if (!ns.enabled) o['state'] = 'disabled';
  return o;
}

/** ndctl's region object (region_to_json). */
/** The sector sizes a BTT supports (btt_lbasize_supported, drivers/nvdimm/btt_devs.c): the region's "sector" capability. */
const BTT_SECTOR_SIZES = [512, 520, 528, 4096, 4104, 4160, 4224];

/**
 * ndctl list -C (util_region_capabilities_to_json()): the modes the region's
 * seeds offer, from their sysfs: the BTT seed's supported_sector_sizes, the
 * pfn and dax seeds' supported_alignments (nd_pfn_supported_alignments():
 * PAGE_SIZE, and PMD and PUD sizes where the arch maps them). Measured on
 * QEMU x86-64 (7.3): 4096, 2097152, 1073741824.
 */
export function regionCapabilitiesJson(alignments: readonly number[]): Record<string, unknown>[] {
  return [
    { mode: 'sector', sector_sizes: BTT_SECTOR_SIZES },
    { mode: 'fsdax', alignments: [...alignments] },
    { mode: 'devdax', alignments: [...alignments] },
  ];
}

export function pmemRegionJson(
  r: PmemRegion,
  opts: { human: boolean; mappings?: boolean; verbose?: boolean; capabilities?: readonly number[] },
): Record<string, unknown> {
  const o: Record<string, unknown> = {
    dev: `region${r.id}`,
    size: sz(r.size, opts.human),
    align: sz(REGION_ALIGN, opts.human), // -u prints it human too (measured: ndctl list -R -u)
    available_size: sz(availableSize(r), opts.human),
    max_available_extent: sz(maxAvailableExtent(r), opts.human),
    type: 'pmem',
  };
  // a labelled region has an interleave set (its cookie); QEMU's label-less one none (measured)
  if (r.nstype === 'pmem') o['iset_id'] = opts.human ? `0x${regionSetCookie(r).toString(16)}` : regionSetCookie(r); // a u64: json-c prints every digit
  // -v: numa_node and target_node come before the mappings (measured: ndctl list -N -vv)
  if (opts.verbose) {
    o['numa_node'] = r.nid;
    o['target_node'] = r.nid;
  }
  // with dimms listed too: the region's mapping of each DIMM (QEMU: one DIMM, the whole region)
  if (opts.mappings) o['mappings'] = [{ dimm: `nmem${r.id}`, offset: 0, length: sz(r.size, opts.human), position: 0 }];
  if (opts.capabilities) o['capabilities'] = regionCapabilitiesJson(opts.capabilities);
  // QEMU's NFIT gives no platform capabilities: ndctl prints "unknown"
  o['persistence_domain'] = 'unknown';
  return o;
}

/**
 * ndctl's dimm object (util_dimm_to_json()) for a QEMU NVDIMM. -H and -F add
 * nothing: QEMU's NVDIMM answers no health (SMART) or firmware-info DSM, and
 * ndctl leaves the keys out (measured: ndctl list -D -H, -vvv).
 */
export function dimmJson(d: NdDimm): Record<string, unknown> {
  return { dev: d.dev, id: d.id, handle: d.handle, phys_id: d.physId };
}

/** ndctl's bus object: QEMU's NFIT bus. */
export const busJson = (): Record<string, unknown> => ({ provider: 'ACPI.NFIT', dev: 'ndbus0' });
