import type { ArchProfile } from './arch.js';
import { C, type Counters } from './counters.js';
import { EINVAL, KernelError } from './errno.js';
import { type VmemmapGeneration, compoundInfoHasMask } from './generation.js';
import type { KernelMmu } from './kernel-mmu.js';
import type { KernelObjects } from './kobjects.js';
import type { PhysicalMemory } from './phys-mem.js';

// struct page, x86-64, v5.15 (include/linux/mm_types.h): byte offsets.
export const PAGE_FLAGS_OFFSET = 0;
/** The union at 8: lru.next / compound_head (bit 0: tail) / pgmap */
export const PAGE_COMPOUND_HEAD_OFFSET = 8;
export const PAGE_PGMAP_OFFSET = 8;
/** lru.prev / zone_device_data / first tail's compound_dtor.. / second tail's hpage_pinned_refcount */
export const PAGE_ZONE_DEVICE_DATA_OFFSET = 16;
export const PAGE_COMPOUND_DTOR_OFFSET = 16; // first tail page
export const PAGE_COMPOUND_ORDER_OFFSET = 17; // first tail page
export const PAGE_COMPOUND_MAPCOUNT_OFFSET = 20; // first tail page
export const PAGE_COMPOUND_NR_OFFSET = 24; // first tail page
export const PAGE_HPAGE_PINNED_REFCOUNT_OFFSET = 16; // second tail page
export const PAGE_MAPPING_OFFSET = 24;
export const PAGE_INDEX_OFFSET = 32;
export const PAGE_PRIVATE_OFFSET = 40;
export const PAGE_MAPCOUNT_OFFSET = 48;
export const PAGE_REFCOUNT_OFFSET = 52;
export const PAGE_MEMCG_DATA_OFFSET = 56;

// The same offsets as 32-bit word indices inside one struct page.
const W_FLAGS = 0;
const W_FLAGS_HI = 1;
const W_HEAD = 2;
const W_HEAD_HI = 3;
const W_ZDD = 4;
const W_ZDD_HI = 5;
const W_CMAPCOUNT = 5;
const W_MAPPING = 6;
const W_MAPPING_HI = 7;
const W_CNR = 6;
const W_INDEX = 8;
const W_INDEX_HI = 9;
const W_PRIVATE = 10;
const W_MAPCOUNT = 12;
const W_REFCOUNT = 13;
const W_PINCOUNT = 4;

// enum pageflags (include/linux/page-flags.h, v5.15, x86-64 with MEMORY_FAILURE)
export const PG_locked = 0;
export const PG_referenced = 1;
export const PG_uptodate = 2;
export const PG_dirty = 3;
export const PG_lru = 4;
export const PG_active = 5;
export const PG_workingset = 6;
export const PG_waiters = 7;
export const PG_error = 8;
export const PG_slab = 9;
export const PG_owner_priv_1 = 10;
export const PG_arch_1 = 11;
export const PG_reserved = 12;
export const PG_private = 13;
export const PG_private_2 = 14;
export const PG_writeback = 15;
export const PG_head = 16;
export const PG_mappedtodisk = 17;
export const PG_reclaim = 18;
export const PG_swapbacked = 19;
export const PG_unevictable = 20;
export const PG_mlocked = 21;
export const PG_uncached = 22;
export const PG_hwpoison = 23;

// page->flags upper fields (include/linux/page-flags-layout.h) with
// SPARSEMEM_VMEMMAP (no section field), NODES_SHIFT 10 and ZONES_SHIFT 3:
// NODES_PGSHIFT = 54, ZONES_PGSHIFT = 51 — bits 22..31 and 19..21 of the high word.
export const NODES_SHIFT = 10;
export const ZONES_SHIFT = 3;
const NODES_HI_SHIFT = 54 - 32;
const ZONES_HI_SHIFT = 51 - 32;

// enum zone_type (include/linux/mmzone.h, x86-64)
export const ZONE_DMA = 0;
export const ZONE_DMA32 = 1;
export const ZONE_NORMAL = 2;
export const ZONE_MOVABLE = 3;
export const ZONE_DEVICE = 4;

/** compound_dtor_id: NULL_COMPOUND_DTOR is what prep_compound_head leaves for a ZONE_DEVICE page. */
export const NULL_COMPOUND_DTOR = 0;
export const COMPOUND_PAGE_DTOR = 1;

