import { SZ_1G, SZ_1M, C } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { FOLL_WRITE } from './foll.js';
import { getUserPagesFast, pinUserPagesFast } from './gup-fast.js';
import { gupTestMain, parseGupTestArgs, userTouch } from './gup-test-user.js';
import { PIN_FAST_BENCHMARK, gupTestIoctl, newGupTestArgs, newGupTestStats } from './gup-test.js';
import { Gup, type GupGeneration } from './gup.js';
import { createDaxFixture, type DaxFixture } from './test/index.js';
import { putPages, unpinUserPages } from './unpin.js';


// Every head back at its idle refcount (1) with no pins.
function expectIdle(f: DaxFixture, size: number): void {
  const m = f.k.memmap;
  const step = f.align / f.k.arch.pageSize;
  let bad = 0;
  for (let pfn = f.basePfn; pfn < f.basePfn + size / f.k.arch.pageSize; pfn += step) {
    if (m.pageRefCount(pfn) !== 1) bad++;
    if (step > 2 && m.compoundPincount(pfn) !== 0) bad++;
  }
  expect(bad).toBe(0);
}

const run = (f: DaxFixture, addr: number, argv: string[]) => gupTestMain({ gup: f.gup, mm: f.mm, mmap: () => addr }, argv);

describe('gup_test over 16 GiB mapped at 2 MiB', () => {
  const f = createDaxFixture({ size: 16 * SZ_1G, align: 2 * SZ_1M });
  const vma = f.mmap(16 * SZ_1G);
  const args = ['-f', '/dev/dax0.0', '-m', '16384', '-r', '1', '-n', '512', '-w', '-S', '-u'];

  it.each<[GupGeneration, number]>([
    ['per-page', 4_194_304],
    ['head-once', 8_192],
    ['grab-first', 16_384], // the review's sketch: 1 reference on the head, then npages - 1
  ])('%s makes %i atomic refcount updates per get loop, and put restores every refcount', (gen, atomics) => {
    f.gup = new Gup(f.k, { generation: gen });
    const pgmapRef = f.pgmap.ref;
    const r = run(f, vma.start, args);
    expect(r.exitCode).toBe(0);
    const rep = r.repeats[0]!;
    expect(rep.stats.nrPages).toBe(4_194_304);
    expect(rep.stats.calls).toBe(8_192);
    expect(rep.stats.getAtomics).toBe(atomics);
    expect(rep.stats.notHeld).toBe(0);
    expect(rep.args.size).toBe(16 * SZ_1G);
    // put_page per page, whatever the generation
    expect(rep.stats.putAtomics).toBe(4_194_304);
    expect(r.lines[2]).toMatch(/^# GUP_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# $/);
    expect(r.lines.slice(3)).toEqual(['ok 1 ioctl status 0', '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0']);
    expectIdle(f, 16 * SZ_1G);
    expect(f.pgmap.ref).toBe(pgmapRef);
  });

  it.each<[GupGeneration, number]>([
    ['head-once', 16_384], // refcount + compound pincount, once
    ['grab-first', 32_768], // refcount + compound pincount, twice
  ])('%s: a PIN_FAST_BENCHMARK costs %i atomics and unpin_user_pages one put per head', (gen, atomics) => {
    f.gup = new Gup(f.k, { generation: gen });
    const r = run(f, vma.start, ['-m', '16384', '-n', '512', '-w', '-S', '-a']);
    const rep = r.repeats[0]!;
    expect(rep.stats.getAtomics).toBe(atomics);
    expect(rep.stats.putAtomics).toBe(3 * 8_192); // pincount, refcount - (refs - 1), put_page
    expect(rep.stats.notHeld).toBe(0);
    expect(r.lines[2]).toMatch(/^# PIN_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# $/);
    expectIdle(f, 16 * SZ_1G);
  });

  it.each<GupGeneration>(['per-page', 'head-once', 'grab-first'])('%s: the pages array holds every subpage in address order', (gen) => {
    f.gup = new Gup(f.k, { generation: gen });
    const n = 2048; // 4 PMDs in one call, starting mid-PMD
    const pages = new Float64Array(n + 16);
    const start = vma.start + 3 * 2 * SZ_1M + 100 * 4096;
    expect(getUserPagesFast(f.gup, f.mm, start, n, FOLL_WRITE, pages, 16)).toBe(n);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (pages[16 + i] !== f.basePfn + 3 * 512 + 100 + i) wrong++;
    expect(wrong).toBe(0);
    putPages(f.gup, pages, n, 16);
    expectIdle(f, 16 * SZ_1M);
  });
});

describe('gup_test over 16 GiB mapped at 1 GiB', () => {
  const f = createDaxFixture({ size: 16 * SZ_1G, align: SZ_1G });
  const vma = f.mmap(16 * SZ_1G);

  it.each<[GupGeneration, number]>([
    ['head-once', 16],
    ['grab-first', 32],
  ])('%s with -n -1 takes all 16 GiB in one call with %i atomic updates', (gen, atomics) => {
    f.gup = new Gup(f.k, { generation: gen });
    const r = run(f, vma.start, ['-m', '16384', '-n', '-1', '-w', '-S', '-u']);
    const rep = r.repeats[0]!;
    expect(rep.stats.calls).toBe(1);
    expect(rep.stats.nrPages).toBe(4_194_304);
    expect(rep.stats.getAtomics).toBe(atomics);
    expect(f.faults.pud).toBe(16);
    expectIdle(f, 16 * SZ_1G);
  });

  it('pins show as dma-pinned on the 1 GiB head and not after unpin', () => {
    f.gup = new Gup(f.k, { generation: 'head-once' });
    const pages = new Float64Array(1024);
    const start = vma.start + 5 * SZ_1G + 7 * 4096;
    expect(pinUserPagesFast(f.gup, f.mm, start, 1024, FOLL_WRITE, pages)).toBe(1024);
    const head = f.basePfn + 5 * 262144;
    expect(f.gup.pageMaybeDmaPinned(pages[500]!)).toBe(true);
    expect(f.k.memmap.compoundPincount(head)).toBe(1024);
    expect(f.k.memmap.pageRefCount(head)).toBe(1 + 1024);
    unpinUserPages(f.gup, pages, 1024);
    expect(f.gup.pageMaybeDmaPinned(pages[500]!)).toBe(false);
    expectIdle(f, 16 * SZ_1G);
  });
});

describe('gup_test userspace', () => {
  it('parses the selftest options with the defaults of the selftest', () => {
    const o = parseGupTestArgs([], 4096);
    expect(o).toMatchObject({ size: 128 * SZ_1M, nrPages: 1, repeats: 1, write: true, file: '/dev/zero' });
    const p = parseGupTestArgs(['-m', '64', '-n', '-1', '-S', '-W', '-a', '-r3', '-F', '0x10'], 4096);
    expect(p).toMatchObject({ size: 64 * SZ_1M, nrPages: 16384, repeats: 3, write: false, cmd: PIN_FAST_BENCHMARK, gupFlags: 0x10 });
    // -n -1 before -m uses the default 128 MiB
    expect(parseGupTestArgs(['-n', '-1', '-m', '64'], 4096)).toMatchObject({ nrPages: 32768 });
    expect(parseGupTestArgs(['-z'], 4096)).toEqual({ error: 'Wrong argument\n' });
  });

  it('prints the TAP lines and bails out on a bad option or a refused mmap', () => {
    const f = createDaxFixture({ size: 64 * SZ_1M, align: 2 * SZ_1M });
    const vma = f.mmap(32 * SZ_1M);
    const segv = run(f, vma.start, ['-m', '64', '-n', '512', '-S', '-a']);
    expect(segv.signal).toBe('SIGSEGV'); // the prefault ran past the mapping
    expect(segv.faultAddr).toBe(vma.start + 32 * SZ_1M); // si_addr: the first byte past it
    const ok = run(f, vma.start, ['-m', '32', '-n', '512', '-S', '-a', '-r', '2']);
    expect(ok.lines).toHaveLength(6);
    expect(ok.lines[0]).toBe('TAP version 13');
    expect(ok.lines[1]).toBe('1..1');
    expect(ok.lines[3]).toMatch(/^# PIN_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# $/);
    expect(ok.text.endsWith('ok 1 ioctl status 0\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n')).toBe(true);
    const bad = gupTestMain({ gup: f.gup, mm: f.mm, mmap: () => -22 }, ['-m', '2']);
    expect(bad.lines).toEqual(['TAP version 13', '1..1', 'Bail out! mmap: Invalid argument', '# Planned tests != run tests (1 != 0)', '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0']);
    expect(bad.exitCode).toBe(1);
    const wrong = gupTestMain({ gup: f.gup, mm: f.mm, mmap: () => vma.start }, ['-q']);
    expect(wrong.lines).toEqual(['Bail out! Wrong argument', '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0']);
    expect(f.k.counters.v[C.pgmap_ref_get]).toBe(f.k.counters.v[C.pgmap_ref_put]);
  });

  it('the ioctl reports a truncated run in size', () => {
    const f = createDaxFixture({ size: 64 * SZ_1M, align: 2 * SZ_1M });
    const vma = f.mmap(8 * SZ_1M);
    userTouch(f.mm, vma.start, 8 * SZ_1M, true);
    const args = newGupTestArgs({ addr: vma.start, size: 16 * SZ_1M, nrPagesPerCall: 512, gupFlags: FOLL_WRITE });
    const stats = newGupTestStats();
    expect(gupTestIoctl(f.gup, f.mm, PIN_FAST_BENCHMARK, args, stats)).toBe(0);
    expect(stats.nrPages).toBe(2048);
    expect(args.size).toBe(8 * SZ_1M); // the fifth call got -EFAULT and stopped the loop
    expectIdle(f, 64 * SZ_1M);
  });
});
