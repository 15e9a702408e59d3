import { SZ_1G, SZ_1M, EINVAL, ENXIO } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { Machine } from './machine.js';
import { memmapCost, memmapDevices } from './memmap-cost.js';
import { ndctlCreateNamespace } from './ndctl.js';
import { vmemmapLayout } from './vmemmap-layout.js';


function device(size: number, align: number, generation: string): Machine {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size, labels: false }], softReserved: [], generation });
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map: 'mem', force: true });
  return m;
}

describe('vmemmapLayout: a device vmemmap read back from the kernel page tables', () => {
  it('tail-reuse 2M: eight vmemmap pages of a compound page map two frames, the tail frame shared by seven', () => {
    const m = device(2 * SZ_1G, 2 * SZ_1M, 'tail-reuse');
    const l = vmemmapLayout(m, 'dax0.0', 3);
    expect(l.order).toBe(9);
    expect(l.pages).toHaveLength(8);
    expect(new Set(l.pages.map((p) => p.frame)).size).toBe(2);
    expect(l.pages[0]!.frameUsers).toBe(1);
    expect(l.pages.slice(1).every((p) => p.frame === l.pages[1]!.frame && p.frameUsers === 7)).toBe(true);
    // the device as a whole: two data frames per compound page, as memremap_pages() allocated them
    const cost = memmapCost(m, memmapDevices(m)[0]!);
    expect(l.frames * m.arch.pageSize).toBe(cost.vmemmap_data_bytes);
    // the pgmap's compound pages, the one under the info block included (its memmap is built too)
    expect(l.sharedFrames).toBe(l.pgmapCompoundPages);
    expect(l.pgmapCompoundPages).toBe(l.compoundPages + 1);
    // counted from the device's own first pfn (dax_pgoff_to_phys), not from the pgmap's
    expect(l.headPfn).toBe(m.daxDevice('dax0.0').ranges[0]!.start / 4096 + 3 * 512);
  });

  it('numbers pages from the device\'s first pfn: with --map=mem page 0 is the data after the 2 MiB info block, not the info block', () => {
    const m = device(2 * SZ_1G, 2 * SZ_1M, 'tail-reuse');
    const dev = m.daxDevice('dax0.0');
    const l = vmemmapLayout(m, 'dax0.0', 0);
    // nd_pfn's dataoff at 2M align with the memmap in RAM: 2 MiB (the pfn info block at 4 KiB, then padding)
    expect(l.pgmapFirstPfn).toBe(dev.pgmap!.ranges[0]!.start / 4096);
    expect(l.devFirstPfn).toBe(l.pgmapFirstPfn + 512);
    expect(l.headPfn).toBe(l.devFirstPfn);
    // the head struct page of page 0 is a compound head (order 9), the first byte of dax0.0 lives in it
    expect(m.k.memmap.compoundHead(l.headPfn)).toBe(l.headPfn);
    expect(l.units).toBe(l.compoundPages);
    expect(l.units).toBe((dev.ranges[0]!.end - dev.ranges[0]!.start + 1) / (2 * SZ_1M));
    expect(errnoOf(() => vmemmapLayout(m, 'dax0.0', l.units))).toBe(EINVAL);
    // with --map=dev the pgmap starts after the altmap: both counts meet
    const d = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [], generation: 'tail-reuse' });
    ndctlCreateNamespace(d, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'dev', force: true });
    const ld = vmemmapLayout(d, 'dax0.0', 0);
    expect(ld.devFirstPfn).toBe(ld.pgmapFirstPfn);
    expect(ld.devFirstPfn).toBe(d.daxDevice('dax0.0').ranges[0]!.start / 4096);
  });

  it('pre-series: draws one 2 MiB extent, 8 vmemmap pages on 8 consecutive frames of a PMD-mapped vmemmap block', () => {
    const m = device(2 * SZ_1G, 2 * SZ_1M, 'pre-series');
    const l = vmemmapLayout(m, 'dax0.0', 1);
    expect(l.order).toBe(0);
    expect(l.unit).toBe('2M extent');
    expect(l.unitPfns).toBe(512);
    expect(l.headPfn).toBe(l.devFirstPfn + 512);
    expect(l.pages).toHaveLength(8);
    expect(l.pages.map((p) => p.frame - l.pages[0]!.frame)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // x86 vmemmap_populate(): without reuse, vmemmap_populate_hugepages() maps 2 MiB blocks with PMD entries
    expect(l.pages.every((p) => p.level === 'pmd' && p.leafBytes === 2 * SZ_1M && p.frameUsers === 1)).toBe(true);
    expect(l.units).toBe(l.compoundPages / 512);
  });

  it('compound 1G: draws one 2 MiB extent of a compound page (8 of its 4096 vmemmap pages), extent 1 its tails', () => {
    const m = device(4 * SZ_1G, SZ_1G, 'compound');
    const l0 = vmemmapLayout(m, 'dax0.0', 0);
    const l1 = vmemmapLayout(m, 'dax0.0', 1);
    expect([l0.unit, l0.order, l0.pages.length]).toEqual(['2M extent', 18, 8]);
    expect(l1.headPfn).toBe(l0.headPfn + 512);
    expect(m.k.memmap.compoundHead(l0.headPfn)).toBe(l0.headPfn);
    expect(m.k.memmap.compoundHead(l1.headPfn)).toBe(l0.headPfn);
    expect(l0.units).toBe(l0.compoundPages * 512);
  });

  it('shared-tail 2M: page 0 on a writable frame of its own, pages 1-7 read-only on the zone\'s one shared tail (vmemmap_dedup.rst v7)', () => {
    const m = device(2 * SZ_1G, 2 * SZ_1M, 'shared-tail');
    const l = vmemmapLayout(m, 'dax0.0', 5);
    expect(l.pages).toHaveLength(8);
    const [head, ...tails] = l.pages;
    expect(head).toMatchObject({ writable: true, frameUsers: 1, sharedTail: null });
    const tail = tails[0]!.frame;
    expect(tails.every((p) => p.frame === tail && !p.writable)).toBe(true);
    expect(tails[0]!.sharedTail).toEqual({ nid: 0, order: 9, pfn: tail });
    // every compound page of the device maps its 7 tail pages onto that one frame
    expect(tails[0]!.frameUsers).toBe(7 * l.pgmapCompoundPages);
    expect(l.sharedFrames).toBe(1);
    // frames: a head per compound page and the shared tail, what memremap_pages() allocated
    expect(l.frames * m.arch.pageSize).toBe(memmapCost(m, memmapDevices(m)[0]!).vmemmap_data_bytes);
  });

  it('compound 2M: every vmemmap page has a frame of its own', () => {
    const m = device(2 * SZ_1G, 2 * SZ_1M, 'compound');
    const l = vmemmapLayout(m, 'dax0.0', 0);
    expect(new Set(l.pages.map((p) => p.frame)).size).toBe(8);
    expect(l.sharedFrames).toBe(0);
    // x86 vmemmap_populate(): a full section's memmap without reuse is mapped with PMD blocks
    expect(l.pages.every((p) => p.frameUsers === 1 && p.writable && p.level === 'pmd')).toBe(true);
  });

  it('tail-reuse-pmd 1G: the PMD entries of one compound page share one PTE table (patch 14), tail-reuse does not', () => {
    const pmd = vmemmapLayout(device(4 * SZ_1G, SZ_1G, 'tail-reuse-pmd'), 'dax0.0', 1);
    const plain = vmemmapLayout(device(4 * SZ_1G, SZ_1G, 'tail-reuse'), 'dax0.0', 1);
    expect(pmd.pages).toHaveLength(4096);
    expect(new Set(pmd.pages.map((p) => p.frame)).size).toBe(2);
    expect(pmd.sharedLeafTables).toBeGreaterThan(0);
    expect(Math.max(...pmd.pages.map((p) => p.tableUsers))).toBeGreaterThan(1);
    expect(plain.sharedLeafTables).toBe(0);
    expect(pmd.leafTables).toBeLessThan(plain.leafTables);
  });

  it('refuses a page beyond the device and a device without a memmap, naming them', () => {
    const m = device(2 * SZ_1G, 2 * SZ_1M, 'tail-reuse');
    const l = vmemmapLayout(m, 'dax0.0', 0);
    expect(errnoOf(() => vmemmapLayout(m, 'dax0.0', l.units))).toBe(EINVAL);
    expect(() => vmemmapLayout(m, 'dax0.0', l.units)).toThrow(/counted from its first pfn/);
    expect(() => vmemmapLayout(m, 'dax0.0', -1)).toThrow(/page -1/);
    m.apply({ op: 'dax.unbind', dev: 'dax0.0' });
    expect(errnoOf(() => vmemmapLayout(m, 'dax0.0', 0))).toBe(ENXIO);
  });
});