/** TAIL_MAPPING: 0x400 + POISON_POINTER_DELTA (0xdead000000000000 on x86-64). */
export const TAIL_MAPPING_LO = 0x400;
export const TAIL_MAPPING_HI = 0xdead0000 | 0;

/** The counter slot every refcount/pincount atomic bumps (read once, not per atomic). */
const ATOMIC_OPS = C.atomic_refcount_ops;

/**
 * The compound_info mask of a tail page of `order` (set_compound_head() when
 * compound_info_has_mask()): GENMASK(BITS_PER_LONG - 1, order +
 * order_base_2(sizeof(struct page))) | 1, as its [lo, hi] words.
 */
export function compoundInfoMask(arch: ArchProfile, order: number): [number, number] {
  const shift = order + Math.log2(arch.structPageSize);
  // the model keeps masks below bit 32 (every order up to MAX_FOLIO_ORDER on the profiles it has)
  if (!Number.isInteger(shift) || shift < 1 || shift > 32) throw new KernelError(EINVAL, `compound_info: no mask for order ${order} with a ${arch.structPageSize}-byte struct page`);
  return [shift === 32 ? 1 : (~((1 << shift) - 1) | 1) | 0, -1];
}

/**
 * Whether a tail's compound_info words are a mask rather than a pointer: the
 * top word all ones and the low word ones from some bit up. The kernel knows
 * at build time which encoding it uses; the model lets generations of both
 * kinds share one machine and tells them apart by shape (no vmemmap window
 * of the arch profiles lies in the top 4 GiB of the address space).
 */
export function isCompoundInfoMask(lo: number, hi: number): boolean {
  if (hi !== -1) return false;
  const n = (0x100000000 - ((lo & ~1) >>> 0)) >>> 0; // 2^shift for a mask (0 for shift 32)
  return (n & (n - 1)) === 0;
}

/** Words in one struct page. */
export const STRUCT_PAGE_WORDS = 16;

/**
 * The memmap as the kernel sees it: every struct page is reached through its
 * vmemmap virtual address, translated by the kernel MMU to the frame that
 * backs it. A struct page is a pfn; its fields live at fixed offsets of a
 * frame, and writing one through a shared vmemmap frame is seen by every
 * struct page that frame backs.
 *
 * Accessors carry the kernel's names. For hot loops, `locate(pfn)` returns the
 * word index of pfn's struct page in `this.w` (the slab array it lives in).
 */
export class Memmap {
  readonly arch: ArchProfile;
  readonly mem: PhysicalMemory;
  readonly mmu: KernelMmu;
  readonly objects: KernelObjects;
  readonly counters: Counters;
  /** The slab holding the struct page found by the last locate(). */
  w: Int32Array;
  /** Index of that slab in mem.slabI32 / mem.slabU8. */
  si = 0;
  /**
   * Goes up with every store to a struct page's _refcount made through this
   * Memmap (set_page_count, page_ref_add, zeroing) and every memmap init:
   * while it has not moved, no refcount has changed, so a check that every
   * page is still at its idle count need not read them again.
   */
  refcountEpoch = 0;
  private readonly sppShift: number;
  private readonly sppMask: number;
  private readonly frameWordShift: number;
  private readonly vmStartLo: number;
  private readonly vmStartHi: number;

  constructor(mmu: KernelMmu, objects: KernelObjects, counters: Counters) {
    this.arch = mmu.arch;
    this.mem = mmu.mem;
    this.mmu = mmu;
    this.objects = objects;
    this.counters = counters;
    this.sppShift = mmu.sppShift;
    this.sppMask = (1 << this.sppShift) - 1;
    this.frameWordShift = this.arch.pageShift - 2;
    this.vmStartLo = Number(this.arch.vmemmapStart & 0xffffffffn);
    this.vmStartHi = Number(this.arch.vmemmapStart >> 32n);
    this.w = new Int32Array(0);
  }

  /** Finds pfn's struct page: sets `w`/`si`, returns its first word index in `w`. */
  locate(pfn: number): number {
    const slot = this.mmu.translate(pfn >>> this.sppShift);
    const m = this.mem;
    const si = slot >>> m.slabShift;
    this.si = si;
    this.w = m.slabI32[si]!;
    return ((slot & m.slabMask) << this.frameWordShift) + ((pfn & this.sppMask) << 4);
  }

