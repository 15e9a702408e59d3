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
    expect(l.sharedFrames).toBe(l.compoundPages);
    expect(l.headPfn).toBe(m.daxDevice('dax0.0').pgmap!.ranges[0]!.start / 4096 + 3 * 512);
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
    expect(tails[0]!.frameUsers).toBe(7 * l.compoundPages);
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
    expect(errnoOf(() => vmemmapLayout(m, 'dax0.0', l.compoundPages))).toBe(EINVAL);
    expect(() => vmemmapLayout(m, 'dax0.0', -1)).toThrow(/page -1/);
    m.apply({ op: 'dax.unbind', dev: 'dax0.0' });
    expect(errnoOf(() => vmemmapLayout(m, 'dax0.0', 0))).toBe(ENXIO);
  });
});
