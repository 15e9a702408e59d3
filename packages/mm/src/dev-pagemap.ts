import { pow2 } from './arch.js';
/** enum memory_type (include/linux/memremap.h, v5.15) */
export const MEMORY_DEVICE_PRIVATE = 1;
export const MEMORY_DEVICE_FS_DAX = 2;
export const MEMORY_DEVICE_GENERIC = 3;
export const MEMORY_DEVICE_PCI_P2PDMA = 4;

/** dev_pagemap flags */
export const PGMAP_ALTMAP_VALID = 1 << 0;

/** struct range: [start, end] in bytes, end inclusive, as the kernel keeps it. */
export interface PhysAddrRange {
  start: number;
  end: number;
}

/**
 * struct vmem_altmap: device pfns set aside to hold the device's own struct
 * pages (--map=dev).
 */
export interface VmemAltmap {
  /** First pfn of the device range the altmap serves. */
  readonly basePfn: number;
  /** One past the last pfn the altmap may hand out. */
  readonly endPfn: number;
  /** pfns at the start of the range reserved for other metadata (the info block). */
  readonly reserve: number;
  /** pfns available for struct pages. */
  free: number;
  /** pfns consumed only to satisfy alignment. */
  align: number;
  /** pfns handed out. */
  alloc: number;
}

/** struct dev_pagemap_ops, the parts the model uses. */
export interface DevPagemapOps {
  /** ->page_free(): a page's refcount dropped to its idle value. */
  pageFree?(pfn: number): void;
  /** ->memory_failure() (later kernels); device-dax has none. */
  memoryFailure?(pfn: number, nrPages: number, flags: number): number;
}

/**
 * struct dev_pagemap. One object per device mapping (never one per page);
 * struct pages point at it through a simulated kernel pointer.
 */
export interface DevPagemap {
  type: number;
  flags: number;
  readonly ranges: PhysAddrRange[];
  /** vmemmap_shift: the order of the compound pages the memmap is built of (0: base pages). */
  vmemmapShift: number;
  altmap: VmemAltmap | null;
  ops: DevPagemapOps | null;
  owner: unknown;
  /** The percpu_ref count: one per compound page while live, plus transient gets. */
  ref: number;
  /** percpu_ref_kill() has run (memunmap_pages started). */
  dead: boolean;
  /** A name for logs ("dax0.0"). */
  name: string;
}

/** pgmap_vmemmap_nr(): base pages per compound page. */
export function pgmapVmemmapNr(pgmap: DevPagemap): number {
  return pow2(pgmap.vmemmapShift);
}

/** pgmap_altmap(): the altmap, when PGMAP_ALTMAP_VALID. */
export function pgmapAltmap(pgmap: DevPagemap): VmemAltmap | null {
  return pgmap.flags & PGMAP_ALTMAP_VALID ? pgmap.altmap : null;
}
