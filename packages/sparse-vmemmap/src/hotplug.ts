import { EINVAL, ENOMEM, KernelError, type VmemAltmap, hex } from '@daxsim/mm';
import {
  SECTION_HAS_MEM_MAP,
  SECTION_MARKED_PRESENT,
  SECTION_TAINT_ZONE_DEVICE,
  type SparseMem,
} from './sparse.js';
import { type VmemmapKernel, type VmemmapPgmapCtx, pfnToVmemmap, populateSectionMemmap, vmemAltmapOffset, vmemmapFree } from './vmemmap.js';

/** A kernel with the section table. */
export type SparseKernel = VmemmapKernel & { readonly sparse: SparseMem };

/** struct mhp_params: the altmap and (seed patch 9) the pgmap of a hot-add. */
export interface MhpParams {
  altmap: VmemAltmap | null;
  pgmap: VmemmapPgmapCtx | null;
}

// section_activate() (seed patch 9): usage, subsection map, then the memmap; 0 or -errno, nothing left on failure
export function sectionActivate(k: SparseKernel, nid: number, pfn: number, nrPages: number, altmap: VmemAltmap | null, pgmap: VmemmapPgmapCtx | null): number {
  const s = k.sparse;
  const sec = s.pfnToSectionNr(pfn);
  const newUsage = !s.hasUsage(sec);
  if (newUsage) s.allocUsage(sec);
  const rc = s.fillSubsectionMap(pfn, nrPages);
  if (rc < 0) {
    if (newUsage) s.freeUsage(sec);
    return rc;
  }
  // (a hot-add into an early section reuses its boot memmap: daxsim boots no early sections)
  const r = populateSectionMemmap(k, pfn, nrPages, nid, altmap, pgmap);
  if (r < 0) {
    sectionDeactivate(k, pfn, nrPages, altmap);
    return -ENOMEM;
  }
  return 0;
}

// section_deactivate(): clears the subsections, frees the usage when the section empties, depopulates the memmap
export function sectionDeactivate(k: SparseKernel, pfn: number, nrPages: number, altmap: VmemAltmap | null): void {
  const s = k.sparse;
  const sec = s.pfnToSectionNr(pfn);
  if (s.clearSubsectionMap(pfn, nrPages) < 0) {
    k.log.warn(`WARNING: section already deactivated (${hex(pfn)} + ${nrPages})`);
    return;
  }
  const empty = s.subsectionMapEmpty(sec);
  if (empty) {
    s.freeUsage(sec);
    s.setSectionFlags(sec, 0); // ms->section_mem_map = NULL
    s.setSectionNid(sec, 0);
  }
  // depopulate_section_memmap()
  vmemmapFree(k, pfnToVmemmap(k, pfn), pfnToVmemmap(k, pfn + nrPages), altmap, s);
}

// sparse_add_section(): 0, -EEXIST (subsection already present), -EINVAL or -ENOMEM
export function sparseAddSection(k: SparseKernel, nid: number, startPfn: number, nrPages: number, altmap: VmemAltmap | null, pgmap: VmemmapPgmapCtx | null): number {
  const s = k.sparse;
  const sec = s.pfnToSectionNr(startPfn);
  s.sparseIndexInit(sec);
  const rc = sectionActivate(k, nid, startPfn, nrPages, altmap, pgmap);
  if (rc < 0) return rc;
  s.setSectionNid(sec, nid);
  // __section_mark_present() + sparse_init_one_section()
  s.setSectionFlags(sec, s.sectionFlags(sec) | SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | (pgmap !== null ? SECTION_TAINT_ZONE_DEVICE : 0));
  return 0;
}

// sparse_remove_section()
export function sparseRemoveSection(k: SparseKernel, pfn: number, nrPages: number, altmap: VmemAltmap | null): void {
  sectionDeactivate(k, pfn, nrPages, altmap);
}

// check_pfn_span(): SPARSEMEM_VMEMMAP hot-add works in subsections
export function checkPfnSpan(k: SparseKernel, pfn: number, nrPages: number): number {
  const min = k.sparse.pagesPerSubsection;
  return pfn % min !== 0 || nrPages % min !== 0 ? -EINVAL : 0;
}

/**
 * __add_pages(): sparse_add_section() for each section piece of
 * [pfn, pfn + nrPages). On failure the sections added before the failing one
 * are removed again (the kernel leaves that to its callers), so a failed call
 * leaves nothing behind. Returns 0 or -errno.
 */
export function addPages(k: SparseKernel, nid: number, pfn: number, nrPages: number, params: MhpParams): number {
  const { altmap } = params;
  if (altmap !== null) {
    if (altmap.basePfn !== pfn || vmemAltmapOffset(altmap) > nrPages) {
      k.log.warn('memory add fail, invalid altmap');
      return -EINVAL;
    }
    altmap.alloc = 0;
  }
  if (checkPfnSpan(k, pfn, nrPages) < 0) {
    k.log.warn(`WARNING: Misaligned __add_pages start: ${hex(pfn)} end: ${hex(pfn + nrPages - 1)}`);
    return -EINVAL;
  }
  const pps = k.sparse.pagesPerSection;
  const end = pfn + nrPages;
  for (let cur = pfn; cur < end; ) {
    const n = Math.min(end - cur, (Math.floor(cur / pps) + 1) * pps - cur);
    const err = sparseAddSection(k, nid, cur, n, altmap, params.pgmap);
    if (err < 0) {
      if (cur > pfn) removePages(k, pfn, cur - pfn, altmap);
      return err;
    }
    cur += n;
  }
  return 0;
}

// __remove_pages(): sparse_remove_section() for each section piece
export function removePages(k: SparseKernel, pfn: number, nrPages: number, altmap: VmemAltmap | null): void {
  if (checkPfnSpan(k, pfn, nrPages) < 0) throw new KernelError(EINVAL, `__remove_pages: misaligned start ${hex(pfn)} nr_pages ${nrPages}`);
  const pps = k.sparse.pagesPerSection;
  const end = pfn + nrPages;
  for (let cur = pfn; cur < end; ) {
    const n = Math.min(end - cur, (Math.floor(cur / pps) + 1) * pps - cur);
    if (!k.sparse.validSection(k.sparse.pfnToSectionNr(cur))) k.log.warn(`WARNING: __remove_section: section of pfn ${hex(cur)} is not valid`);
    sparseRemoveSection(k, cur, n, altmap);
    cur += n;
  }
}
