import type { ArchProfile } from './arch.js';
import { C, type Counters } from './counters.js';
import { EINVAL, KernelError } from './errno.js';
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

// The same offsets as 32-bit word indices inside one struct page: the one
// declaration every hot loop of every package uses (fields whose place a
// release moved are in StructPageLayout).
export const W_FLAGS = PAGE_FLAGS_OFFSET >> 2;
export const W_FLAGS_HI = W_FLAGS + 1;
export const W_HEAD = PAGE_COMPOUND_HEAD_OFFSET >> 2;
export const W_HEAD_HI = W_HEAD + 1;
export const W_ZDD = PAGE_ZONE_DEVICE_DATA_OFFSET >> 2;
export const W_ZDD_HI = W_ZDD + 1;
export const W_MAPPING = PAGE_MAPPING_OFFSET >> 2;
export const W_MAPPING_HI = W_MAPPING + 1;
export const W_INDEX = PAGE_INDEX_OFFSET >> 2;
export const W_INDEX_HI = W_INDEX + 1;
export const W_PRIVATE = PAGE_PRIVATE_OFFSET >> 2;
export const W_MAPCOUNT = PAGE_MAPCOUNT_OFFSET >> 2;
export const W_REFCOUNT = PAGE_REFCOUNT_OFFSET >> 2;

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

/**
 * The enum pageflags bit numbers of a kernel (include/linux/page-flags.h):
 * the order changed twice in the releases the model runs, and a struct page
 * read raw (dump_page(), the explorer, the hwpoison bit a test looks for)
 * must use the kernel's own.
 */
export interface PageFlagBits {
  readonly locked: number;
  readonly writeback: number;
  readonly referenced: number;
  readonly uptodate: number;
  readonly dirty: number;
  readonly lru: number;
  readonly head: number;
  readonly waiters: number;
  readonly active: number;
  readonly workingset: number;
  readonly reserved: number;
  readonly private: number;
  readonly reclaim: number;
  readonly swapbacked: number;
  readonly unevictable: number;
  readonly mlocked: number;
  readonly hwpoison: number;
}
/** v5.15 through v6.5: PG_head at 16, PG_hwpoison at 23 (6.1 measured: reserved 12, head 16, hwpoison 23). */
export const PAGEFLAGS_V5_15: PageFlagBits = Object.freeze({
  locked: PG_locked, referenced: PG_referenced, uptodate: PG_uptodate, dirty: PG_dirty, lru: PG_lru, active: PG_active,
  workingset: PG_workingset, waiters: PG_waiters, reserved: PG_reserved, private: PG_private, writeback: PG_writeback,
  head: PG_head, reclaim: PG_reclaim, swapbacked: PG_swapbacked, unevictable: PG_unevictable, mlocked: PG_mlocked, hwpoison: PG_hwpoison,
});
/**
 * v6.6: Matthew Wilcox's "mm: Rearrange page flags" (Aug 2023, in "Remove
 * _folio_dtor and _folio_order"): PG_writeback and PG_head into the bottom
 * byte (PG_head at bit 6, so a folio order stored in the first tail's low
 * byte never sets it); PG_error and PG_slab still there.
 */
export const PAGEFLAGS_V6_6: PageFlagBits = Object.freeze({
  locked: 0, writeback: 1, referenced: 2, uptodate: 3, dirty: 4, lru: 5, head: 6, waiters: 7, active: 8, workingset: 9,
  reserved: 14, private: 15, reclaim: 18, swapbacked: 19, unevictable: 20, mlocked: 21, hwpoison: 23,
});
/**
 * 7.3 (measured: referenced 2, dirty 4, head 6, reserved 13, hwpoison 21):
 * PG_error, PG_slab, PG_mappedtodisk and PG_uncached gone, PG_owner_2 and
 * PG_dropbehind added.
 */
