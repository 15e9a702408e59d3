import { describe, expect, it } from 'vitest';
import { KERNELS, SZ_1G, MEMORY_DEVICE_GENERIC, X86_64_LA57 } from '@daxsim/mm';
import { createKernel, memmapStats, memremapPages, memunmapPages, newDevPagemap } from './index.js';

// A device above 2^47 (pfns from 2^35, vmemmap pages from 2^29): beyond 32-bit pfns and the TLB's flat table
const DEV = 2 ** 47;
const boot = (gib: number) =>
  createKernel({ arch: X86_64_LA57, kernel: KERNELS['7.3'], ram: [{ nid: 0, size: 8 * SZ_1G }], devices: [{ start: DEV, size: gib * SZ_1G }] });
const pagemap = (gib: number, vmemmapShift: number) =>
  newDevPagemap({ ranges: [{ start: DEV, end: DEV + gib * SZ_1G - 1 }], type: MEMORY_DEVICE_GENERIC, vmemmapShift });

describe('a base-page memmap shares one template until written; every struct page is still a real one', () => {
  it('4 GiB of base pages at pfn 2^35: 16,384 vmemmap frames written, one host copy; a store copies one frame only', () => {
    const k = boot(4);
    const pg = pagemap(4, 0);
    const host0 = k.mem.hostFrames;
    memremapPages(k, pg, 0);
    const s = memmapStats(k, pg);
    const first = DEV / 4096;
    const vmemmapPages = (4 * SZ_1G) / 4096 / 64;
    expect([s.structPagesInitialised, s.vmemmapDataFrames]).toEqual([(4 * SZ_1G) / 4096, vmemmapPages]);
    expect(k.mem.sharedFrames).toBe(vmemmapPages);
    // the template and the page tables the vmemmap took (PMD-mapped: a handful)
    expect(k.mem.hostFrames - host0).toBeLessThan(16);
    // a reference taken on one page: its vmemmap frame gets its own copy, the others still share
    k.memmap.pageRefInc(first + 12345);
    expect([k.mem.cowBreaks, k.mem.sharedFrames]).toEqual([1, vmemmapPages - 1]);
    // every struct page reads as memmap_init_zone_device() left it, but for that reference; its neighbours
    // in the same frame and in the next one do not see it (a translation for access gives the frame its own
    // copy too: the TLB never caches a template)
    for (const pfn of [first, first + 1, first + 12344, first + 12345 + 64, first + (4 * SZ_1G) / 4096 - 1])
      expect([k.memmap.pageRefCount(pfn), k.memmap.PageHead(pfn), k.memmap.PageReserved(pfn)]).toEqual([1, false, true]);
    expect(k.memmap.pageRefCount(first + 12345)).toBe(2);
    expect(k.mem.sharedFrames).toBe(vmemmapPages - 4);
    k.memmap.pageRefDecAndTest(first + 12345);
    memunmapPages(k, pg);
    expect([k.mem.sharedFrames, k.mem.templates]).toEqual([0, 0]);
  });

  it('compound pages at pfn 2^35 build and tear down as below 2^32; their tail vmemmap pages share one template under 7.3', () => {
    for (const shift of [9, 18]) {
      const k = boot(2);
      const pg = pagemap(2, shift);
      memremapPages(k, pg, 0);
      const head = DEV / 4096 + 2 ** shift;
      // 7.3: each compound page's tail vmemmap page (tail-reuse keeps a head page and a tail page) holds the
      // compound_info mask, not its head's address: alike across the device, one template for all
      const compound = (2 * SZ_1G) / 4096 / 2 ** shift;
      expect([k.mem.sharedFrames, k.mem.templates]).toEqual([compound, 1]);
      // a store to one tail: that compound page's tail frame gets its own copy; another compound page's tail does not change
      k.memmap.pageRefInc(head + 200);
      expect(k.mem.sharedFrames).toBe(compound - 1);
      expect([k.memmap.pageRefCount(head + 200), k.memmap.pageRefCount(head - 2 ** shift + 200)]).toEqual([1, 0]);
      expect([k.memmap.PageHead(head), k.memmap.compoundHead(head + 77), k.memmap.compoundHead(head - 1)]).toEqual([true, head, head - 2 ** shift]);
      k.memmap.pageRefDecAndTest(head + 200);
      memunmapPages(k, pg);
    }
  });
});
