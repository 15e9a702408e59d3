// Browser tests of the explorer: Debian's Chromium, driven by playwright-core,
// on the built app served by scripts/serve.mjs. Each view is loaded with a
// configuration, and the numbers on the page are held against the same
// model functions run here in Node.js (planMemmap, memmapCost, the struct
// page accessors of @daxsim/mm, a ScenarioSession). One screenshot per view
// goes to test-output/.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { daxPgoffToPhys } from '@daxsim/device-dax';
import { GUP_GENERATIONS } from '@daxsim/gup';
import { Machine, ScenarioSession, layoutMachine, memmapCost, memmapDevices, ndctlCreateNamespace, planMemmap } from '@daxsim/machine';
import { SZ_1G, SZ_1M, ALL_VMEMMAP_GENERATIONS, X86_64, archByName, gupRunsOn, lastDevmapRelease } from '@daxsim/mm';
import { type Browser, type Page, chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const app = join(here, '..');
const out = join(app, 'test-output');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server: ChildProcess;
let base = '';
let browser: Browser;

before(async () => {
  mkdirSync(out, { recursive: true });
  server = spawn(process.execPath, [join(app, 'scripts', 'serve.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise<string>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(d));
      if (m) resolve(m[0]);
    });
    server.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

/** A page at `fragment`, failing on any error the page logs; waits for its view to be drawn. */
async function open(fragment: string, timeout = 60_000): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(`${base}#${fragment}`);
  await ready(page, timeout);
  return page;
}
async function ready(page: Page, timeout = 60_000): Promise<void> {
  await page.waitForSelector('section.view[data-ready="true"]', { timeout });
  const errs = (page as Page & { errors: string[] }).errors;
  assert.deepEqual(errs, [], `the page logged errors: ${errs.join('; ')}`);
  assert.equal(await page.locator('[data-testid="error"]').count(), 0, `the page shows an error: ${await page.locator('[data-testid="error"]').allInnerTexts()}`);
}
const value = async (page: Page, testid: string): Promise<number> => {
  const v = await page.getAttribute(`[data-testid="${testid}"]`, 'data-value', { timeout: 5000 });
  assert.notEqual(v, null, `no ${testid} on the page`);
  return Number(v);
};
const text = async (page: Page, testid: string): Promise<string> => (await page.getAttribute(`[data-testid="${testid}"]`, 'data-value'))!;
const shot = (page: Page, name: string) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });

/** The machine the device view builds for these fields (the defaults: 64 GiB RAM, as `daxsim machine create`). */
function nodeDevice(size: number, align: number, map: 'mem' | 'dev', generation: string, kernel?: string): Machine {
  const m = Machine.create({ arch: 'x86_64', ram: [64 * SZ_1G], pmem: [{ size, labels: false }], softReserved: [], generation, ...(kernel ? { kernel } : {}) });
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
  return m;
}
const sizeText = (b: number) => (b % SZ_1G === 0 ? `${b / SZ_1G}G` : b % SZ_1M === 0 ? `${b / SZ_1M}M` : `${b / 1024}K`);

test('plan: the figures for 1 TiB are planMemmap()s, as daxsim plan --size 1T --json gives them, for every align, map and generation', async () => {
  const page = await open('view=plan&plan=1T');
  const cli = join(app, '..', 'daxsim', 'dist', 'cli.js');
  // the CLI's own output when it is built (CI builds it before the tests); planMemmap() always
  const cliRows = existsSync(cli)
    ? (JSON.parse(execFileSync(process.execPath, [cli, 'plan', '--size', '1T', '--json'], { encoding: 'utf8' })) as ReturnType<typeof planMemmap>[])
    : null;
  let checked = 0;
  for (const align of X86_64.devdaxAligns)
    for (const map of ['mem', 'dev'] as const)
      for (const generation of ALL_VMEMMAP_GENERATIONS) {
        const want = planMemmap({ arch: X86_64, size: 2 ** 40, align, map, generation });
        const id = `x86_64/${sizeText(align)}/${map}/${generation}`;
        for (const k of ['vmemmap_data_bytes', 'vmemmap_pagetable_bytes', 'device_reserved_bytes', 'struct_pages_initialised'] as const) {
          assert.equal(await value(page, `${id}/${k}`), want[k], `${id} ${k}`);
          const c = cliRows?.find((r) => r.align === align && r.map === map && r.generation === generation);
          if (cliRows) assert.equal(await value(page, `${id}/${k}`), c![k], `${id} ${k} against the CLI`);
        }
        checked++;
      }
  assert.equal(checked, X86_64.devdaxAligns.length * 2 * ALL_VMEMMAP_GENERATIONS.length);
  assert.equal(await page.locator('[data-testid="plan-table"] tr[data-row]').count(), checked);
  assert.equal(await page.locator('[data-testid="plan-chart"] svg').count() > 0, true);
  await shot(page, 'plan');
  await page.close();
});

test('device: a 16 GiB 2M tail-reuse device draws a compound page whose eight vmemmap pages map two frames; its counts are memmapCost()s', async () => {
  const page = await open('view=device&size=16G&align=2M&gen=tail-reuse&page=5');
  assert.equal(await value(page, 'layout-pages'), 8);
  assert.equal(await value(page, 'layout-frames'), 2);
  assert.equal(await page.locator('svg.vmemmap g.page').count(), 8);
  assert.equal(await page.locator('svg.vmemmap g.frame').count(), 2);
  // the tail frame: the seven tail vmemmap pages of this compound page map it, and no others
  assert.equal(await page.locator('svg.vmemmap g.frame.shared').getAttribute('data-users'), '7');
  assert.equal(await page.locator('svg.vmemmap g.page[data-first-page="0"]').getAttribute('data-frame') === (await page.locator('svg.vmemmap g.page[data-first-page="1"]').getAttribute('data-frame')), false);
  const m = nodeDevice(16 * SZ_1G, 2 * SZ_1M, 'mem', 'tail-reuse');
  const cost = memmapCost(m, memmapDevices(m)[0]!);
  for (const k of ['vmemmap_data_bytes', 'vmemmap_pagetable_bytes', 'device_reserved_bytes', 'struct_pages_initialised'] as const)
    assert.equal(await value(page, k), cost[k], k);
  assert.equal(await value(page, 'vmemmap_data_frames'), cost.vmemmap_data_bytes / 4096);
  assert.equal(await value(page, 'dev-size'), m.daxDevice('dax0.0').size);
  await shot(page, 'device');
  await page.close();
});

test('device: other generations and aligns draw what the model maps (compound 2M: eight frames; tail-reuse-pmd 1G: shared PTE tables)', async () => {
  const page = await open('view=device&size=4G&align=2M&gen=compound');
  assert.equal(await value(page, 'layout-frames'), 8);
  await page.close();
  const pmd = await open('view=device&size=4G&align=1G&gen=tail-reuse-pmd&page=1');
  assert.equal(await value(pmd, 'layout-frames'), 2);
  assert.ok((await pmd.locator('svg.vmemmap g.table.shared').count()) > 0, 'a PTE table shared by several PMD entries is drawn');
  await shot(pmd, 'device-1G-pmd-reuse');
  await pmd.close();
  // the shared-tail proposal, as vmemmap_dedup.rst v7 draws it: page 0 on its own frame, pages 1-7 on the zone's read-only shared tail
  const st = await open('view=device&size=4G&align=2M&gen=shared-tail&page=1');
  assert.equal(await value(st, 'layout-frames'), 2);
  const tail = st.locator('svg.vmemmap g.frame.shared-tail.ro');
  assert.equal(await tail.count(), 1);
  assert.equal(await tail.getAttribute('data-users'), String(7 * 2048));
  assert.match((await tail.textContent()) ?? '', /the zone's shared tail \(node 0, order 9\)/);
  await shot(st, 'device-2M-shared-tail');
  await st.close();
});

test('inspector: a struct page clicked in the drawing decodes as the mm package reads it, following compound_head to the head', async () => {
  const page = await open('view=device&size=16G&align=2M&gen=tail-reuse&page=3');
  // click the drawing's third vmemmap page (a tail page, mapped to the shared frame)
  await page.locator('svg.vmemmap g.page[data-first-page="2"]').click();
  await ready(page);
  assert.match(page.url(), /view=inspect/);
  // then a struct page of the strip: the second in that vmemmap page
  const cellPfn = Number(await page.locator('[data-testid="strip"] .cell').nth(1).getAttribute('data-pfn'));
  await page.locator('[data-testid="strip"] .cell').nth(1).click();
  await ready(page);
  assert.equal(await value(page, 'page-pfn'), cellPfn);

  const m = nodeDevice(16 * SZ_1G, 2 * SZ_1M, 'mem', 'tail-reuse');
  const mm = m.k.memmap;
  const head = mm.compoundHead(cellPfn);
  assert.notEqual(head, cellPfn, 'a tail page');
  assert.equal(await value(page, 'page-compound-head'), head);
  const flagNames = (pfn: number) => {
    const names: string[] = [];
    const f = mm.flags(pfn);
    // the machine's own enum pageflags: the same bit is a different flag in 6.1 and 7.3
    for (const [k, bit] of Object.entries(mm.pg)) if ((f >>> bit) & 1) names.push(k);
    return names.sort().join('|');
  };
  assert.equal((await text(page, 'page-flags')).split('|').filter(Boolean).sort().join('|'), flagNames(cellPfn));
  assert.equal(await value(page, 'page-refcount'), mm.pageRefCount(cellPfn));
  assert.equal(await value(page, 'page-index'), mm.pageIndex(cellPfn));
  const [mlo, mhi] = mm.pageMappingRaw(cellPfn);
  assert.equal(await text(page, 'page-mapping'), mlo === 0x400 && mhi === 0xdead0000 ? 'TAIL_MAPPING' : `0x${mhi.toString(16).padStart(8, '0')}${mlo.toString(16).padStart(8, '0')}`);
  // the bytes shown are the 64 bytes the model holds for that struct page
  const shown = (await page.locator('[data-testid="hexdump"] .b').allInnerTexts()).map((b) => parseInt(b, 16));
  assert.deepEqual(shown, [...mm.rawBytes(cellPfn)]);
  // the head, reached through compound_head
  assert.equal(await value(page, 'head-pfn'), head);
  assert.equal((await text(page, 'head-flags')).split('|').filter(Boolean).sort().join('|'), flagNames(head));
  assert.equal(await value(page, 'head-refcount'), mm.pageRefCount(head));
  assert.equal(await value(page, 'head-order'), mm.compoundOrder(head));
  assert.equal(await value(page, 'head-nr'), mm.compoundNr(head));
  assert.equal(await value(page, 'head-pincount'), mm.compoundPincount(head));
  await page.locator('[data-testid="page-follow-head"]').click();
  await ready(page);
  assert.equal(await value(page, 'page-pfn'), head);
  await shot(page, 'inspect');
  await page.close();
});

test('step through: a fault, a pin under each GUP generation and a poison report what a ScenarioSession does to the same machine', async () => {
  const off = 3 * 2 * SZ_1M + 5 * 4096;
  const page = await open(`view=step&size=4G&align=2M&off=0x${off.toString(16)}&pin=512`);
  const m = nodeDevice(4 * SZ_1G, 2 * SZ_1M, 'mem', 'tail-reuse');
  const s = new ScenarioSession(m);
  for (const p of ['p1', 'p2']) {
    s.spawn(p);
    s.mmap(p, 'm1', 'dax0.0', { offset: 0, write: true, shared: true });
  }
  // fault
  await page.click('[data-testid="do-fault"]');
  await page.waitForSelector('[data-testid="step-fault"]');
  const rc = s.touch('p1', 'm1', off, true);
  assert.equal(await value(page, 'fault-rc'), rc);
  assert.equal(await value(page, 'fault-entry-bytes'), 2 * SZ_1M, 'a PMD entry for a 2M device');
  const head = m.k.memmap.compoundHead(daxPgoffToPhys(m.daxDevice('dax0.0'), off / 4096, 4096) / 4096);
  assert.equal(await value(page, 'fault-head'), head);
  assert.equal(await value(page, 'fault-index'), m.k.memmap.pageIndex(head));
  assert.equal(await value(page, 'fault-entry-pfn'), head);
  assert.ok((await page.locator('svg.vmemmap g.page.marked').count()) > 0, 'the head struct page is marked on the drawing');
  // pin, under each generation
  await page.click('[data-testid="do-pin"]');
  await page.waitForSelector('[data-testid="step-pin"]');
  // the devmap generations on a 6.8 twin (7.3 has no devmap bit, d438d2734170), folio on the 7.3 machine itself
  const twinM = nodeDevice(4 * SZ_1G, 2 * SZ_1M, 'mem', 'tail-reuse', lastDevmapRelease().version);
  const twin = new ScenarioSession(twinM);
  twin.spawn('p1');
  twin.mmap('p1', 'm1', 'dax0.0', { offset: 0, write: true, shared: true });
  twin.touch('p1', 'm1', off, true);
  assert.equal(m.kernel.release.version, '7.3');
  for (const gen of GUP_GENERATIONS) {
    const [ts, tm] = gupRunsOn(m.kernel.release, gen) ? [s, m] : [twin, twinM];
    const theHead = tm.k.memmap.compoundHead(daxPgoffToPhys(tm.daxDevice('dax0.0'), off / 4096, 4096) / 4096);
    const before = tm.k.counters.get('atomic_refcount_ops');
    const taken = ts.pin('p1', 'm1', off, 512 * 4096, { kind: 'pin', gen });
    const atomics = tm.k.counters.get('atomic_refcount_ops') - before;
    assert.equal(await text(page, `pin-${gen}-kernel`), tm.kernel.release.version, `${gen} kernel`);
    assert.equal(await value(page, `pin-${gen}-taken`), taken, `${gen} taken`);
    assert.equal(await value(page, `pin-${gen}-atomics`), atomics, `${gen} atomics`);
    assert.equal(await value(page, `pin-${gen}-refcount`), tm.k.memmap.pageRefCount(theHead), `${gen} refcount`);
    ts.unpin('p1');
  }
  assert.equal(await text(page, 'pin-folio-kernel'), '7.3');
  assert.equal(await text(page, 'pin-per-page-kernel'), '6.8');
  // the generations differ in the atomics they take (what the series is about)
  const atomics = await Promise.all(GUP_GENERATIONS.map((g) => value(page, `pin-${g}-atomics`)));
  assert.ok(new Set(atomics).size > 1, `atomics per generation: ${atomics}`);
  await shot(page, 'step');
  // poison: p1 consumes it, p2 maps the unit too
  await page.click('[data-testid="do-poison"]');
  await page.waitForSelector('[data-testid="step-poison"]');
  s.touch('p2', 'm1', off, false);
  const from = new Map([...s.procs].map(([n, p]) => [n, p.task.signals.length]));
  s.poisonAt('p1', 'm1', off);
  const want = [...s.procs].flatMap(([n, p]) => p.task.signals.slice(from.get(n)).map(() => n));
  const got = await page.locator('[data-testid="poison-signals"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-proc')));
  assert.deepEqual(got, want);
  assert.ok(got.includes('p1'));
  assert.equal(await value(page, 'poison-head'), head);
  assert.equal(await value(page, 'poison-unit'), 2 * SZ_1M);
  await shot(page, 'step-poison');
  await page.close();
});

