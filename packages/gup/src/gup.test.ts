import { SZ_1G, SZ_1M, C, EFAULT, EHWPOISON, EINVAL, ENOMEM, PROT_READ, _PAGE_DEVMAP_HI, _PAGE_SPECIAL, zapPageRange } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { FOLL_FAST_ONLY, FOLL_HWPOISON, FOLL_LONGTERM, FOLL_PIN, FOLL_WRITE, GUP_PIN_COUNTING_BIAS } from './foll.js';
import { getUserPagesFast, getUserPagesFastOnly, pinUserPagesFast, pinUserPagesFastOnly } from './gup-fast.js';
import { getUserPages, pinUserPages } from './gup-slow.js';
import { userTouch } from './gup-test-user.js';
import type { GupGeneration } from './gup.js';
import { createDaxFixture, type DaxFixture } from './test/index.js';
import { putPages, unpinUserPage, unpinUserPageRangeDirtyLock, unpinUserPages, unpinUserPagesDirtyLock } from './unpin.js';

const PMD = 512;

/** Machine state GUP must give back: every head's refcount and pincount, pgmap refs, the counters that pair. */
function snapshot(f: DaxFixture) {
  const m = f.k.memmap;
  const step = f.align / 4096;
  const heads: number[] = [];
  for (let pfn = f.basePfn; pfn < f.basePfn + f.nrPages; pfn += step) heads.push(m.pageRefCount(pfn), step > 2 ? m.compoundPincount(pfn) : 0);
  return { heads, pgmapRef: f.pgmap.ref };
}
function expectNoLeak(f: DaxFixture, before: ReturnType<typeof snapshot>): void {
  expect(snapshot(f)).toEqual(before);
  expect(f.k.counters.v[C.pgmap_ref_get]).toBe(f.k.counters.v[C.pgmap_ref_put]);
}
const atomics = (f: DaxFixture) => f.k.counters.v[C.atomic_refcount_ops]!;

function mapped(opts: { align?: number; size?: number; gen?: GupGeneration; touch?: boolean; prot?: number } = {}) {
  const size = opts.size ?? 16 * SZ_1M;
  const f = createDaxFixture({ size, align: opts.align ?? 2 * SZ_1M, gupGeneration: opts.gen ?? 'head-once' });
  const vma = f.mmap(size, opts.prot);
  if (opts.touch ?? true) expect(userTouch(f.mm, vma.start, size, opts.prot === undefined)).toBe(0);
  return { f, vma };
}

