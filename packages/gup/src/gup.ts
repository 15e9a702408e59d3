import {
  C,
  DEFAULT_GUP_GENERATION,
  GUP,
  GUP_GENERATIONS,
  type GupGeneration,
  isGupGeneration,
  chargeLines,
  ZONE_MOVABLE,
  type ArchProfile,
  type Counters,
  type DevPagemap,
  type Memmap,
  type MmStruct,
  type PhysicalMemory,
} from '@daxsim/mm';
import { devmapManagedKey, getDevPagemap, putDevPagemap, putPage, putPageFinal, type Kernel } from '@daxsim/memremap';
import { FOLL_GET, FOLL_LONGTERM, FOLL_PIN, GUP_PIN_COUNTING_BIAS } from './foll.js';
import { allocPageArray, type PfnRunScan, type PfnSeqStore } from './page-array.js';
import { StructPageCursor } from './page-cursor.js';

/**
 * The GUP generations (@daxsim/mm GUP: per-page, head-once, grab-first,
 * folio) are declared with the other generation tables in @daxsim/mm and
 * re-exported here.
 */
export { DEFAULT_GUP_GENERATION, GUP_GENERATIONS, isGupGeneration };
export type { GupGeneration };

/** INT_MAX: the largest value page->_refcount may hold before it wraps negative. */
export const REFCOUNT_MAX = 0x7fffffff;

export interface GupOptions {
  generation?: GupGeneration;
}

/**
 * The state GUP keeps per simulated kernel: the kernel it works on, the
 * selected __gup_device_huge generation, the fault-injection and race hooks,
 * and the scratch of a gup-fast walk (the output array and `*nr`, kept in
 * fields so a walk allocates nothing).
 *
 * The primitives here are the reference-count helpers of mm/gup.c and
 * include/linux/mm.h; the walkers, the slow path and the release paths are
 * functions over this object (gup-fast.ts, gup-slow.ts, unpin.ts).
 */
export class Gup {
  readonly k: Kernel;
  readonly arch: ArchProfile;
  readonly mem: PhysicalMemory;
  readonly memmap: Memmap;
  readonly counters: Counters;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly generation: GupGeneration;
  /** Whether the walk has a devmap branch (__gup_device_huge); fd2825b0760a (v6.17) removed it: a devmap leaf is then a folio leaf. */
  readonly devmapPath: boolean;
  /** Per page-table level: bytes an entry maps, and entries per table (walker constants). */
  readonly levelSize: Float64Array;
  readonly levelEntries: Float64Array;
  /** entryPfn() split: pfn = (hi & PTE_ADDR_HI_MASK) * pfnHiMul + (lo >>> pageShift). */
  readonly pfnHiMul: number;

  /** Fault injection: the grab with this number (counted from armGrabFailure) fails; 0 = off. */
  failGrabAt = 0;
  /** Grabs attempted since armGrabFailure(). */
  grabCalls = 0;
  /**
   * Called after a gup-fast grab and before the entry is re-read: a test can
   * change the page table here to play a racing munmap/zap.
   */
  raceHook: ((addr: number, level: number) => void) | null = null;

  /**
   * Run the reference (one accessor call per struct page field) forms of the
   * batched hot loops instead of their cursor forms, and record_subpages()'s
   * JS loop instead of the WebAssembly store: same work, same counts, slower.
   * For tests that hold the fast forms against them.
   */
  referenceLoops = false;

  /** MMF_HAS_PINNED: mms that ever had a FOLL_PIN. */
  readonly hasPinned = new WeakSet<MmStruct>();
  /** The mm setHasPinned() last added (the flag is sticky: no second WeakSet insert for it). */
  private lastPinnedMm: MmStruct | null = null;

