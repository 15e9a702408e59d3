import { Machine, memmapDevices, ndctlCreateNamespace } from '@daxsim/machine';
import { SZ_1G, PG_head, PG_hwpoison, PG_reserved, ZONE_DEVICE } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { decodeStructPage } from './struct-page-view.js';


describe('decodeStructPage: the 64 bytes of a struct page, decoded as the mm package reads them', () => {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [] });
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 ** 21, map: 'mem', force: true });
  const mm = m.k.memmap;
  const pgmap = memmapDevices(m)[0]!.pgmap;
  const head = Math.ceil(pgmap.ranges[0]!.start / 4096 / 512) * 512 + 512;
  const names = (lo: number, hi: number) => m.k.objects.deref<{ name: string }>(lo, hi)?.name ?? null;
  const view = (pfn: number) => decodeStructPage(m.arch, pfn, mm.rawBytes(pfn), names);

  it('a head page: its flags by name, zone, refcount, pgmap; its first and second tails: order, nr, mapcount, pincount', () => {
    mm.setCompoundPincount(head, 3);
    mm.SetPageHWPoison(head);
    const v = view(head);
    expect(v.flagNames).toEqual(['reserved', 'head', 'hwpoison']);
    expect(parseInt(v.flags.slice(10), 16)).toBe(mm.flags(head));
    expect(mm.flags(head)).toBe((1 << PG_reserved) | (1 << PG_head) | (1 << PG_hwpoison));
    expect(v.zone).toBe('DEVICE');
    expect(mm.pageZonenum(head)).toBe(ZONE_DEVICE);
    expect(v.node).toBe(mm.pageToNid(head));
    expect(v.compoundHead).toBeNull();
    expect(v.word8Object).toBe(pgmap.name);
    expect(v.refcount).toBe(mm.pageRefCount(head));
    expect(v.mapcount).toBe(-1);
    expect(v.index).toBe(mm.pageIndex(head));
    const t1 = view(head + 1).asFirstTail;
    expect(t1).toEqual({ dtor: mm.compoundDtor(head), order: mm.compoundOrder(head), mapcount: mm.compoundMapcount(head), nr: mm.compoundNr(head) });
    expect(t1.order).toBe(9);
    expect(view(head + 2).asSecondTail.pincount).toBe(3);
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
    expect(() => decodeStructPage(m.arch, head, new Uint8Array(32), names)).toThrow(/32 bytes, not 64/);
  });
});