describe('a grab failing midway undoes exactly what it took', () => {
  it.each<[GupGeneration, number]>([
    ['head-once', 1],
    ['grab-first', 2],
  ])('%s: the third compound grab fails; the two before stay held, nothing else (%i atomics each)', (gen, perHead) => {
    const { f, vma } = mapped({ gen });
    const before = snapshot(f);
    const pages = new Float64Array(4 * PMD);
    f.gup.armGrabFailure(3);
    const a0 = atomics(f);
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.start, 4 * PMD, FOLL_WRITE, pages)).toBe(2 * PMD);
    expect(atomics(f) - a0).toBe(2 * perHead);
    const m = f.k.memmap;
    expect([0, 1, 2, 3].map((i) => m.pageRefCount(f.basePfn + i * PMD))).toEqual([1 + PMD, 1 + PMD, 1, 1]);
    expect(m.PageReferenced(f.basePfn + 2 * PMD)).toBe(false);
    putPages(f.gup, pages, 2 * PMD);
    expectNoLeak(f, before);
  });

  it('per-page: the third base-page grab fails and the two before it are undone', () => {
    const { f, vma } = mapped({ gen: 'per-page' });
    const before = snapshot(f);
    const pages = new Float64Array(PMD);
    f.gup.armGrabFailure(3);
    const a0 = atomics(f);
    expect(pinUserPagesFastOnly(f.gup, f.mm, vma.start, PMD, FOLL_WRITE, pages)).toBe(0);
    // two pins (refcount + pincount each), two unpin_user_page (pincount, put_page)
    expect(atomics(f) - a0).toBe(8);
    expectNoLeak(f, before);
  });

  it('per-page across PMDs: the PMD that failed is undone, the ones before are kept', () => {
    const { f, vma } = mapped({ gen: 'per-page' });
    const before = snapshot(f);
    const pages = new Float64Array(3 * PMD);
    f.gup.armGrabFailure(PMD + 10);
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.start, 3 * PMD, FOLL_WRITE, pages)).toBe(PMD);
    expect(f.k.memmap.pageRefCount(f.basePfn)).toBe(1 + PMD);
    expect(f.k.memmap.pageRefCount(f.basePfn + PMD)).toBe(1);
    putPages(f.gup, pages, PMD);
    expectNoLeak(f, before);
  });

  it('without FOLL_FAST_ONLY the slow path takes the rest', () => {
    const { f, vma } = mapped({ gen: 'head-once' });
    const before = snapshot(f);
    const pages = new Float64Array(4 * PMD);
    f.gup.armGrabFailure(2);
    const slow0 = f.k.counters.v[C.gup_slow_pages]!;
    expect(pinUserPagesFast(f.gup, f.mm, vma.start, 4 * PMD, FOLL_WRITE, pages)).toBe(4 * PMD);
    expect(f.k.counters.v[C.gup_fast_fallback]).toBe(1);
    expect(f.k.counters.v[C.gup_slow_pages]! - slow0).toBe(3 * PMD);
    for (let i = 0; i < 4 * PMD; i++) if (pages[i] !== f.basePfn + i) throw new Error(`pages[${i}]`);
    unpinUserPages(f.gup, pages, 4 * PMD);
    expectNoLeak(f, before);
  });

  it.each<GupGeneration>(['per-page', 'head-once', 'grab-first'])('%s: an entry that changes under the grab is undone (racing zap)', (gen) => {
    const { f, vma } = mapped({ gen });
    const before = snapshot(f);
    const pages = new Float64Array(4 * PMD);
    f.gup.raceHook = (addr) => {
      if (addr === vma.start + 2 * 2 * SZ_1M) zapPageRange(vma, addr, addr + 2 * SZ_1M);
    };
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.start, 4 * PMD, FOLL_WRITE, pages)).toBe(2 * PMD);
    f.gup.raceHook = null;
    putPages(f.gup, pages, 2 * PMD);
    expectNoLeak(f, before);
  });

  it('a grab that would overflow the refcount is refused', () => {
    const { f, vma } = mapped();
    const m = f.k.memmap;
    m.setPageCount(f.basePfn, 0x7fffffff - 100);
    const pages = new Float64Array(PMD);
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.start, PMD, FOLL_WRITE, pages)).toBe(0);
    // the slow path grabs one base page at a time until the count is full, then try_grab_page fails
    expect(getUserPagesFast(f.gup, f.mm, vma.start, PMD, FOLL_WRITE, pages)).toBe(100);
    expect(m.pageRefCount(f.basePfn)).toBe(0x7fffffff);
    expect(getUserPagesFast(f.gup, f.mm, vma.start, 1, FOLL_WRITE, new Float64Array(1))).toBe(-ENOMEM);
    putPages(f.gup, pages, 100);
    expect(m.pageRefCount(f.basePfn)).toBe(0x7fffffff - 100);
    m.setPageCount(f.basePfn, 1);
  });
});

