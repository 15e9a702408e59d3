import { C, TIER_DRAM, W_REFCOUNT, chargeLines, pageArrayLines } from '@daxsim/mm';
import { FOLL_PIN } from './foll.js';
import { GUP_COUNTERS, type Gup } from './gup.js';
import { compoundRun } from './page-cursor.js';

/** put_page() on pfn: releases a FOLL_GET reference. */
export function putPage(g: Gup, pfn: number): void {
  g.putPage(pfn);
}

/** unpin_user_page(): releases one FOLL_PIN on pfn's compound page. */
export function unpinUserPage(g: Gup, pfn: number): void {
  g.putCompoundHead(g.memmap.compoundHead(pfn), 1, FOLL_PIN);
  g.counters.v[GUP_COUNTERS.unpin]++;
}

/**
 * set_page_dirty_lock() on a head: device-dax's address_space marks the page
 * dirty with no writeback (__set_page_dirty_no_writeback); the page lock is
 * not modelled.
 */
function setPageDirtyLock(g: Gup, head: number): void {
  g.memmap.SetPageDirty(head);
}

/**
 * unpin_user_pages_dirty_lock(): for_each_compound_head() over the array:
 * every run of consecutive entries that share a head is released with one
 * put_compound_head(head, ntails), after dirtying the head if asked.
 */
export function unpinUserPagesDirtyLock(g: Gup, pages: Float64Array, npages: number, makeDirty: boolean, off = 0): void {
  if (npages < 0) {
    g.warnOnce('unpin_user_pages: npages is an errno'); // WARN_ON(IS_ERR_VALUE(npages))
    return;
  }
  const m = g.memmap;
  const end = off + npages;
  // compound_head() through a cursor: one vmemmap translation per vmemmap page
  // of consecutive entries (put_compound_head() below may touch other struct
  // pages, but never changes the vmemmap; with devmap_managed_key on, a
  // page_free callback might, so that case takes the reference way). The
  // cursor way takes the entries a compound run at a time (page-cursor.ts
  // compoundRun(): consecutive pfns inside one compound page share its head),
  // decoding compound_head() at each run's start and end; the groups, and so
  // the put_compound_head() calls, are the same.
  const pc = g.pageCur;
  const hc = g.headCur;
  pc.reset();
  hc.reset();
  const ref = g.referenceLoops || g.devmapManagedKey();
  const scan = g.runScan(pages);
  let i = off;
  let head = i < end ? (ref ? m.compoundHead(pages[i]!) : pc.compoundHead(pages[i]!)) : -1;
  let groups = 0;
  while (i < end) {
    groups++;
    // compound_next(): count the following entries with the same head
    let nr = ref ? i + 1 : i + compoundRun(pc, hc, pages, i, end - i, pages[i]!, head, scan);
    let nextHead = -1;
    while (nr < end) {
      const page = pages[nr]!;
      nextHead = ref ? m.compoundHead(page) : pc.compoundHead(page);
      if (nextHead !== head) break;
      nr += ref ? 1 : compoundRun(pc, hc, pages, nr, end - nr, page, head, scan);
    }
    const ntails = nr - i;
    if (makeDirty && !m.PageDirty(head)) setPageDirtyLock(g, head);
    g.putCompoundHead(head, ntails, FOLL_PIN);
    i = nr;
    head = nextHead;
  }
  g.counters.v[GUP_COUNTERS.unpin] += npages;
  // the cost model: the array read, every entry's struct page read (compound_head), each group's head dirtied
  if (npages > 0) {
    chargeLines(g.counters, TIER_DRAM, pageArrayLines(npages), 0, 0);
    g.chargeStructPageLines(pages[off]!, npages, 0, groups);
  }
}

/** unpin_user_pages(): unpin_user_pages_dirty_lock() without dirtying. */
export function unpinUserPages(g: Gup, pages: Float64Array, npages: number, off = 0): void {
  unpinUserPagesDirtyLock(g, pages, npages, false, off);
}

/**
 * unpin_user_page_range_dirty_lock(): releases the npages physically
 * contiguous pages from `pfn` with for_each_compound_range(): one
 * put_compound_head per compound page, its extent computed from the head's
 * order (O(1) per head, no per-page compound_head()).
 */