  // ---- gup-fast walk scratch (pages + *nr of the kernel functions)
  /** The caller's output array of pfns. */
  pages: Float64Array = new Float64Array(0);
  /** *nr: the next free slot of `pages` (absolute index). */
  nr = 0;
  /**
   * The store that writes pfn runs into `pages` when it is the array
   * pageBuffer() made (in a WebAssembly.Memory at offset 0; page-array.ts);
   * null: record_subpages() takes the JS loop.
   */
  seq: PfnSeqStore | null = null;
  /** [start, end) pfns of the pgmap range get_dev_pagemap() last returned (the cached-lookup test). */
  private pgStart = 0;
  private pgEnd = 0;

  // Reused output buffer for gup_test's kvcalloc(), and its pfn-run store.
  private scratch: Float64Array = new Float64Array(0);
  private scratchSeq: PfnSeqStore | null = null;
  private scratchRun: PfnRunScan | null = null;

  /**
   * Struct page cursors for the batched hot loops (per-page __gup_device_huge,
   * put_page / unpin loops): the pages walked, their compound heads, and the
   * heads' first/second tails. Reset at the start of every batch.
   */
  readonly pageCur: StructPageCursor;
  readonly headCur: StructPageCursor;
  readonly tailCur: StructPageCursor;

  constructor(k: Kernel, opts: GupOptions = {}) {
    this.k = k;
    this.arch = k.arch;
    this.mem = k.mem;
    this.memmap = k.memmap;
    this.counters = k.counters;
    this.pageSize = k.arch.pageSize;
    this.pageShift = k.arch.pageShift;
    // What the kernel's release runs (its registry row), unless a generation is named.
    this.generation = opts.generation ?? k.release.gup;
    this.devmapPath = GUP[this.generation].grab !== 'folio';
    this.levelSize = Float64Array.from(k.arch.levels, (l) => 2 ** l.shift);
    this.levelEntries = Float64Array.from(k.arch.levels, (l) => 2 ** l.bits);
    this.pfnHiMul = 2 ** (32 - k.arch.pageShift);
    this.pageCur = new StructPageCursor(k.memmap);
    this.headCur = new StructPageCursor(k.memmap);
    this.tailCur = new StructPageCursor(k.memmap);
  }

  /** mm_set_has_pinned_flag(): MMF_HAS_PINNED set on mm (it stays set). */
  setHasPinned(mm: MmStruct): void {
    if (mm === this.lastPinnedMm) return;
    this.hasPinned.add(mm);
    this.lastPinnedMm = mm;
  }

  /** Arms fault injection: the n-th grab from now (try_grab_page / try_grab_compound_head) fails. 0 disarms. */
  armGrabFailure(n: number): void {
    this.failGrabAt = n;
    this.grabCalls = 0;
  }

  /**
   * kvcalloc() for gup_test: an output array of at least n entries (reused
   * between calls). It lives in a WebAssembly.Memory where the runtime has
   * one, so record_subpages() can store into it at memory speed (page-array.ts);
   * a larger request gets a new array (an earlier one is never detached).
   */
  pageBuffer(n: number): Float64Array {
    if (this.scratch.length < n) {
      const a = allocPageArray(n);
      this.scratch = a.pages;
      this.scratchSeq = a.seq;
      this.scratchRun = a.run;
    }
    return this.scratch;
  }

  /** The WebAssembly run scan for `pages` when it is pageBuffer()'s array (page-array.ts), else null (the JS loop). */
  runScan(pages: Float64Array): PfnRunScan | null {
    return pages === this.scratch && !this.referenceLoops ? this.scratchRun : null;
  }

  /** Starts a gup-fast walk's output: `pages` and *nr, and the pfn-run store when `pages` is pageBuffer()'s array. */
  bindPages(pages: Float64Array, nr: number): void {
    this.pages = pages;
    this.nr = nr;
    this.seq = pages === this.scratch && !this.referenceLoops ? this.scratchSeq : null;
  }

  // ---- fault injection

