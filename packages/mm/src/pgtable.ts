import type { ArchProfile } from './arch.js';
import { EEXIST, ENOMEM } from './errno.js';
import type { PhysicalMemory } from './phys-mem.js';

// Entry bits, at their x86-64 positions (arch/x86/include/asm/pgtable_types.h).
// Every profile encodes its entries this way: the model keeps one encoding and
// lets the profile choose only the geometry.
export const _PAGE_PRESENT = 1 << 0;
export const _PAGE_RW = 1 << 1;
export const _PAGE_USER = 1 << 2;
export const _PAGE_ACCESSED = 1 << 5;
export const _PAGE_DIRTY = 1 << 6;
/** _PAGE_PSE: a leaf at pmd or pud level (pmd_leaf / pud_leaf). */
export const _PAGE_PSE = 1 << 7;
export const _PAGE_GLOBAL = 1 << 8;
/** _PAGE_SPECIAL (_PAGE_BIT_SOFTW1, bit 9) */
export const _PAGE_SPECIAL = 1 << 9;
/** _PAGE_DEVMAP is bit 58 (_PAGE_BIT_SOFTW4): bit 26 of the high word. */
export const _PAGE_DEVMAP_HI = 1 << 26;
/** _PAGE_NX is bit 63: bit 31 of the high word. */
export const _PAGE_NX_HI = 1 << 31;
/** Low-word bits that are flags, not address (bits 0-11). */
export const PTE_FLAGS_LO_MASK = 0xfff;
/** High-word bits that are address (bits 32-51). */
export const PTE_ADDR_HI_MASK = 0xfffff;

export const PAGE_KERNEL_LO = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL;
/** PAGE_KERNEL_RO: what the shared tails of the `shared-tail` generation are mapped with. */
export const PAGE_KERNEL_RO_LO = PAGE_KERNEL_LO & ~_PAGE_RW;
/** _PAGE_TABLE: the flags of a non-leaf entry that points at a table. */
export const _PAGE_TABLE_LO = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

/** Where page-table pages come from (the page allocator, for a given purpose). */
export interface PageTableAllocator {
  /** Returns the pfn of a zeroed page, or -ENOMEM. */
  allocPageTable(): number;
  /** `zeroed`: the table's every entry is zero (the emptiness check saw it). */
  freePageTable(pfn: number, zeroed?: boolean): void;
}

/** Told of every change to an entry that was present: the TLB flush hook. */
export type PageTableListener = (va: number, size: number) => void;

// 2^n and 2^-n as table lookups: `2 ** n` with a variable n is a libm pow()
// call (tens of ns), and these helpers run once per entry in the hot loops.
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);
const POW2_INV = Float64Array.from({ length: 64 }, (_, i) => 2 ** -i);

/** Low word of an entry mapping physical page `pfn` with low flags `flags`. */
export function mkEntryLo(pfn: number, pageShift: number, flags: number): number {
  const addr = pfn * POW2[pageShift]!;
  return ((addr % 0x100000000) & ~PTE_FLAGS_LO_MASK) | flags;
}
/** High word of an entry mapping physical page `pfn` with high flags `flagsHi`. */
export function mkEntryHi(pfn: number, pageShift: number, flagsHi: number): number {
  const addr = pfn * POW2[pageShift]!;
  return (Math.floor(addr / 0x100000000) & PTE_ADDR_HI_MASK) | flagsHi;
}
/** pte_pfn() and its pmd/pud cousins: the pfn an entry points at. */
export function entryPfn(lo: number, hi: number, pageShift: number): number {
  const addr = (hi & PTE_ADDR_HI_MASK) * 0x100000000 + ((lo & ~PTE_FLAGS_LO_MASK) >>> 0);
  return addr * POW2_INV[pageShift]!; // exact: a power of two
}
export const entryPresent = (lo: number): boolean => (lo & _PAGE_PRESENT) !== 0;
export const entryWrite = (lo: number): boolean => (lo & _PAGE_RW) !== 0;
export const entryLeaf = (lo: number): boolean => (lo & _PAGE_PSE) !== 0;
export const entrySpecial = (lo: number): boolean => (lo & _PAGE_SPECIAL) !== 0;
export const entryDevmap = (hi: number): boolean => (hi & _PAGE_DEVMAP_HI) !== 0;

