import {
  FAULT_FLAG_WRITE,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PE_SIZE_PUD,
  VM_FAULT_FALLBACK,
  VM_FAULT_SIGBUS,
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  type Vma,
  type VmFault,
} from '@daxsim/mm';

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
  const vmf: VmFault = { vma, address, pgoff: vma.pgoffOf(address), flags };
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
