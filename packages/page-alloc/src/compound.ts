import { C, COMPOUND_PAGE_DTOR, type Memmap } from '@daxsim/mm';

// prep_compound_head() (seed patch 2): the head's metadata lives in the first and second tail pages
export function prepCompoundHead(mm: Memmap, headPfn: number, order: number): void {
  mm.setCompoundPageDtor(headPfn, COMPOUND_PAGE_DTOR);
  mm.setCompoundOrder(headPfn, order);
  mm.setCompoundMapcount(headPfn, -1);
  // hpage_pincount_available(): the pincount lives in the second tail, so only for order > 1
  if (order > 1) mm.setCompoundPincount(headPfn, 0);
  mm.counters.v[C.compound_pages_prepared]++;
}

// prep_compound_tail() (seed patch 2); with maskOrder >= 0 the tail encodes its head as the compound_info mask of that order (shared-tail)
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
  for (let i = 1; i < nr; i++) prepCompoundTail(mm, headPfn, i);
  prepCompoundHead(mm, headPfn, order);
}
