import type { DevPagemap } from '@daxsim/mm';
import { FOLL_PIN } from './foll.js';
import type { Gup } from './gup.js';

/**
 * record_subpages(): writes the n pfns page, page + 1, ... into g.pages from
 * g.nr on (not advancing g.nr) and returns n. Pointer arithmetic only: no
 * struct page is read.
 */
export function recordSubpages(g: Gup, page: number, n: number): number {
  const pages = g.pages;
  let v = page;
  for (let i = g.nr, e = g.nr + n; i < e; i++) pages[i] = v++;
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
  }
}

// __gup_device_huge() as v5.15 (and upstream through 6.14) has it: a pgmap
// lookup and a reference per base page.
function gupDeviceHugePerPage(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const nrStart = g.nr;
  const ps = g.pageSize;
  const pages = g.pages;
  let pgmap: DevPagemap | null = null;
  let ret = true;
  do {
    pgmap = g.getDevPagemapCached(pfn, pgmap);
    if (pgmap === null) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    g.setPageReferenced(pfn);
    pages[g.nr] = pfn;
    if (!g.tryGrabPage(pfn, flags)) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    g.nr++;
    pfn++;
    addr += ps;
  } while (addr !== end);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}

// The seed's patch 8 (v4): compound_head()/PageHead() are read before any
// reference is held, the subpages recorded, then one grab for all of them.
function gupDeviceHugeHeadOnce(g: Gup, pfn: number, addr: number, end: number, flags: number): boolean {
  const nrStart = g.nr;
  const ps = g.pageSize;
  const m = g.memmap;
  let pgmap: DevPagemap | null = null;
  let ret = true;
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
    g.nr += refs;
    pfn += refs;
    addr += refs * ps;
  } while (addr !== end);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}

// The review's order (Jason Gunthorpe, 2021-10-08/13): nothing in a struct
// page is read before a reference is held. The grab covers the extent the
// page-table entry maps (known from the entry alone, as gup_huge_pmd() does
// for THP); once the head is held, its compound geometry says how many of
// those subpages it really covers, and any excess is given back (only when an
// entry maps pages smaller than itself). One atomic per compound page.
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
    const want = (end - addr) / ps;
    const head = g.tryGrabCompoundHead(pfn, want, flags);
    if (head < 0) {
      undoDevPagemap(g, nrStart, flags);
      ret = false;
      break;
    }
    // Holding the head: its tails are stable, read the geometry.
    let refs = m.PageHead(head) ? head + m.compoundNr(head) - pfn : 1;
    if (refs < want) g.putCompoundHead(head, want - refs, flags);
    else refs = want;
    recordSubpages(g, pfn, refs);
    m.SetPageReferenced(head);
    g.nr += refs;
    pfn += refs;
    addr += refs * ps;
  } while (addr !== end);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}
