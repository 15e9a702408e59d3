import { EINVAL, ENXIO, EOPNOTSUPP, KernelError, SZ_1G } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { dumpPage, pageDumpJson, pfnValid, resolvePageSpec } from './dump-page.js';
import { Machine } from './machine.js';
import { ndctlCreateNamespace } from './ndctl.js';
import { runScenario } from './scenario.js';

/** The machine of the scenario, smaller: 2 GiB of label-less pmem, namespace0.0 as a 2M devdax (-M mem). */
function machine(kernel: string, generation?: string) {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [], kernel, ...(generation ? { generation } : {}) });
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 ** 21, map: 'mem', force: true });
  return m;
}

/** Runs scenario lines on `m`; returns each line's messages. */
async function run(m: Machine, lines: string[]): Promise<string[][]> {
  const r = await runScenario(lines.join('\n'), { machine: m });
  expect(r.error).toBeUndefined();
  return r.outcomes.map((o) => o.messages);
}

const errnoOf = (f: () => unknown): number => {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
};

describe('dump_page() of a device-dax folio as each release prints it, from the struct pages the model wrote', () => {
  it('7.3: one mapping of a 2M folio holds a folio reference and an entire mapcount (refcount 2, entire_mapcount 1, as measured); munmap gives them back', async () => {
    const m = machine('7.3');
    const head = resolvePageSpec(m, 'dax0.0:0').pfn;
    expect(dumpPage(m, head)).toMatchObject({ kind: 'head', refcount: 1, entire_mapcount: 0, folio_mapcount: 0, order: 9, nr_pages: 512, pincount: 0 });
    const out = await run(m, [
      'spawn p',
      'p mmap m dax0.0 length=2M offset=0 prot=rw flags=shared',
      'p touch m 0 write',
      'page dax0.0:0 --json',
      'page dax0.0:0',
      'p pin m 0 1M',
      'page dax0.0:0 --json',
      'p unpin',
      'p munmap m',
      'page dax0.0:0 --json',
    ]);
    const j = JSON.parse(out[3]!.join('\n'));
    expect(Object.keys(j).indexOf('refcount')).toBeLessThan(Object.keys(j).indexOf('entire_mapcount'));
    expect(j).toMatchObject({ pfn: head, kind: 'head', refcount: 2, mapcount: 0, entire_mapcount: 1, folio_mapcount: 1, nr_pages_mapped: 0, pincount: 0, pgmap_name: 'namespace0.0', flag_names: ['head', 'reserved'] });
    expect(j.raw[6]).toBe('00000002ffffffff'); // the words at 48: _mapcount -1, _refcount 2
    // __dump_folio(): a "head:" line without a pointer, the flags of the folio, two struct pages of the folio in hex
    const text = out[4]!;
    expect(text[0]).toMatch(/^page: refcount:2 mapcount:0 mapping:ff[0-9a-f]{14} index:0x0 pfn:0x[0-9a-f]+$/);
    expect(text[1]).toBe('head: order:9 mapcount:1 entire_mapcount:1 nr_pages_mapped:0 pincount:0');
    expect(text[2]).toMatch(/^flags: 0x20000000002040\(reserved\|head\|node=0\|zone=4\|lastcpupid=0x0\)$/);
    expect(text.filter((l) => l.startsWith('raw: '))).toHaveLength(2);
    expect(text.filter((l) => l.startsWith('head: ') && !l.includes('order:'))).toHaveLength(4);
    // try_grab_folio_fast: 256 refs and 256 pins (measured 261/256 with 4 mappings)
    expect(JSON.parse(out[6]!.join('\n'))).toMatchObject({ refcount: 2 + 256, pincount: 256 });
    const idle = JSON.parse(out[9]!.join('\n'));
    expect(idle).toMatchObject({ refcount: 1, entire_mapcount: 0, folio_mapcount: 0, pincount: 0 });
    // the numbers are the struct pages' words: the head's _refcount at 52, page[1]'s _entire_mapcount at 24 (raw: count - 1)
    expect(idle.refcount).toBe(m.k.memmap.pageRefCount(head));
    expect(idle.entire_mapcount).toBe(m.k.memmap.compoundMapcount(head) + 1);
    // a tail: its own refcount 0 and mapcount first, the folio's under `folio`; compound_info holds the mask (v7.1)
    const tail = JSON.parse(JSON.stringify(pageDumpJson(dumpPage(m, head + 3))));
    expect(tail).toMatchObject({ kind: 'tail', refcount: 0, head_pfn: head, index: 3, compound_info: '0xffffffffffff8001', folio: { pfn: head, refcount: 1, entire_mapcount: 0 } });
    expect(tail.entire_mapcount).toBeUndefined();
    // dump_page() of a tail prints the folio's refcount, and a tail has no index of its own: the head's plus its place
    expect(dumpPage(m, head + 3).text[0]).toMatch(/^page: refcount:1 mapcount:0 .* index:0x3 pfn:/);
  });

  it('5.15: base struct pages (no compound devmap yet), a mapping takes no reference: refcount 1', async () => {
    const m = machine('5.15');
    const out = await run(m, ['spawn p', 'p mmap m dax0.0 length=2M offset=0 prot=rw flags=shared', 'p touch m 0 write', 'page dax0.0:0 --json', 'page dax0.0:1']);
    const j = JSON.parse(out[3]!.join('\n'));
    expect(j).toMatchObject({ kind: 'small', refcount: 1, mapcount: 0, flag_names: ['reserved'], pgmap_name: 'namespace0.0' });
    expect(j.entire_mapcount).toBeUndefined();
    expect(out[4]![0]).toMatch(/^page:ffd4[0-9a-f]{12} refcount:1 mapcount:0 mapping:ff[0-9a-f]{14} index:0x1 pfn:0x[0-9a-f]+$/);
    expect(out[4]![1]).toMatch(/^flags: 0x20000000001000\(reserved\|node=0\|zone=4\|lastcpupid=0x0\)$/);
  });

  it("5.15 with the seed's series: compound_pincount in the second tail, printed for order > 1; 6.1 prints it always; 6.6 names entire_mapcount and page_type", () => {
    const seed = machine('5.15', 'tail-reuse');
    const h = resolvePageSpec(seed, 'dax0.0:0').pfn;
    seed.k.memmap.setCompoundPincount(h, 3);
    expect(dumpPage(seed, h + 5).text.slice(0, 2)).toEqual([
      expect.stringMatching(/^page:ffd4[0-9a-f]{12} refcount:1 mapcount:0 mapping:0000000000000000 index:0x5 pfn:/),
      expect.stringMatching(/^head:ffd4[0-9a-f]{12} order:9 compound_mapcount:0 compound_pincount:3$/),
    ]);
    expect(dumpPage(seed, h + 5)).toMatchObject({ compound_head: expect.stringMatching(/^0xffd4/), folio: { pincount: 3, compound_dtor: 1 } });
    const m61 = machine('6.1');
    const h61 = resolvePageSpec(m61, 'dax0.0:0').pfn;
    expect(dumpPage(m61, h61).text[1]).toMatch(/^head:ffd4[0-9a-f]{12} order:9 compound_mapcount:0 compound_pincount:0$/);
    // 6.1 measured: PG_head at 16, PG_reserved at 12
    expect(dumpPage(m61, h61).text[2]).toBe('flags: 0x20000000011000(reserved|head|node=0|zone=4|lastcpupid=0x0)');
    const m66 = machine('6.6');
    const t66 = dumpPage(m66, resolvePageSpec(m66, 'dax0.0:0').pfn).text;
    expect(t66[1]).toMatch(/^head:ffd4[0-9a-f]{12} order:9 entire_mapcount:0 nr_pages_mapped:0 pincount:0$/);
    expect(t66[3]).toBe('page_type: 0xffffffff()');
  });

  it('refuses what names no struct page with the errno and the argument, and reads nothing into the machine', () => {
    const m = machine('7.3');
    const before = JSON.stringify(m.state());
    const last = m.daxDevice('dax0.0').size / 4096 - 1;
    expect(resolvePageSpec(m, `dax0.0:${last}`).pfn).toBe(resolvePageSpec(m, 'dax0.0:0').pfn + last);
    expect(errnoOf(() => resolvePageSpec(m, `dax0.0:${last + 1}`))).toBe(ENXIO);
    expect(() => resolvePageSpec(m, `dax0.0:${last + 1}`)).toThrow(`page 'dax0.0:${last + 1}': index ${last + 1} is past the end of dax0.0`);
    expect(errnoOf(() => resolvePageSpec(m, 'dax7.0:0'))).toBe(ENXIO);
    for (const bad of ['garbage', '-5', '1.5', 'dax0.0:', 'dax0.0:-1', 'namespace0.0:0', '0x'])
      expect([bad, errnoOf(() => resolvePageSpec(m, bad))]).toEqual([bad, EINVAL]);
    // a pfn past every section, and one in the hole between RAM and pmem: pfn_valid() fails
    expect(errnoOf(() => dumpPage(m, 2 ** 36))).toBe(ENXIO);
    expect(pfnValid(m, 0xc0000)).toBe(false);
    expect(() => dumpPage(m, 0xc0000, '0xc0000')).toThrow("page '0xc0000': pfn 0xc0000 has no struct page");
    // boot memory's struct pages are not simulated: refused rather than printed as zeros
    expect(errnoOf(() => dumpPage(m, 0x1000))).toBe(EOPNOTSUPP);
    expect(JSON.stringify(m.state())).toBe(before);
  });

  it('a malformed page line stops the scenario; a refused one is an errno of the line', async () => {
    const m = machine('7.3');
    expect((await runScenario('page', { machine: m })).error?.message).toBe('page PFN|daxX.Y:INDEX [--json]');
    expect((await runScenario('page dax0.0:0 --text', { machine: m })).error?.message).toBe('page PFN|daxX.Y:INDEX [--json]');
    const r = await runScenario('page dax0.0:99999999', { machine: m });
    expect([r.refused, r.outcomes[0]!.errno]).toEqual([1, ENXIO]);
  });
});

