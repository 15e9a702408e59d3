import { FOLL_PIN } from './foll.js';
import { GUP_COUNTERS, type Gup } from './gup.js';

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
  // compound_head() of each entry through a cursor: one vmemmap translation per
  // vmemmap page of consecutive entries (put_compound_head() below may touch
  // other struct pages, but never changes the vmemmap; with devmap_managed_key
  // on, a page_free callback might, so that case takes the reference way).
  const pc = g.pageCur;
  pc.reset();
  const ref = g.referenceLoops || g.devmapManagedKey();
  let i = off;
  let head = i < end ? (ref ? m.compoundHead(pages[i]!) : pc.compoundHead(pages[i]!)) : -1;
  while (i < end) {
    // compound_next(): count the following entries with the same head
    let nr = i + 1;
    let nextHead = -1;
    while (nr < end) {
      nextHead = ref ? m.compoundHead(pages[nr]!) : pc.compoundHead(pages[nr]!);
      if (nextHead !== head) break;
      nr++;
    }
    const ntails = nr - i;
    if (makeDirty && !m.PageDirty(head)) setPageDirtyLock(g, head);
    g.putCompoundHead(head, ntails, FOLL_PIN);
    i = nr;
    head = nextHead;
  }
  g.counters.v[GUP_COUNTERS.unpin] += npages;
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
 * references. One put_page() per entry: compound_head(page) read from the
 * page's struct page, one atomic decrement of head->_refcount, __put_page()
 * when it reaches 0. While devmap_managed_key is off (no fsdax or
 * device-private pgmap: page_is_devmap_managed() is false without looking at
 * the page) the struct pages are reached through cursors that translate the
 * vmemmap once per vmemmap page; otherwise, and under Gup.referenceLoops, each
 * entry goes through Gup.putPage().
 */
export function putPages(g: Gup, pages: Float64Array, n: number, off = 0): void {
  const end = off + n;
  let i = off;
  if (!g.referenceLoops && !g.devmapManagedKey()) {
    const m = g.memmap;
    const pc = g.pageCur;
    const hc = g.headCur;
    pc.reset();
    hc.reset();
    for (; i < end; i++) {
      const head = pc.compoundHead(pages[i]!);
      const hi = hc.at(head);
      if (m.pageRefAddAt(hc.w, hi, head, -1) === 0) {
        g.putPageFinal(head);
        // __put_page() may have changed what the rest of the loop sees: go on the reference way.
        i++;
        break;
      }
    }
  }
  for (; i < end; i++) g.putPage(pages[i]!);
}
