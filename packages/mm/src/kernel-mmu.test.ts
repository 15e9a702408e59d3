import { describe, expect, it } from 'vitest';
import { C } from './counters.js';
import { PAGE_KERNEL_LO, _PAGE_TABLE_LO, mkEntryHi, mkEntryLo } from './pgtable.js';
import { mmFixture } from './test/fixture.js';

describe('KernelMmu TLB fills through the paging-structure cache', () => {
  it('walks the new PTE table after the PMD entry above the cached one changes', () => {
    const f = mmFixture();
    const { arch, mmu, memmap } = f;
    const pt = mmu.pgtable;
    const a = f.alloc.alloc();
    const b = f.alloc.alloc();
    const c = f.alloc.alloc();
    f.mapVmemmapPage(0, a);
    f.mapVmemmapPage(1, b);
    memmap.setPageCount(1, 111); // vmemmap page 0: fills the TLB, caches the PTE table
    memmap.setPageCount(64 + 1, 222); // vmemmap page 1, through the cached PTE table
    // a second PTE table whose entry for vmemmap page 1 maps frame c
    const va0 = mmu.vmemmapOffset;
    const t2 = f.alloc.alloc();
    f.mem.materialise(t2);
    const idx1 = pt.index(va0 + arch.pageSize, arch.pteLevel);
    pt.setEntry(t2, idx1, mkEntryLo(c, arch.pageShift, PAGE_KERNEL_LO), mkEntryHi(c, arch.pageShift, 0), va0 + arch.pageSize, arch.pteLevel);
    // pmd_populate over the old table: a change to a present entry, so the listener flushes
    pt.walk(va0);
    const pmdTable = pt.pathTable[arch.pmdLevel]!;
    const pmdIdx = pt.index(va0, arch.pmdLevel);
    pt.setEntry(pmdTable, pmdIdx, mkEntryLo(t2, arch.pageShift, _PAGE_TABLE_LO), mkEntryHi(t2, arch.pageShift, 0), va0, arch.pmdLevel);
    expect(memmap.pageRefCount(64 + 1)).toBe(0); // frame c, not b
    expect(() => memmap.pageRefCount(1)).toThrow(/unable to handle page fault/); // page 0 is not in the new table
  });

  it('oopses, as the walk does, for an unmapped page next to a cached one', () => {
    const f = mmFixture();
    f.mapVmemmapPage(0, f.alloc.alloc());
    f.memmap.setPageCount(0, 1);
    expect(() => f.memmap.pageRefCount(64)).toThrow(/unable to handle page fault/);
  });

  it('counts one miss per vmemmap page whether or not the walk was cached', () => {
    const f = mmFixture();
    for (let vmi = 0; vmi < 8; vmi++) f.mapVmemmapPage(vmi, f.alloc.alloc());
    for (let pfn = 0; pfn < 8 * 64; pfn++) f.memmap.setPageCount(pfn, pfn);
    expect(f.counters.v[C.tlb_miss]).toBe(8);
    expect(f.counters.v[C.tlb_hit]).toBe(8 * 63);
  });
});

describe('PageTable.clearEntries', () => {
  it('clears a run, flushes the TLB once for the present span and counts what it cleared', () => {
    const f = mmFixture();
    const { arch, mmu, memmap } = f;
    const pt = mmu.pgtable;
    for (const vmi of [1, 2, 4]) f.mapVmemmapPage(vmi, f.alloc.alloc());
    for (const vmi of [1, 2, 4]) memmap.setPageCount(vmi * 64, 7); // three TLB entries
    const va = mmu.vmemmapOffset;
    const table = pt.populate(va, arch.pteLevel);
    const idx = pt.index(va, arch.pteLevel);
    expect(pt.clearEntries(table, idx, 6, va, arch.pteLevel)).toBe(3);
    expect(f.counters.v[C.tlb_flush_entries]).toBe(3);
    for (const vmi of [1, 2, 4]) expect(() => memmap.pageRefCount(vmi * 64)).toThrow(/unable to handle page fault/);
    expect(pt.tableEmpty(table, arch.pteLevel)).toBe(true);
  });
});

describe('flush_tlb_kernel_range', () => {
  it('drops exactly the cached translations in the range, for ranges from one page to a pgd entry', () => {
    const f = mmFixture({ ramSize: 256 * 2 ** 20 });
    const { arch, mmu, memmap, counters } = f;
    // vmemmap pages spread over three TLB blocks (4,096 pages each) and two PMDs
    const vmis = [0, 1, 2, 511, 512, 513, 4095, 4096, 4097, 9000, 9001, 12287];
    for (const vmi of vmis) f.mapVmemmapPage(vmi, f.alloc.alloc());
    const cached = new Set<number>();
    const touch = (vmi: number): void => {
      memmap.pageRefCount(vmi * 64);
      cached.add(vmi);
    };
    let x = 7;
    const rnd = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
      return x % n;
    };
    const sizes = [arch.pageSize, 3 * arch.pageSize, 512 * arch.pageSize, 4096 * arch.pageSize, 2 ** 30, 2 ** 39];
    for (let it = 0; it < 400; it++) {
      for (let t = rnd(6); t > 0; t--) touch(vmis[rnd(vmis.length)]!);
      const size = sizes[rnd(sizes.length)]!;
      const firstVmi = rnd(13000);
      const va = mmu.vmemmapOffset + firstVmi * arch.pageSize - (size >= 2 ** 30 ? (firstVmi * arch.pageSize) % size : 0);
      const lo = Math.floor((va - mmu.vmemmapOffset) / arch.pageSize);
      const hi = lo + size / arch.pageSize;
      let want = 0;
      for (const vmi of [...cached])
        if (vmi >= lo && vmi < hi) {
          cached.delete(vmi);
          want++;
        }
      const before = counters.v[C.tlb_flush_entries]!;
      mmu.flushTlbKernelRange(va, size);
      expect(counters.v[C.tlb_flush_entries]! - before).toBe(want);
      // what is still cached hits, what was dropped misses
      const vmi = vmis[rnd(vmis.length)]!;
      const wasCached = cached.has(vmi);
      const miss = counters.v[C.tlb_miss]!;
      touch(vmi);
      expect(counters.v[C.tlb_miss]! - miss).toBe(wasCached ? 0 : 1);
    }
  });
});
