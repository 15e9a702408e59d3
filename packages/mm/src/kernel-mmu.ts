import { type ArchProfile, structPagesPerPage } from './arch.js';
import { C, type Counters } from './counters.js';
import { EFAULT, KernelError } from './errno.js';
import type { KernelLog } from './klog.js';
import { PageTable, type PageTableAllocator, _PAGE_PRESENT, _PAGE_RW, entryPfn, entryPresent } from './pgtable.js';
import type { PhysicalMemory } from './phys-mem.js';

const TLB_BLOCK_SHIFT = 12;
const TLB_BLOCK = 1 << TLB_BLOCK_SHIFT;
const TLB_BLOCK_MASK = TLB_BLOCK - 1;
/**
 * vmemmap pages below this find their TLB block in a plain array (at most
 * 2^16 blocks: the struct pages of 2^34 pfns with 64 a page, x86-64's whole
 * 4-level address space); the blocks above it live in a Map. 5-level paging
 * addresses 2^40 pfns, 2^34 vmemmap pages: a flat table of them would be
 * 2^22 blocks.
 */
const TLB_FLAT_VMIS = 2 ** 28;

/**
 * The kernel's view of the vmemmap: init_mm's page tables for the vmemmap
 * window and a translation cache in front of them.
 *
 * Addresses in the window are numbers relative to `windowBase` (VMEMMAP_START
 * rounded down to a top-level entry), so the struct page of pfn p lives at
 * `vmemmapOffset + p * 64`. The TLB maps a vmemmap page index (pfn / 64 on
 * x86-64) to the frame slot that backs it, in blocks of 4,096 pages found by
 * index (or, for vmemmap pages above 2^28, by hash); a page-table change
 * flushes what it must through the page table's listener, never by hand. A
 * TLB fill materialises the frame (PhysicalMemory.materialise), so the TLB
 * never caches a frame that shares a template: what it caches is the frame's
 * own storage, and every store through it is that frame's alone.
 */
export class KernelMmu {
  readonly arch: ArchProfile;
  readonly mem: PhysicalMemory;
  readonly pgtable: PageTable;
  /** VMEMMAP_START rounded down to the top level's granule. */
  readonly windowBase: bigint;
  /** VMEMMAP_START - windowBase */
  readonly vmemmapOffset: number;
  /** log2(struct pages per vmemmap page) */
  readonly sppShift: number;
  private readonly counters: Counters;
  /** Where oopses are printed (set by whoever boots the kernel; null: only thrown). */
  log: KernelLog | null = null;
  /**
   * Set by Memmap.locateWhole() around one translation: the store that
   * follows covers the whole vmemmap page, so a frame given storage by this
   * walk need not be zeroed (PhysicalMemory.materialise's `overwrite`).
   */
  overwrite = false;
  /** Whether the frame the last walk found is mapped writable (every level on the way has _PAGE_RW). */
  private walkRw = true;
  /**
   * TLB blocks of vmemmap pages below TLB_FLAT_VMIS, by block number: 4,096
   * entries (slot + 1, negated when read-only; 0 none) and, after them, how
   * many are cached (a flush skips blocks at 0).
   */
  private tlb: (Int32Array | undefined)[] = [];
  /** The blocks of vmemmap pages above TLB_FLAT_VMIS, by block number. */
  private tlbHigh = new Map<number, Int32Array>();
  /** The blocks allocated, so a flush of a huge range visits these instead of every block in the range. */
  private tlbBlocks: number[] = [];
  private readonly useTlb: boolean;
  /**
   * Paging-structure cache for TLB fills: the PTE table the last full walk
   * ended in, and the number of the PTE-table span (va / bytes one table maps)
   * it serves. A fill in that span reads the PTE straight from the table
   * instead of walking the upper levels again. Every flush drops it (an upper
   * level entry that changes was present, so its change flushes), and a table
   * is only freed after the entry pointing at it is cleared.
   */
  private pwcSpan = -1;
  private pwcTable = 0;
  /**
   * The huge leaf (a PMD or PUD block) the last walk ended in: the vmemmap
   * pages [leafVmi, leafEnd) it maps, from frame leafPfn on, and whether it
   * is writable. Dropped by every flush, as the paging-structure cache is.
   */
  private leafVmi = -1;
  private leafEnd = -1;
  private leafPfn = 0;
  private leafRw = true;
  private readonly pteLevel: number;
  /** Bytes that one PTE table maps (the size of one entry of the level above). */
  private readonly pteTableSpan: number;