  /**
   * locate() for a store: the same word index, or a kernel page fault when
   * the vmemmap PTE that maps pfn's struct page is read-only (a shared tail).
   */
  locateW(pfn: number): number {
    const slot = this.mmu.translateWrite(pfn >>> this.sppShift);
    const m = this.mem;
    const si = slot >>> m.slabShift;
    this.si = si;
    this.w = m.slabI32[si]!;
    return ((slot & m.slabMask) << this.frameWordShift) + ((pfn & this.sppMask) << 4);
  }

  /**
   * locateW() for a caller that stores every struct page of pfn's vmemmap
   * page (pfn is its first) before anything reads them: a vmemmap frame
   * given storage here is not zeroed first (memmap init of whole pages).
   */
  locateWhole(pfn: number): number {
    const mmu = this.mmu;
    mmu.overwrite = true;
    try {
      return this.locateW(pfn);
    } finally {
      mmu.overwrite = false;
    }
  }

  /** The 64 bytes of pfn's struct page, as read through the vmemmap. */
  rawBytes(pfn: number): Uint8Array {
    const i = this.locate(pfn);
    return this.mem.slabU8[this.si]!.slice(i * 4, i * 4 + 64);
  }

  // ---- whole-page helpers

  /** mm_zero_struct_page() */
  zero(pfn: number): void {
    const i = this.locateW(pfn);
    this.w.fill(0, i, i + STRUCT_PAGE_WORDS);
    this.refcountEpoch++;
  }

  // ---- flags

