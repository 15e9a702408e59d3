import { initSinglePage } from '@daxsim/page-alloc';
import { C, type KernelCore, structPagesPerPage } from '@daxsim/mm';

/**
 * The struct pages of a range being onlined, as online_pages() leaves them:
 * move_pfn_range_to_zone() → memmap_init_range() (__init_single_page: zone
 * and node links, _mapcount -1, an empty lru list), then
 * generic_online_page() → __free_pages_core() (count 0, PG_reserved
 * cleared). The reference path through the accessors, page by page.
 */
export function onlinePagesInitReference(k: KernelCore, startPfn: number, endPfn: number, zone: number, nid: number): void {
  const mm = k.memmap;
  for (let pfn = startPfn; pfn < endPfn; pfn++) {
    initSinglePage(mm, pfn, zone, nid);
    mm.setPageCount(pfn, 0);
  }
}

/**
 * The same words as onlinePagesInitReference(), written in place: the first
 * struct page through the reference path, then its 16 words copied to every
 * other one with its own lru self-pointer (words 2-5), one vmemmap
 * translation per vmemmap page.
 */
export function onlinePagesInit(k: KernelCore, startPfn: number, endPfn: number, zone: number, nid: number): void {
  if (endPfn <= startPfn) return;
  const mm = k.memmap;
  onlinePagesInitReference(k, startPfn, startPfn + 1, zone, nid);
  const i0 = mm.locate(startPfn);
  const t = mm.w.slice(i0, i0 + 16);
  const spp = structPagesPerPage(k.arch);
  const sp = k.arch.structPageSize;
  for (let pfn = startPfn + 1; pfn < endPfn; ) {
    const run = Math.min(endPfn - pfn, spp - (pfn % spp));
    const i = mm.locate(pfn);
    const w = mm.w;
    let lo = mm.pageVirtLo(pfn) + 8;
    const hi = mm.pageVirtHi(pfn);
    for (let j = 0; j < run; j++) {
      const b = i + j * 16;
      w.set(t, b);
      w[b + 2] = lo;
      w[b + 3] = hi;
      w[b + 4] = lo;
      w[b + 5] = hi;
      lo += sp;
    }
    pfn += run;
  }
  k.counters.v[C.struct_pages_initialised] += endPfn - startPfn - 1;
}
