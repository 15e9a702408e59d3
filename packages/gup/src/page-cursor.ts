import { PAGE_COMPOUND_HEAD_OFFSET, STRUCT_PAGE_WORDS, type Memmap } from '@daxsim/mm';

const W_HEAD = PAGE_COMPOUND_HEAD_OFFSET >> 2;
const SP_WORD_SHIFT = Math.log2(STRUCT_PAGE_WORDS);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_U8 = new Uint8Array(0);

/**
 * A batch's walk over struct pages: what a CPU does when a loop touches
 * `pfn_to_page(pfn)`, `pfn_to_page(pfn + 1)`, ... — the same vmemmap page
 * (64 struct pages on x86-64 with 4 KiB pages) until the loop crosses into
 * the next one.
 *
 * `at(pfn)` finds pfn's struct page through the vmemmap translation
 * (Memmap.locate(): the kernel MMU and its TLB) only when pfn lies in another
 * vmemmap page than the previous call; inside the same vmemmap page the
 * struct page is the next 64 bytes of the same frame. No field is read or
 * written here: callers read and write the words at the index it returns,
 * and take references through Memmap.pageRefAddAt() /
 * compoundPincountAddAt() (one counted atomic each).
 *
 * `compoundHead(pfn)` is compound_head(): it reads page->compound_head of
 * every pfn it is given; only the pointer → pfn decode is remembered for the
 * last raw value (pointer arithmetic in the kernel).
 *
 * The translation is remembered, so a cursor is valid within one batch only
 * (one __gup_device_huge() call, one put/unpin loop): the vmemmap cannot
 * change inside it. Call reset() before each batch.
 */
export class StructPageCursor {
  private readonly m: Memmap;
  private readonly sppShift: number;
  private readonly sppMask: number;
  /** vmemmap page of the last at(), -1 none. */
  private vmi = -1;
  /** That vmemmap page when it was translated for a store (atW()), -1 otherwise. */
  private vmiW = -1;
  /** Word index in `w` of that vmemmap page's first struct page. */
  private base = 0;
  /** The slab holding that vmemmap page, as words and as bytes. */
  w: Int32Array = EMPTY_I32;
  u8: Uint8Array = EMPTY_U8;
  // compound_head decode of the last raw (lo, hi) seen
  private headLo = 0;
  private headHi = 0;
  private headPfn = -1;

  constructor(m: Memmap) {
    this.m = m;
    this.sppShift = m.mmu.sppShift;
    this.sppMask = (1 << this.sppShift) - 1;
  }

  /** Forgets the translation (call before each batch). */
  reset(): void {
    this.vmi = -1;
    this.vmiW = -1;
    this.headPfn = -1;
    this.w = EMPTY_I32;
    this.u8 = EMPTY_U8;
  }

  /** The word index of pfn's struct page in `this.w` (and byte index × 4 in `this.u8`). */
  at(pfn: number): number {
    const vmi = pfn >>> this.sppShift;
    const within = (pfn & this.sppMask) << SP_WORD_SHIFT;
    if (vmi !== this.vmi) {
      const m = this.m;
      const i = m.locate(pfn);
      this.w = m.w;
      this.u8 = m.mem.slabU8[m.si]!;
      this.base = i - within;
      this.vmi = vmi;
      this.vmiW = -1;
    }
    return this.base + within;
  }

  /**
   * at() for a store: the same index, found through the store translation
   * (Memmap.locateW(): a kernel page fault when the vmemmap PTE is read-only,
   * as for a shared tail) once per vmemmap page stored to.
   */
  atW(pfn: number): number {
    const vmi = pfn >>> this.sppShift;
    const within = (pfn & this.sppMask) << SP_WORD_SHIFT;
    if (vmi !== this.vmiW) {
      const m = this.m;
      const i = m.locateW(pfn);
      this.w = m.w;
      this.u8 = m.mem.slabU8[m.si]!;
      this.base = i - within;
      this.vmi = vmi;
      this.vmiW = vmi;
    }
    return this.base + within;
  }

  /** compound_head(): the head pfn (pfn itself for a head or small page), read from pfn's struct page. */
  compoundHead(pfn: number): number {
    const i = this.at(pfn);
    const w = this.w;
    const lo = w[i + W_HEAD]!;
    if ((lo & 1) === 0) return pfn;
    const hi = w[i + W_HEAD + 1]!;
    // a compound_info mask is the same in every compound page of its order: resolve it from pfn's own address
    if (hi === -1) return this.m.headFromCompoundInfo(pfn, lo, hi);
    if (lo !== this.headLo || hi !== this.headHi || this.headPfn < 0) {
      this.headPfn = this.m.virtToPfn(lo & ~1, hi);
      this.headLo = lo;
      this.headHi = hi;
    }
    return this.headPfn;
  }
}