  constructor(mem: PhysicalMemory, alloc: PageTableAllocator, counters: Counters, opts: { tlb?: boolean } = {}) {
    const arch = mem.arch;
    this.arch = arch;
    this.mem = mem;
    this.counters = counters;
    this.useTlb = opts.tlb ?? true;
    const top = arch.levels[0]!;
    const granule = 1n << BigInt(top.shift);
    this.windowBase = arch.vmemmapStart - (arch.vmemmapStart % granule);
    this.vmemmapOffset = Number(arch.vmemmapStart - this.windowBase);
    const topIndexBase = Number((this.windowBase >> BigInt(top.shift)) & ((1n << BigInt(top.bits)) - 1n));
    const pt = PageTable.create(mem, alloc, {
      topIndexBase,
      listener: (va, size) => this.flushTlbKernelRange(va, size),
    });
    if (typeof pt === 'number') throw new KernelError(-pt, 'init_mm: cannot allocate the kernel pgd');
    this.pgtable = pt;
    this.sppShift = Math.log2(structPagesPerPage(arch));
    this.pteLevel = pt.nrLevels - 1;
    this.pteTableSpan = pt.levelSize(this.pteLevel) * (1 << arch.levels[this.pteLevel]!.bits);
  }

  /** The window address of pfn's struct page (what `pfn_to_page` gives, minus windowBase). */
  vmemmapVa(pfn: number): number {
    return this.vmemmapOffset + pfn * this.arch.structPageSize;
  }

  /** A window address as the full 64-bit kernel virtual address. */
  kernelVa(va: number): bigint {
    return this.windowBase + BigInt(va);
  }

  /**
   * The frame slot backing vmemmap page `vmi` (the page holding the struct
   * pages of pfns vmi*64 .. vmi*64+63 on x86-64). Oopses if nothing maps it.
   */
  translate(vmi: number): number {
    if (!this.useTlb) return this.peek ? this.peekFrame(vmi) : this.walkVmemmap(vmi);
    const blk = vmi < TLB_FLAT_VMIS ? this.tlb[vmi >>> TLB_BLOCK_SHIFT] : this.tlbHigh.get(Math.floor(vmi / TLB_BLOCK));
    if (blk !== undefined) {
      const s = blk[vmi & TLB_BLOCK_MASK]!;
      if (s !== 0) {
        this.counters.v[C.tlb_hit]++;
        return (s > 0 ? s : -s) - 1;
      }
    }
    if (this.peek) return this.peekFrame(vmi);
    const e = this.fill(vmi);
    return (e > 0 ? e : -e) - 1;
  }

  /**
   * Loads of an observer (dump_page, the invariant sweeps, a drawing of the
   * vmemmap), which store nothing: a TLB miss on a frame that shares a
   * template reads the template where it lies and caches nothing, so looking
   * at the memmap never gives a frame a copy of its own (the copy is a
   * store's). Memmap.peek() sets it around a read; the kernel's own paths
   * never do (they may store through what they located).
   */
  peek = false;

  // A TLB miss under peek: a template-shared frame read in place, uncached; any other frame as a load takes it.
  private peekFrame(vmi: number): number {
    const pfn = this.resolveFrameCached(vmi);
    if (pfn < 0) this.notPopulated(vmi);
    if (this.mem.frameShared(pfn)) {
      if (this.useTlb) this.counters.v[C.tlb_miss]++;
      return this.mem.frameSlot(pfn);
    }
    if (!this.useTlb) return this.mem.materialise(pfn);
    const e = this.fill(vmi);
    return (e > 0 ? e : -e) - 1;
  }

  /**
   * translate() for a store: the same frame slot, or a kernel page fault
   * (error_code 0x3: present, write) when the PTE that maps vmemmap page
   * `vmi` is read-only.
   */
  translateWrite(vmi: number): number {
    let e = 0;
    if (this.useTlb) {
      const blk = vmi < TLB_FLAT_VMIS ? this.tlb[vmi >>> TLB_BLOCK_SHIFT] : this.tlbHigh.get(Math.floor(vmi / TLB_BLOCK));
      if (blk !== undefined) e = blk[vmi & TLB_BLOCK_MASK]!;
      if (e !== 0) this.counters.v[C.tlb_hit]++;
      else e = this.fill(vmi);
    } else {
      const slot = this.walkVmemmap(vmi);
      e = this.walkRw ? slot + 1 : -(slot + 1);
    }
    if (e < 0) this.writeFault(vmi);
    return e - 1;
  }

