import { PAGE_COMPOUND_HEAD_OFFSET, PAGE_MAPCOUNT_OFFSET, PAGE_MAPPING_OFFSET, PAGE_REFCOUNT_OFFSET } from '@daxsim/mm';

// Word offsets inside one struct page (the mm byte offsets / 4), for the loops that write struct pages as words.
export const W_HEAD = PAGE_COMPOUND_HEAD_OFFSET / 4;
export const W_MAPPING = PAGE_MAPPING_OFFSET / 4;
export const W_MAPCOUNT = PAGE_MAPCOUNT_OFFSET / 4;
export const W_REFCOUNT = PAGE_REFCOUNT_OFFSET / 4;
// page->flags' node and zone fields (NODES_PGSHIFT 54, ZONES_PGSHIFT 51) as shifts in its high word
export const NODES_HI_SHIFT = 54 - 32;
export const ZONES_HI_SHIFT = 51 - 32;