  private injected(): boolean {
    if (this.failGrabAt === 0) return false;
    if (++this.grabCalls !== this.failGrabAt) return false;
    this.failGrabAt = 0;
    return true;
  }

  // ---- dev_pagemap lookups

  /**
   * get_dev_pagemap(pfn, pgmap): returns `cur` as-is when it covers pfn (the
   * caller already holds its reference); else drops `cur` and looks pfn up,
   * taking a reference on what it finds.
   */
  getDevPagemapCached(pfn: number, cur: DevPagemap | null): DevPagemap | null {
    if (cur !== null) {
      if (pfn >= this.pgStart && pfn < this.pgEnd) return cur;
      putDevPagemap(this.k, cur);
    }
    const pgmap = getDevPagemap(this.k, pfn);
    if (pgmap !== null) {
      const ps = this.pageSize;
      for (const r of pgmap.ranges) {
        const s = Math.floor(r.start / ps);
        const e = Math.floor((r.end + 1) / ps);
        if (pfn >= s && pfn < e) {
          this.pgStart = s;
          this.pgEnd = e;
          break;
        }
      }
    }
    return pgmap;
  }

  /** The end (exclusive) of the pfn range getDevPagemapCached() last found its pgmap for. */
  get devPagemapCachedEnd(): number {
    return this.pgEnd;
  }

  /** put_dev_pagemap() */
  putDevPagemap(pgmap: DevPagemap): void {
    putDevPagemap(this.k, pgmap);
  }

  // ---- page predicates (include/linux/mm.h)

  /** hpage_pincount_available() / folio_has_pincount(): the head is compound with an order that has a pincount (order > 1 in v5.15, > 0 from 5.18). */
  hpagePincountAvailable(head: number): boolean {
    const m = this.memmap;
    return m.PageHead(head) && m.pincountAvailable(m.compoundOrder(head));
  }

  /** is_pinnable_page(): not ZONE_MOVABLE (ZONE_DEVICE pages are pinnable; the model has no CMA). */
  isPinnablePage(pfn: number): boolean {
    return this.memmap.pageZonenum(pfn) !== ZONE_MOVABLE;
  }

  /**
   * page_maybe_dma_pinned(): exact for a compound page of order > 1 (its
   * pincount), fuzzy otherwise (refcount >= GUP_PIN_COUNTING_BIAS, compared
   * unsigned).
   */
  pageMaybeDmaPinned(pfn: number): boolean {
    const m = this.memmap;
    const head = m.compoundHead(pfn);
    if (this.hpagePincountAvailable(head)) return m.compoundPincount(head) > 0;
    return m.pageRefCount(head) >>> 0 >= GUP_PIN_COUNTING_BIAS;
  }

  // ---- taking references (mm/gup.c)

  /**
   * try_get_compound_head(): refs on compound_head(pfn) unless its count is 0
   * (page_ref_add_unless). `pin` says a FOLL_PIN will follow, so the overflow
   * test covers what the pin adds. Returns the head pfn, or -1.
   */
  private tryGetCompoundHead(pfn: number, refs: number, pin: boolean): number {
    const m = this.memmap;
    const head = m.compoundHead(pfn);
    const count = m.pageRefCount(head);
    if (count < 0) {
      this.warnOnce(`try_get_compound_head: pfn ${head} has a negative refcount ${count}`);
      return -1;
    }
    if (count === 0) return -1;
    // The model refuses a grab that would carry _refcount past INT_MAX; the kernel
    // lets it wrap negative and refuses the next grab on the `< 0` test above.
    const adds = pin && !this.hpagePincountAvailable(head) ? refs * GUP_PIN_COUNTING_BIAS : refs;
    if (count > REFCOUNT_MAX - adds) return -1;
    m.pageRefAdd(head, refs);
    return head;
  }

