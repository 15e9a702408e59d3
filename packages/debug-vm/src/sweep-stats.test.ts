import { describe, expect, it } from 'vitest';
import { SZ_1M } from '@daxsim/mm';
import { memremapPages } from '@daxsim/memremap';
import { testKernel, testPagemap } from '@daxsim/memremap/test';
import { checkInvariants, emptySweepStats } from './invariants.js';

describe('checkInvariants() with stats counts what the sweep read', () => {
  it('a 64 MiB 2M-compound pgmap: the full sweep reads all 32 heads and 32 x 511 tails, the cheap one 10 heads and 3 tails each', () => {
    const k = testKernel({ dev: { size: 1024 * SZ_1M } });
    memremapPages(k, testPagemap(64 * SZ_1M, 9), 0, { generation: 'tail-reuse' });
    const full = emptySweepStats();
    expect(checkInvariants(k, undefined, [], { full: true, stats: full })).toEqual([]);
    expect(full).toMatchObject({ pgmaps: 1, ranges: 1, heads: 32, tails: 32 * 511, tasks: 0, userLeaves: 0, daxRegions: 0 });
    // tail-reuse: 8 vmemmap pages per 2 MiB folio (64 struct pages each), 2 of them frames of its own
    expect(full.vmemmapFrames).toBeGreaterThanOrEqual(32 * 2);
    expect(full.subsections).toBe(32); // one per 2 MiB subsection of the span
    const cheap = emptySweepStats();
    expect(checkInvariants(k, undefined, [], { full: false, stats: cheap })).toEqual([]);
    expect(cheap).toMatchObject({ heads: 10, tails: 30, subsections: 2 });
    // the counts add up across sweeps
    checkInvariants(k, undefined, [], { full: false, stats: cheap });
    expect(cheap.heads).toBe(20);
  });
});
