import { Machine, ndctlCreateNamespace, vmemmapLayout } from '@daxsim/machine';
import { describe, expect, it } from 'vitest';
import { ONE_BY_ONE, boxes } from './draw.js';
import { SZ_1G } from '@daxsim/mm';

function layout(align: number, generation: string, page: number, map: 'mem' | 'dev' = 'mem') {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 4 * SZ_1G, labels: false }], softReserved: [], generation });
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
  return vmemmapLayout(m, 'dax0.0', page);
}

describe('the boxes of the vmemmap drawing', () => {
  it('tail-reuse 2M: eight page boxes, one each, two frame boxes, seven arrows onto the shared one', () => {
    const b = boxes(layout(2 ** 21, 'tail-reuse', 2));
    expect(b.pages.map((p) => [p.first, p.last, p.frameBox])).toEqual([[0, 0, 0], [1, 1, 1], [2, 2, 1], [3, 3, 1], [4, 4, 1], [5, 5, 1], [6, 6, 1], [7, 7, 1]]);
    expect(b.frames.map((f) => f.users)).toEqual([1, 7]);
  });

  it("shared-tail 2M: page 0 on a frame of its own, pages 1-7 onto the zone's read-only shared tail, as vmemmap_dedup.rst v7 draws it", () => {
    const b = boxes(layout(2 ** 21, 'shared-tail', 2));
    expect(b.pages.map((p) => p.frameBox)).toEqual([0, 1, 1, 1, 1, 1, 1, 1]);
    expect(b.frames[0]).toMatchObject({ writable: true, sharedTail: null, users: 1 });
    expect(b.frames[1]).toMatchObject({ writable: false, sharedTail: { nid: 0, order: 9 }, users: 7 * 2048 });
  });

  it('compound 1G: a drawing is one 2 MiB extent, eight vmemmap pages each on a frame of its own', () => {
    const l = layout(SZ_1G, 'compound', 0);
    expect([l.unit, l.pages.length]).toEqual(['2M extent', 8]);
    const b = boxes(l);
    expect(b.pages.map((p) => [p.first, p.last])).toEqual([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7]]);
    expect(b.frames.every((f) => f.users === 1)).toBe(true);
  });

  it('tail-reuse 1G with the memmap on the device (no reuse with an altmap): 4096 vmemmap pages of their own collapse into runs of consecutive frames, one box per leaf table', () => {
    const l = layout(SZ_1G, 'tail-reuse', 0, 'dev');
    expect(l.unit).toBe('compound page');
    expect(l.pages.length).toBeGreaterThan(ONE_BY_ONE);
    const b = boxes(l);
    expect(b.pages.reduce((n, p) => n + p.pages.length, 0)).toBe(4096);
    expect(b.frames.every((f) => f.users === 1)).toBe(true);
    expect(b.frames.reduce((n, f) => n + f.lastFrame - f.firstFrame + 1, 0)).toBe(4096);
    expect(b.tables.length).toBe(new Set(l.pages.map((p) => p.table)).size);
  });

  it('tail-reuse-pmd 1G: a PTE table several PMD entries point at is a shared table box', () => {
    const b = boxes(layout(SZ_1G, 'tail-reuse-pmd', 1));
    expect(b.frames.length).toBe(2);
    expect(b.tables.some((t) => t.users > 1)).toBe(true);
  });
});