  /**
   * try_grab_compound_head(): FOLL_GET takes `refs` references on the head;
   * FOLL_PIN takes them too, then adds `refs` to the compound pincount
   * (order > 1) or refs * (GUP_PIN_COUNTING_BIAS - 1) to the refcount.
   * Returns the head pfn, or -1.
   */
  tryGrabCompoundHead(pfn: number, refs: number, flags: number): number {
    if (this.failGrabAt !== 0 && this.injected()) return -1;
    if (flags & FOLL_GET) return this.tryGetCompoundHead(pfn, refs, false);
    if (flags & FOLL_PIN) {
      if (flags & FOLL_LONGTERM && !this.isPinnablePage(pfn)) return -1;
      const head = this.tryGetCompoundHead(pfn, refs, true);
      if (head < 0) return -1;
      if (this.hpagePincountAvailable(head)) this.memmap.compoundPincountAdd(head, refs);
      else this.memmap.pageRefAdd(head, refs * (GUP_PIN_COUNTING_BIAS - 1));
      this.counters.v[C.vmstat_updates]++; // mod_node_page_state(NR_FOLL_PIN_ACQUIRED, refs)
      return head;
    }
    this.warnOnce('try_grab_compound_head: neither FOLL_GET nor FOLL_PIN');
    return -1;
  }

  /**
   * The second grab of the review's grab-first sketch: `refs` more references
   * (and for FOLL_PIN, pins) on a head the caller already holds, so no
   * "unless zero" test: one atomic on _refcount, and for FOLL_PIN on a head
   * with a pincount one more on the pincount. The model refuses a grab that
   * would carry _refcount past INT_MAX (false), as it does for the others.
   */
  grabCompoundHead(head: number, refs: number, flags: number): boolean {
    const m = this.memmap;
    const pin = (flags & FOLL_PIN) !== 0 && (flags & FOLL_GET) === 0;
    const pincount = pin && this.hpagePincountAvailable(head);
    const adds = pin && !pincount ? refs * GUP_PIN_COUNTING_BIAS : refs;
    if (m.pageRefCount(head) > REFCOUNT_MAX - adds) return false;
    if (pincount) m.compoundPincountAdd(head, refs);
    m.pageRefAdd(head, adds);
    if (pin) this.counters.v[C.vmstat_updates]++; // mod_node_page_state(NR_FOLL_PIN_ACQUIRED, refs)
    return true;
  }

  /**
   * try_grab_page(): one reference (FOLL_GET) or one pin (FOLL_PIN) on
   * compound_head(pfn). True on success; neither flag is a no-op success.
   */
  tryGrabPage(pfn: number, flags: number): boolean {
    if (this.failGrabAt !== 0 && this.injected()) return false;
    const m = this.memmap;
    if (flags & FOLL_GET && flags & FOLL_PIN) {
      this.warnOnce('try_grab_page: both FOLL_GET and FOLL_PIN');
      return false;
    }
    if (flags & FOLL_GET) {
      // try_get_page()
      const head = m.compoundHead(pfn);
      const count = m.pageRefCount(head);
      if (count <= 0) {
        this.warnOnce(`try_get_page: pfn ${head} has refcount ${count}`);
        return false;
      }
      if (count > REFCOUNT_MAX - 1) return false;
      m.pageRefAdd(head, 1);
      return true;
    }
    if (flags & FOLL_PIN) {
      const head = m.compoundHead(pfn);
      const count = m.pageRefCount(head);
      if (count <= 0) {
        this.warnOnce(`try_grab_page: pfn ${head} has refcount ${count}`);
        return false;
      }
      let refs: number;
      if (this.hpagePincountAvailable(head)) {
        if (count > REFCOUNT_MAX - 1) return false;
        m.compoundPincountAdd(head, 1);
        refs = 1;
      } else {
        refs = GUP_PIN_COUNTING_BIAS;
        if (count > REFCOUNT_MAX - refs) return false;
      }
      m.pageRefAdd(head, refs);
      this.counters.v[C.vmstat_updates]++; // mod_node_page_state(NR_FOLL_PIN_ACQUIRED, 1)
      return true;
    }
    return true;
  }

