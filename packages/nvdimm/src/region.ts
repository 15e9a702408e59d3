import { EBUSY, EINVAL, ENOSPC, ENXIO, EOPNOTSUPP, KernelError } from '@daxsim/mm';
import type { MapLocation, PfnInfo } from './pfn-devs.js';

/**
 * drivers/nvdimm/region_devs.c and namespace_devs.c, as far as a pmem
 * region and its namespaces go.
 *
 * A region is label-less (ND_DEVICE_NAMESPACE_IO: QEMU's `-device nvdimm`
 * without label-size, the e820 ranges of `memmap=nn!ss`) or labelled
 * (ND_DEVICE_NAMESPACE_PMEM: DIMMs with a label area). A label-less region
 * has exactly one namespace, namespace<N>.0, raw over the whole region and
 * enabled at boot; it can be reconfigured but never resized or deleted. A
 * labelled region starts with one idle namespace of size 0, the seed; giving
 * the seed a size and enabling it makes a new seed.
 */

/** The region alignment ndctl checks namespace sizes against (the region's `align` attribute). */
export const REGION_ALIGN = 16 * 2 ** 20;

export type NamespaceMode = 'raw' | 'fsdax' | 'devdax';
/** nd_namespace_io (label-less) or nd_namespace_pmem (labelled). */
export type NamespaceType = 'io' | 'pmem';

export interface Namespace {
  readonly region: number;
  readonly id: number;
  readonly type: NamespaceType;
  /** Physical start (0 while a labelled namespace is idle). */
  start: number;
  /** Bytes; 0 for an idle labelled namespace (no label space allocated). */
  size: number;
  mode: NamespaceMode;
  align: number;
  map: MapLocation;
  /** The uuid ndctl prints: the namespace's (labelled raw), or its pfn/dax claim's; null when it has none. */
  uuid: string | null;
  /** The label's name (alt_name, NSLABEL_NAME_LEN 64 with its NUL); '' when none, and always for a label-less namespace. */
  altName: string;
  /** The pfn/dax info block of an fsdax or devdax namespace. */
  pfn: PfnInfo | null;
  enabled: boolean;
}

export interface PmemRegion {
  readonly id: number;
  readonly start: number;
  readonly size: number;
  readonly nid: number;
  /** The region's namespace type: 'io' is label-less, 'pmem' labelled. */
  readonly nstype: NamespaceType;
  /** In id order. */
  readonly namespaces: Namespace[];
  /** The id of the seed namespace (labelled regions); null on label-less regions, which have none. */
  seed: number | null;
}

export const namespaceName = (ns: Pick<Namespace, 'region' | 'id'>): string => `namespace${ns.region}.${ns.id}`;

/** A namespace is configured when it has capacity; an io namespace always has (ndctl_namespace_is_configured()). */
export const isConfigured = (ns: Namespace): boolean => ns.type === 'io' || ns.size > 0;

/** ndctl_namespace_is_configuration_idle(): neither enabled nor configured (a seed, or a destroyed labelled namespace). */
export const isConfigurationIdle = (ns: Namespace): boolean => !ns.enabled && !isConfigured(ns);

/** Free extents of a labelled region, in address order (a label-less region's io namespace holds all of it). */
export function freeExtents(r: PmemRegion): { start: number; size: number }[] {
  if (r.nstype === 'io') return [];
  const used = r.namespaces.filter((n) => n.size > 0).sort((a, b) => a.start - b.start);
  const out: { start: number; size: number }[] = [];
  let at = r.start;
  for (const ns of used) {
    if (ns.start > at) out.push({ start: at, size: ns.start - at });
    at = Math.max(at, ns.start + ns.size);
  }
  if (at < r.start + r.size) out.push({ start: at, size: r.start + r.size - at });
  return out;
}

/** available_size: capacity not yet given to a namespace. */
export const availableSize = (r: PmemRegion): number => freeExtents(r).reduce((s, e) => s + e.size, 0);
/** max_available_extent: the largest free extent. */
export const maxAvailableExtent = (r: PmemRegion): number => freeExtents(r).reduce((m, e) => Math.max(m, e.size), 0);

/** ida_alloc() on the region's namespace ids: the lowest id no namespace has. */
export function lowestFreeNamespaceId(r: PmemRegion): number {
  const ids = new Set(r.namespaces.map((n) => n.id));
  let id = 0;
  while (ids.has(id)) id++;
  return id;
}

/**
 * Why the kernel would refuse a write of `size` to the `size` attribute of a
 * configured labelled namespace (__size_store() in
 * drivers/nvdimm/namespace_devs.c), or null when it would take it. The
 * namespace must be disabled; it shrinks from its end
 * (shrink_dpa_allocation()), or grows into the free capacity right after it:
 * a pmem namespace is one contiguous DPA extent of the region
 * (nd_namespace_pmem_set_resource()), so growing past a neighbour or the
 * region's end is -ENOSPC.
 */
export function namespaceResizeError(r: PmemRegion, ns: Namespace, size: number): KernelError | null {
  const name = namespaceName(ns);
  if (ns.type !== 'pmem') return new KernelError(EOPNOTSUPP, `${name}: a label-less namespace's size is its region's`);
  if (!isConfigured(ns)) return new KernelError(ENXIO, `${name}: idle: it has no capacity to resize`);
  if (ns.enabled) return new KernelError(EBUSY, `${name}: size: the namespace is enabled`);
  if (!Number.isSafeInteger(size) || size <= 0 || size % REGION_ALIGN !== 0)
    return new KernelError(EINVAL, `${name}: size ${size} is not a positive multiple of the region align ${REGION_ALIGN}`);
  const end = ns.start + size;
  let limit = r.start + r.size;
  for (const n of r.namespaces) if (n !== ns && n.size > 0 && n.start >= ns.start + ns.size) limit = Math.min(limit, n.start);
  if (end > limit)
    return new KernelError(ENOSPC, `${name}: set_size failed: ${size} bytes do not fit: ${limit - ns.start} bytes are free from its start to the next namespace or the region's end`);
  return null;
}

/**
 * region_get_namespace() (ndctl): the namespace `ndctl create-namespace`
 * configures: namespace<N>.0 if it is idle, else the region's seed.
 */
export function regionGetNamespace(r: PmemRegion): Namespace | undefined {
  const zero = r.namespaces.find((n) => n.id === 0 && isConfigurationIdle(n));
  return zero ?? r.namespaces.find((n) => n.id === r.seed);
}

/** A deterministic uuid, so replaying the state gives the same names and uuids. */
export function namespaceUuid(region: number, id: number, serial: number): string {
  const h = (n: number, w: number) => (n >>> 0).toString(16).padStart(w, '0').slice(-w);
  const a = Math.imul(region + 1, 0x9e3779b1) ^ Math.imul(id + 1, 0x85ebca6b) ^ Math.imul(serial + 1, 0xc2b2ae35);
  const b = Math.imul(a ^ (a >>> 15), 0x2c1b3c6d);
  const c = Math.imul(b ^ (b >>> 12), 0x297a2d39);
  return `${h(a, 8)}-${h(b, 4)}-4${h(c, 3)}-${h(0x8000 | (b & 0x3fff), 4)}-${h(c, 8)}${h(a ^ c, 4)}`;
}

export const NULL_UUID = '00000000-0000-0000-0000-000000000000';
