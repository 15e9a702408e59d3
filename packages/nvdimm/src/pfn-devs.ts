import { type ArchProfile, EINVAL, ENXIO, KernelError, SZ_2M, SZ_8K } from '@daxsim/mm';

/**
 * drivers/nvdimm/pfn_devs.c: the info block a pfn (fsdax) or dax (devdax)
 * claim writes at the start of a namespace, and the layout it implies.
 */

/** memremap_compat_align(): SUBSECTION_SIZE on every architecture we model. */
export const MEMREMAP_COMPAT_ALIGN = SZ_2M;

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
const alignDown = (x: number, a: number) => Math.floor(x / a) * a;

/** info_block_reserve(): the 8 KiB info block, rounded up to a page. */
export const infoBlockReserve = (arch: ArchProfile): number => alignUp(SZ_8K, arch.pageSize);

/**
 * nd_pfn_init(): lays out a pfn/dax namespace. With the memmap on the
 * device (--map=dev, PFN_MODE_PMEM), 64 bytes per page are set aside after
 * the 8 KiB info block; the data starts at the next `align` boundary.
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

/** The altmap of __nvdimm_setup_pfn() for PFN_MODE_PMEM. */
export interface PfnAltmap {
  readonly basePfn: number;
  readonly reserve: number;
  readonly free: number;
}

/**
 * __nvdimm_setup_pfn() for PFN_MODE_PMEM: the altmap of a namespace whose
 * struct pages live on the device. base_pfn is the subsection the namespace
 * starts in; the info block and that padding are `reserve`, the struct page
 * area is `free`.
 */
export function pfnAltmap(arch: ArchProfile, start: number, info: PfnInfo): PfnAltmap {
  const ps = arch.pageSize;
  const subsection = 2 ** arch.subsectionShift;
  const basePfn = Math.floor(start / subsection) * (subsection / ps);
  return {
    basePfn,
    reserve: infoBlockReserve(arch) / ps + (Math.floor(start / ps) - basePfn),
    free: Math.floor((info.dataoff - infoBlockReserve(arch)) / ps),
  };
}