/**
 * One radix page table (pgd → [p4d] → [pud] → pmd → pte) whose tables are
 * frames of simulated physical memory holding 8-byte entries. Used for init_mm
 * (the vmemmap) and for every user mm.
 *
 * Virtual addresses are plain numbers. `topIndexBase` is added to the top-level
 * index, so a window of the address space that starts at a top-level boundary
 * (the vmemmap) can be addressed by its offset: kernel addresses do not fit in
 * a double, offsets inside the window do.
 *
 * Walks report where they stopped through fields (`wLevel`, `wTable`, `wIndex`,
 * `wLo`, `wHi`) rather than returning an object, so a walk allocates nothing.
 */
export class PageTable {
  readonly arch: ArchProfile;
  readonly mem: PhysicalMemory;
  readonly root: number;
  readonly nrLevels: number;
  private readonly alloc: PageTableAllocator;
  private readonly topIndexBase: number;
  private readonly shifts: Float64Array; // 2^shift per level
  private readonly masks: Int32Array;
  private readonly listener: PageTableListener | undefined;
  /** Tables on the path of the last walk, per level. */
  readonly pathTable: Float64Array;
  private readonly madeTable: Float64Array;
  private readonly madeIdx: Int32Array;
  private readonly madeChild: Float64Array;
  // Where the last walk stopped.
  wLevel = 0;
  wTable = 0;
  wIndex = 0;
  wLo = 0;
  wHi = 0;
  /** Whether the table the last tableEmpty() found empty is all zero (no non-present entry left either). */
  wEmptyZero = false;
  /** Tables the last populate() created (0: every table on the path existed; > 0: the table it returned is new, all entries none). */
  wMade = 0;

  private constructor(
    mem: PhysicalMemory,
    alloc: PageTableAllocator,
    root: number,
    topIndexBase: number,
    listener: PageTableListener | undefined,
  ) {
    this.arch = mem.arch;
    this.mem = mem;
    this.alloc = alloc;
    this.root = root;
    this.topIndexBase = topIndexBase;
    this.listener = listener;
    const lv = this.arch.levels;
    this.nrLevels = lv.length;
    this.shifts = Float64Array.from(lv, (l) => 2 ** l.shift);
    this.masks = Int32Array.from(lv, (l) => (1 << l.bits) - 1);
    this.pathTable = new Float64Array(lv.length);
    this.madeTable = new Float64Array(lv.length);
    this.madeIdx = new Int32Array(lv.length);
    this.madeChild = new Float64Array(lv.length);
  }

  /** pgd_alloc(): a new table tree with an empty top level; -ENOMEM as a number if the allocation fails. */
  static create(
    mem: PhysicalMemory,
    alloc: PageTableAllocator,
    opts: { topIndexBase?: number; listener?: PageTableListener } = {},
  ): PageTable | number {
    const root = alloc.allocPageTable();
    if (root < 0) return root;
    mem.materialise(root);
    return new PageTable(mem, alloc, root, opts.topIndexBase ?? 0, opts.listener);
  }

  /** Bytes one entry at `level` maps. */
  levelSize(level: number): number {
    return this.shifts[level]!;
  }

  /** The index of `va` in a table of `level` (pgd_index, pud_index, pmd_index, pte_index). */
  index(va: number, level: number): number {
    const i = Math.floor(va / this.shifts[level]!);
    return (level === 0 ? i + this.topIndexBase : i) & this.masks[level]!;
  }