describe('failures return the kernel errno and leak nothing', () => {
  it('an unmapped range is -EFAULT; a range that starts mapped returns what it took', () => {
    const { f, vma } = mapped();
    const before = snapshot(f);
    const pages = new Float64Array(2 * PMD);
    expect(getUserPagesFast(f.gup, f.mm, vma.end + 64 * SZ_1M, 4, 0, pages)).toBe(-EFAULT);
    expect(pinUserPagesFast(f.gup, f.mm, vma.end - 2 * SZ_1M, 2 * PMD, 0, pages)).toBe(PMD);
    unpinUserPages(f.gup, pages, PMD);
    expectNoLeak(f, before);
  });

  it('FOLL_WRITE on a read-only mapping is -EFAULT (fast path refuses the entry, check_vma_flags the vma); reads work', () => {
    const { f, vma } = mapped({ prot: PROT_READ });
    const before = snapshot(f);
    const pages = new Float64Array(PMD);
    expect(getUserPagesFast(f.gup, f.mm, vma.start, PMD, FOLL_WRITE, pages)).toBe(-EFAULT);
    expect(pinUserPagesFast(f.gup, f.mm, vma.start, PMD, FOLL_WRITE, pages)).toBe(-EFAULT);
    expect(getUserPagesFast(f.gup, f.mm, vma.start, PMD, 0, pages)).toBe(PMD);
    putPages(f.gup, pages, PMD);
    expectNoLeak(f, before);
  });

  it.each([
    ['sigbus', 0, -EFAULT],
    ['hwpoison', 0, -EFAULT],
    ['hwpoison', FOLL_HWPOISON, -EHWPOISON],
  ] as const)('a poisoned unit (fault returns %s, flags %i) fails with %i; the unit before it is returned', (mode, extra, errno) => {
    const { f, vma } = mapped({ touch: false });
    f.poisonFault = mode;
    const m = f.k.memmap;
    m.SetPageHWPoison(f.basePfn + 3 * PMD);
    const before = snapshot(f);
    const pages = new Float64Array(2 * PMD);
    // a FOLL_HWPOISON caller uses the slow path (get_user_pages)
    const gupCall = extra ? (n: number, at: number) => getUserPages(f.gup, f.mm, at, n, FOLL_WRITE | extra, pages) : (n: number, at: number) => getUserPagesFast(f.gup, f.mm, at, n, FOLL_WRITE, pages);
    expect(gupCall(PMD, vma.start + 3 * 2 * SZ_1M + 4096)).toBe(errno);
    expect(gupCall(2 * PMD, vma.start + 2 * 2 * SZ_1M)).toBe(PMD);
    putPages(f.gup, pages, PMD);
    expectNoLeak(f, before);
  });

  it('flags the entry points refuse are -EINVAL', () => {
    const { f, vma } = mapped();
    const pages = new Float64Array(4);
    expect(getUserPagesFast(f.gup, f.mm, vma.start, 4, FOLL_PIN, pages)).toBe(-EINVAL);
    expect(getUserPagesFast(f.gup, f.mm, vma.start, 4, FOLL_LONGTERM, pages)).toBe(-EINVAL);
    expect(pinUserPagesFast(f.gup, f.mm, vma.start, 4, 0x4 /* FOLL_GET */, pages)).toBe(-EINVAL);
    expect(pinUserPagesFast(f.gup, f.mm, vma.start, 4, 0x100000, pages)).toBe(-EINVAL);
  });
});

describe('the slow path', () => {
  it.each([
    ['4 KiB', 4096],
    ['2 MiB', 2 * SZ_1M],
    ['1 GiB', SZ_1G],
  ])('faults an untouched %s mapping in through the vma and pins it', (_n, align) => {
    const size = align === SZ_1G ? 2 * SZ_1G : 64 * SZ_1M;
    const { f, vma } = mapped({ align, size, touch: false });
    const before = snapshot(f);
    const pages = new Float64Array(1024);
    const start = vma.start + size / 2 - 512 * 4096; // straddles a unit boundary
    expect(pinUserPagesFast(f.gup, f.mm, start, 1024, FOLL_WRITE, pages)).toBe(1024);
    for (let i = 0; i < 1024; i++) if (pages[i] !== f.basePfn + size / 2 / 4096 - 512 + i) throw new Error(`pages[${i}]`);
    // now mapped: the fast path takes all of it
    const pages2 = new Float64Array(1024);
    const slow = f.k.counters.v[C.gup_slow_pages]!;
    expect(pinUserPagesFast(f.gup, f.mm, start, 1024, FOLL_WRITE, pages2)).toBe(1024);
    expect(f.k.counters.v[C.gup_slow_pages]).toBe(slow);
    unpinUserPages(f.gup, pages, 1024);
    unpinUserPages(f.gup, pages2, 1024);
    expectNoLeak(f, before);
  });

  it('FOLL_LONGTERM on a devmap entry is refused by the fast path and pinned by the slow path', () => {
    const { f, vma } = mapped();
    const before = snapshot(f);
    const pages = new Float64Array(PMD);
    expect(pinUserPagesFastOnly(f.gup, f.mm, vma.start, PMD, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(0);
    expect(pinUserPagesFast(f.gup, f.mm, vma.start, PMD, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(PMD);
    const p2 = new Float64Array(4);
    expect(pinUserPages(f.gup, f.mm, vma.start + 2 * SZ_1M, 4, FOLL_LONGTERM, p2)).toBe(4);
    expect(f.gup.pageMaybeDmaPinned(f.basePfn + PMD)).toBe(true);
    expect(f.k.counters.v[C.gup_fast_fallback]).toBe(1);
    unpinUserPages(f.gup, p2, 4);
    unpinUserPages(f.gup, pages, PMD);
    expectNoLeak(f, before);
  });

  it('4 KiB devmap ptes go through gup_pte_range; a special pte is refused', () => {
    const { f, vma } = mapped({ align: 4096, size: 4 * SZ_1M });
    const before = snapshot(f);
    const pages = new Float64Array(8);
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.start, 8, FOLL_WRITE, pages)).toBe(8);
    putPages(f.gup, pages, 8);
    const pt = f.mm.pgd;
    pt.walk(vma.start + 4 * 4096);
    pt.setEntry(pt.wTable, pt.wIndex, pt.wLo | _PAGE_SPECIAL, pt.wHi & ~_PAGE_DEVMAP_HI, vma.start + 4 * 4096, pt.wLevel); // a pfnmap pte
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.start, 8, FOLL_WRITE, pages)).toBe(4);
    putPages(f.gup, pages, 4);
    expectNoLeak(f, before);
  });
});

