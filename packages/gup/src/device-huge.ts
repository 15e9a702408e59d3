import { C, W_FLAGS, W_REFCOUNT, type DevPagemap } from '@daxsim/mm';
import { FOLL_GET, FOLL_LONGTERM, FOLL_PIN, GUP_PIN_COUNTING_BIAS } from './foll.js';
import { REFCOUNT_MAX, type Gup } from './gup.js';
import { storePfnRunJs } from './page-array.js';
import type { StructPageCursor } from './page-cursor.js';

/**
 * record_subpages(): writes the n pfns page, page + 1, ... into g.pages from
 * g.nr on (not advancing g.nr) and returns n. Pointer arithmetic only: no
 * struct page is read. Into pageBuffer()'s array the WebAssembly store writes
 * runs of 16 or more (page-array.ts); shorter runs, any other array, or a run
 * past its end take the JS loop.
 */
export function recordSubpages(g: Gup, page: number, n: number): number {
  const at = g.nr;
  const seq = g.seq;
  if (seq !== null && n >= 16 && at + n <= g.pages.length) seq(at * 8, n, page);
  else storePfnRunJs(g.pages, at, page, n);
  return n;
}

/**
 * undo_dev_pagemap(): releases, one page at a time and newest first, what
 * this walk took since g.pages[nrStart], and rewinds g.nr to nrStart.
 */
export function undoDevPagemap(g: Gup, nrStart: number, flags: number): void {
  const pages = g.pages;
  while (g.nr > nrStart) {
    const page = pages[--g.nr]!;
    g.clearPageReferenced(page);
    if (flags & FOLL_PIN) g.putCompoundHead(g.memmap.compoundHead(page), 1, flags); // unpin_user_page()
    else g.putPage(page);
  }
}

/**
 * __gup_device_huge(): takes references on the base pages pfn.. that map
 * [addr, end) of one devmap pmd/pud, in the generation g.generation selects.
 * Returns false when it stopped early; what it took is then undone.
 */
export function gupDeviceHuge(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  switch (g.generation) {
    case 'per-page':
      return gupDeviceHugePerPage(g, pfn, addr, end, flags);
    case 'head-once':
      return gupDeviceHugeHeadOnce(g, pfn, addr, end, flags);
    case 'grab-first':
      return gupDeviceHugeGrabFirst(g, pfn, addr, end, flags);
    case 'folio':
      // fd2825b0760a removed the devmap path: gupHugeLeaf takes the leaf as a folio and never comes here
      throw new Error('__gup_device_huge: the folio generation has no devmap path');
  }
}