  /** The low word of entry `idx` of table `table`. */
  lo(table: number, idx: number): number {
    const m = this.mem;
    const slot = m.frameSlot(table);
    return m.slabI32[slot >>> m.slabShift]![m.slotWord(slot) + idx * 2]!;
  }
  hi(table: number, idx: number): number {
    const m = this.mem;
    const slot = m.frameSlot(table);
    return m.slabI32[slot >>> m.slabShift]![m.slotWord(slot) + idx * 2 + 1]!;
  }

  /**
   * Walks to the entry that maps `va`: stops at the first entry that is not
   * present, or is a leaf (a pte, or a pmd/pud with PSE). Returns that level.
   */
  walk(va: number): number {
    const m = this.mem;
    const last = this.nrLevels - 1;
    let table = this.root;
    for (let level = 0; ; level++) {
      const idx = this.index(va, level);
      const slot = m.frameSlot(table);
      const w = m.slabI32[slot >>> m.slabShift]!;
      const word = m.slotWord(slot) + idx * 2;
      const lo = w[word]!;
      this.pathTable[level] = table;
      this.wLevel = level;
      this.wTable = table;
      this.wIndex = idx;
      this.wLo = lo;
      this.wHi = w[word + 1]!;
      if (!(lo & _PAGE_PRESENT) || level === last || lo & _PAGE_PSE) return level;
      table = entryPfn(lo, this.wHi, this.arch.pageShift);
    }
  }

  /**
   * Makes sure tables exist down to `level` for `va` (pgd_populate,
   * p4d_populate, pud_populate, pmd_populate as needed). Returns the table of
   * `level` that holds va's entry (also in `wTable`/`wIndex`), -ENOMEM if a
   * table could not be allocated (the tables this call made are freed again),
   * or -EEXIST if a leaf above `level` already maps va.
   */
  populate(va: number, level: number): number {
    const m = this.mem;
    let table = this.root;
    let made = 0;
    for (let l = 0; l < level; l++) {
      const idx = this.index(va, l);
      const lo = this.lo(table, idx);
      if (lo & _PAGE_PRESENT) {
        if (lo & _PAGE_PSE) {
          this.undoPopulate(made);
          return -EEXIST;
        }
        table = entryPfn(lo, this.hi(table, idx), this.arch.pageShift);
        continue;
      }
      const pfn = this.alloc.allocPageTable();
      if (pfn < 0) {
        this.undoPopulate(made);
        return -ENOMEM;
      }
      m.materialise(pfn);
      this.writeRaw(table, idx, mkEntryLo(pfn, this.arch.pageShift, _PAGE_TABLE_LO), mkEntryHi(pfn, this.arch.pageShift, 0));
      this.madeTable[made] = table;
      this.madeIdx[made] = idx;
      this.madeChild[made] = pfn;
      made++;
      table = pfn;
    }
    this.wLevel = level;
    this.wTable = table;
    this.wIndex = this.index(va, level);
    this.wMade = made;
    return table;
  }

  // Takes back the `made` tables the current populate() call created, deepest first.
  private undoPopulate(made: number): void {
    while (made-- > 0) {
      this.writeRaw(this.madeTable[made]!, this.madeIdx[made]!, 0, 0);
      this.alloc.freePageTable(this.madeChild[made]!, true); // made by this call: its only entry was cleared the step before
    }
  }

  /** Sets entry `idx` of `table`, which maps `va` at `level`; tells the listener if it replaced a present entry. */
  setEntry(table: number, idx: number, lo: number, hi: number, va: number, level: number): void {
    const old = this.lo(table, idx);
    this.writeRaw(table, idx, lo, hi);
    if (old & _PAGE_PRESENT && this.listener !== undefined) {
      const size = this.shifts[level]!;
      this.listener(va - (va % size), size);
    }
  }

  /** pte_clear / pmd_clear / pud_clear */
  clearEntry(table: number, idx: number, va: number, level: number): void {
    this.setEntry(table, idx, 0, 0, va, level);
  }

