import {
  AddressSpace,
  EINVAL,
  KernelError,
  MAP_SHARED,
  MEMORY_DEVICE_GENERIC,
  MmStruct,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PE_SIZE_PUD,
  PROT_READ,
  PROT_WRITE,
  VM_FAULT_FALLBACK,
  VM_FAULT_HWPOISON,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_HUGEPAGE,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  FAULT_FLAG_WRITE,
  Vma,
  X86_64,
  _PAGE_ACCESSED,
  _PAGE_DEVMAP_HI,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  mkEntryHi,
  mkEntryLo,
  type ArchProfile,
  type DevPagemap,
  type FileRef,
  type PageTableAllocator,
  type VmemmapGeneration,
  type VmFault,
  type VmOperations,
} from '@daxsim/mm';
import { createKernel, memremapPages, newDevPagemap, type Kernel } from '@daxsim/memremap';
import { Gup, type GupGeneration } from '../gup.js';

export interface DaxFixtureOptions {
  arch?: ArchProfile;
  /** Device bytes (default 1 GiB). */
  size?: number;
  /** The mapping granularity: PAGE_SIZE, PMD size or PUD size (default PMD size). */
  align?: number;
  /** The vmemmap generation memremap_pages builds (default 'tail-reuse'). */
  vmemmapGeneration?: VmemmapGeneration;
  /** __gup_device_huge generation (default 'head-once'). */
  gupGeneration?: GupGeneration;
  /** What a fault on a poisoned unit returns: device-dax's VM_FAULT_SIGBUS (default) or VM_FAULT_HWPOISON. */
  poisonFault?: 'sigbus' | 'hwpoison';
  /** RAM bytes (default 512 MiB). */
  ram?: number;
}

/**
 * A memremap'd MEMORY_DEVICE_GENERIC pgmap and an mm whose vmas fault in
 * devmap leaves at the align size: a minimal stand-in for device-dax's mmap
 * and fault handler, so GUP can be tested without importing device-dax.
 */
export class DaxFixture {
  readonly k: Kernel;
  /** The GUP instance the fixture's helpers use; useGup() binds another generation (a Gup's generation is fixed at setup). */
  gup: Gup;
  readonly pgmap: DevPagemap;
  readonly mm: MmStruct;
  readonly align: number;
  readonly basePfn: number;
  readonly nrPages: number;
  readonly file: FileRef;
  poisonFault: 'sigbus' | 'hwpoison';
  /** Faults handled, by entry size. */
  readonly faults = { pte: 0, pmd: 0, pud: 0, sigbus: 0 };
  readonly ops: VmOperations;
  readonly ptAlloc: PageTableAllocator;

  constructor(opts: DaxFixtureOptions = {}) {
    const arch = opts.arch ?? X86_64;
    const size = opts.size ?? 2 ** 30;
    this.align = opts.align ?? 2 ** arch.pmdShift;
    const devStart = 2 ** 36; // 64 GiB: aligned for every align
    this.k = createKernel({ arch, ram: [{ nid: 0, size: opts.ram ?? 512 * 2 ** 20 }], devices: [{ start: devStart, size, name: 'pmem0' }] });
    const shift = Math.log2(this.align / arch.pageSize);
    this.pgmap = newDevPagemap({ ranges: [{ start: devStart, end: devStart + size - 1 }], type: MEMORY_DEVICE_GENERIC, vmemmapShift: shift, name: 'dax0.0' });
    memremapPages(this.k, this.pgmap, 0, { generation: opts.vmemmapGeneration ?? 'tail-reuse' });
    this.basePfn = devStart / arch.pageSize;
    this.nrPages = size / arch.pageSize;
    this.gup = new Gup(this.k, { generation: opts.gupGeneration ?? 'head-once' });
    this.poisonFault = opts.poisonFault ?? 'sigbus';
    const buddy = this.k.buddy;
    this.ptAlloc = {
      allocPageTable: () => buddy.allocPages(0, 0, 'user_pagetable'),
      freePageTable: (pfn: number, zeroed?: boolean) => buddy.freePages(pfn, 0, 'user_pagetable', zeroed),
    };
    this.mm = MmStruct.create(this.k.mem, this.ptAlloc);
    const mapping = new AddressSpace('dax0.0', this);
    this.file = { name: '/dev/dax0.0', mapping, privateData: this };
    this.ops = {
      name: 'dax_vm_ops (gup test fixture)',
      hugeFault: (vmf, peSize) => this.hugeFault(vmf, peSize),
      fault: (vmf) => this.hugeFault(vmf, PE_SIZE_PTE),
    };
  }