  // The oops of a store through a read-only vmemmap PTE (arch/x86/mm/fault.c page_fault_oops()).
  private writeFault(vmi: number): never {
    const va = this.kernelVa(this.vmemmapOffset + vmi * this.arch.pageSize).toString(16);
    this.counters.v[C.vmemmap_write_faults]++;
    const text = `BUG: unable to handle page fault for address: ${va}`;
    if (this.log !== null) {
      this.log.err(text);
      this.log.err('#PF: supervisor write access in kernel mode');
      this.log.err('#PF: error_code(0x0003) - permissions violation');
      this.log.err('Oops: 0003 [#1] PREEMPT SMP NOPTI');
    }
    throw new KernelError(EFAULT, `${text} (write through a read-only vmemmap PTE)`);
  }

  // A TLB miss: walks, caches, and returns the entry (slot + 1, negated when read-only).
  private fill(vmi: number): number {
    this.counters.v[C.tlb_miss]++;
    const slot = this.walkVmemmapCached(vmi);
    const e = this.walkRw ? slot + 1 : -(slot + 1);
    let blk: Int32Array | undefined;
    if (vmi < TLB_FLAT_VMIS) {
      const bi = vmi >>> TLB_BLOCK_SHIFT;
      blk = this.tlb[bi];
      if (blk === undefined) {
        // no holes (see PhysicalMemory): a sparse array would become a hash table
        while (this.tlb.length < bi) this.tlb.push(undefined);
        blk = this.tlb[bi] = new Int32Array(TLB_BLOCK + 1);
        this.tlbBlocks.push(bi);
      }
    } else {
      const bi = Math.floor(vmi / TLB_BLOCK);
      blk = this.tlbHigh.get(bi);
      if (blk === undefined) {
        this.tlbHigh.set(bi, (blk = new Int32Array(TLB_BLOCK + 1)));
        this.tlbBlocks.push(bi);
      }
    }
    if (blk[vmi & TLB_BLOCK_MASK] === 0) blk[TLB_BLOCK]++;
    blk[vmi & TLB_BLOCK_MASK] = e;
    return e;
  }

  // The TLB block of block number bi, or undefined.
  private tlbBlock(bi: number): Int32Array | undefined {
    return bi * TLB_BLOCK < TLB_FLAT_VMIS ? this.tlb[bi] : this.tlbHigh.get(bi);
  }

  /**
   * A store of every byte of vmemmap page `vmi` with template t's contents
   * (memmap init of whole vmemmap pages of identical struct pages): the
   * frame that backs the page takes the template
   * (PhysicalMemory.storeTemplate), and shares it until its first store if
   * it had no storage of its own. A read-only PTE faults as any store does;
   * an unmapped page oopses. The TLB is not filled (that would materialise
   * the frame).
   */
  storeTemplate(vmi: number, t: number): void {
    let e = 0;
    if (this.useTlb) {
      const blk = vmi < TLB_FLAT_VMIS ? this.tlb[vmi >>> TLB_BLOCK_SHIFT] : this.tlbHigh.get(Math.floor(vmi / TLB_BLOCK));
      if (blk !== undefined) e = blk[vmi & TLB_BLOCK_MASK]!;
    }
    if (e !== 0) {
      // cached: the frame has storage of its own, which takes the template's bytes
      this.counters.v[C.tlb_hit]++;
      if (e < 0) this.writeFault(vmi);
      this.mem.storeTemplate(this.resolveFrameCached(vmi), t);
      return;
    }
    if (this.useTlb) this.counters.v[C.tlb_miss]++;
    const pfn = this.resolveFrameCached(vmi);
    if (pfn < 0) this.notPopulated(vmi);
    if (!this.walkRw) this.writeFault(vmi);
    this.mem.storeTemplate(pfn, t);
  }

  // The oops of an access to a vmemmap page nothing maps.
  private notPopulated(vmi: number): never {
    const va = this.kernelVa(this.vmemmapOffset + vmi * this.arch.pageSize);
    throw new KernelError(EFAULT, `BUG: unable to handle page fault for address: ${va.toString(16)} (vmemmap not populated)`);
  }

  /** The slow, obviously correct translation: a full page-table walk, no cache. */
  walkVmemmap(vmi: number): number {
    const pfn = this.resolveFrame(vmi);
    if (pfn < 0) this.notPopulated(vmi);
    return this.mem.materialise(pfn, this.overwrite && this.walkRw);
  }

  // walkVmemmap() with the paging-structure caches: the same frame, or the same oops.
  private walkVmemmapCached(vmi: number): number {
    const pfn = this.resolveFrameCached(vmi);
    if (pfn < 0) this.notPopulated(vmi);
    return this.mem.materialise(pfn, this.overwrite && this.walkRw);
  }