export function unpinUserPageRangeDirtyLock(g: Gup, pfn: number, npages: number, makeDirty: boolean): void {
  const m = g.memmap;
  for (let i = 0; i < npages; ) {
    // compound_range_next()
    const next = pfn + i;
    const head = m.compoundHead(next);
    let ntails = 1;
    if (m.PageHead(head) && m.compoundOrder(head) >= 1) ntails = Math.min(head + m.compoundNr(head) - next, npages - i);
    if (makeDirty && !m.PageDirty(head)) setPageDirtyLock(g, head);
    g.putCompoundHead(head, ntails, FOLL_PIN);
    i += ntails;
  }
  g.counters.v[GUP_COUNTERS.unpin] += npages;
}

/**
 * put_page() on each of pages[off..off+n): how gup_test releases FOLL_GET
 * references. One put_page() per entry: compound_head(page), one atomic
 * decrement of head->_refcount, __put_page() when it reaches 0. While
 * devmap_managed_key is off (no fsdax or device-private pgmap:
 * page_is_devmap_managed() is false without looking at the page) the loop
 * goes a compound run at a time (page-cursor.ts compoundRun(): consecutive
 * pfns inside one compound page share its head, so compound_head() is decoded
 * at each run's start and end) and still makes one counted atomic per entry,
 * reaching the head through a cursor; otherwise, and under Gup.referenceLoops,
 * each entry goes through Gup.putPage().
 */
export function putPages(g: Gup, pages: Float64Array, n: number, off = 0): void {
  const end = off + n;
  let i = off;
  if (!g.referenceLoops && !g.devmapManagedKey()) i = putPagesRuns(g, pages, off, end);
  const runs = i - off;
  // the entries the reference way releases: each one's struct page read, one head dirtied per run of the same head
  let heads = 0;
  let lastHead = -1;
  for (; i < end; i++) {
    const head = g.memmap.compoundHead(pages[i]!);
    if (head !== lastHead) {
      heads++;
      lastHead = head;
    }
    g.putPage(pages[i]!);
  }
  if (n <= 0) return;
  // the cost model: n put_page() calls, the array read (the cursor way counted its runs' lines)
  g.counters.v[C.gup_put_pages] += n;
  chargeLines(g.counters, TIER_DRAM, pageArrayLines(n), 0, 0);
  if (n > runs) g.chargeStructPageLines(pages[off + runs]!, n - runs, 0, heads);
}

/** putPages()'s cursor way over pages[i..end); returns where the reference way goes on (end, or just past a __put_page()). */
function putPagesRuns(g: Gup, pages: Float64Array, i: number, end: number): number {
  const m = g.memmap;
  const pc = g.pageCur;
  const hc = g.headCur;
  const scan = g.runScan(pages);
  pc.reset();
  hc.reset();
  const i0 = i;
  let runs = 0; // heads dirtied: one per run
  while (i < end) {
    const page = pages[i]!;
    const head = pc.compoundHead(page);
    const k = compoundRun(pc, hc, pages, i, end - i, page, head, scan);
    const hi = hc.atW(head);
    const hw = hc.w;
    runs++;
    // put_page(pages[i + j]) for the run: one atomic each on head->_refcount. While none of them can
    // bring the count to zero they are one store of their sum, counted as k atomics; else page by page.
    if (hw[hi + W_REFCOUNT]! > k) {
      m.pageRefAddManyAt(hw, hi, head, -1, k);
      i += k;
      continue;
    }
    for (let j = 0; j < k; j++) {
      if (m.pageRefAddAt(hw, hi, head, -1) === 0) {
        g.putPageFinal(head);
        // __put_page() may have changed what the rest of the loop sees: go on the reference way.
        chargePutRuns(g, pages, i0, i + j + 1, runs);
        return i + j + 1;
      }
    }
    i += k;
  }
  chargePutRuns(g, pages, i0, i, runs);
  return i;
}

/** The cost model: the entries' struct pages read (compound_head), one head dirtied per run. */
function chargePutRuns(g: Gup, pages: Float64Array, from: number, to: number, runs: number): void {
  if (to > from) g.chargeStructPageLines(pages[from]!, to - from, 0, runs);
}
