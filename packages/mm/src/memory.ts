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
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, entryPresent } from './pgtable.js';

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
