import { EINVAL, ENXIO, KernelError, type ArchProfile } from '@daxsim/mm';

/**
 * libnvdimm, as much as device-dax needs: pmem regions that hold namespaces,
 * and the pfn info block (nd_pfn_init) that sets aside room for the struct
 * pages of a namespace created with --map=dev.
 */

export const SZ_8K = 8192;
/** The region `align` attribute ndctl checks namespace sizes against. */
export const REGION_ALIGN = 16 * 2 ** 20;
/** memremap_compat_align(): SUBSECTION_SIZE on every architecture we model. */
export const MEMREMAP_COMPAT_ALIGN = 2 * 2 ** 20;

export type NamespaceMode = 'raw' | 'fsdax' | 'devdax';
export type MapLocation = 'mem' | 'dev';

/** What nd_pfn_init() writes into the pfn info block. */
export interface PfnInfo {
  /** Bytes from the namespace start to the first data byte (info block + struct pages + padding). */
  readonly dataoff: number;
  /** Bytes cut from the end to keep the data aligned. */
  readonly endTrunc: number;
  /** Data pages. */
  readonly npfns: number;
  readonly align: number;
  readonly map: MapLocation;
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** info_block_reserve(): the 8 KiB info block, rounded up to a page. */
export const infoBlockReserve = (arch: ArchProfile): number => alignUp(SZ_8K, arch.pageSize);
const alignDown = (x: number, a: number) => Math.floor(x / a) * a;

/**
 * nd_pfn_init() (drivers/nvdimm/pfn_devs.c): lays out a pfn/dax namespace.
 * With the memmap on the device, 64 bytes per page are set aside after the
 * 8 KiB info block; the data starts at the next `align` boundary.
 */
export function ndPfnInit(arch: ArchProfile, start: number, size: number, align: number, map: MapLocation): PfnInfo {
  const ps = arch.pageSize;
  const npfns0 = Math.floor((size - SZ_8K) / ps);
  const a = Math.max(align, MEMREMAP_COMPAT_ALIGN);
  if (start % MEMREMAP_COMPAT_ALIGN)
    throw new KernelError(EINVAL, `nd_pfn_init: start ${start.toString(16)} misaligned to ${MEMREMAP_COMPAT_ALIGN.toString(16)}`);
  const endTrunc = start + size - alignDown(start + size, a);
  const pageMapSize = map === 'dev' ? arch.structPageSize * npfns0 : 0;
  const offset = alignUp(start + infoBlockReserve(arch) + pageMapSize, a) - start;
  if (offset >= size - endTrunc) throw new KernelError(ENXIO, `nd_pfn_init: unable to satisfy requested alignment (size ${size}, align ${align})`);
  return { dataoff: offset, endTrunc, npfns: Math.floor((size - offset - endTrunc) / ps), align, map };
}

export interface Namespace {
  readonly region: number;
  readonly id: number;
  readonly start: number;
  readonly size: number;
  readonly mode: NamespaceMode;
  readonly align: number;
  readonly map: MapLocation;
  readonly uuid: string;
  readonly pfn: PfnInfo | null;
  enabled: boolean;
}

export interface PmemRegion {
  readonly id: number;
  readonly start: number;
  readonly size: number;
  readonly nid: number;
  readonly namespaces: Namespace[];
}

/** Free extents of a region, in address order. */
export function freeExtents(r: PmemRegion): { start: number; size: number }[] {
  const used = [...r.namespaces].sort((a, b) => a.start - b.start);
  const out: { start: number; size: number }[] = [];
  let at = r.start;
  for (const ns of used) {
    if (ns.start > at) out.push({ start: at, size: ns.start - at });
    at = Math.max(at, ns.start + ns.size);
  }
  if (at < r.start + r.size) out.push({ start: at, size: r.start + r.size - at });
  return out;
}

export const availableSize = (r: PmemRegion): number => freeExtents(r).reduce((s, e) => s + e.size, 0);
export const maxAvailableExtent = (r: PmemRegion): number => freeExtents(r).reduce((m, e) => Math.max(m, e.size), 0);

/** The lowest namespace id of the region not in use (the namespace seed). */
export function nextNamespaceId(r: PmemRegion): number {
  const ids = new Set(r.namespaces.map((n) => n.id));
  let id = 0;
  while (ids.has(id)) id++;
  return id;
}

/** A deterministic uuid for a namespace, so replaying the state gives the same names and uuids. */
export function namespaceUuid(region: number, id: number, serial: number): string {
  const h = (n: number, w: number) => (n >>> 0).toString(16).padStart(w, '0').slice(-w);
  const a = Math.imul(region + 1, 0x9e3779b1) ^ Math.imul(id + 1, 0x85ebca6b) ^ Math.imul(serial + 1, 0xc2b2ae35);
  const b = Math.imul(a ^ (a >>> 15), 0x2c1b3c6d);
  const c = Math.imul(b ^ (b >>> 12), 0x297a2d39);
  return `${h(a, 8)}-${h(b, 4)}-4${h(c, 3)}-${h(0x8000 | (b & 0x3fff), 4)}-${h(c, 8)}${h(a ^ c, 4)}`;
}

/**
 * __nvdimm_setup_pfn() for PFN_MODE_PMEM: the altmap of a namespace whose
 * struct pages live on the device. base_pfn is the subsection the namespace
 * starts in; the info block and that padding are `reserve`, the struct page
 * area is `free`.
 */
export function pfnAltmap(arch: ArchProfile, start: number, info: PfnInfo) {
  const ps = arch.pageSize;
  const subsection = 2 ** arch.subsectionShift;
  const basePfn = Math.floor(start / subsection) * (subsection / ps);
  return {
    basePfn,
    reserve: infoBlockReserve(arch) / ps + (Math.floor(start / ps) - basePfn),
    free: Math.floor((info.dataoff - infoBlockReserve(arch)) / ps),
  };
}
