import { describe, expect, it } from 'vitest';
import { KERNELS, type KernelVersion, _PAGE_PRESENT, PAGE_KERNEL_LO, mkEntryHi, mkEntryLo } from '@daxsim/mm';
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

describe('prep_compound_head() per release: the first tail as each kernel lays it out', () => {
  const u32 = (b: Uint8Array, off: number) => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) | 0;
  function order9(version: KernelVersion) {
    const k = createKernelCore({ ram: [{ nid: 0, size: 16 * 2 ** 20 }], kernel: KERNELS[version] });
    const pt = k.mmu.pgtable;
    for (let v = 0; v < 8; v++) {
      const va = k.mmu.vmemmapVa(v * 64);
      const t = pt.populate(va, k.arch.pteLevel);
      const f = k.buddy.allocPages(0, 0, 'vmemmap_data');
      pt.setEntry(t, pt.wIndex, mkEntryLo(f, 12, PAGE_KERNEL_LO), mkEntryHi(f, 12, 0), va, k.arch.pteLevel);
    }
    for (let pfn = 0; pfn < 512; pfn++) initSinglePage(k.memmap, pfn, 2, 0);
    prepCompoundPage(k.memmap, 0, 9);
    return k;
  }
  it('6.1 (measured): page[1] @16 = 0x901 (dtor 1, order 9), @20 compound_mapcount -1, @24 compound_pincount 0, @28 compound_nr 512', () => {
    const k = order9('6.1');
    const t1 = k.memmap.rawBytes(1);
    expect(u32(t1, 16) & 0xffff).toBe(0x901);
    expect(u32(t1, 20)).toBe(-1);
    expect(u32(t1, 24)).toBe(0);
    expect(u32(t1, 28)).toBe(512);
    expect(k.memmap.rawBytes(0)[2]! & 1).toBe(1); // PG_head is bit 16 in 6.1
  });
  it('7.3 (measured): page[1] _large_mapcount -1, _nr_pages_mapped 0, _entire_mapcount -1, _pincount 0, _mm_id_mapcount -1/-1, the order in _flags_1', () => {
    const k = order9('7.3');
    const t1 = k.memmap.rawBytes(1);
    expect([16, 20, 24, 28, 32, 36, 40, 44].map((o) => u32(t1, o))).toEqual([-1, 0, -1, 0, -1, -1, 0, 0]);
    expect(t1[0]).toBe(9); // folio_set_order(): the low byte of _flags_1
    expect(u32(t1, 56)).toBe(512); // _nr_pages
    expect(k.memmap.rawBytes(0)[0]! & 0x40).toBe(0x40); // PG_head is bit 6 in 7.3
    expect(k.memmap.compoundOrder(0)).toBe(9);
    expect(k.memmap.compoundNr(0)).toBe(512);
    // a tail holds the compound_info mask of order 9, which compound_head() applies to its own address
    expect(k.memmap.compoundHeadRaw(300)).toEqual([0xffff8001, 0xffffffff]);
    expect(k.memmap.compoundHead(300)).toBe(0);
  });
});