  /** mmap(NULL, size, prot, MAP_SHARED, fd, pgoffBytes): a vma at an align-aligned address. */
  mmap(size = this.nrPages * this.k.arch.pageSize, prot = PROT_READ | PROT_WRITE, pgoffBytes = 0, flags = MAP_SHARED): Vma {
    if (!(flags & MAP_SHARED)) throw new KernelError(EINVAL, 'fixture mmap: MAP_SHARED only');
    if (size % this.align || pgoffBytes % this.align) throw new KernelError(EINVAL, 'fixture mmap: unaligned vma');
    const addr = this.mm.getUnmappedArea(size, this.align);
    let vmFlags = VM_READ | VM_MAYREAD | VM_SHARED | VM_MAYSHARE | VM_HUGEPAGE;
    if (prot & PROT_WRITE) vmFlags |= VM_WRITE | VM_MAYWRITE;
    const vma = new Vma(this.mm, addr, addr + size, vmFlags, pgoffBytes / this.k.arch.pageSize, this.file);
    vma.ops = this.ops;
    this.mm.insertVma(vma);
    return vma;
  }

  /** The pfn mapped at file page offset `pgoff`. */
  pfnOf(pgoff: number): number {
    return this.basePfn + pgoff;
  }

  // dev_dax_huge_fault() in miniature: the entry size must equal the align.
  private hugeFault(vmf: VmFault, peSize: number): number {
    const arch = this.k.arch;
    const ps = arch.pageSize;
    const size = peSize === PE_SIZE_PUD ? 2 ** arch.pudShift : peSize === PE_SIZE_PMD ? 2 ** arch.pmdShift : ps;
    if (size < this.align) {
      this.faults.sigbus++;
      return VM_FAULT_SIGBUS;
    }
    if (size > this.align) return VM_FAULT_FALLBACK;
    const vma = vmf.vma;
    const addr = vmf.address - (vmf.address % size);
    if (addr < vma.start || addr + size > vma.end) return VM_FAULT_SIGBUS;
    const pgoff = vma.pgoffOf(addr);
    if (pgoff + size / ps > this.nrPages) return VM_FAULT_SIGBUS;
    const pfn = this.pfnOf(pgoff);
    const m = this.k.memmap;
    if (m.PageHWPoison(m.compoundHead(pfn))) {
      this.faults.sigbus++;
      return this.poisonFault === 'sigbus' ? VM_FAULT_SIGBUS : VM_FAULT_HWPOISON;
    }
    const level = peSize === PE_SIZE_PUD ? arch.pudLevel : peSize === PE_SIZE_PMD ? arch.pmdLevel : arch.pteLevel;
    const pt = this.mm.pgd;
    const table = pt.populate(addr, level);
    if (table < 0) return VM_FAULT_OOM;
    const idx = pt.wIndex;
    const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
    const old = pt.lo(table, idx);
    if (old & _PAGE_PRESENT) {
      // insert_pfn_pmd() on a present entry: a write makes it young, dirty and writable
      if (write) pt.setEntry(table, idx, old | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, pt.hi(table, idx), addr, level);
      return VM_FAULT_NOPAGE;
    }
    let lo = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
    if (level !== arch.pteLevel) lo |= _PAGE_PSE;
    if (write) lo |= _PAGE_RW | _PAGE_DIRTY;
    pt.setEntry(table, idx, mkEntryLo(pfn, arch.pageShift, lo), mkEntryHi(pfn, arch.pageShift, _PAGE_DEVMAP_HI), addr, level);
    if (level === arch.pteLevel) this.faults.pte++;
    else if (level === arch.pmdLevel) this.faults.pmd++;
    else this.faults.pud++;
    return VM_FAULT_NOPAGE;
  }
}

/** Builds a DaxFixture. */
export function createDaxFixture(opts: DaxFixtureOptions = {}): DaxFixture {
  return new DaxFixture(opts);
}