describe('pins and their release', () => {
  it('a small (order-0) page takes GUP_PIN_COUNTING_BIAS per pin; page_maybe_dma_pinned follows it', () => {
    const { f, vma } = mapped({ align: 4096, size: 4 * SZ_1M });
    const pages = new Float64Array(2);
    const m = f.k.memmap;
    expect(pinUserPagesFast(f.gup, f.mm, vma.start, 1, FOLL_WRITE, pages)).toBe(1);
    expect(m.pageRefCount(f.basePfn)).toBe(1 + GUP_PIN_COUNTING_BIAS);
    expect(f.gup.pageMaybeDmaPinned(f.basePfn)).toBe(true);
    unpinUserPage(f.gup, f.basePfn);
    expect(m.pageRefCount(f.basePfn)).toBe(1);
    expect(f.gup.pageMaybeDmaPinned(f.basePfn)).toBe(false);
  });

  it('a 2 MiB compound page keeps an exact pincount on its second tail', () => {
    const { f, vma } = mapped();
    const pages = new Float64Array(PMD);
    const m = f.k.memmap;
    expect(f.gup.pageMaybeDmaPinned(f.basePfn + 7)).toBe(false);
    expect(pinUserPagesFast(f.gup, f.mm, vma.start + 100 * 4096, 10, FOLL_WRITE, pages)).toBe(10);
    expect(m.compoundPincount(f.basePfn)).toBe(10);
    expect(f.gup.pageMaybeDmaPinned(f.basePfn + 300)).toBe(true);
    unpinUserPages(f.gup, pages, 10);
    expect(f.gup.pageMaybeDmaPinned(f.basePfn + 300)).toBe(false);
    expect(m.pageRefCount(f.basePfn)).toBe(1);
  });

  it('unpin_user_pages_dirty_lock and unpin_user_page_range_dirty_lock release one group per compound head', () => {
    const { f, vma } = mapped();
    const before = snapshot(f);
    const pages = new Float64Array(3 * PMD);
    const m = f.k.memmap;
    const start = vma.start + 2 * SZ_1M - 10 * 4096; // 10 pages of head 0, all of head 1, 502 of head 2
    expect(pinUserPagesFast(f.gup, f.mm, start, 2 * PMD, FOLL_WRITE, pages)).toBe(2 * PMD);
    let a0 = atomics(f);
    unpinUserPagesDirtyLock(f.gup, pages, 2 * PMD, true);
    expect(atomics(f) - a0).toBe(3 * 3); // three heads: pincount, refcount - (n - 1), put_page
    expect([0, 1, 2].map((i) => m.PageDirty(f.basePfn + i * PMD))).toEqual([true, true, true]);
    expect(m.PageDirty(f.basePfn + 3 * PMD)).toBe(false);
    expectNoLeak(f, before);

    expect(pinUserPagesFast(f.gup, f.mm, start, 2 * PMD, FOLL_WRITE, pages)).toBe(2 * PMD);
    a0 = atomics(f);
    unpinUserPageRangeDirtyLock(f.gup, pages[0]!, 2 * PMD, false);
    expect(atomics(f) - a0).toBe(3 * 3);
    expectNoLeak(f, before);
  });

  it('unpin_user_pages ignores a negative npages (an errno passed by mistake)', () => {
    const { f } = mapped();
    const before = snapshot(f);
    unpinUserPages(f.gup, new Float64Array(1), -EFAULT);
    expectNoLeak(f, before);
  });

  it('FOLL_FAST_ONLY never returns an errno', () => {
    const { f, vma } = mapped();
    expect(getUserPagesFastOnly(f.gup, f.mm, vma.end + SZ_1G, 4, 0, new Float64Array(4))).toBe(0);
    expect(pinUserPagesFastOnly(f.gup, f.mm, vma.start, 4, FOLL_FAST_ONLY, new Float64Array(4))).toBe(0 + 4);
    unpinUserPages(f.gup, new Float64Array([f.basePfn, f.basePfn + 1, f.basePfn + 2, f.basePfn + 3]), 4);
  });
});
