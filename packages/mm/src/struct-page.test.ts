import { describe, expect, it } from 'vitest';
import { C } from './counters.js';
import {
  PAGE_COMPOUND_HEAD_OFFSET,
  PAGE_COMPOUND_NR_OFFSET,
  PAGE_COMPOUND_ORDER_OFFSET,
  PAGE_HPAGE_PINNED_REFCOUNT_OFFSET,
  PAGE_INDEX_OFFSET,
  PAGE_MAPCOUNT_OFFSET,
  PAGE_MAPPING_OFFSET,
  PAGE_REFCOUNT_OFFSET,
  PG_head,
  PG_hwpoison,
  PG_reserved,
  ZONE_DEVICE,
} from './struct-page.js';
import { mmFixture } from './test/fixture.js';

const u32 = (b: Uint8Array, off: number) => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, off: number) => BigInt(u32(b, off)) | (BigInt(u32(b, off + 4)) << 32n);

function fixtureWithMemmap(nrVmemmapPages: number) {
  const f = mmFixture();
  for (let vmi = 0; vmi < nrVmemmapPages; vmi++) f.mapVmemmapPage(vmi, f.alloc.alloc());
  return f;
}

describe('struct page layout (x86-64, v5.15)', () => {
  it('puts every field at its byte offset', () => {
    const { memmap } = fixtureWithMemmap(1);
    memmap.setPageCount(5, 0x01020304);
    memmap.setPageMapcountRaw(5, -1);
    memmap.setPageIndex(5, 0x123456789);
    const mapping = {};
    memmap.setPageMapping(5, mapping);
    memmap.SetPageReserved(5);
    memmap.setPageLinks(5, ZONE_DEVICE, 3);
    const b = memmap.rawBytes(5);
    expect(u32(b, PAGE_REFCOUNT_OFFSET)).toBe(0x01020304);
    expect(u32(b, PAGE_MAPCOUNT_OFFSET)).toBe(0xffffffff);
    expect(u64(b, PAGE_INDEX_OFFSET)).toBe(0x123456789n);
    expect(u64(b, PAGE_MAPPING_OFFSET)).not.toBe(0n);
    expect(memmap.pageMapping(5)).toBe(mapping);
    const flags = u64(b, 0);
    expect((flags >> BigInt(PG_reserved)) & 1n).toBe(1n);
    // NODES_PGSHIFT 54, ZONES_PGSHIFT 51
    expect((flags >> 54n) & 0x3ffn).toBe(3n);
    expect((flags >> 51n) & 7n).toBe(BigInt(ZONE_DEVICE));
    expect(memmap.pageToNid(5)).toBe(3);
    expect(memmap.pageZonenum(5)).toBe(ZONE_DEVICE);
  });

  it('stores compound_head as the head struct page address plus one', () => {
    const { memmap, arch } = fixtureWithMemmap(1);
    memmap.setCompoundHead(9, 8);
    const b = memmap.rawBytes(9);
    expect(u64(b, PAGE_COMPOUND_HEAD_OFFSET)).toBe(arch.vmemmapStart + 8n * 64n + 1n);
    expect(memmap.PageTail(9)).toBe(true);
    expect(memmap.compoundHead(9)).toBe(8);
    expect(memmap.compoundHead(8)).toBe(8);
  });

  it('keeps the first and second tail pages compound fields at their offsets', () => {
    const { memmap } = fixtureWithMemmap(1);
    memmap.SetPageHead(0);
    memmap.setCompoundOrder(0, 9);
    memmap.setCompoundPincount(0, 7);
    const t1 = memmap.rawBytes(1);
    expect(t1[PAGE_COMPOUND_ORDER_OFFSET]).toBe(9);
    expect(u32(t1, PAGE_COMPOUND_NR_OFFSET)).toBe(512);
    expect(u32(memmap.rawBytes(2), PAGE_HPAGE_PINNED_REFCOUNT_OFFSET)).toBe(7);
    expect(memmap.compoundOrder(0)).toBe(9);
    expect(memmap.compoundNr(0)).toBe(512);
    expect((u32(memmap.rawBytes(0), 0) >>> PG_head) & 1).toBe(1);
  });

  it('overwrites the first tail compound_order when zone_device_data is written after it', () => {
    // The seed's ordering rule: zone_device_data (offset 16) aliases compound_dtor/order.
    const { memmap } = fixtureWithMemmap(1);
    memmap.SetPageHead(0);
    memmap.setCompoundOrder(0, 9);
    memmap.setZoneDeviceData(1, 0, 0);
    expect(memmap.compoundOrder(0)).toBe(0);
  });

  it('catches refcount overflow and underflow and counts atomic operations', () => {
    const { memmap, counters } = fixtureWithMemmap(1);
    memmap.setPageCount(3, 0x7ffffffe);
    expect(memmap.pageRefAdd(3, 1)).toBe(0x7fffffff);
    expect(() => memmap.pageRefAdd(3, 1)).toThrow(/overflow/);
    memmap.setPageCount(4, 1);
    expect(memmap.pageRefDecAndTest(4)).toBe(true);
    expect(() => memmap.pageRefDecAndTest(4)).toThrow(/underflow/);
    expect(() => memmap.compoundPincountAdd(0, -1)).toThrow(/underflow/);
    expect(counters.get('atomic_refcount_ops')).toBe(2);
    expect(memmap.pageRefCount(3)).toBe(0x7fffffff);
  });

  it('marks hwpoison in the flags word', () => {
    const { memmap } = fixtureWithMemmap(1);
    expect(memmap.TestSetPageHWPoison(12)).toBe(false);
    expect(memmap.TestSetPageHWPoison(12)).toBe(true);
    expect((u32(memmap.rawBytes(12), 0) >>> PG_hwpoison) & 1).toBe(1);
  });
});