describe('looking is not touching: observers read template-shared vmemmap frames in place', () => {
  it("dump_page, layout and a full invariant sweep of a 4K devdax (identical vmemmap pages sharing templates) give no frame a copy of its own", async () => {
    const { checkInvariants } = await import('@daxsim/debug-vm');
    const { vmemmapLayout } = await import('./vmemmap-layout.js');
    const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [], kernel: '7.3' });
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 4096, map: 'mem', force: true });
    const mem = m.k.mem;
    const shared = mem.sharedFrames;
    expect(shared, 'the base-page memmap shares templates').toBeGreaterThan(100);
    const before = { host: mem.hostFrames, materialised: mem.materialisedFrames, shared, touched: mem.firstTouches };
    const d = dumpPage(m, resolvePageSpec(m, 'dax0.0:77').pfn);
    expect(d.refcount).toBe(1);
    vmemmapLayout(m, 'dax0.0', 3);
    expect(checkInvariants(m.k, m.bus, [], { full: true, refs: new Map(), allTasks: true })).toEqual([]);
    expect({ host: mem.hostFrames, materialised: mem.materialisedFrames, shared: mem.sharedFrames, touched: mem.firstTouches }).toEqual(before);
    // a store still gets its copy: a fault maps the page and takes a reference on its struct page
    await run(m, ['spawn p', 'p mmap m dax0.0 length=4K offset=0x4d000 prot=rw flags=shared', 'p touch m 0 write']);
    expect(mem.sharedFrames).toBe(shared - 1);
    expect(dumpPage(m, resolvePageSpec(m, 'dax0.0:77').pfn).refcount).toBe(2);
  });
});