  // ---- dropping references

  /**
   * put_compound_head() (v5.15): undoes try_grab_compound_head(head, refs,
   * flags) with put_page_refs(). The folio generation runs 7.3's
   * gup_put_folio(): the pincount, then folio_put_refs(), one atomic
   * subtraction of every reference at once.
   */
  putCompoundHead(head: number, refs: number, flags: number): void {
    if (flags & FOLL_PIN) {
      this.counters.v[C.vmstat_updates]++; // mod_node_page_state(NR_FOLL_PIN_RELEASED, refs)
      if (this.hpagePincountAvailable(head)) this.memmap.compoundPincountAdd(head, -refs);
      else refs *= GUP_PIN_COUNTING_BIAS;
    }
    if (this.devmapPath) this.putPageRefs(head, refs);
    else this.folioPutRefs(head, refs);
  }

  /** folio_put_refs(): one atomic subtraction; the last reference frees the folio (a ZONE_DEVICE one: free_zone_device_folio()). */
  folioPutRefs(head: number, refs: number): void {
    const m = this.memmap;
    if (m.pageRefCount(head) < refs) {
      this.warnOnce(`folio_put_refs: pfn ${head} holds fewer than ${refs} references`);
      return;
    }
    if (m.pageRefAdd(head, -refs) === 0) this.putPageFinal(head);
  }

  /** put_page_refs(): page_ref_sub(refs - 1) then put_page(), so the last reference is released properly. */
  putPageRefs(head: number, refs: number): void {
    const m = this.memmap;
    if (m.pageRefCount(head) < refs) {
      this.warnOnce(`put_page_refs: pfn ${head} holds fewer than ${refs} references`);
      return;
    }
    if (refs > 1) m.pageRefAdd(head, -(refs - 1));
    this.putPage(head);
  }

  /** put_page() (v5.15, memremap's putPage): one reference on compound_head(pfn) dropped. */
  putPage(pfn: number): void {
    putPage(this.k, pfn);
  }

  /** The devmap_managed_key static branch (memremap's devmapManagedKey). */
  devmapManagedKey(): boolean {
    return devmapManagedKey(this.k);
  }

  /** __put_page() (memremap's putPageFinal). */
  putPageFinal(head: number): void {
    putPageFinal(this.k, head);
  }

  /**
   * Counts, for the cost model, the struct page lines a batch touched
   * (chargeLines(): `seq` read in address order, `rand` out of it, `dirty`
   * dirtied) in the tier of the frame that holds pfn's struct page. Once per
   * batch (one vmemmap walk).
   */
  chargeStructPageLines(pfn: number, seq: number, rand: number, dirty: number): void {
    chargeLines(this.counters, this.memmap.structPageTier(pfn), seq, rand, dirty);
  }

  /** SetPageReferenced(): PG_referenced is a PF_HEAD flag, so it lands on the head. */
  setPageReferenced(pfn: number): void {
    const m = this.memmap;
    m.SetPageReferenced(m.compoundHead(pfn));
  }

  /** ClearPageReferenced() (PF_HEAD) */
  clearPageReferenced(pfn: number): void {
    const m = this.memmap;
    m.clearFlag(m.compoundHead(pfn), m.pg.referenced);
    this.counters.v[C.atomic_flag_ops]++; // clear_bit
  }

  private warned = new Set<string>();
  /** WARN_ON_ONCE(): logged once per distinct message. */
  warnOnce(msg: string): void {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.k.log.warn(`WARNING: ${msg}`);
  }
}

/** Counter indices the GUP code bumps. */
export const GUP_COUNTERS = {
  fast: C.gup_fast_pages,
  slow: C.gup_slow_pages,
  fallback: C.gup_fast_fallback,
  unpin: C.unpin_pages,
} as const;
