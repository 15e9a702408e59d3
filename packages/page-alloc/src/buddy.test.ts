import { describe, expect, it } from 'vitest';
import { SZ_1M, ENOMEM } from '@daxsim/mm';
import { createKernelCore } from './index.js';


describe('BuddyAllocator', () => {
  it('splits on allocation and merges buddies on free, per order', () => {
    const k = createKernelCore({ ram: [{ nid: 0, size: 8 * SZ_1M }] });
    const b = k.buddy;
    const free0 = b.nrFreePages(0); // 2048 frames minus the pgd
    expect(free0).toBe(2047);
    const before = b.snapshot();
    const p = b.allocPages(0, 0, 'other');
    expect(p).toBeGreaterThanOrEqual(0);
    expect(b.nrFreePages()).toBe(free0 - 1);
    const q = b.allocPages(3, 0, 'vmemmap_data');
    expect(q % 8).toBe(0);
    expect(b.framesInUse('vmemmap_data')).toBe(8);
    expect(k.counters.get('pgalloc_vmemmap_data')).toBe(8);
    b.freePages(q, 3, 'vmemmap_data');
    b.freePages(p, 0, 'other');
    expect(b.snapshot()).toEqual(before);
    expect(() => b.freePages(p, 0, 'other')).toThrow(/Bad page state/);
  });

  it('returns -ENOMEM when exhausted and when fault injection says so', () => {
    const k = createKernelCore({ ram: [{ nid: 0, size: 4 * SZ_1M }] });
    const b = k.buddy;
    expect(b.allocPages(k.arch.maxOrder, 0, 'other')).toBe(-ENOMEM);
    b.failNth(2);
    expect(b.allocPages(0, 0, 'other')).toBeGreaterThanOrEqual(0);
    expect(b.allocPages(0, 0, 'other')).toBe(-ENOMEM);
    expect(b.allocPages(0, 0, 'other')).toBeGreaterThanOrEqual(0);
    const got: number[] = [];
    for (let p; (p = b.allocPages(0, 0, 'other')) >= 0; ) got.push(p);
    expect(b.nrFreePages()).toBe(0);
    expect(new Set(got).size).toBe(got.length);
    expect(k.counters.get('pgalloc_fail')).toBe(3);
  });

  it('page counts: the frame is freed with its last reference', () => {
    const k = createKernelCore({ ram: [{ nid: 0, size: 4 * SZ_1M }] });
    const b = k.buddy;
    const p = b.allocPages(0, 0, 'vmemmap_data');
    b.getPages(p, 2);
    expect(b.pageCount(p)).toBe(3);
    expect(b.putPageTestzero(p)).toBe(false);
    expect(b.putPageTestzero(p)).toBe(false);
    expect(b.putPageTestzero(p)).toBe(true);
    b.freePages(p, 0, 'vmemmap_data');
    expect(b.framesInUse('vmemmap_data')).toBe(0);
  });

  it('allocates on the asked node, falling back to others', () => {
    const k = createKernelCore({ ram: [{ nid: 0, size: 4 * SZ_1M }, { nid: 1, size: 4 * SZ_1M }] });
    const p = k.buddy.allocPages(0, 1, 'other');
    expect(p).toBeGreaterThanOrEqual(1024);
    expect(k.buddy.nrFreePages(1)).toBe(1023);
    for (let o = 0; o < k.arch.maxOrder - 1; o++) expect(k.buddy.freeCount(o, 1)).toBe(1); // expand() left one block per order
  });

  it('nrFreePagesIn() counts the free frames of a pfn range, a free block straddling an end counted by its part inside', () => {
    const k = createKernelCore({ ram: [{ nid: 0, size: 8 * SZ_1M }] });
    const b = k.buddy;
    // a scattered pattern: blocks of orders 0..3, every other one given back, so free blocks of every order interleave
    for (let i = 0; i < 40; i++) {
      const order = i % 4;
      const p = b.allocPages(order, 0, 'other');
      if (i % 2) b.freePages(p, order, 'other');
    }
    expect(b.nrFreePagesIn(0, 2048)).toBe(b.nrFreePages());
    // frame by frame (each a block's part, never the word-at-a-time path) sums to the same as the range
    const single = (lo: number, hi: number) => {
      let n = 0;
      for (let pfn = lo; pfn < hi; pfn++) n += b.nrFreePagesIn(pfn, pfn + 1);
      return n;
    };
    for (const [lo, hi] of [[0, 2048], [1, 2047], [3, 100], [517, 1029], [1000, 1001], [64, 64]] as const) expect(b.nrFreePagesIn(lo, hi)).toBe(single(lo, hi));
    expect(single(0, 2048)).toBe(b.nrFreePages());
  });
});