export const PAGEFLAGS_V7_3: PageFlagBits = Object.freeze({
  locked: 0, writeback: 1, referenced: 2, uptodate: 3, dirty: 4, lru: 5, head: 6, waiters: 7, active: 8, workingset: 9,
  reserved: 13, private: 14, reclaim: 16, swapbacked: 17, unevictable: 18, mlocked: 20, hwpoison: 21,
});

// page->flags upper fields (include/linux/page-flags-layout.h) with
// SPARSEMEM_VMEMMAP (no section field), NODES_SHIFT 10 and ZONES_SHIFT 3:
// NODES_PGSHIFT = 54, ZONES_PGSHIFT = 51 — bits 22..31 and 19..21 of the high word.
export const NODES_SHIFT = 10;
export const ZONES_SHIFT = 3;
export const NODES_HI_SHIFT = 54 - 32;
export const ZONES_HI_SHIFT = 51 - 32;

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
  /** Where this kernel keeps a compound page's metadata and its page flag numbers. */
  readonly layout: StructPageLayout;
  /** layout.pg: the kernel's enum pageflags. */
  readonly pg: PageFlagBits;
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
  /** struct pages per vmemmap page (2^sppShift) */
  private readonly spp: number;
  private readonly frameWordShift: number;
  private readonly vmStartLo: number;
  private readonly vmStartHi: number;

  constructor(mmu: KernelMmu, objects: KernelObjects, counters: Counters, layout: StructPageLayout = STRUCT_PAGE_V5_15) {
    this.layout = layout;
    this.pg = layout.pg;
    this.arch = mmu.arch;
    this.mem = mmu.mem;
    this.mmu = mmu;
    this.objects = objects;
    this.counters = counters;
    this.sppShift = mmu.sppShift;
    this.sppMask = (1 << this.sppShift) - 1;
    this.spp = 2 ** this.sppShift;
    this.frameWordShift = this.arch.pageShift - 2;
    this.vmStartLo = Number(this.arch.vmemmapStart & 0xffffffffn);
    this.vmStartHi = Number(this.arch.vmemmapStart >> 32n);
    this.w = new Int32Array(0);
  }

  /**
   * The vmemmap page holding pfn's struct page: pfn >>> sppShift below 2^32
   * (where >>> is exact), a division above (pfns reach 2^40).
   */
  vmemmapPage(pfn: number): number {
    return pfn <= 0xffffffff ? pfn >>> this.sppShift : Math.floor(pfn / this.spp);
  }

  /** Finds pfn's struct page: sets `w`/`si`, returns its first word index in `w`. */
  locate(pfn: number): number {
    const slot = this.mmu.translate(pfn <= 0xffffffff ? pfn >>> this.sppShift : Math.floor(pfn / this.spp));
    const m = this.mem;
    const si = slot >>> m.slabShift;
    this.si = si;
    this.w = m.slabI32[si]!;
    return ((slot & m.slabMask) << this.frameWordShift) + ((pfn & this.sppMask) << 4);
  }

  /**
   * Runs `read`, which only loads, as an observer: a struct page in a frame
   * that shares a template is read in the template, not given a copy of
   * its own (KernelMmu.peek). Nothing stored inside, and no index located
   * inside is used for a store after.
   */
  peek<T>(read: () => T): T {
    const mmu = this.mmu;
    const was = mmu.peek;
    mmu.peek = true;
    try {
      return read();
    } finally {
      mmu.peek = was;
    }
  }

  /**
   * locate() for a store: the same word index, or a kernel page fault when
   * the vmemmap PTE that maps pfn's struct page is read-only (a shared tail).
   */
  locateW(pfn: number): number {
    const slot = this.mmu.translateWrite(pfn <= 0xffffffff ? pfn >>> this.sppShift : Math.floor(pfn / this.spp));
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

  /**
   * The cost model's tier index (platform.ts TIER_*) of the frame that holds
   * pfn's struct page: RAM (DRAM) for a memmap the buddy allocator gave, the
   * device's tier for one on an altmap. One page-table walk: once per batch.
   */
  structPageTier(pfn: number): number {
    const frame = this.mmu.resolveFrame(pfn >>> this.sppShift);
    return frame < 0 ? 0 : this.mem.tierOfPfn(frame);
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
    return this.testFlag(pfn, this.pg.head);
  }
  SetPageHead(pfn: number): void {
    this.setFlag(pfn, this.pg.head);
  }
  ClearPageHead(pfn: number): void {
    this.clearFlag(pfn, this.pg.head);
  }
  PageReserved(pfn: number): boolean {
    return this.testFlag(pfn, this.pg.reserved);
  }
  SetPageReserved(pfn: number): void {
    this.setFlag(pfn, this.pg.reserved);
  }
  PageReferenced(pfn: number): boolean {
    return this.testFlag(pfn, this.pg.referenced);
  }
  /** SetPageReferenced(): an atomic set_bit (counted in atomic_flag_ops). */
  SetPageReferenced(pfn: number): void {
    this.setFlag(pfn, this.pg.referenced);
    this.counters.v[C.atomic_flag_ops]++;
  }
  PageDirty(pfn: number): boolean {
    return this.testFlag(pfn, this.pg.dirty);
  }
  SetPageDirty(pfn: number): void {
    this.setFlag(pfn, this.pg.dirty);
  }
  PageLocked(pfn: number): boolean {
    return this.testFlag(pfn, this.pg.locked);
  }
  PageHWPoison(pfn: number): boolean {
    return this.testFlag(pfn, this.pg.hwpoison);
  }
  SetPageHWPoison(pfn: number): void {
    this.setFlag(pfn, this.pg.hwpoison);
  }
  /** TestSetPageHWPoison(): sets the bit, returns whether it was already set. */
  TestSetPageHWPoison(pfn: number): boolean {
    const was = this.testFlag(pfn, this.pg.hwpoison);
    this.setFlag(pfn, this.pg.hwpoison);
    return was;
  }
  ClearPageHWPoison(pfn: number): void {
    this.clearFlag(pfn, this.pg.hwpoison);
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

  // The first tail's fields, at the offsets of this kernel's layout. `u8At`
  // and `i32At` read a byte / a 32-bit word at byte offset `off` of pfn's
  // struct page; the setters store them.
  private u8At(pfn: number, off: number): number {
    const i = this.locate(pfn);
    return this.mem.slabU8[this.si]![i * 4 + off]!;
  }
  private setU8At(pfn: number, off: number, v: number): void {
    const i = this.locateW(pfn);
    this.mem.slabU8[this.si]![i * 4 + off] = v;
  }
  private i32At(pfn: number, off: number): number {
    const i = this.locate(pfn);
    return this.w[i + (off >> 2)]!;
  }
  private setI32At(pfn: number, off: number, v: number): void {
    const i = this.locateW(pfn);
    this.w[i + (off >> 2)] = v;
  }

  /** set_compound_page_dtor(): the first tail's compound_dtor (kernels without one: nothing). */
  setCompoundPageDtor(headPfn: number, dtor: number): void {
    if (this.layout.dtor >= 0) this.setU8At(headPfn + 1, this.layout.dtor, dtor);
  }
  /** The first tail's compound_dtor (-1 on kernels without one). */
  compoundDtor(headPfn: number): number {
    return this.layout.dtor >= 0 ? this.u8At(headPfn + 1, this.layout.dtor) : -1;
  }
  /** set_compound_order() / folio_set_order(): the order byte and compound_nr / _nr_pages of the first tail. */
  setCompoundOrder(headPfn: number, order: number): void {
    this.setU8At(headPfn + 1, this.layout.order, order);
    this.setI32At(headPfn + 1, this.layout.nr, 2 ** order);
  }
  /** compound_order() / folio_order(): 0 for a page that is not a head. */
  compoundOrder(pfn: number): number {
    if (!this.PageHead(pfn)) return 0;
    return this.u8At(pfn + 1, this.layout.order);
  }
  /** compound_nr() / folio_nr_pages(): 1 for a page that is not a head. */
  compoundNr(pfn: number): number {
    if (!this.PageHead(pfn)) return 1;
    return this.i32At(pfn + 1, this.layout.nr) >>> 0;
  }
  /** compound_mapcount_ptr() / &folio->_entire_mapcount, raw (-1 when not mapped whole). */
  compoundMapcount(headPfn: number): number {
    return this.i32At(headPfn + 1, this.layout.entireMapcount);
  }
  setCompoundMapcount(headPfn: number, v: number): void {
    this.setI32At(headPfn + 1, this.layout.entireMapcount, v);
  }
  /** &folio->_large_mapcount, raw (-1: unmapped); kernels without it: undefined. */
  folioLargeMapcountRaw(headPfn: number): number | undefined {
    return this.layout.largeMapcount >= 0 ? this.i32At(headPfn + 1, this.layout.largeMapcount) : undefined;
  }
  setFolioLargeMapcountRaw(headPfn: number, v: number): void {
    if (this.layout.largeMapcount >= 0) this.setI32At(headPfn + 1, this.layout.largeMapcount, v);
  }
  /** &folio->_nr_pages_mapped; kernels without it: undefined. */
  folioNrPagesMapped(headPfn: number): number | undefined {
    return this.layout.nrPagesMapped >= 0 ? this.i32At(headPfn + 1, this.layout.nrPagesMapped) : undefined;
  }
  setFolioNrPagesMapped(headPfn: number, v: number): void {
    if (this.layout.nrPagesMapped >= 0) this.setI32At(headPfn + 1, this.layout.nrPagesMapped, v);
  }
  /** folio->_mm_id_mapcount[slot], raw (-1: no mapping by that mm); kernels without CONFIG_MM_ID: undefined. */
  folioMmIdMapcount(headPfn: number, slot: 0 | 1): number | undefined {
    return this.layout.mmIdMapcount >= 0 ? this.i32At(headPfn + 1, this.layout.mmIdMapcount + 4 * slot) : undefined;
  }
  setFolioMmIdMapcount(headPfn: number, slot: 0 | 1, v: number): void {
    if (this.layout.mmIdMapcount >= 0) this.setI32At(headPfn + 1, this.layout.mmIdMapcount + 4 * slot, v);
  }
  /** folio->_mm_ids as its two 32-bit halves (mm_id_t[2] on 64-bit); kernels without CONFIG_MM_ID: undefined. */
  folioMmIds(headPfn: number): [number, number] | undefined {
    if (this.layout.mmIds < 0) return undefined;
    return [this.i32At(headPfn + 1, this.layout.mmIds), this.i32At(headPfn + 1, this.layout.mmIds + 4)];
  }
  setFolioMmIds(headPfn: number, ids: readonly [number, number]): void {
    if (this.layout.mmIds < 0) return;
    this.setI32At(headPfn + 1, this.layout.mmIds, ids[0]);
    this.setI32At(headPfn + 1, this.layout.mmIds + 4, ids[1]);
  }
  /** hpage_pincount_available(): whether a compound page of this order has a pincount field. */
  pincountAvailable(order: number): boolean {
    return order >= this.layout.pincountMinOrder;
  }
  /** The pfn whose struct page holds head's pincount, and the word index there (for hot loops that locate it once). */
  pincountPfn(headPfn: number): number {
    return headPfn + this.layout.pincountPage;
  }
  get pincountWord(): number {
    return this.layout.pincount >> 2;
  }
  /** compound_pincount_ptr() / &folio->_pincount. */
  compoundPincount(headPfn: number): number {
    return this.i32At(headPfn + this.layout.pincountPage, this.layout.pincount);
  }
  setCompoundPincount(headPfn: number, v: number): void {
    this.setI32At(headPfn + this.layout.pincountPage, this.layout.pincount, v);
  }
  /** atomic_add(n, compound_pincount_ptr(head)); one atomic operation. */
  compoundPincountAdd(headPfn: number, n: number): number {
    const i = this.locateW(headPfn + this.layout.pincountPage);
    return this.compoundPincountAddAt(this.w, i, headPfn, n);
  }
  /**
   * compoundPincountAdd() on the tail page that holds the pincount, already
   * found: `w`/`i` are what locate(pincountPfn(headPfn)) gave (the slab
   * `this.w` and the word index). The same atomic, checks and count,
   * without translating the address again: for hot loops that hold one
   * struct page across many operations. Valid only while the vmemmap does
   * not change (within one batch).
   */
  compoundPincountAddAt(w: Int32Array, i: number, headPfn: number, n: number): number {
    const wi = i + (this.layout.pincount >> 2);
    const v = w[wi]! + n;
    if (v < 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: pincount of head pfn ${headPfn} would underflow (${v})`);
    w[wi] = v;
    this.counters.v[ATOMIC_OPS]++;
    return v;
  }

  /** `times` compoundPincountAddAt(n) in a row (see pageRefAddManyAt): one store, `times` atomics counted. */
  compoundPincountAddManyAt(w: Int32Array, i: number, headPfn: number, n: number, times: number): number {
    const wi = i + (this.layout.pincount >> 2);
    const v = w[wi]! + n * times;
    if (v < 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: pincount of head pfn ${headPfn} would underflow (${v})`);
    w[wi] = v;
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
 * Where one kernel keeps a compound page's metadata: the fields
 * prep_compound_head() writes into the first (and, in the seed's kernel,
 * second) tail page, the enum pageflags numbering, how a tail encodes its
 * head, and when memmap_init_compound() calls prep_compound_head(). Byte
 * offsets are inside the tail page named; -1 where the release has no such
 * field. Fields every release keeps in place (flags at 0, compound_head or
 * pgmap at 8, mapping 24, index 32, _mapcount 48, _refcount 52) are the W_*
 * constants.
 */
export interface StructPageLayout {
  readonly name: 'v5.15' | 'v6.1' | 'v6.6' | 'v7.3';
  readonly pg: PageFlagBits;
  /** How a tail encodes its head in the word at 8: head + 1, or the compound_info mask of its order. */
  readonly tailEncoding: 'pointer' | 'mask';
  /** compound_dtor (u8) in page[1]; -1 once folios dropped it (v6.6). */
  readonly dtor: number;
  /** The order byte in page[1]: compound_order at 17, or the low byte of _flags_1 at 0 (v6.6). */
  readonly order: number;
  /** compound_nr / _folio_nr_pages / _nr_pages (u32) in page[1]. */
  readonly nr: number;
  /** compound_mapcount / _entire_mapcount in page[1] (-1 when unmapped). */
  readonly entireMapcount: number;
  /** _large_mapcount in page[1] (v7.3); -1: none. */
  readonly largeMapcount: number;
  /** _nr_pages_mapped in page[1] (v6.6); -1: none. */
  readonly nrPagesMapped: number;
  /** The tail page that holds the pincount (2: hpage_pinned_refcount in v5.15) and its offset there. */
  readonly pincountPage: 1 | 2;
  readonly pincount: number;
  /** The smallest order with a pincount (hpage_pincount_available(): order > 1 in v5.15). */
  readonly pincountMinOrder: number;
  /** _mm_id_mapcount[2] and _mm_ids in page[1] (CONFIG_MM_ID, v7.3); -1: none. */
  readonly mmIdMapcount: number;
  readonly mmIds: number;
  /**
   * memmap_init_compound() calls prep_compound_head() after this tail: 2 in
   * the seed (the pincount lived in tail 2), 1 once it moved to tail 1,
   * Infinity once it runs after every tail, as prep_compound_page() does.
   */
  readonly prepHeadAfterTail: number;
}

/** The seed's kernel (v5.15 with the series): struct page as mm_types.h had it. */
export const STRUCT_PAGE_V5_15: StructPageLayout = Object.freeze({
  name: 'v5.15', pg: PAGEFLAGS_V5_15, tailEncoding: 'pointer',
  dtor: PAGE_COMPOUND_DTOR_OFFSET, order: PAGE_COMPOUND_ORDER_OFFSET, nr: PAGE_COMPOUND_NR_OFFSET,
  entireMapcount: PAGE_COMPOUND_MAPCOUNT_OFFSET, largeMapcount: -1, nrPagesMapped: -1,
  pincountPage: 2, pincount: PAGE_HPAGE_PINNED_REFCOUNT_OFFSET, pincountMinOrder: 2,
  mmIdMapcount: -1, mmIds: -1, prepHeadAfterTail: 2,
});
/**
 * 5232c63f46fd "mm: Make compound_pincount always available" (v5.18):
 * compound_pincount in the first tail, after compound_mapcount, and
 * compound_nr after it; memmap_init_compound() preps the head after tail 1.
 * 6.1 measured: page[1] @16 0x901 (dtor 1, order 9), @20 -1, @24 0, @28 512.
 */
export const STRUCT_PAGE_V6_1: StructPageLayout = Object.freeze({
  name: 'v6.1', pg: PAGEFLAGS_V5_15, tailEncoding: 'pointer',
  dtor: 16, order: 17, nr: 28, entireMapcount: 20, largeMapcount: -1, nrPagesMapped: -1,
  pincountPage: 1, pincount: 24, pincountMinOrder: 1, mmIdMapcount: -1, mmIds: -1, prepHeadAfterTail: 1,
});
/**
 * v6.6, Matthew Wilcox's "Remove _folio_dtor and _folio_order" (Aug 2023):
 * struct folio's page[1] is _flags_1 (the order in its low byte), _head_1,
 * _folio_avail, _entire_mapcount @24, _nr_pages_mapped @28, _pincount @32,
 * _folio_nr_pages @36; no destructor id.
 */
export const STRUCT_PAGE_V6_6: StructPageLayout = Object.freeze({
  name: 'v6.6', pg: PAGEFLAGS_V6_6, tailEncoding: 'pointer',
  dtor: -1, order: 0, nr: 36, entireMapcount: 24, largeMapcount: -1, nrPagesMapped: 28,
  pincountPage: 1, pincount: 32, pincountMinOrder: 1, mmIdMapcount: -1, mmIds: -1, prepHeadAfterTail: 1,
});
/**
 * 7.3 (measured, shared/real-kernel/gup-ref): page[1] _large_mapcount @16,
 * _nr_pages_mapped @20 (ENTIRELY_MAPPED 0x800000 while mapped whole),
 * _entire_mapcount @24, _pincount @28, _mm_id_mapcount[2] @32, _mm_ids @40,
 * _nr_pages @56; the order in _flags_1's low byte. Tails hold the
 * compound_info mask (d50569612c29 and its series, "mm: Eliminate fake head
 * pages from vmemmap optimization", v7.1), and prep_compound_head() runs
 * after every tail (David Hildenbrand, "mm/mm_init: make
 * memmap_init_compound() look more like prep_compound_page()", in "mm:
 * remove nth_page()", Aug 2025; the release is not confirmed).
 */
export const STRUCT_PAGE_V7_3: StructPageLayout = Object.freeze({
  name: 'v7.3', pg: PAGEFLAGS_V7_3, tailEncoding: 'mask',
  dtor: -1, order: 0, nr: 56, entireMapcount: 24, largeMapcount: 16, nrPagesMapped: 20,
  pincountPage: 1, pincount: 28, pincountMinOrder: 1, mmIdMapcount: 32, mmIds: 40, prepHeadAfterTail: Infinity,
});

/** Every layout by name. */
export const STRUCT_PAGE_LAYOUTS: Readonly<Record<StructPageLayout['name'], StructPageLayout>> = Object.freeze({
  'v5.15': STRUCT_PAGE_V5_15,
  'v6.1': STRUCT_PAGE_V6_1,
  'v6.6': STRUCT_PAGE_V6_6,
  'v7.3': STRUCT_PAGE_V7_3,
});