// __gup_device_huge() as v5.15 (and upstream through 6.14) has it: a pgmap
// lookup and a reference per base page.
//
// The fast form below does, per base page, what the reference form does —
// get_dev_pagemap(pfn, pgmap), compound_head(page) read from page's struct
// page, SetPageReferenced(head), page_ref_count(head) checked, one atomic on
// head->_refcount (and for FOLL_PIN, PageHead/compound_order(head) read and
// one atomic on the pincount) — but reaches the struct pages through cursors
// that translate the vmemmap once per vmemmap page rather than once per field
// access. Fault injection (every try_grab_page() call is counted) and the
// odd flag combinations (both or neither of FOLL_GET/FOLL_PIN) take the
// reference form, as does Gup.referenceLoops.
function gupDeviceHugePerPage(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const getOrPin = flags & (FOLL_GET | FOLL_PIN);
  if (g.referenceLoops || g.failGrabAt !== 0 || (getOrPin !== FOLL_GET && getOrPin !== FOLL_PIN))
    return gupDeviceHugePerPageRef(g, pfn, addr, end, flags);
  const m = g.memmap;
  const pin = getOrPin === FOLL_PIN;
  const ps = g.pageSize;
  const pages = g.pages;
  const nrStart = g.nr;
  const pc = g.pageCur;
  const hc = g.headCur;
  const tc = g.tailCur;
  pc.reset();
  hc.reset();
  tc.reset();
  let nr = nrStart;
  let pgmap: DevPagemap | null = null;
  let ok = true;
  // the cost model's events of this batch, counted as it goes and charged once at the end
  const pfn0 = pfn;
  let visited = 0; // pages whose own struct page was read (compound_head), in address order
  let heads = 0; // heads dirtied (and read out of the stream when not the page itself)
  let farHeads = 0;
  let lastHead = -1;
  let tails2 = 0; // second tails dirtied (the pincount)
  try {
    do {
      pgmap = g.getDevPagemapCached(pfn, pgmap);
      if (pgmap === null) {
        ok = false;
        break;
      }
      // SetPageReferenced(page): PF_HEAD, so compound_head(page) first.
      const head = pc.compoundHead(pfn);
      const hi = hc.at(head);
      const hw = hc.w;
      hw[hi + W_FLAGS] |= 1 << m.pg.referenced;
      visited++;
      if (head !== lastHead) {
        lastHead = head;
        heads++;
        if (head !== pfn) farHeads++;
      }
      pages[nr] = pfn;
      // try_grab_page(page, flags): compound_head(page) again, then the count.
      const count = hw[hi + W_REFCOUNT]!;
      if (count <= 0) {
        g.warnOnce(`${pin ? 'try_grab_page' : 'try_get_page'}: pfn ${head} has refcount ${count}`);
        ok = false;
        break;
      }
      let i2 = -1; // the index in tc.w of the tail that holds the pincount, when the head has one
      if (!pin) {
        if (count > REFCOUNT_MAX - 1) {
          ok = false;
          break;
        }
        m.pageRefAddAt(hw, hi, head, 1);
      } else if (((hw[hi + W_FLAGS]! >>> m.pg.head) & 1) === 1 && m.pincountAvailable(compoundOrderAt(tc, head))) {
        // hpage_pincount_available(head) / folio_has_pincount(): the pincount lives in a tail (the layout's).
        if (count > REFCOUNT_MAX - 1) {
          ok = false;
          break;
        }
        i2 = tc.at(m.pincountPfn(head));
        if (head === lastHead && tails2 < heads) tails2++;
        m.compoundPincountAddAt(tc.w, i2, head, 1);
        m.pageRefAddAt(hw, hi, head, 1);
      } else {
        if (count > REFCOUNT_MAX - GUP_PIN_COUNTING_BIAS) {
          ok = false;
          break;
        }
        m.pageRefAddAt(hw, hi, head, GUP_PIN_COUNTING_BIAS);
      }
      nr++;
      pfn++;
      addr += ps;
      if (addr === end || (pin && i2 < 0)) continue;
      // The next pages of the same compound page take the same steps: get_dev_pagemap() (the cached
      // range), compound_head() read from each page's own struct page, SetPageReferenced() on the head
      // (already set) and one grab of one reference (and pincount) on that head each. Their grabs are
      // made as one store of their sum, counted as the atomics they are; a run that could reach
      // REFCOUNT_MAX is left to the page-by-page steps above, which stop where the kernel would.
      const max = Math.min((end - addr) / ps, g.devPagemapCachedEnd - pfn);
      let k = 0;
      while (k < max && pc.compoundHead(pfn + k) === head) {
        pages[nr + k] = pfn + k;
        k++;
      }
      if (k === 0 || hw[hi + W_REFCOUNT]! > REFCOUNT_MAX - k) continue;
      if (i2 >= 0) m.compoundPincountAddManyAt(tc.w, i2, head, 1, k);
      m.pageRefAddManyAt(hw, hi, head, 1, k);
      visited += k;
      nr += k;
      pfn += k;
      addr += k * ps;
    } while (addr !== end);
  } finally {
    g.nr = nr;
  }
  // per page: SetPageReferenced() (an atomic set_bit) and, for FOLL_PIN, mod_node_page_state(NR_FOLL_PIN_ACQUIRED, 1)
  const v = g.counters.v;
  v[C.atomic_flag_ops] += visited;
  if (pin) v[C.vmstat_updates] += nr - nrStart; // the pages grabbed
  if (visited > 0) g.chargeStructPageLines(pfn0, visited, farHeads, heads + tails2);
  if (!ok) undoDevPagemap(g, nrStart, flags);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ok;
}

/** compound_order(head) of a head page: the first tail's order byte (where the release's layout keeps it), through cursor `tc`. */
function compoundOrderAt(tc: StructPageCursor, head: number): number {
  const i1 = tc.at(head + 1);
  return tc.u8[i1 * 4 + tc.m.layout.order]!;
}