  testFlag(pfn: number, bit: number): boolean {
    const i = this.locate(pfn);
    return ((this.w[i + W_FLAGS]! >>> bit) & 1) === 1;
  }
  setFlag(pfn: number, bit: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_FLAGS] |= 1 << bit;
  }
  clearFlag(pfn: number, bit: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_FLAGS] &= ~(1 << bit);
  }
  /** The low 32 bits of page->flags (every PG_ bit lives there). */
  flags(pfn: number): number {
    const i = this.locate(pfn);
    return this.w[i + W_FLAGS]! >>> 0;
  }

  PageHead(pfn: number): boolean {
    return this.testFlag(pfn, PG_head);
  }
  SetPageHead(pfn: number): void {
    this.setFlag(pfn, PG_head);
  }
  ClearPageHead(pfn: number): void {
    this.clearFlag(pfn, PG_head);
  }
  PageReserved(pfn: number): boolean {
    return this.testFlag(pfn, PG_reserved);
  }
  SetPageReserved(pfn: number): void {
    this.setFlag(pfn, PG_reserved);
  }
  PageReferenced(pfn: number): boolean {
    return this.testFlag(pfn, PG_referenced);
  }
  SetPageReferenced(pfn: number): void {
    this.setFlag(pfn, PG_referenced);
  }
  PageDirty(pfn: number): boolean {
    return this.testFlag(pfn, PG_dirty);
  }
  SetPageDirty(pfn: number): void {
    this.setFlag(pfn, PG_dirty);
  }
  PageLocked(pfn: number): boolean {
    return this.testFlag(pfn, PG_locked);
  }
  PageHWPoison(pfn: number): boolean {
    return this.testFlag(pfn, PG_hwpoison);
  }
  SetPageHWPoison(pfn: number): void {
    this.setFlag(pfn, PG_hwpoison);
  }
  /** TestSetPageHWPoison(): sets the bit, returns whether it was already set. */
  TestSetPageHWPoison(pfn: number): boolean {
    const was = this.testFlag(pfn, PG_hwpoison);
    this.setFlag(pfn, PG_hwpoison);
    return was;
  }
  ClearPageHWPoison(pfn: number): void {
    this.clearFlag(pfn, PG_hwpoison);
  }

  /** set_page_links(): zone and node into the top bits of page->flags. */
  setPageLinks(pfn: number, zone: number, nid: number): void {
    const i = this.locateW(pfn);
    const keep = this.w[i + W_FLAGS_HI]! & ~(((1 << NODES_SHIFT) - 1) << NODES_HI_SHIFT) & ~(((1 << ZONES_SHIFT) - 1) << ZONES_HI_SHIFT);
    this.w[i + W_FLAGS_HI] = keep | (nid << NODES_HI_SHIFT) | (zone << ZONES_HI_SHIFT);
  }
  /** page_zonenum() */
  pageZonenum(pfn: number): number {
    const i = this.locate(pfn);
    return (this.w[i + W_FLAGS_HI]! >>> ZONES_HI_SHIFT) & ((1 << ZONES_SHIFT) - 1);
  }
  /** page_to_nid() */
  pageToNid(pfn: number): number {
    const i = this.locate(pfn);
    return (this.w[i + W_FLAGS_HI]! >>> NODES_HI_SHIFT) & ((1 << NODES_SHIFT) - 1);
  }
  /** is_zone_device_page() */
  isZoneDevicePage(pfn: number): boolean {
    return this.pageZonenum(pfn) === ZONE_DEVICE;
  }

  // ---- compound pages

  /** The [lo, hi] words of a pointer to pfn's struct page (page_to_virt of the memmap). */
  pageVirtLo(pfn: number): number {
    const off = pfn * this.arch.structPageSize;
    return (this.vmStartLo + (off % 0x100000000)) | 0;
  }
  pageVirtHi(pfn: number): number {
    const off = pfn * this.arch.structPageSize;
    const lo = this.vmStartLo + (off % 0x100000000);
    return (this.vmStartHi + Math.floor(off / 0x100000000) + (lo >= 0x100000000 ? 1 : 0)) | 0;
  }
  /** The pfn whose struct page a vmemmap pointer [lo, hi] designates. */
  virtToPfn(lo: number, hi: number): number {
    const off = ((hi >>> 0) - (this.vmStartHi >>> 0)) * 0x100000000 + ((lo >>> 0) - (this.vmStartLo >>> 0));
    return off / this.arch.structPageSize;
  }

  /** set_compound_head(): page->compound_head = head + 1 */
  setCompoundHead(pfn: number, headPfn: number): void {
    const lo = this.pageVirtLo(headPfn) | 1;
    const hi = this.pageVirtHi(headPfn);
    const i = this.locateW(pfn);
    this.w[i + W_HEAD] = lo;
    this.w[i + W_HEAD_HI] = hi;
  }
  /** PageTail(): compound_head has bit 0 set */
  PageTail(pfn: number): boolean {
    const i = this.locate(pfn);
    return (this.w[i + W_HEAD]! & 1) === 1;
  }
  /** PageCompound() */
  PageCompound(pfn: number): boolean {
    return this.PageHead(pfn) || this.PageTail(pfn);
  }
  /**
   * set_compound_head() with compound_info_has_mask() (Kiryl Shutsemau's
   * "mm: rework compound_head() for power-of-2 sizeof(struct page)"): the
   * tail stores GENMASK(63, order + log2(sizeof(struct page))) | 1, the same
   * value in every tail of every compound page of that order.
   */
  setCompoundInfoMask(pfn: number, order: number): void {
    const [lo, hi] = compoundInfoMask(this.arch, order);
    const i = this.locateW(pfn);
    this.w[i + W_HEAD] = lo;
    this.w[i + W_HEAD_HI] = hi;
  }
  /**
   * compound_head(): the pfn of the head page (pfn itself for a head or small
   * page). A tail's compound_info is either the head's address + 1 or a mask
   * (compound_info_has_mask()), which is applied to the tail's own address.
   */
  compoundHead(pfn: number): number {
    const i = this.locate(pfn);
    const lo = this.w[i + W_HEAD]!;
    if ((lo & 1) === 0) return pfn;
    return this.headFromCompoundInfo(pfn, lo, this.w[i + W_HEAD_HI]!);
  }
  /** The head pfn a tail's compound_info words [lo, hi] (bit 0 set) designate, for pfn's struct page: a mask or a pointer. */
  headFromCompoundInfo(pfn: number, lo: number, hi: number): number {
    if (isCompoundInfoMask(lo, hi)) return this.virtToPfn(this.pageVirtLo(pfn) & lo & ~1, this.pageVirtHi(pfn) & hi);
    return this.virtToPfn(lo & ~1, hi);
  }
  /** The raw compound_head word pair, for checks that must not interpret it. */
  compoundHeadRaw(pfn: number): [number, number] {
    const i = this.locate(pfn);
    return [this.w[i + W_HEAD]! >>> 0, this.w[i + W_HEAD_HI]! >>> 0];
  }

  /** set_compound_page_dtor() */
  setCompoundPageDtor(headPfn: number, dtor: number): void {
    const i = this.locateW(headPfn + 1);
    this.mem.slabU8[this.si]![i * 4 + PAGE_COMPOUND_DTOR_OFFSET] = dtor;
  }
  compoundDtor(headPfn: number): number {
    const i = this.locate(headPfn + 1);
    return this.mem.slabU8[this.si]![i * 4 + PAGE_COMPOUND_DTOR_OFFSET]!;
  }
  /** set_compound_order(): compound_order and compound_nr of the first tail. */
  setCompoundOrder(headPfn: number, order: number): void {
    const i = this.locateW(headPfn + 1);
    this.mem.slabU8[this.si]![i * 4 + PAGE_COMPOUND_ORDER_OFFSET] = order;
    this.w[i + W_CNR] = 2 ** order;
  }
  /** compound_order(): 0 for a page that is not a head. */
  compoundOrder(pfn: number): number {
    if (!this.PageHead(pfn)) return 0;
    const i = this.locate(pfn + 1);
    return this.mem.slabU8[this.si]![i * 4 + PAGE_COMPOUND_ORDER_OFFSET]!;
  }
  /** compound_nr(): 1 for a page that is not a head. */
  compoundNr(pfn: number): number {
    if (!this.PageHead(pfn)) return 1;
    const i = this.locate(pfn + 1);
    return this.w[i + W_CNR]! >>> 0;
  }
  /** compound_mapcount_ptr(): the first tail's compound_mapcount (-1 when unmapped). */
  compoundMapcount(headPfn: number): number {
    const i = this.locate(headPfn + 1);
    return this.w[i + W_CMAPCOUNT]!;
  }
  setCompoundMapcount(headPfn: number, v: number): void {
    const i = this.locateW(headPfn + 1);
    this.w[i + W_CMAPCOUNT] = v;
  }
  /** compound_pincount_ptr(): the second tail's hpage_pinned_refcount. */
  compoundPincount(headPfn: number): number {
    const i = this.locate(headPfn + 2);
    return this.w[i + W_PINCOUNT]!;
  }
  setCompoundPincount(headPfn: number, v: number): void {
    const i = this.locateW(headPfn + 2);
    this.w[i + W_PINCOUNT] = v;
  }
  /** atomic_add(n, compound_pincount_ptr(head)); one atomic operation. */
  compoundPincountAdd(headPfn: number, n: number): number {
    const i = this.locateW(headPfn + 2);
    return this.compoundPincountAddAt(this.w, i, headPfn, n);
  }
  /**
   * compoundPincountAdd() on a second tail page already found: `w`/`i` are
   * what locate(headPfn + 2) gave (the slab `this.w` and the word index). The
   * same atomic, checks and count, without translating the address again:
   * for hot loops that hold one struct page across many operations. Valid
   * only while the vmemmap does not change (within one batch).
   */
  compoundPincountAddAt(w: Int32Array, i: number, headPfn: number, n: number): number {
    const v = w[i + W_PINCOUNT]! + n;
    if (v < 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: pincount of head pfn ${headPfn} would underflow (${v})`);
    w[i + W_PINCOUNT] = v;
    this.counters.v[ATOMIC_OPS]++;
    return v;
  }

  /** `times` compoundPincountAddAt(n) in a row (see pageRefAddManyAt): one store, `times` atomics counted. */
  compoundPincountAddManyAt(w: Int32Array, i: number, headPfn: number, n: number, times: number): number {
    const v = w[i + W_PINCOUNT]! + n * times;
    if (v < 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: pincount of head pfn ${headPfn} would underflow (${v})`);
    w[i + W_PINCOUNT] = v;
    this.counters.v[ATOMIC_OPS] += times;
    return v;
  }

  // ---- reference counts

  /** page_ref_count() */
  pageRefCount(pfn: number): number {
    const i = this.locate(pfn);
    return this.w[i + W_REFCOUNT]!;
  }
  /** set_page_count() / init_page_count() — a plain store, not an atomic RMW. */
  setPageCount(pfn: number, v: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_REFCOUNT] = v;
    this.refcountEpoch++;
  }
  /** page_ref_add(): one atomic operation; an overflow of the 32-bit count is a bug and throws. */
  pageRefAdd(pfn: number, n: number): number {
    const i = this.locateW(pfn);
    return this.pageRefAddAt(this.w, i, pfn, n);
  }
  /**
   * pageRefAdd() on a struct page already found: `w`/`i` are what locate(pfn)
   * gave (the slab `this.w` and the word index). The same atomic, checks and
   * count (one atomic_refcount_ops per call), without translating the address
   * again: for hot loops that touch one struct page many times (per-page GUP
   * takes every reference on the compound head) or walk the struct pages of
   * one vmemmap page. Valid only while the vmemmap does not change (within
   * one batch).
   */
  pageRefAddAt(w: Int32Array, i: number, pfn: number, n: number): number {
    const v = w[i + W_REFCOUNT]! + n;
    if (v > 0x7fffffff) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: refcount of pfn ${pfn} would overflow`);
    if (v < 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: refcount of pfn ${pfn} would underflow (${v})`);
    w[i + W_REFCOUNT] = v;
    this.counters.v[ATOMIC_OPS]++;
    this.refcountEpoch++;
    return v;
  }
  /**
   * `times` page_ref_add(n) in a row on one struct page already found (the
   * grabs of a per-page loop over the pages of one compound page, which all
   * land on its head): the count moves by n * times in one store, and
   * `times` atomics are counted. The caller has checked that none of them
   * could overflow; an overflow or underflow still throws.
   */
  pageRefAddManyAt(w: Int32Array, i: number, pfn: number, n: number, times: number): number {
    const v = w[i + W_REFCOUNT]! + n * times;
    if (v > 0x7fffffff) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: refcount of pfn ${pfn} would overflow`);
    if (v < 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: refcount of pfn ${pfn} would underflow (${v})`);
    w[i + W_REFCOUNT] = v;
    this.counters.v[ATOMIC_OPS] += times;
    this.refcountEpoch++;
    return v;
  }
  /** page_ref_inc() */
  pageRefInc(pfn: number): number {
    return this.pageRefAdd(pfn, 1);
  }
  /** page_ref_sub_and_test(): true when the count drops to zero. */
  pageRefSubAndTest(pfn: number, n: number): boolean {
    return this.pageRefAdd(pfn, -n) === 0;
  }
  /** page_ref_dec_and_test() */
  pageRefDecAndTest(pfn: number): boolean {
    return this.pageRefAdd(pfn, -1) === 0;
  }
  /** page_mapcount_reset() / page->_mapcount */
  pageMapcountRaw(pfn: number): number {
    const i = this.locate(pfn);
    return this.w[i + W_MAPCOUNT]!;
  }
  setPageMapcountRaw(pfn: number, v: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_MAPCOUNT] = v;
  }

  // ---- pointers and indices

  /** page->pgmap (ZONE_DEVICE pages) */
  pagePgmap<T>(pfn: number): T | undefined {
    const i = this.locate(pfn);
    return this.objects.deref<T>(this.w[i + W_HEAD]!, this.w[i + W_HEAD_HI]!);
  }
  setPagePgmap(pfn: number, pgmap: object | null): void {
    const [lo, hi] = pgmap === null ? [0, 0] : this.objects.pointer(pgmap);
    const i = this.locateW(pfn);
    this.w[i + W_HEAD] = lo;
    this.w[i + W_HEAD_HI] = hi;
  }
  /** page->zone_device_data: a raw 64-bit value as [lo, hi] */
  zoneDeviceData(pfn: number): [number, number] {
    const i = this.locate(pfn);
    return [this.w[i + W_ZDD]!, this.w[i + W_ZDD_HI]!];
  }
  setZoneDeviceData(pfn: number, lo: number, hi: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_ZDD] = lo;
    this.w[i + W_ZDD_HI] = hi;
  }
  /** INIT_LIST_HEAD(&page->lru): both list pointers point at the list head itself (page + 8). */
  initListHeadLru(pfn: number): void {
    const lo = this.pageVirtLo(pfn) + 8;
    const hi = this.pageVirtHi(pfn);
    const i = this.locateW(pfn);
    this.w[i + W_HEAD] = lo;
    this.w[i + W_HEAD_HI] = hi;
    this.w[i + W_ZDD] = lo;
    this.w[i + W_ZDD_HI] = hi;
  }

  /** page->mapping, dereferenced (undefined for NULL and TAIL_MAPPING) */
  pageMapping<T>(pfn: number): T | undefined {
    const i = this.locate(pfn);
    const lo = this.w[i + W_MAPPING]!;
    const hi = this.w[i + W_MAPPING_HI]!;
    if (lo === TAIL_MAPPING_LO && hi === TAIL_MAPPING_HI) return undefined;
    return this.objects.deref<T>(lo, hi);
  }
  /** The raw page->mapping words. */
  pageMappingRaw(pfn: number): [number, number] {
    const i = this.locate(pfn);
    return [this.w[i + W_MAPPING]! >>> 0, this.w[i + W_MAPPING_HI]! >>> 0];
  }
  setPageMapping(pfn: number, mapping: object | null): void {
    const [lo, hi] = mapping === null ? [0, 0] : this.objects.pointer(mapping);
    const i = this.locateW(pfn);
    this.w[i + W_MAPPING] = lo;
    this.w[i + W_MAPPING_HI] = hi;
  }
  /** page->mapping = TAIL_MAPPING */
  setTailMapping(pfn: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_MAPPING] = TAIL_MAPPING_LO;
    this.w[i + W_MAPPING_HI] = TAIL_MAPPING_HI;
  }
  /** page->index (a pgoff, exact up to 2^53) */
  pageIndex(pfn: number): number {
    const i = this.locate(pfn);
    return (this.w[i + W_INDEX_HI]! >>> 0) * 0x100000000 + (this.w[i + W_INDEX]! >>> 0);
  }
  setPageIndex(pfn: number, index: number): void {
    const i = this.locateW(pfn);
    this.w[i + W_INDEX] = index % 0x100000000 | 0;
    this.w[i + W_INDEX_HI] = Math.floor(index / 0x100000000) | 0;
  }
  /** page->private (low 32 bits) */
  pagePrivate(pfn: number): number {
    const i = this.locate(pfn);
    return this.w[i + W_PRIVATE]!;
  }
}

