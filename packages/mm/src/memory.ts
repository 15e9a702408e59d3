import type { AddressSpace, Vma } from './mm-types.js';
import { entryPresent } from './pgtable.js';

/**
 * zap_page_range() for pfn-mapped vmas: clears every entry mapping
 * [start, end) of `vma` (ptes and huge pmd/pud leaves alike) and frees the
 * page-table pages left empty. Device pages mapped this way hold no page
 * reference, so nothing else is dropped. Returns the number of leaf entries
 * cleared.
 */
export function zapPageRange(vma: Vma, start: number, end: number): number {
  const pt = vma.mm.pgd;
  let cleared = 0;
  let addr = Math.max(start, vma.start);
  const stop = Math.min(end, vma.end);
  let lastPruned = -1;
  while (addr < stop) {
    const level = pt.walk(addr);
    const size = pt.levelSize(level);
    const next = addr - (addr % size) + size;
    if (entryPresent(pt.wLo)) {
      pt.clearEntry(pt.wTable, pt.wIndex, addr, level);
      cleared++;
    }
    // Free tables that became empty once per pmd-sized stretch (and at the end).
    const pmdEnd = level === pt.nrLevels - 1 ? addr - (addr % pt.levelSize(level - 1)) + pt.levelSize(level - 1) : next;
    if (next >= pmdEnd || next >= stop) {
      if (lastPruned !== addr) pt.prune(addr);
      lastPruned = addr;
    }
    addr = next;
  }
  return cleared;
}

/**
 * unmap_mapping_range(): zaps the user mappings of file bytes
 * [holeBegin, holeBegin + holeLen) in every vma of `mapping`. Returns the
 * number of leaf entries cleared.
 */
export function unmapMappingRange(mapping: AddressSpace, holeBegin: number, holeLen: number): number {
  let cleared = 0;
  for (const vma of [...mapping.iMmap]) {
    const ps = vma.mm.pageSize;
    const vmaFileStart = vma.pgoff * ps;
    const vmaFileEnd = vmaFileStart + (vma.end - vma.start);
    const lo = Math.max(holeBegin, vmaFileStart);
    const hi = holeLen === 0 ? vmaFileEnd : Math.min(holeBegin + holeLen, vmaFileEnd);
    if (lo >= hi) continue;
    cleared += zapPageRange(vma, vma.start + (lo - vmaFileStart), vma.start + (hi - vmaFileStart));
  }
  return cleared;
}