/** The reference form of per-page __gup_device_huge(): the kernel's loop, one accessor call per field. */
function gupDeviceHugePerPageRef(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const nrStart = g.nr;
  const ps = g.pageSize;
  const pages = g.pages;
  let pgmap: DevPagemap | null = null;
  let ret = true;
  // the cost model's lines, counted as the fast form counts them
  const m = g.memmap;
  const pfn0 = pfn;
  let visited = 0;
  let heads = 0;
  let farHeads = 0;
  let lastHead = -1;
  let tails2 = 0;
  let pincountHead = -1;
  do {
    pgmap = g.getDevPagemapCached(pfn, pgmap);
    if (pgmap === null) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    g.setPageReferenced(pfn);
    const head = m.compoundHead(pfn);
    visited++;
    if (head !== lastHead) {
      lastHead = head;
      heads++;
      if (head !== pfn) farHeads++;
    }
    pages[g.nr] = pfn;
    if (!g.tryGrabPage(pfn, flags)) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    // a pin dirties the head's pincount tail once the grab got that far
    if (flags & FOLL_PIN && head !== pincountHead && m.PageHead(head) && g.hpagePincountAvailable(head)) {
      pincountHead = head;
      tails2++;
    }
    g.nr++;
    pfn++;
    addr += ps;
  } while (addr !== end);
  if (visited > 0) g.chargeStructPageLines(pfn0, visited, farHeads, heads + tails2);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}

