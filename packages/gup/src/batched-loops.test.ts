import { SZ_1M, COUNTER_NAMES, VMEMMAP_GENERATIONS, type VmemmapGeneration } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { FOLL_WRITE } from './foll.js';
import { userTouch } from './gup-test-user.js';
import { GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK, gupTestIoctl, newGupTestArgs, newGupTestStats } from './gup-test.js';
import { getUserPagesFastOnly, pinUserPagesFastOnly } from './gup-fast.js';
import { createDaxFixture } from './test/index.js';
import type { GupGeneration } from './gup.js';
import { putPages, unpinUserPages } from './unpin.js';


// Everything the machine reports, except the TLB's own hit/miss/flush counts:
// the cursor forms translate once per vmemmap page, the reference forms once
// per field access, so those differ by design.
const MODEL_COUNTERS = COUNTER_NAMES.filter((n) => !n.startsWith('tlb_'));

function run(
  reference: boolean,
  vmemmapGeneration: VmemmapGeneration,
  align: number,
  pin: boolean,
  spoil?: (f: ReturnType<typeof createDaxFixture>) => void,
  gupGeneration: GupGeneration = 'per-page',
) {
  const size = 8 * SZ_1M;
  const f = createDaxFixture({ size, align, vmemmapGeneration, gupGeneration });
  f.gup.referenceLoops = reference;
  const vma = f.mmap(size);
  expect(userTouch(f.mm, vma.start, size, true)).toBe(0);
  spoil?.(f);
  const c0 = f.k.counters.snapshot();
  const stats = newGupTestStats();
  const args = newGupTestArgs({ addr: vma.start, size, nrPagesPerCall: 512, gupFlags: FOLL_WRITE });
  expect(gupTestIoctl(f.gup, f.mm, pin ? PIN_FAST_BENCHMARK : GUP_FAST_BENCHMARK, args, stats)).toBe(0);
  const c1 = f.k.counters.snapshot();
  // what the get loop recorded (gup_test's array: the WebAssembly store in the fast form, the JS loop in the reference form)
  const ioctlPages = Array.from(f.gup.pageBuffer(0).subarray(0, stats.nrPages));
  // a partial walk, left held, to compare the memmap with references taken
  const pages = new Float64Array(size / 4096);
  const n = pin ? pinUserPagesFastOnly(f.gup, f.mm, vma.start + 4096 * 7, 1000, FOLL_WRITE, pages) : getUserPagesFastOnly(f.gup, f.mm, vma.start + 4096 * 7, 1000, FOLL_WRITE, pages);
  const held = f.k.mem.digest();
  if (n > 0) (pin ? unpinUserPages : putPages)(f.gup, pages, n);
  const c2 = f.k.counters.snapshot();
  const pick = (c: Record<string, number>) => Object.fromEntries(MODEL_COUNTERS.map((k) => [k, c[k]! - c0[k]!]));
  return { stats: { ...stats, hostGetMs: 0, hostPutMs: 0, checkMs: 0, getModel: null, putModel: null }, ioctlPages, n, pages: Array.from(pages.subarray(0, Math.max(n, 0))), held, after: f.k.mem.digest(), c1: pick(c1), c2: pick(c2), warnings: f.k.log.entries.map((r) => r.text).filter((t) => t.startsWith('WARNING')) };
}

describe('the cursor forms of the per-page hot loops do what the reference forms do', () => {
  for (const gen of VMEMMAP_GENERATIONS)
    for (const align of gen === 'pre-series' ? [4096, 2 * SZ_1M] : [2 * SZ_1M])
      for (const pin of [false, true])
        it(`${gen}, align ${align}, ${pin ? 'FOLL_PIN' : 'FOLL_GET'}: same counters, pages and memory`, () => {
          const fast = run(false, gen, align, pin);
          const ref = run(true, gen, align, pin);
          expect(fast).toEqual(ref);
          expect(fast.n).toBe(1000);
          expect(fast.c1['atomic_refcount_ops']).toBeGreaterThan(0);
        });

  it('a head at refcount 0 stops the walk the same way (WARN, undo, partial count)', () => {
    const spoil = (f: ReturnType<typeof createDaxFixture>) => {
      f.k.memmap.setPageCount(f.basePfn + 512, 0);
      Object.assign(f.k, { corrupted: true }); // on purpose: the invariant sweep after the test leaves this machine alone
    };
    for (const pin of [false, true]) {
      const fast = run(false, 'tail-reuse', 2 * SZ_1M, pin, spoil);
      const ref = run(true, 'tail-reuse', 2 * SZ_1M, pin, spoil);
      expect(fast).toEqual(ref);
      expect(fast.n).toBe(512 - 7);
      expect(fast.warnings.length).toBe(1);
    }
  });

  it('counts one atomic per base page for FOLL_GET and two for FOLL_PIN on a compound memmap', () => {
    const get = run(false, 'tail-reuse', 2 * SZ_1M, false);
    const pin = run(false, 'tail-reuse', 2 * SZ_1M, true);
    expect(get.stats.getAtomics).toBe(2048);
    expect(get.stats.putAtomics).toBe(2048);
    expect(pin.stats.getAtomics).toBe(4096);
    expect(pin.c1['atomic_refcount_ops']).toBe(4096 + 4 * 3);
  });
});

describe('the cursor form of head-once __gup_device_huge does what its reference form does', () => {
  for (const gen of VMEMMAP_GENERATIONS)
    for (const align of gen === 'pre-series' ? [4096, 2 * SZ_1M] : [2 * SZ_1M])
      for (const pin of [false, true])
        it(`${gen}, align ${align}, ${pin ? 'FOLL_PIN' : 'FOLL_GET'}: same counters, pages and memory`, () => {
          const fast = run(false, gen, align, pin, undefined, 'head-once');
          const ref = run(true, gen, align, pin, undefined, 'head-once');
          expect(fast).toEqual(ref);
          expect(fast.n).toBe(1000);
          expect(fast.ioctlPages.length).toBe(2048);
          expect(fast.ioctlPages.every((p, i) => p === fast.ioctlPages[0]! + i)).toBe(true);
        });

  it('a head at refcount 0, or negative, stops the walk the same way', () => {
    for (const count of [0, -5])
      for (const pin of [false, true]) {
        const spoil = (f: ReturnType<typeof createDaxFixture>) => {
          f.k.memmap.setPageCount(f.basePfn + 512, count);
          Object.assign(f.k, { corrupted: true }); // on purpose: the invariant sweep after the test leaves this machine alone
        };
        const fast = run(false, 'tail-reuse', 2 * SZ_1M, pin, spoil, 'head-once');
        const ref = run(true, 'tail-reuse', 2 * SZ_1M, pin, spoil, 'head-once');
        expect(fast).toEqual(ref);
        expect(fast.n).toBe(512 - 7); // the first pmd, from its 8th page; the second head refuses the grab
      }
  });
});
