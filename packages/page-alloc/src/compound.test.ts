import { describe, expect, it } from 'vitest';
import { _PAGE_PRESENT, PAGE_KERNEL_LO, mkEntryHi, mkEntryLo } from '@daxsim/mm';
import { createKernelCore, initSinglePage, prepCompoundPage } from './index.js';

describe('struct page init through a hand-built vmemmap', () => {
  it('__init_single_page and prep_compound_page write the kernel fields', () => {
    const k = createKernelCore({ ram: [{ nid: 0, size: 16 * 2 ** 20 }] });
    // map the vmemmap of pfns 0..511 (8 vmemmap pages) with buddy frames
    const pt = k.mmu.pgtable;
    for (let v = 0; v < 8; v++) {
      const va = k.mmu.vmemmapVa(v * 64);
      const t = pt.populate(va, k.arch.pteLevel);
      const f = k.buddy.allocPages(0, 0, 'vmemmap_data');
      expect(pt.lo(t, pt.wIndex) & _PAGE_PRESENT).toBe(0);
      pt.setEntry(t, pt.wIndex, mkEntryLo(f, 12, PAGE_KERNEL_LO), mkEntryHi(f, 12, 0), va, k.arch.pteLevel);
    }
    const mm = k.memmap;
    for (let pfn = 0; pfn < 512; pfn++) initSinglePage(mm, pfn, 2, 1);
    expect(mm.pageRefCount(5)).toBe(1);
    expect(mm.pageMapcountRaw(5)).toBe(-1);
    expect(mm.pageZonenum(5)).toBe(2);
    expect(mm.pageToNid(5)).toBe(1);
    expect(k.counters.get('struct_pages_initialised')).toBe(512);
    prepCompoundPage(mm, 0, 9);
    expect(mm.PageHead(0)).toBe(true);
    expect(mm.compoundOrder(0)).toBe(9);
    expect(mm.compoundNr(0)).toBe(512);
    expect(mm.compoundPincount(0)).toBe(0);
    expect(mm.compoundMapcount(0)).toBe(-1);
    expect(mm.compoundHead(511)).toBe(0);
    expect(mm.pageMappingRaw(3)).toEqual([0x400, 0xdead0000]);
  });
});