/**
 * The struct page layouts the model knows, selected by generation. Both keep
 * every field at its v5.15 x86-64 offset; they differ in the word at 8 of a
 * tail page: `v5.15` stores compound_head = head + 1, `compound-info` (Kiryl
 * Shutsemau's series, field renamed compound_info) stores the order's mask.
 * Later kernels also moved the first tail's fields into struct folio; the
 * model does not follow that move (see the README).
 */
export interface StructPageLayout {
  readonly name: 'v5.15' | 'compound-info';
  /** How a tail encodes its head in the word at `compoundHead`. */
  readonly tailEncoding: 'pointer' | 'mask';
  readonly flags: number;
  readonly compoundHead: number;
  readonly pgmap: number;
  readonly mapping: number;
  readonly index: number;
  readonly private: number;
  readonly mapcount: number;
  readonly refcount: number;
}
const V5_15_OFFSETS = {
  flags: PAGE_FLAGS_OFFSET,
  compoundHead: PAGE_COMPOUND_HEAD_OFFSET,
  pgmap: PAGE_PGMAP_OFFSET,
  mapping: PAGE_MAPPING_OFFSET,
  index: PAGE_INDEX_OFFSET,
  private: PAGE_PRIVATE_OFFSET,
  mapcount: PAGE_MAPCOUNT_OFFSET,
  refcount: PAGE_REFCOUNT_OFFSET,
} as const;
export const STRUCT_PAGE_V5_15: StructPageLayout = { name: 'v5.15', tailEncoding: 'pointer', ...V5_15_OFFSETS };
export const STRUCT_PAGE_COMPOUND_INFO: StructPageLayout = { name: 'compound-info', tailEncoding: 'mask', ...V5_15_OFFSETS };

/** The struct page layout a generation's memmap is written in. */
export function structPageLayout(g: VmemmapGeneration): StructPageLayout {
  return compoundInfoHasMask(g) ? STRUCT_PAGE_COMPOUND_INFO : STRUCT_PAGE_V5_15;
}
