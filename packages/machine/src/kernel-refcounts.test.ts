import { createTask, daxMmap, exitTask, munmap, touch } from '@daxsim/device-dax';
import { pinUserPagesFast, getUserPagesFast, putPages, unpinUserPages } from '@daxsim/gup';
import { C, ENTIRELY_MAPPED, FAULT_MODELS, KERNEL_VERSIONS, MAP_SHARED, PROT_READ, PROT_WRITE, SZ_1G, SZ_1M, kernelRelease } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { Machine } from './machine.js';
import { ndctlCreateNamespace } from './ndctl.js';

/**
 * Fault → GUP → unpin → zap on a 2 MiB device-dax folio, for every release
 * of the registry, against what the kernels do (shared/real-kernel/gup-ref,
 * measured on 6.1 and 7.3):
 * - before v6.15 (pfn faults, devmap leaves) a mapping takes nothing: the
 *   head stays at _refcount 1 and every mapcount at -1, whatever maps it;
 * - 7.3 (folio faults, aed877c2b425): each PMD mapping is +1 reference and
 *   +1 entire/large mapcount, _nr_pages_mapped carries ENTIRELY_MAPPED,
 *   _mm_id_mapcount[0] counts the process's mappings and _mm_ids slot 0
 *   holds its mm id; munmap gives every one back;
 * - a pin of k pages of one folio is +k references and +k _pincount on every
 *   release; the get atomics per folio are 512 (per-page) or 1 (folio).
 */
describe.each(KERNEL_VERSIONS)('kernel %s: a 2 MiB folio through fault, GUP, unpin and zap', (version) => {
  const release = kernelRelease(version);
  const refcounted = FAULT_MODELS[release.fault].refcounted;

  it('counts references and mappings as that release does', () => {
    const m = Machine.create({ arch: 'x86_64', ram: [2 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [], kernel: version, generation: 'tail-reuse' });
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'mem', force: true });
    const dev = m.daxDevice('dax0.0');
    const mm = m.k.memmap;
    const t = createTask(m.k, 100, 'app');
    const rw = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };
    const a = daxMmap(m.k, t, dev, { length: 4 * SZ_1M, ...rw });
    expect(touch(t, a, true)).toBeGreaterThan(0); // VM_FAULT_NOPAGE
    const head = dev.ranges[0]!.start / 4096;
    const state = () => ({
      refcount: mm.pageRefCount(head),
      entire: mm.compoundMapcount(head),
      large: mm.folioLargeMapcountRaw(head) ?? null,
      nrPagesMapped: mm.folioNrPagesMapped(head) ?? null,
      mmIdMapcount: mm.folioMmIdMapcount(head, 0) ?? null,
      pincount: mm.compoundPincount(head),
      headMapcount: mm.pageMapcountRaw(head),
      rss: t.mm.rssFile,
    });
    const v73 = release.layout.largeMapcount >= 0;
    const layoutOnly = <T,>(v: T) => (v73 ? v : null);
    const mmap1 = state();
    expect(mmap1).toEqual({
      refcount: refcounted ? 2 : 1,
      entire: refcounted ? 0 : -1,
      large: layoutOnly(refcounted ? 0 : -1),
      nrPagesMapped: release.layout.nrPagesMapped >= 0 ? (refcounted ? ENTIRELY_MAPPED : 0) : null,
      mmIdMapcount: layoutOnly(refcounted ? 0 : -1),
      pincount: 0,
      headMapcount: -1,
      rss: refcounted ? 512 : 0,
    });
    if (refcounted) expect(mm.folioMmIds(head)![0]).toBe(t.mm.mmId);

    // three more mappings of the same window by the same process (the gup-ref run's 1+3)
    const more = [1, 2, 3].map(() => daxMmap(m.k, t, dev, { length: 4 * SZ_1M, ...rw }));
    for (const b of more) touch(t, b, false);
    const mapped4 = state();
    expect([mapped4.refcount, mapped4.entire, mapped4.large, mapped4.mmIdMapcount]).toEqual(
      refcounted ? [5, 3, 3, 3] : [1, -1, layoutOnly(-1), layoutOnly(-1)],
    );

    // a pin of 256 pages of the folio: +256 references and +256 _pincount, on every release
    const v = m.k.counters.v;
    const gup = m.newGup();
    const pages = new Float64Array(512);
    const a0 = v[C.atomic_refcount_ops]!;
    expect(pinUserPagesFast(gup, t.mm, a, 256, 1, pages)).toBe(256);
    const pinAtomics = v[C.atomic_refcount_ops]! - a0;
    expect([mm.pageRefCount(head), mm.compoundPincount(head)]).toEqual([mapped4.refcount + 256, 256]);
    // per-page: a reference and a pin per 4 KiB page; folio: one try_grab_folio_fast (refcount + pincount)
    expect(pinAtomics).toBe(release.gup === 'folio' ? 2 : 2 * 256);
    unpinUserPages(gup, pages, 256);
    expect([mm.pageRefCount(head), mm.compoundPincount(head)]).toEqual([mapped4.refcount, 0]);
    const g0 = v[C.atomic_refcount_ops]!;
    const pgmap0 = v[C.pgmap_ref_get]!;
    expect(getUserPagesFast(gup, t.mm, a, 512, 1, pages)).toBe(512);
    expect(v[C.atomic_refcount_ops]! - g0).toBe(release.gup === 'folio' ? 1 : 512);
    expect(v[C.pgmap_ref_get]! - pgmap0 > 0).toBe(release.gup !== 'folio');
    putPages(gup, pages, 512);

    // munmap of the three extra mappings, then of the last
    for (const b of more) munmap(t, b, 4 * SZ_1M);
    expect(state()).toEqual(mmap1);
    munmap(t, a, 4 * SZ_1M);
    expect(state()).toEqual({ ...mmap1, refcount: 1, entire: -1, large: layoutOnly(-1), nrPagesMapped: mmap1.nrPagesMapped === null ? null : 0, mmIdMapcount: layoutOnly(-1), rss: 0 });
    if (v73) expect(mm.folioMmIds(head)![0]).toBe(0); // the slot is emptied (MM_ID_DUMMY)
    exitTask(m.k, t);
  });
});