describe('vmemmap aliasing and translation', () => {
  for (const tlb of [true, false]) {
    const mode = tlb ? 'with the TLB' : 'with page-table walks only';
    it(`sees a write through one vmemmap page from another that maps the same frame (${mode})`, () => {
      const f = mmFixture({ tlb });
      const frame = f.alloc.alloc();
      f.mapVmemmapPage(1, frame);
      f.mapVmemmapPage(2, frame);
      f.memmap.setPageCount(64 + 10, 42); // vmemmap page 1, struct page 10
      expect(f.memmap.pageRefCount(128 + 10)).toBe(42); // vmemmap page 2, struct page 10
      f.memmap.setCompoundHead(128 + 11, 64);
      expect(f.memmap.compoundHead(64 + 11)).toBe(64);
    });

    it(`never returns a stale frame after an entry changes (${mode})`, () => {
      const f = mmFixture({ tlb });
      const a = f.alloc.alloc();
      const b = f.alloc.alloc();
      f.mapVmemmapPage(0, a);
      f.memmap.setPageCount(1, 111);
      f.mapVmemmapPage(0, b); // remap: the listener flushes the TLB entry
      expect(f.memmap.pageRefCount(1)).toBe(0);
      f.memmap.setPageCount(1, 222);
      f.mapVmemmapPage(0, a);
      expect(f.memmap.pageRefCount(1)).toBe(111);
      // clearing the pte makes the address fault again
      const va = f.mmu.vmemmapOffset;
      f.mmu.pgtable.walk(va);
      f.mmu.pgtable.clearEntry(f.mmu.pgtable.wTable, f.mmu.pgtable.wIndex, va, f.arch.pteLevel);
      expect(() => f.memmap.pageRefCount(1)).toThrow(/unable to handle page fault/);
    });
  }

  it('serves repeated accesses from the TLB', () => {
    const f = mmFixture();
    f.mapVmemmapPage(0, f.alloc.alloc());
    for (let i = 0; i < 64; i++) f.memmap.setPageCount(i, 1);
    expect(f.counters.v[C.tlb_miss]).toBe(1);
    expect(f.counters.v[C.tlb_hit]).toBe(63);
  });

  it('agrees with the slow walk on every struct page it translates', () => {
    const fast = mmFixture();
    const slow = mmFixture({ tlb: false });
    for (const f of [fast, slow]) {
      for (let vmi = 0; vmi < 8; vmi++) f.mapVmemmapPage(vmi, f.alloc.alloc());
      f.mapVmemmapPage(8, 1); // shared with vmemmap page 0's frame
      for (let pfn = 0; pfn < 9 * 64; pfn++) f.memmap.setPageCount(pfn, (pfn * 7) % 1000);
    }
    for (let pfn = 0; pfn < 9 * 64; pfn++) expect(fast.memmap.pageRefCount(pfn)).toBe(slow.memmap.pageRefCount(pfn));
    expect(fast.mem.digest()).toBe(slow.mem.digest());
  });
});
