import { Machine, memmapDevices, ndctlCreateNamespace } from '@daxsim/machine';
import { SZ_1G, ZONE_DEVICE } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { decodeStructPage } from './struct-page-view.js';


// 5.15 with the seed's series (tail-reuse): the seed's layout (PG_head 16, pincount in the second tail, tails point at the head);
// 7.3: the measured one (PG_head 6, PG_hwpoison 21, the folio fields in the first tail, tails hold the compound_info mask).
describe.each(['5.15', '7.3'])('decodeStructPage on %s: the 64 bytes of a struct page, decoded as the mm package reads them', (kernel) => {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [], kernel, generation: 'tail-reuse' });
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 ** 21, map: 'mem', force: true });
  const mm = m.k.memmap;
  const pgmap = memmapDevices(m)[0]!.pgmap;
  const head = Math.ceil(pgmap.ranges[0]!.start / 4096 / 512) * 512 + 512;
  const names = (lo: number, hi: number) => m.k.objects.deref<{ name: string }>(lo, hi)?.name ?? null;
  const view = (pfn: number) => decodeStructPage(m.arch, mm.layout, pfn, mm.rawBytes(pfn), names);

  it('a head page: its flags by name, zone, refcount, pgmap; its first and second tails: order, nr, mapcount, pincount', () => {
    mm.setCompoundPincount(head, 3);
    mm.SetPageHWPoison(head);
    const v = view(head);
    expect(v.flagNames).toEqual(kernel === '5.15' ? ['reserved', 'head', 'hwpoison'] : ['head', 'reserved', 'hwpoison']);
    expect(parseInt(v.flags.slice(10), 16)).toBe(mm.flags(head));
    const pg = mm.layout.pg;
    expect(mm.flags(head)).toBe((1 << pg.reserved) | (1 << pg.head) | (1 << pg.hwpoison));
    expect(pg.head).toBe(kernel === '5.15' ? 16 : 6);
    expect(v.zone).toBe('DEVICE');
    expect(mm.pageZonenum(head)).toBe(ZONE_DEVICE);
    expect(v.node).toBe(mm.pageToNid(head));
    expect(v.compoundHead).toBeNull();
    expect(v.word8Object).toBe(pgmap.name);
    expect(v.refcount).toBe(mm.pageRefCount(head));
    expect(v.mapcount).toBe(-1);
    expect(v.index).toBe(mm.pageIndex(head));
    const t1 = view(head + 1).asFirstTail;
    expect([t1.dtor, t1.order, t1.mapcount, t1.nr]).toEqual([mm.compoundDtor(head), mm.compoundOrder(head), mm.compoundMapcount(head), mm.compoundNr(head)]);
    expect([t1.order, t1.nr]).toEqual([9, 512]);
    if (kernel === '5.15') {
      expect([t1.dtor, t1.pincount, t1.largeMapcount, t1.mmIds]).toEqual([1, null, null, null]); // COMPOUND_PAGE_DTOR, as 6.1 measured
      expect(view(head + 2).asSecondTail.pincount).toBe(3);
    } else {
      // 7.3 measured page[1]: no dtor, _large_mapcount -1 and _nr_pages_mapped 0 while unmapped, _pincount at 28
      expect([t1.dtor, t1.pincount, t1.largeMapcount, t1.nrPagesMapped, t1.mmIdMapcount]).toEqual([-1, 3, -1, 0, [-1, -1]]);
      expect(view(head + 2).asSecondTail.pincount).toBeNull();
    }
    mm.setCompoundPincount(head, 0);
    mm.ClearPageHWPoison(head);
  });

  it('a tail page: compound_head decodes to the head pfn that compound_head() gives, even one in a shared tail frame', () => {
    for (const pfn of [head + 1, head + 2, head + 63, head + 64, head + 511]) {
      const v = view(pfn);
      expect(v.compoundHead).toBe(mm.compoundHead(pfn));
      expect(v.compoundHead).toBe(head);
      expect(v.flagNames).not.toContain('head');
      const [lo, hi] = mm.compoundHeadRaw(pfn);
      expect(v.word8).toBe(`0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`);
    }
  });

  it('mapping and index as the fault leaves them on the head; TAIL_MAPPING by name', () => {
    mm.setPageIndex(head, 0x1234_5678_9a);
    mm.setTailMapping(head + 3);
    expect(view(head).index).toBe(0x1234_5678_9a);
    expect(view(head + 3).mapping).toBe('TAIL_MAPPING');
    mm.setPageIndex(head, 0);
  });

  it('refuses bytes that are not one struct page', () => {
    expect(() => decodeStructPage(m.arch, mm.layout, head, new Uint8Array(32), names)).toThrow(/32 bytes, not 64/);
  });
});
