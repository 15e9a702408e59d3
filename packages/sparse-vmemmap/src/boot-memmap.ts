import { ENOMEM, hex } from '@daxsim/mm';
import { type SparseKernel } from './hotplug.js';
import { SECTION_HAS_MEM_MAP, SECTION_IS_EARLY, SECTION_IS_ONLINE, SECTION_MARKED_PRESENT } from './sparse.js';
import { populateSectionMemmap } from './vmemmap.js';

/** A range of boot memory (System RAM of a node). */
export interface BootMemoryRange {
  readonly nid: number;
  readonly start: number;
  readonly size: number;
}

/**
 * sparse_init() for the machine's RAM: every section of it marked present,
 * early and online with its subsections active (memory_present(),
 * subsection_map_init(), sparse_init_nid()), and its memmap populated
 * (__populate_section_memmap() without an altmap: x86's vmemmap_populate()
 * maps it with PMD blocks, allocated here from RAM as memblock would).
 *
 * What the model leaves out: the struct pages of RAM are not initialised
 * (memmap_init() of the boot zones), and a RAM range ending inside a section
 * gets a memmap for its own pfns only (the kernel populates whole early
 * sections). What it is for: the page tables the boot memmap builds are
 * there before any device is added, so a device whose vmemmap shares a PMD
 * or PUD table with RAM's allocates none of its own — as on the kernel,
 * where `ndctl create-namespace` on a 16 GiB NVDIMM takes 128 PTE tables and
 * no PMD table.
 *
 * Returns 0 or -ENOMEM.
 */
export function sparseInitBootMemory(k: SparseKernel, ranges: readonly BootMemoryRange[]): number {
  const s = k.sparse;
  const ps = k.arch.pageSize;
  const pps = s.pagesPerSection;
  const sub = s.pagesPerSubsection;
  for (const r of ranges) {
    const first = Math.ceil(r.start / ps / sub) * sub;
    const end = Math.floor((r.start + r.size) / ps / sub) * sub;
    for (let pfn = first; pfn < end; ) {
      const n = Math.min(end - pfn, (Math.floor(pfn / pps) + 1) * pps - pfn);
      const sec = s.pfnToSectionNr(pfn);
      s.sparseIndexInit(sec);
      if (!s.hasUsage(sec)) s.allocUsage(sec);
      s.fillSubsectionMap(pfn, n);
      if (populateSectionMemmap(k, pfn, n, r.nid, null, null) < 0) {
        k.log.warn(`sparse_init: cannot allocate the memmap of pfns ${hex(pfn)}-${hex(pfn + n - 1)}`);
        return -ENOMEM;
      }
      s.setSectionNid(sec, r.nid);
      s.setSectionFlags(sec, s.sectionFlags(sec) | SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE | SECTION_IS_EARLY);
      pfn += n;
    }
  }
  return 0;
}