// The seed's patch 8 (v4): compound_head()/PageHead() are read before any
// reference is held, the subpages recorded, then one grab for all of them.
//
// The fast form does what the reference form below does, field by field and
// in the same order — compound_head(page), PageHead(head), record_subpages(),
// SetPageReferenced(head), try_grab_compound_head(head, refs): compound_head
// (head) again, the count read and checked, one atomic on head->_refcount
// (and for FOLL_PIN PageHead/compound_order read and one atomic on the
// pincount or the refcount) — but reaches the head's struct pages through
// cursors: one translation per vmemmap page read, one more for the first
// store (locateW, so a read-only vmemmap PTE still faults where the store
// is), instead of one per field access. Fault injection, FOLL_LONGTERM and
// the odd flag combinations take the reference form, as does
// Gup.referenceLoops.
function gupDeviceHugeHeadOnce(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const getOrPin = flags & (FOLL_GET | FOLL_PIN);
  if (g.referenceLoops || g.failGrabAt !== 0 || flags & FOLL_LONGTERM || (getOrPin !== FOLL_GET && getOrPin !== FOLL_PIN))
    return gupDeviceHugeHeadOnceRef(g, pfn, addr, end, flags);
  const pin = getOrPin === FOLL_PIN;
  const nrStart = g.nr;
  const ps = g.pageSize;
  const hc = g.headCur;
  hc.reset();
  let pgmap: DevPagemap | null = null;
  let ret = true;
  const pfn0 = pfn;
  let grabs = 0; // compound pages grabbed: each head read out of any stream and dirtied
  let referenced = 0; // SetPageReferenced(head) calls, a failed grab's too
  do {
    let next = addr + ps;
    pgmap = g.getDevPagemapCached(pfn, pgmap);
    if (pgmap === null) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    const head = hc.compoundHead(pfn);
    // "@end is assumed to be limited at most one compound page"
    let hi = hc.at(head);
    const isHead = ((hc.w[hi + W_FLAGS]! >>> g.memmap.pg.head) & 1) === 1; // PageHead(head)
    if (isHead) next = end;
    const refs = recordSubpages(g, pfn, (next - addr) / ps);
    hi = hc.atW(head);
    const hw = hc.w;
    hw[hi + W_FLAGS] |= 1 << g.memmap.pg.referenced; // SetPageReferenced(head)
    referenced++;
    if (!tryGrabHeadAt(g, hc, hw, hi, head, refs, pin, flags)) {
      if (isHead) g.clearPageReferenced(head);
      else undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    grabs++;
    g.nr += refs;
    pfn += refs;
    addr += refs * ps;
  } while (addr !== end);
  // per compound page: SetPageReferenced(head), an atomic set_bit; the head's line read (the first access: no
  // stream leads to it) and dirtied; for a FOLL_PIN with a pincount, tails 1 and 2 read next to it, tail 2 dirtied
  g.counters.v[C.atomic_flag_ops] += referenced;
  chargeHeadOnceLines(g, pfn0, grabs, pin);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}

/** The cost model's lines of `grabs` compound pages grabbed once each from pfn0 on (both forms of head-once). */
function chargeHeadOnceLines(g: Gup, pfn0: number, grabs: number, pin: boolean): void {
  if (grabs === 0) return;
  const tails = pin && g.hpagePincountAvailable(g.memmap.compoundHead(pfn0)) ? 2 : 0;
  g.chargeStructPageLines(pfn0, grabs * tails, grabs, grabs * (1 + tails / 2));
}

/**
 * try_grab_compound_head(head, refs, flags) of head-once's fast form, on the
 * head found at hw[hi] through a store translation of cursor hc (which then
 * reaches its first and second tails). One counted atomic per reference
 * update, as Gup's.
 */
function tryGrabHeadAt(g: Gup, hc: StructPageCursor, hw: Int32Array, hi: number, head: number, refs: number, pin: boolean, flags: number): boolean {
  // try_get_compound_head(): compound_head(head) first; a head that is a tail (a broken memmap) takes the accessor path
  if (hc.compoundHead(head) !== head) return g.tryGrabCompoundHead(head, refs, flags) >= 0;
  const m = g.memmap;
  const count = hw[hi + W_REFCOUNT]!;
  if (count < 0) {
    g.warnOnce(`try_get_compound_head: pfn ${head} has a negative refcount ${count}`);
    return false;
  }
  if (count === 0) return false;
  // hpage_pincount_available(head), for the overflow test and then for the pin
  const pincount = pin && ((hw[hi + W_FLAGS]! >>> m.pg.head) & 1) === 1 && m.pincountAvailable(compoundOrderAt(hc, head));
  if (count > REFCOUNT_MAX - (pin && !pincount ? refs * GUP_PIN_COUNTING_BIAS : refs)) return false;
  m.pageRefAddAt(hw, hi, head, refs);
  if (pin) {
    g.counters.v[C.vmstat_updates]++; // mod_node_page_state(NR_FOLL_PIN_ACQUIRED, refs)
    if (pincount) {
      const i2 = hc.atW(m.pincountPfn(head));
      m.compoundPincountAddAt(hc.w, i2, head, refs);
    } else {
      m.pageRefAddAt(hw, hi, head, refs * (GUP_PIN_COUNTING_BIAS - 1));
    }
  }
  return true;
}

/** The reference form of head-once __gup_device_huge(): one accessor call per field. */
function gupDeviceHugeHeadOnceRef(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const nrStart = g.nr;
  const ps = g.pageSize;
  const m = g.memmap;
  let pgmap: DevPagemap | null = null;
  let ret = true;
  const pfn0 = pfn;
  let grabs = 0;
  do {
    let next = addr + ps;
    pgmap = g.getDevPagemapCached(pfn, pgmap);
    if (pgmap === null) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    const head = m.compoundHead(pfn);
    // "@end is assumed to be limited at most one compound page"
    const isHead = m.PageHead(head);
    if (isHead) next = end;
    const refs = recordSubpages(g, pfn, (next - addr) / ps);
    m.SetPageReferenced(head);
    if (g.tryGrabCompoundHead(head, refs, flags) < 0) {
      if (isHead) g.clearPageReferenced(head);
      else undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    grabs++;
    g.nr += refs;
    pfn += refs;
    addr += refs * ps;
  } while (addr !== end);
  chargeHeadOnceLines(g, pfn0, grabs, (flags & FOLL_PIN) !== 0);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}

// The review's order, as Jason Gunthorpe sketched it (2021-10-13, the
// `if (devmap) refs = 1` branch): take one reference on the page's head
// before any struct page field is read, read compound_order() under it (a
// held head keeps its tails stable), record the subpages it covers up to
// `end`, then take the remaining npages - 1 references on the head it holds.
// Two atomics per compound page (four for FOLL_PIN on a compound memmap:
// refcount and pincount each time), never a transient over-reference. The
// sketch's `npages > 2` test is read as `npages > 1`: a two-page compound
// needs its second reference too. The pmd/pud re-check the sketch does per
// iteration is done once by the caller (gupHugeLeaf), after the whole entry.
function gupDeviceHugeGrabFirst(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const nrStart = g.nr;
  const ps = g.pageSize;
  const m = g.memmap;
  let pgmap: DevPagemap | null = null;
  let ret = true;
  do {
    pgmap = g.getDevPagemapCached(pfn, pgmap);
    if (pgmap === null) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    // head_page = try_grab_compound_head(page, 1, flags)
    const head = g.tryGrabCompoundHead(pfn, 1, flags);
    if (head < 0) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    // npages = min(pages left in the compound page from pfn on, pages left to end)
    const left = (end - addr) / ps;
    let npages = m.PageHead(head) ? head + m.compoundNr(head) - pfn : 1;
    if (npages > left) npages = left;
    // grab_compound_head(head_page, npages - 1, flags): the head is held, no "try".
    if (npages > 1 && !g.grabCompoundHead(head, npages - 1, flags)) {
      g.putCompoundHead(head, 1, flags);
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    recordSubpages(g, pfn, npages);
    m.SetPageReferenced(head);
    g.nr += npages;
    pfn += npages;
    addr += npages * ps;
  } while (addr !== end);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}
