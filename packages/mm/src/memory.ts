import type { Memmap } from './struct-page.js';
import {
  type AddressSpace,
  FAULT_FLAG_WRITE,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PE_SIZE_PUD,
  VM_FAULT_FALLBACK,
  VM_FAULT_SIGBUS,
  type Vma,
  type VmFault,
} from './mm-types.js';
import { _PAGE_ACCESSED, _PAGE_DEVMAP_HI, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_SPECIAL, entryPfn, entryPresent } from './pgtable.js';
import { folioRemoveRmapEntire, folioRemoveRmapPte } from './rmap.js';

/**
 * zap_page_range() (unmap_page_range → zap_pte_range / zap_huge_pmd /
 * zap_huge_pud): clears every entry mapping [start, end) of `vma` (ptes and
 * huge pmd/pud leaves alike) and frees the page-table pages left empty.
 * A devmap or special entry (the pfn faults of kernels before 6.15) holds no
 * page reference: nothing else is dropped. An entry without either maps a
 * folio with a reference, an rmap count and RSS (vmf_insert_folio_pmd/pud,
 * vmf_insert_page_mkwrite, from aed877c2b425): zap drops all three
 * (folio_remove_rmap_pmd/pud/pte, add_mm_counter, and the tlb batch's
 * folio_put). Returns the number of leaf entries cleared.
 */
export function zapPageRange(vma: Vma, start: number, end: number): number {
  const pt = vma.mm.pgd;
  const mm = vma.mm;
  const memmap = mm.memmap;
  const shift = pt.arch.pageShift;
  let cleared = 0;
  let addr = Math.max(start, vma.start);
  const stop = Math.min(end, vma.end);
  let lastPruned = -1;
  while (addr < stop) {
    const level = pt.walk(addr);
    const size = pt.levelSize(level);
    const next = addr - (addr % size) + size;
    if (entryPresent(pt.wLo)) {
      const lo = pt.wLo;
      const hi = pt.wHi;
      pt.clearEntry(pt.wTable, pt.wIndex, addr, level);
      cleared++;
      if (memmap !== null && !(lo & _PAGE_SPECIAL) && !(hi & _PAGE_DEVMAP_HI)) zapFolioEntry(memmap, vma, entryPfn(lo, hi, shift), level === pt.nrLevels - 1, size);
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

/** What zap_huge_pmd() / zap_present_ptes() do for a refcounted folio entry: rmap, RSS, then folio_put. */
function zapFolioEntry(memmap: Memmap, vma: Vma, pfn: number, pte: boolean, size: number): void {
  const head = memmap.compoundHead(pfn);
  if (pte) folioRemoveRmapPte(memmap, pfn);
  else folioRemoveRmapEntire(memmap, head, vma.mm);
  vma.mm.rssFile -= size / vma.mm.pageSize;
  // folio_put(): a ZONE_DEVICE generic folio keeps its base reference, so this never frees it
  memmap.pageRefAdd(head, -1);
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

/**
 * handle_mm_fault() for a file vma whose driver installs its own entries
 * (device-dax): try a PUD fault where the pud is empty, then a PMD fault,
 * each falling back to the next size down on VM_FAULT_FALLBACK, then the pte
 * fault (->fault). A write to a present read-only huge entry goes to
 * ->huge_fault again (wp_huge_pud / wp_huge_pmd); to a read-only pte it is
 * made writable in place (do_wp_page → wp_page_reuse). Returns a vm_fault_t.
 *
 * Simplification: the driver populates the page tables it needs itself
 * (VmFault carries no pud/pmd pointer), so the pud_alloc/pmd_alloc steps of
 * __handle_mm_fault are left to it.
 */
export function handleMmFault(vma: Vma, address: number, flags: number): number {
  const pt = vma.mm.pgd;
  const arch = pt.arch;
  const ops = vma.ops;
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  // vmf.address is address & PAGE_MASK: handlers never see the byte offset.
  const pageAddr = address - (address % arch.pageSize);
  const vmf: VmFault = { vma, address: pageAddr, pgoff: vma.pgoffOf(pageAddr), flags };
  // create_huge_pud / wp_huge_pud (HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD)
  const thpPud = arch.pudLevel >= 0 && arch.devdaxAligns.length > 2;
  if (thpPud && ops?.hugeFault) {
    const level = pt.walk(address);
    if (level <= arch.pudLevel && !(pt.wLo & _PAGE_PRESENT)) {
      const r = ops.hugeFault(vmf, PE_SIZE_PUD);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    } else if (level === arch.pudLevel && pt.wLo & _PAGE_PSE) {
      if (!write || pt.wLo & _PAGE_RW) return 0; // huge_pud_set_accessed
      const r = ops.hugeFault(vmf, PE_SIZE_PUD);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    }
  }
  // create_huge_pmd / wp_huge_pmd
  if (ops?.hugeFault) {
    const level = pt.walk(address);
    if (level <= arch.pmdLevel && !(pt.wLo & _PAGE_PRESENT)) {
      const r = ops.hugeFault(vmf, PE_SIZE_PMD);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    } else if (level === arch.pmdLevel && pt.wLo & _PAGE_PSE) {
      if (!write || pt.wLo & _PAGE_RW) return 0; // huge_pmd_set_accessed
      const r = ops.hugeFault(vmf, PE_SIZE_PMD);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    }
  }
  // handle_pte_fault
  const level = pt.walk(address);
  if (level === arch.pteLevel && pt.wLo & _PAGE_PRESENT) {
    if (write && !(pt.wLo & _PAGE_RW))
      pt.setEntry(pt.wTable, pt.wIndex, pt.wLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, pt.wHi, address, level);
    return 0;
  }
  // do_fault → do_shared_fault → __do_fault; device-dax's ->fault is its PE_SIZE_PTE huge fault
  if (ops?.fault) return ops.fault(vmf);
  if (ops?.hugeFault) return ops.hugeFault(vmf, PE_SIZE_PTE);
  return VM_FAULT_SIGBUS;
}
