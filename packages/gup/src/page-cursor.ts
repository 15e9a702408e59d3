import { pfnRunLengthJs, type PfnRunScan } from './page-array.js';
import { STRUCT_PAGE_WORDS, W_FLAGS, W_HEAD, type Memmap } from '@daxsim/mm';

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
  readonly m: Memmap;
  private readonly sppShift: number;
  private readonly sppMask: number;
  /** struct pages per vmemmap page */
  private readonly spp: number;
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
    this.spp = 2 ** this.sppShift;
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
    const vmi = pfn <= 0xffffffff ? pfn >>> this.sppShift : Math.floor(pfn / this.spp); // >>> is exact below 2^32 only
    const within = (pfn & this.sppMask) << SP_WORD_SHIFT;
    if (vmi !== this.vmi) this.translate(pfn, vmi, within, false);
    return this.base + within;
  }

  /**
   * at() for a store: the same index, found through the store translation
   * (Memmap.locateW(): a kernel page fault when the vmemmap PTE is read-only,
   * as for a shared tail) once per vmemmap page stored to.
   */
  atW(pfn: number): number {
    const vmi = pfn <= 0xffffffff ? pfn >>> this.sppShift : Math.floor(pfn / this.spp); // >>> is exact below 2^32 only
    const within = (pfn & this.sppMask) << SP_WORD_SHIFT;
    if (vmi !== this.vmiW) this.translate(pfn, vmi, within, true);
    return this.base + within;
  }

  private translate(pfn: number, vmi: number, within: number, store: boolean): void {
    const m = this.m;
    const i = store ? m.locateW(pfn) : m.locate(pfn);
    this.w = m.w;
    this.u8 = m.mem.slabU8[m.si]!;
    this.base = i - within;
    this.vmi = vmi;
    this.vmiW = store ? vmi : -1;
  }

  /**
   * How many pfns from `pfn` on lie in the compound page of `head` (what
   * compound_head(pfn) returned): head + compound_nr(head) - pfn, reading
   * PageHead(head) and the first tail's compound_nr, as the kernel's
   * compound_range_next() does; 1 when head is not a head page or pfn is not
   * inside its extent (a broken memmap: the caller then goes page by page).
   */
  compoundLeft(head: number, pfn: number): number {
    const hi = this.at(head);
    if (((this.w[hi + W_FLAGS]! >>> this.m.pg.head) & 1) === 0) return 1;
    const nr = this.w[this.at(head + 1) + (this.m.layout.nr >> 2)]! >>> 0; // compound_nr / folio_nr_pages
    const left = head + nr - pfn;
    return left >= 1 && pfn >= head ? left : 1;
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

/**
 * The entries pages[at..at+k) that a release or check loop may take as one
 * step: the run page, page + 1, ... (page = pages[at], head its
 * compound_head()) inside head's compound page, at most `limit` entries —
 * each of them has `head` for compound_head(), by the way a compound page is
 * built (prep_compound_page points every tail at the head; debug-vm's
 * invariant sweep checks it), the reasoning of the kernel's own
 * for_each_compound_range(). The run's last entry is decoded too, through
 * `pc`, as a check: a run whose last entry says otherwise is taken one entry
 * at a time. `hc` reads the head's PageHead and compound_nr; `scan` is the
 * WebAssembly run scan when `pages` is pageBuffer()'s array (Gup.runScan()).
 * Returns k >= 1.
 */
export function compoundRun(
  pc: StructPageCursor,
  hc: StructPageCursor,
  pages: Float64Array,
  at: number,
  limit: number,
  page: number,
  head: number,
  scan: PfnRunScan | null,
): number {
  if (limit <= 1) return 1;
  const left = hc.compoundLeft(head, page);
  if (left <= 1) return 1;
  const n = left < limit ? left : limit;
  const k = scan !== null && at + n <= pages.length ? scan(at * 8, n, page) : pfnRunLengthJs(pages, at, n, page);
  if (k <= 1) return 1;
  if (pc.compoundHead(page + k - 1) !== head) return 1;
  return k;
}