test('a 128 GiB 2M device builds in the worker while the page keeps running, with progress; its counts are the planner\'s for that machine', { timeout: 300_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${base}#view=plan&plan=16G`);
  await page.waitForSelector('section.view[data-ready="true"]', { timeout: 60_000 });
  // watch the page's own thread: the longest gap between 20 ms timer ticks while the device builds
  await page.evaluate(() => {
    const w = window as unknown as { maxGap: number; last: number };
    w.maxGap = 0;
    w.last = performance.now();
    setInterval(() => {
      const t = performance.now();
      w.maxGap = Math.max(w.maxGap, t - w.last);
      w.last = t;
    }, 20);
  });
  await page.click('[data-view="device"]');
  await page.waitForSelector('section.view[data-ready="true"] [data-testid="counts"]', { timeout: 60_000 });
  // every phase the progress line shows, as the page's thread draws it
  await page.evaluate(() => {
    const w = window as unknown as { phases: string[] };
    w.phases = [];
    new MutationObserver(() => {
      const t = document.querySelector('.building .phase')?.textContent;
      if (t && w.phases[w.phases.length - 1] !== t) w.phases.push(t);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.fill('[data-testid="input-size"]', '128G');
  await page.click('[data-testid="build"]');
  await page.waitForSelector('[data-testid="building"]', { timeout: 10_000 });
  await page.waitForSelector('section.view[data-ready="true"] [data-testid="counts"]', { timeout: 240_000 });
  const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
  assert.ok(phases.some((p) => p.startsWith('3/4') && p.includes('memremap_pages')), `progress shown: ${phases.join(' | ')}`);
  const frames = await page.evaluate(() => (window as unknown as { maxGap: number }).maxGap);
  const buildMs = await value(page, 'build-ms');
  assert.ok(frames < 500, `the page's thread stalled ${frames.toFixed(0)} ms while the worker built for ${buildMs} ms`);
  const arch = archByName('x86_64')!;
  const layout = layoutMachine({ arch: 'x86_64', ram: [64 * SZ_1G], pmem: [{ size: 128 * SZ_1G, labels: false }], softReserved: [] });
  const want = planMemmap({ arch, size: 128 * SZ_1G, align: 2 * SZ_1M, map: 'mem', generation: 'tail-reuse', start: layout.pmem[0]!.start, ram: layout.ram });
  for (const k of ['vmemmap_data_bytes', 'vmemmap_pagetable_bytes', 'struct_pages_initialised'] as const) assert.equal(await value(page, k), want[k], k);
  assert.equal(await value(page, 'layout-frames'), 2);
  process.stdout.write(`# 128 GiB 2M tail-reuse: built in the worker in ${buildMs} ms; longest stall of the page's thread ${frames.toFixed(0)} ms\n`);
  await shot(page, 'device-128G');
  await page.close();
});