  /**
   * Clears entries idx .. idx + n - 1 of `table`, the first of which maps `va`
   * at `level` (a run inside one table). The listener is told once, for the
   * span from the first to the last entry that was present (none: no flush).
   * Returns how many present entries were cleared.
   */
  clearEntries(table: number, idx: number, n: number, va: number, level: number): number {
    const m = this.mem;
    const slot = m.frameSlot(table);
    const w = m.slabI32[slot >>> m.slabShift]!;
    const base = m.slotWord(slot) + idx * 2;
    let first = -1;
    let last = -1;
    let cleared = 0;
    for (let j = 0; j < n; j++) {
      const wi = base + j * 2;
      if (w[wi]! & _PAGE_PRESENT) {
        if (first < 0) first = j;
        last = j;
        cleared++;
      }
      w[wi] = 0;
      w[wi + 1] = 0;
    }
    if (first >= 0 && this.listener !== undefined) {
      const size = this.shifts[level]!;
      const start = va - (va % size);
      this.listener(start + first * size, (last - first + 1) * size);
    }
    return cleared;
  }

  private writeRaw(table: number, idx: number, lo: number, hi: number): void {
    const m = this.mem;
    const slot = m.frameSlot(table);
    const w = m.slabI32[slot >>> m.slabShift]!;
    const word = m.slotWord(slot) + idx * 2;
    w[word] = lo;
    w[word + 1] = hi;
  }

  /**
   * True when no entry of `table`, a table of `level`, is present. The scan
   * starts at entry `from` and wraps: a teardown going up the address space
   * finds the next present entry right after the one it cleared, instead of
   * rescanning the cleared ones every time.
   */
  tableEmpty(table: number, level: number, from = 0): boolean {
    const m = this.mem;
    const slot = m.frameSlot(table);
    const w = m.slabI32[slot >>> m.slabShift]!;
    const base = m.slotWord(slot);
    const n = 2 * (1 << this.arch.levels[level]!.bits);
    const f = 2 * from;
    let bits = 0; // every word of a table found empty, or-ed: zero when the table is all zero
    for (let i = f; i < n; i += 2) {
      const lo = w[base + i]!;
      if (lo & _PAGE_PRESENT) return false;
      bits |= lo | w[base + i + 1]!;
    }
    for (let i = 0; i < f; i += 2) {
      const lo = w[base + i]!;
      if (lo & _PAGE_PRESENT) return false;
      bits |= lo | w[base + i + 1]!;
    }
    this.wEmptyZero = bits === 0;
    return true;
  }

  /**
   * free_pte_table / free_pmd_table / free_pud_table: after leaves under `va`
   * were cleared, frees every table on va's path that is now empty, bottom up,
   * clearing the entry that pointed at it. Never frees the top table. Returns
   * the number of tables freed.
   */
  prune(va: number): number {
    const stop = this.walk(va);
    let freed = 0;
    for (let l = stop; l > 0; l--) {
      const table = this.pathTable[l]!;
      if (!this.tableEmpty(table, l, this.index(va, l))) break;
      const parent = this.pathTable[l - 1]!;
      const idx = this.index(va, l - 1);
      this.clearEntry(parent, idx, va, l - 1);
      this.alloc.freePageTable(table, this.wEmptyZero);
      freed++;
    }
    return freed;
  }

  /** Calls fn(table, level) for every table of the tree, top first. For invariant sweeps and teardown. */
  forEachTable(fn: (table: number, level: number) => void): void {
    const visit = (table: number, level: number) => {
      fn(table, level);
      if (level === this.nrLevels - 1) return;
      const n = 1 << this.arch.levels[level]!.bits;
      for (let i = 0; i < n; i++) {
        const lo = this.lo(table, i);
        if (lo & _PAGE_PRESENT && !(lo & _PAGE_PSE)) visit(entryPfn(lo, this.hi(table, i), this.arch.pageShift), level + 1);
      }
    };
    visit(this.root, 0);
  }
}