  /**
   * resolveFrame() through the paging-structure caches (the PTE table and the
   * huge leaf of the last walk): the same frame, or -1; sets walkRw.
   */
  private resolveFrameCached(vmi: number): number {
    if (vmi >= this.leafVmi && vmi < this.leafEnd) {
      this.walkRw = this.leafRw;
      return this.leafPfn + (vmi - this.leafVmi);
    }
    const pt = this.pgtable;
    const va = this.vmemmapOffset + vmi * this.arch.pageSize;
    const span = Math.floor(va / this.pteTableSpan);
    if (span === this.pwcSpan) {
      const idx = pt.index(va, this.pteLevel);
      const lo = pt.lo(this.pwcTable, idx);
      if (lo & _PAGE_PRESENT) {
        this.walkRw = (lo & _PAGE_RW) !== 0; // the upper levels of a vmemmap walk are page tables, always writable
        return entryPfn(lo, pt.hi(this.pwcTable, idx), this.arch.pageShift);
      }
      return this.resolveFrame(vmi); // not mapped: the slow path answers -1
    }
    const level = pt.walk(va);
    if (level === this.pteLevel) {
      this.pwcSpan = span;
      this.pwcTable = pt.wTable;
    }
    if (!entryPresent(pt.wLo)) return -1;
    this.walkRw = (pt.wLo & _PAGE_RW) !== 0;
    const base = entryPfn(pt.wLo, pt.wHi, this.arch.pageShift);
    const size = pt.levelSize(level);
    const within = va % size;
    const first = Math.floor(within / this.arch.pageSize);
    if (level < this.pteLevel) {
      // a huge leaf: the vmemmap pages it maps come from consecutive frames
      this.leafVmi = vmi - first;
      this.leafEnd = this.leafVmi + size / this.arch.pageSize;
      this.leafPfn = base;
      this.leafRw = this.walkRw;
    }
    return base + first;
  }

  /** The frame that backs vmemmap page `vmi`, or -1 when no entry maps it. */
  resolveFrame(vmi: number): number {
    const pt = this.pgtable;
    const va = this.vmemmapOffset + vmi * this.arch.pageSize;
    const level = pt.walk(va);
    if (!entryPresent(pt.wLo)) return -1;
    this.walkRw = (pt.wLo & _PAGE_RW) !== 0;
    const base = entryPfn(pt.wLo, pt.wHi, this.arch.pageShift);
    const within = va % pt.levelSize(level);
    return base + Math.floor(within / this.arch.pageSize);
  }

  /** flush_tlb_kernel_range(): drops cached translations of [va, va + size). */
  flushTlbKernelRange(va: number, size: number): void {
    this.pwcSpan = -1;
    this.leafVmi = this.leafEnd = -1;
    const ps = this.arch.pageSize;
    const first = Math.max(0, Math.floor((va - this.vmemmapOffset) / ps));
    const last = Math.ceil((va + size - this.vmemmapOffset) / ps);
    if (last <= first) return;
    let flushed = 0;
    const b0 = Math.floor(first / TLB_BLOCK);
    const b1 = Math.floor((last - 1) / TLB_BLOCK);
    if (b1 - b0 + 1 > this.tlbBlocks.length) {
      // a range wider than what is cached (a pud or pgd entry): visit the blocks that exist
      for (const bi of this.tlbBlocks) if (bi >= b0 && bi <= b1) flushed += this.flushBlock(bi, first, last);
    } else {
      for (let bi = b0; bi <= b1; bi++) flushed += this.flushBlock(bi, first, last);
    }
    this.counters.v[C.tlb_flush_entries] += flushed;
  }

  // Drops the cached translations of block bi that lie in [first, last); returns how many there were.
  private flushBlock(bi: number, first: number, last: number): number {
    const blk = this.tlbBlock(bi);
    if (blk === undefined || blk[TLB_BLOCK] === 0) return 0;
    const start = bi * TLB_BLOCK;
    const lo = Math.max(first, start) - start;
    const hi = Math.min(last, start + TLB_BLOCK) - start;
    let flushed = 0;
    if (lo === 0 && hi === TLB_BLOCK) {
      flushed = blk[TLB_BLOCK]!;
      blk.fill(0);
    } else {
      for (let j = lo; j < hi; j++) {
        if (blk[j] !== 0) {
          blk[j] = 0;
          flushed++;
        }
      }
      blk[TLB_BLOCK] -= flushed;
    }
    return flushed;
  }

  /** flush_tlb_all() */
  flushTlbAll(): void {
    this.pwcSpan = -1;
    this.leafVmi = this.leafEnd = -1;
    this.tlb = [];
    this.tlbHigh = new Map();
    this.tlbBlocks = [];
  }
}
