import { C, COMPOUND_PAGE_DTOR, type Memmap } from '@daxsim/mm';

/**
 * prep_compound_head() (seed patch 2, and what each later kernel made of it):
 * the head's metadata in its first (and, in the seed's kernel, second) tail
 * page, at the places the kernel's layout gives (Memmap.layout): the
 * destructor id and order (set_compound_page_dtor, set_compound_order) or
 * folio_set_order(); the entire (compound) mapcount -1; from v6.6
 * _nr_pages_mapped 0; from 7.x _large_mapcount -1 and the mm-id slots
 * empty; the pincount 0 where hpage_pincount_available() (v5.15: order > 1).
 */
export function prepCompoundHead(mm: Memmap, headPfn: number, order: number): void {
  mm.setCompoundPageDtor(headPfn, COMPOUND_PAGE_DTOR);
  mm.setCompoundOrder(headPfn, order);
  mm.setFolioLargeMapcountRaw(headPfn, -1);
  mm.setFolioNrPagesMapped(headPfn, 0);
  mm.setFolioMmIds(headPfn, [0, 0]);
  mm.setFolioMmIdMapcount(headPfn, 0, -1);
  mm.setFolioMmIdMapcount(headPfn, 1, -1);
  if (mm.pincountAvailable(order)) mm.setCompoundPincount(headPfn, 0);
  mm.setCompoundMapcount(headPfn, -1);
  mm.counters.v[C.compound_pages_prepared]++;
}

// prep_compound_tail() (seed patch 2); with maskOrder >= 0 the tail encodes its head as the compound_info mask of that order (v7.1 on, and shared-tail)
export function prepCompoundTail(mm: Memmap, headPfn: number, tailIdx: number, maskOrder = -1): void {
  const p = headPfn + tailIdx;
  mm.setTailMapping(p);
  if (maskOrder >= 0) mm.setCompoundInfoMask(p, maskOrder);
  else mm.setCompoundHead(p, headPfn);
}

// prep_compound_page(): PG_head, every tail, then the head metadata (written last: it overlaps tails 1 and 2)
export function prepCompoundPage(mm: Memmap, headPfn: number, order: number): void {
  const nr = 2 ** order;
  mm.SetPageHead(headPfn);
  const mask = mm.layout.tailEncoding === 'mask' ? order : -1;
  for (let i = 1; i < nr; i++) prepCompoundTail(mm, headPfn, i, mask);
  prepCompoundHead(mm, headPfn, order);
}
