import { type VmemmapLayout, humanBytes } from '@daxsim/machine';
import { GUP_GENERATIONS } from '@daxsim/gup';
import { SZ_1G, ARCH_PROFILES, ALL_VMEMMAP_GENERATIONS, archByName } from '@daxsim/mm';
import * as Plot from '@observablehq/plot';
import { ModelClient, ModelError } from './client.js';
import { type Marks, drawLayout } from './draw.js';
import type { DeviceReport, PlanRow, StepAnnotation } from './engine.js';
import type { StructPageView } from '@daxsim/machine';
import { type ExplorerState, VIEWS, type View, decodeState, encodeState, readSize, sizeText } from './url-state.js';
import './style.css';

// ---------------------------------------------------------------- helpers

type Child = Node | string | number | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | number | boolean> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false) continue;
    if (k === 'class') e.className = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}
const hex = (n: number) => `0x${n.toString(16)}`;
const bytes = humanBytes;
/** A number as shown, with its exact value in data-value (what the tests read). */
const num = (testid: string, value: number, shown: string = value.toLocaleString('en')) => h('span', { 'data-testid': testid, 'data-value': value, class: 'num' }, shown);

function errorBox(e: unknown): HTMLElement {
  if (e instanceof ModelError) return h('div', { class: 'error', 'data-testid': 'error', 'data-errno': e.errnoName }, h('b', {}, e.errnoName), ' ', e.message);
  return h('div', { class: 'error', 'data-testid': 'error' }, e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------- state

const model = new ModelClient();
let state: ExplorerState = decodeState(location.hash).state;
const urlProblems = decodeState(location.hash).problems;
let report: DeviceReport | null = null;
let building: Promise<DeviceReport> | null = null;
let builtFor = '';
let marks: Marks = new Map();

function setState(patch: Partial<ExplorerState>, render = true): void {
  state = { ...state, ...patch };
  const frag = encodeState(state);
  if (location.hash.slice(1) !== frag) history.replaceState(null, '', `#${frag}`);
  if (render) void renderView();
}
window.addEventListener('hashchange', () => {
  state = decodeState(location.hash).state;
  void renderView();
});

const specKey = (s: ExplorerState) => [s.arch, s.ram, s.size, s.align, s.map, s.generation].join('/');

// ---------------------------------------------------------------- shell

const app = document.getElementById('app')!;
const tabs = h('nav', { class: 'tabs' });
const main = h('main', {});
const TITLES: Record<View, string> = { plan: 'Plan', device: 'Device', inspect: 'Struct page inspector', step: 'Step through' };
app.append(
  h('header', {}, h('h1', {}, 'daxsim explorer'), h('p', { class: 'sub' }, 'the device-dax memmap of a simulated Linux machine, built in this tab')),
  tabs,
  main,
);

function renderTabs(): void {
  tabs.replaceChildren(
    ...VIEWS.map((v) => {
      const a = h('a', { href: `#${encodeState({ ...state, view: v })}`, class: v === state.view ? 'tab active' : 'tab', 'data-view': v }, TITLES[v]);
      a.addEventListener('click', (e) => {
        e.preventDefault();
        setState({ view: v });
      });
      return a;
    }),
  );
}

async function renderView(): Promise<void> {
  renderTabs();
  const view = state.view;
  const section = h('section', { 'data-testid': `view-${view}`, class: 'view' });
  main.replaceChildren(section);
  if (urlProblems.length) section.append(h('div', { class: 'warn' }, `The link had fields the page could not use: ${urlProblems.join('; ')}`));
  try {
    if (view === 'plan') await renderPlan(section);
    else if (view === 'device') await renderDevice(section);
    else if (view === 'inspect') await renderInspect(section);
    else await renderStep(section);
  } catch (e) {
    section.append(errorBox(e));
  }
  section.setAttribute('data-ready', 'true');
}

// ---------------------------------------------------------------- the device form (shared by device, inspect, step)

function select(name: string, values: readonly (string | number)[], current: string | number, label: (v: string | number) => string = String): HTMLSelectElement {
  const s = h('select', { name, 'data-testid': `input-${name}` }, ...values.map((v) => h('option', { value: String(v), selected: v === current }, label(v))));
  return s;
}

function deviceForm(): HTMLElement {
  const arch = archByName(state.arch)!;
  const archSel = select('arch', Object.keys(ARCH_PROFILES), state.arch);
  const alignSel = select('align', arch.devdaxAligns, state.align, (v) => sizeText(Number(v)));
  const mapSel = select('map', ['mem', 'dev'], state.map);
  const genSel = select('generation', ALL_VMEMMAP_GENERATIONS, state.generation);
  const size = h('input', { name: 'size', value: sizeText(state.size), size: 6, 'data-testid': 'input-size' });
  const ram = h('input', { name: 'ram', value: sizeText(state.ram), size: 6, 'data-testid': 'input-ram' });
  const build = h('button', { type: 'submit', 'data-testid': 'build' }, report && builtFor === specKey(state) ? 'Rebuild' : 'Build');
  const form = h(
    'form',
    { class: 'device-form' },
    h('label', {}, 'arch ', archSel),
    h('label', {}, 'RAM ', ram),
    h('label', {}, 'pmem ', size),
    h('label', {}, 'align ', alignSel),
    h('label', {}, 'map ', mapSel),
    h('label', {}, 'generation ', genSel),
    build,
  );
  archSel.addEventListener('change', () => {
    const a = archByName(archSel.value)!;
    setState({ arch: a.name, align: a.devdaxAligns.includes(state.align) ? state.align : (a.devdaxAligns.find((x) => x > a.pageSize) ?? a.devdaxAligns[0]!) });
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const sz = readSize(size.value);
    const rm = readSize(ram.value);
    const bad = [sz === undefined && `pmem size '${size.value}'`, rm === undefined && `RAM size '${ram.value}'`].filter(Boolean);
    if (bad.length) {
      form.after(errorBox(new Error(`cannot parse ${bad.join(' and ')}: a number with K, M, G or T`)));
      return;
    }
    report = null;
    builtFor = '';
    setState({ size: sz!, ram: rm!, align: Number(alignSel.value), map: mapSel.value as 'mem' | 'dev', generation: genSel.value, page: 0, pfn: -1 });
  });
  return form;
}

/** The device of the current state, built in the worker (once per configuration), with progress on the page meanwhile. */
async function ensureDevice(into: HTMLElement): Promise<DeviceReport> {
  const key = specKey(state);
  if (report && builtFor === key) return report;
  const bar = h('progress', { max: 4, value: 0, 'data-testid': 'progress' });
  const text = h('span', { class: 'phase' }, 'starting the model');
  const clock = h('span', { class: 'clock', 'data-testid': 'clock' }, '0.0 s');
  into.append(h('div', { class: 'building', 'data-testid': 'building' }, bar, ' ', text, ' ', clock));
  const t0 = performance.now();
  // the page keeps running while the worker builds: this clock is drawn by the page's own thread
  let frames = 0;
  const tick = () => {
    frames++;
    clock.textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    clock.setAttribute('data-frames', String(frames));
    if (building) requestAnimationFrame(tick);
  };
  if (!building || builtFor !== key) {
    builtFor = key;
    building = model.call('build', { arch: state.arch, ram: state.ram, size: state.size, align: state.align, map: state.map, generation: state.generation }, (p) => {
      bar.value = p.step;
      text.textContent = `${p.step}/${p.steps} ${p.text}`;
    });
  }
  requestAnimationFrame(tick);
  try {
    report = await building;
    return report;
  } catch (e) {
    builtFor = '';
    throw e;
  } finally {
    building = null;
    into.querySelector('.building')?.remove();
  }
}

function countsTable(r: DeviceReport, l: VmemmapLayout | null): HTMLElement {
  const ps = archByName(r.spec.arch)!.pageSize;
  const c = r.cost;
  return h(
    'table',
    { class: 'counts', 'data-testid': 'counts' },
    h('tr', {}, h('th', {}, 'device'), h('td', {}, c.device, ' ', num('dev-size', r.devSize, bytes(r.devSize)))),
    h('tr', {}, h('th', {}, 'struct page frames (RAM)'), h('td', {}, num('vmemmap_data_frames', c.vmemmap_data_bytes / ps), ' = ', num('vmemmap_data_bytes', c.vmemmap_data_bytes, bytes(c.vmemmap_data_bytes)))),
    h('tr', {}, h('th', {}, 'page table frames (RAM)'), h('td', {}, num('vmemmap_pagetable_frames', c.vmemmap_pagetable_bytes / ps), ' = ', num('vmemmap_pagetable_bytes', c.vmemmap_pagetable_bytes, bytes(c.vmemmap_pagetable_bytes)))),
    h('tr', {}, h('th', {}, 'struct pages on the device (altmap)'), h('td', {}, num('device_reserved_bytes', c.device_reserved_bytes, bytes(c.device_reserved_bytes)))),
    h('tr', {}, h('th', {}, 'struct pages written'), h('td', {}, num('struct_pages_initialised', c.struct_pages_initialised))),
    l &&
      h(
        'tr',
        {},
        h('th', {}, 'vmemmap pages → frames'),
        h('td', {}, num('vmemmap_pages', l.vmemmapPages), ' → ', num('frames', l.frames), ' (', num('shared_frames', l.sharedFrames), ' shared, by ', num('shared_frame_users', l.sharedFrameUsers), ' pages)'),
      ),
    l && h('tr', {}, h('th', {}, 'leaf page tables'), h('td', {}, num('leaf_tables', l.leafTables), ' (', num('shared_leaf_tables', l.sharedLeafTables), ' shared by several entries)')),
    h('tr', {}, h('th', {}, 'built in'), h('td', {}, num('build-ms', r.buildMs, `${r.buildMs} ms`), ', ', num('materialised', r.materialisedFrames), ' frames materialised')),
  );
}

function pagePicker(r: DeviceReport): HTMLElement {
  const input = h('input', { type: 'number', min: 0, max: r.units - 1, value: state.page, 'data-testid': 'input-page', size: 8 });
  const go = (p: number) => setState({ page: Math.max(0, Math.min(r.units - 1, p)), pfn: -1 });
  const prev = h('button', { type: 'button' }, '◀');
  const next = h('button', { type: 'button' }, '▶');
  prev.addEventListener('click', () => go(state.page - 1));
  next.addEventListener('click', () => go(state.page + 1));
  input.addEventListener('change', () => go(Number(input.value)));
  const unit =
    r.unit === 'compound page'
      ? `compound page (order ${r.order}, ${bytes(2 ** r.order * archByName(r.spec.arch)!.pageSize)})`
      : `2 MiB extent (${r.order ? `of compound pages of order ${r.order}` : 'base pages'}; this generation shares no vmemmap)`;
  return h('div', { class: 'picker' }, `${unit} `, prev, input, next, ` of ${r.units.toLocaleString('en')}, from the device's first pfn ${hex(r.firstPfn)}`);
}

async function drawing(r: DeviceReport, page: number, into: HTMLElement, extraMarks: Marks = marks): Promise<VmemmapLayout> {
  const l = await model.call('layout', { page });
  const caption = h(
    'p',
    { class: 'caption', 'data-testid': 'layout-caption' },
    `${l.device}, ${l.generation}: ${l.unit} ${l.page}, first pfn ${hex(l.headPfn)}; its `,
    num('layout-pages', l.pages.length),
    ' vmemmap pages map ',
    num('layout-frames', new Set(l.pages.map((p) => p.frame)).size),
    ' frames',
  );
  into.append(caption, drawLayout(l, extraMarks, (pfn) => setState({ view: 'inspect', pfn })));
  void r;
  return l;
}

// ---------------------------------------------------------------- plan view

async function renderPlan(section: HTMLElement): Promise<void> {
  const size = h('input', { name: 'plan', value: sizeText(state.planSize), size: 6, 'data-testid': 'input-plan' });
  const boxes = Object.keys(ARCH_PROFILES).map((a) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: a, checked: state.planArches.includes(a), 'data-testid': `arch-${a}` }), ` ${a}`));
  const form = h('form', { class: 'plan-form' }, h('label', {}, 'namespace size ', size), ...boxes, h('button', { type: 'submit', 'data-testid': 'plan-go' }, 'Plan'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const s = readSize(size.value);
    const arches = boxes.map((b) => b.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
    if (s === undefined) return void form.after(errorBox(new Error(`cannot parse size '${size.value}'`)));
    setState({ planSize: s, planArches: arches.length ? arches : ['x86_64'] });
  });
  section.append(
    h('p', { class: 'intro' }, 'RAM that memremap_pages() takes for struct pages and their page tables, planned with planMemmap() (the planner daxsim plan runs, held against the simulation byte for byte), for every align, map and generation.'),
    form,
  );
  const rows = await model.call('plan', { size: state.planSize, arches: state.planArches });
  const ok = rows.filter((r): r is PlanRow & { cost: NonNullable<PlanRow['cost']> } => r.cost !== null);
  const perTiB = 2 ** 40 / state.planSize;
  const data = ok.map((r) => ({
    arch: r.arch,
    align: sizeText(r.align),
    map: r.map,
    generation: r.generation,
    ram: r.cost.vmemmap_data_bytes + r.cost.vmemmap_pagetable_bytes,
    ramPerTiB: ((r.cost.vmemmap_data_bytes + r.cost.vmemmap_pagetable_bytes) * perTiB) / SZ_1G,
  }));
  // log scale: the configurations differ by three orders of magnitude (16 GiB per TiB against 64 KiB)
  const floor = 1 / 64;
  const alignOrder = [...new Set(ok.map((r) => `${sizeText(r.align)} ${r.map}`))];
  const chart = Plot.plot({
    title: `RAM per TiB of device memory (from a ${sizeText(state.planSize)} namespace)`,
    width: 1100,
    height: 130 + 200 * state.planArches.length,
    marginLeft: 60,
    marginRight: 90,
    x: { label: null, axis: null, domain: [...ALL_VMEMMAP_GENERATIONS] },
    y: { type: 'log', label: 'MiB of RAM per TiB (log)', grid: true, domain: [floor, 32 * 1024] },
    fx: { label: 'align, map', domain: alignOrder },
    fy: { label: null },
    color: { legend: true, domain: [...ALL_VMEMMAP_GENERATIONS] },
    marks: [
      Plot.barY(data, { fx: (d: (typeof data)[number]) => `${d.align} ${d.map}`, fy: 'arch', x: 'generation', y1: floor, y2: (d: (typeof data)[number]) => Math.max(floor, d.ramPerTiB * 1024), fill: 'generation', tip: true }),
      Plot.text(data, { fx: (d: (typeof data)[number]) => `${d.align} ${d.map}`, fy: 'arch', x: 'generation', y: (d: (typeof data)[number]) => Math.max(floor, d.ramPerTiB * 1024), text: (d: (typeof data)[number]) => bytes(d.ram * perTiB), dy: -6, fontSize: 9, rotate: 0 }),
    ],
  });
  section.append(h('figure', { 'data-testid': 'plan-chart' }, chart));

  const curveArch = state.planArches[0]!;
  const sizes = [16, 64, 256, 1024, 4096, 16384].map((g) => g * SZ_1G);
  const curve = await model.call('planCurve', { sizes, arch: curveArch, map: 'mem' });
  const cdata = curve.flatMap((c) =>
    c.rows.filter((r) => r.cost).map((r) => ({ size: c.size / SZ_1G, align: sizeText(r.align), generation: r.generation, perTiB: ((r.cost!.vmemmap_data_bytes + r.cost!.vmemmap_pagetable_bytes) * (2 ** 40 / c.size)) / 2 ** 20 })),
  );
  const curveChart = Plot.plot({
    title: `RAM per TiB against namespace size, ${curveArch}, --map=mem`,
    width: 960,
    height: 300,
    marginLeft: 60,
    x: { type: 'log', label: 'namespace size (GiB)' },
    y: { type: 'log', label: 'MiB of RAM per TiB', grid: true, nice: true },
    fx: { label: 'align', domain: archByName(curveArch)!.devdaxAligns.map(sizeText) },
    color: { legend: true, domain: [...ALL_VMEMMAP_GENERATIONS] },
    marks: [Plot.line(cdata, { x: 'size', y: 'perTiB', stroke: 'generation', fx: 'align', marker: true, tip: true })],
  });
  section.append(h('figure', { 'data-testid': 'plan-curve' }, curveChart));

  const table = h(
    'table',
    { class: 'plan', 'data-testid': 'plan-table' },
    h('tr', {}, ...['arch', 'align', 'map', 'generation', 'RAM: struct pages', 'RAM: page tables', 'RAM per TiB', 'on the device', 'struct pages written'].map((t) => h('th', {}, t))),
    ...rows.map((r) => {
      const id = `${r.arch}/${sizeText(r.align)}/${r.map}/${r.generation}`;
      if (!r.cost) return h('tr', { 'data-row': id }, h('td', {}, r.arch), h('td', {}, sizeText(r.align)), h('td', {}, r.map), h('td', {}, r.generation), h('td', { colspan: 5, class: 'error' }, r.error));
      const c = r.cost;
      return h(
        'tr',
        { 'data-row': id },
        h('td', {}, r.arch),
        h('td', {}, sizeText(r.align)),
        h('td', {}, r.map),
        h('td', {}, r.generation),
        h('td', {}, num(`${id}/vmemmap_data_bytes`, c.vmemmap_data_bytes, bytes(c.vmemmap_data_bytes))),
        h('td', {}, num(`${id}/vmemmap_pagetable_bytes`, c.vmemmap_pagetable_bytes, bytes(c.vmemmap_pagetable_bytes))),
        h('td', {}, bytes(((c.vmemmap_data_bytes + c.vmemmap_pagetable_bytes) * perTiB))),
        h('td', {}, num(`${id}/device_reserved_bytes`, c.device_reserved_bytes, bytes(c.device_reserved_bytes))),
        h('td', {}, num(`${id}/struct_pages_initialised`, c.struct_pages_initialised)),
      );
    }),
  );
  section.append(h('h2', {}, `${sizeText(state.planSize)}: the planner's numbers (daxsim plan --size ${sizeText(state.planSize)} --arch ${state.planArches.join(',')} --json)`), table);
}

// ---------------------------------------------------------------- device view

async function renderDevice(section: HTMLElement): Promise<void> {
  section.append(deviceForm());
  const r = await ensureDevice(section);
  const page = Math.min(state.page, r.units - 1);
  const left = h('div', { class: 'side' });
  const right = h('div', { class: 'draw' });
  section.append(pagePicker(r), h('div', { class: 'split' }, right, left));
  const l = await drawing(r, page, right, new Map());
  left.append(countsTable(r, l), h('h3', {}, 'the same device in the CLI'), h('pre', { class: 'cli' }, r.cli.join('\n').replace(' N', ` ${page}`)));
}

// ---------------------------------------------------------------- inspector

function hexDump(v: StructPageView): HTMLElement {
  const rows: HTMLElement[] = [];
  for (let o = 0; o < v.bytes.length; o += 16) {
    const cells = v.bytes.slice(o, o + 16).map((b, i) => h('span', { class: `b off${o + i}` }, b.toString(16).padStart(2, '0')));
    rows.push(h('div', {}, h('span', { class: 'off' }, `+${o.toString().padStart(2, '0')}  `), ...cells.flatMap((c, i) => (i === 8 ? [' ', c] : [c]))));
  }
  return h('div', { class: 'hexdump', 'data-testid': 'hexdump' }, ...rows);
}

function fields(v: StructPageView, prefix: string, pick: (pfn: number) => void): HTMLElement {
  const head = v.compoundHead;
  const link = (pfn: number) => {
    const a = h('a', { href: '#', 'data-testid': `${prefix}-follow-head` }, hex(pfn));
    a.addEventListener('click', (e) => {
      e.preventDefault();
      pick(pfn);
    });
    return a;
  };
  const row = (name: string, testid: string, value: Child, raw?: string | number) =>
    h('tr', {}, h('th', {}, name), h('td', { 'data-testid': `${prefix}-${testid}`, ...(raw !== undefined ? { 'data-value': String(raw) } : {}) }, value));
  return h(
    'table',
    { class: 'fields' },
    row('pfn', 'pfn', hex(v.pfn), v.pfn),
    row('flags', 'flags', `${v.flags}  ${v.flagNames.join('|') || '(none)'}`, v.flagNames.join('|')),
    row('zone, node', 'zone', `${v.zone}, node ${v.node}`, v.zone),
    head !== null
      ? row('compound_head', 'compound-head', h('span', {}, `${v.word8} → tail of head pfn `, link(head)), head)
      : row('pgmap / lru (word at 8)', 'word8', `${v.word8}${v.word8Object ? ` (${v.word8Object})` : ''}`, v.word8),
    row('mapping', 'mapping', `${v.mapping}${v.mappingObject ? ` (${v.mappingObject})` : ''}`, v.mapping),
    row('index', 'index', hex(v.index), v.index),
    row('_mapcount', 'mapcount', v.mapcount, v.mapcount),
    row('_refcount', 'refcount', v.refcount, v.refcount),
  );
}

async function renderInspect(section: HTMLElement): Promise<void> {
  section.append(deviceForm());
  const r = await ensureDevice(section);
  const pfn = state.pfn >= 0 ? state.pfn : r.firstPfn + state.page * r.unitPfns;
  const input = h('input', { value: hex(pfn), size: 12, 'data-testid': 'input-pfn' });
  const form = h('form', { class: 'pfn-form' }, h('label', {}, 'pfn ', input), h('button', { type: 'submit' }, 'Inspect'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = Number(input.value);
    setState({ pfn: Number.isSafeInteger(v) ? v : -1 });
  });
  section.append(form);
  const spp = r.cost.arch ? archByName(r.spec.arch)!.pageSize / archByName(r.spec.arch)!.structPageSize : 64;
  // the struct pages of the vmemmap page that holds pfn: click one to inspect it
  const base = Math.max(r.firstPfn, Math.floor(pfn / spp) * spp);
  const strip = h('div', { class: 'strip', 'data-testid': 'strip' });
  const nr = 2 ** r.order;
  for (let p = base; p < Math.floor(pfn / spp) * spp + spp; p++) {
    const off = (p - r.firstPfn) % nr;
    const cell = h('button', { type: 'button', class: `cell ${off === 0 ? 'head' : 'tail'}${p === pfn ? ' sel' : ''}`, 'data-pfn': p, title: `pfn ${hex(p)}` }, String(off));
    cell.addEventListener('click', () => setState({ pfn: p }));
    strip.append(cell);
  }
  section.append(h('p', {}, `the struct pages of the vmemmap page holding pfn ${hex(pfn)} (numbered within their compound page); click one`), strip);
  const v = await model.call('inspect', { pfn });
  const pick = (p: number) => setState({ pfn: p });
  const cols = h('div', { class: 'split' });
  cols.append(h('div', {}, h('h3', {}, `struct page of pfn ${hex(pfn)}`), hexDump(v.page), fields(v.page, 'page', pick)));
  if (v.head) {
    const t1 = v.tail1!;
    const t2 = v.tail2!;
    cols.append(
      h(
        'div',
        {},
        h('h3', {}, `its head, pfn ${hex(v.head.pfn)}`),
        fields(v.head, 'head', pick),
        h(
          'table',
          { class: 'fields' },
          h('tr', {}, h('th', {}, 'compound_order (first tail)'), h('td', { 'data-testid': 'head-order', 'data-value': t1.asFirstTail.order }, t1.asFirstTail.order)),
          h('tr', {}, h('th', {}, 'compound_nr (first tail)'), h('td', { 'data-testid': 'head-nr', 'data-value': t1.asFirstTail.nr }, t1.asFirstTail.nr)),
          h('tr', {}, h('th', {}, 'compound_mapcount (first tail)'), h('td', { 'data-testid': 'head-compound-mapcount', 'data-value': t1.asFirstTail.mapcount }, t1.asFirstTail.mapcount)),
          // the seed's kernel kept the pincount in the second tail; from 5.18 the first tail holds it
          ...(() => {
            const inSecond = t2.asSecondTail.pincount !== null;
            const pin = t2.asSecondTail.pincount ?? t1.asFirstTail.pincount ?? 0;
            return [h('tr', {}, h('th', {}, `compound_pincount (${inSecond ? 'second' : 'first'} tail)`), h('td', { 'data-testid': 'head-pincount', 'data-value': pin }, pin))];
          })(),
        ),
      ),
    );
  }
  section.append(cols);
}

// ---------------------------------------------------------------- step through

async function renderStep(section: HTMLElement): Promise<void> {
  section.append(deviceForm());
  const r = await ensureDevice(section);
  const off = h('input', { value: hex(state.offset), size: 12, 'data-testid': 'input-offset' });
  const pin = h('input', { value: state.pin, size: 6, 'data-testid': 'input-pin' });
  const bFault = h('button', { type: 'button', 'data-testid': 'do-fault' }, 'Fault');
  const bPin = h('button', { type: 'button', 'data-testid': 'do-pin' }, `Pin under each GUP generation (${GUP_GENERATIONS.join(', ')})`);
  const bPoison = h('button', { type: 'button', 'data-testid': 'do-poison' }, 'Poison');
  const log = h('div', { class: 'steps', 'data-testid': 'steps' });
  const pictureBox = h('div', { class: 'draw' });
  section.append(
    h('p', { class: 'intro' }, 'Two processes, p1 and p2, map all of dax0.0 (MAP_SHARED). p1 faults, pins, and consumes poison at an offset; each step is drawn on the compound page it touched.'),
    h('div', { class: 'step-form' }, h('label', {}, 'offset ', off), bFault, h('label', {}, ' pages ', pin), bPin, bPoison),
    h('div', { class: 'split' }, pictureBox, log),
  );
  const offset = () => {
    const v = Number(off.value);
    return Number.isSafeInteger(v) ? v : NaN;
  };
  const redraw = async (a: StepAnnotation | null) => {
    const page = a ? a.page : state.page;
    const m: Map<number, string> = new Map();
    for (const p of a?.pfns ?? []) m.set(p.pfn, m.has(p.pfn) ? `${m.get(p.pfn)}, ${p.role}` : p.role);
    marks = m;
    pictureBox.replaceChildren();
    await drawing(r, page, pictureBox, m);
  };
  const step = async (what: string, f: () => Promise<HTMLElement>, a: () => StepAnnotation | null) => {
    const o = offset();
    setState({ offset: Number.isNaN(o) ? 0 : o, pin: Number(pin.value) || 1 }, false);
    try {
      log.prepend(h('div', { class: 'step', 'data-testid': `step-${what}` }, await f()));
      await redraw(a());
    } catch (e) {
      log.prepend(errorBox(e));
    }
  };
  let last: StepAnnotation | null = null;
  bFault.addEventListener('click', () =>
    step(
      'fault',
      async () => {
        const s = await model.call('fault', { offset: offset() });
        last = s.annotation;
        return h(
          'div',
          {},
          h('h4', {}, `fault at ${hex(s.offset)}`),
          h('p', {}, 'vm_fault_t ', num('fault-rc', s.vmFault, hex(s.vmFault)), `; a ${s.level.toUpperCase()} entry was installed at ${hex(s.addr)} mapping `, num('fault-entry-bytes', s.entryBytes, bytes(s.entryBytes)), ' from pfn ', num('fault-entry-pfn', s.entryPfn, hex(s.entryPfn))),
          h('p', {}, `counters: ${Object.entries(s.counters).filter(([k]) => k.startsWith('fault') || k.startsWith('pgalloc')).map(([k, v]) => `${k} +${v}`).join(', ') || 'none'}`),
          h('p', {}, 'head struct page ', num('fault-head', s.headPfn, hex(s.headPfn)), ` got mapping ${s.mapping} and index `, num('fault-index', s.index, hex(s.index))),
        );
      },
      () => last,
    ),
  );
  bPin.addEventListener('click', () =>
    step(
      'pin',
      async () => {
        const s = await model.call('pin', { offset: offset(), pages: Number(pin.value) });
        last = s.annotation;
        return h(
          'div',
          {},
          h('h4', {}, `pin ${s.pages} pages at ${hex(s.offset)} (head pfn ${hex(s.headPfn)})`),
          h('p', {}, 'A GUP generation that walks devmap leaves runs on a twin of this device on the last kernel with the devmap bit (d438d2734170 removed it in v6.17).'),
          h(
            'table',
            { class: 'plan' },
            h('tr', {}, ...['GUP generation', 'kernel', 'pages taken', 'atomics to pin', 'head _refcount pinned', 'pincount', 'atomics to unpin'].map((t) => h('th', {}, t))),
            ...s.perGeneration.map((g) =>
              h('tr', {}, h('td', {}, g.gen), h('td', { 'data-testid': `pin-${g.gen}-kernel`, 'data-value': g.kernel }, g.kernel), h('td', {}, num(`pin-${g.gen}-taken`, g.taken)), h('td', {}, num(`pin-${g.gen}-atomics`, g.atomics)), h('td', {}, num(`pin-${g.gen}-refcount`, g.headRefcount)), h('td', {}, num(`pin-${g.gen}-pincount`, g.pincount)), h('td', {}, num(`pin-${g.gen}-unpin-atomics`, g.unpinAtomics))),
            ),
          ),
        );
      },
      () => last,
    ),
  );
  bPoison.addEventListener('click', () =>
    step(
      'poison',
      async () => {
        const s = await model.call('poison', { offset: offset() });
        last = s.annotation;
        return h(
          'div',
          {},
          h('h4', {}, `poison at ${hex(s.offset)}: pfn ${hex(s.pfn)}`),
          h('p', {}, 'unit: head pfn ', num('poison-head', s.headPfn, hex(s.headPfn)), ', ', num('poison-unit', s.unitBytes, bytes(s.unitBytes)), `; PG_hwpoison on the pfn: ${s.hwpoison.pfn}, on the head: ${s.hwpoison.head}`),
          h('ul', { 'data-testid': 'poison-signals' }, ...s.signals.map((g) => h('li', { 'data-proc': g.proc, 'data-code': g.code }, `${g.proc}: SIGBUS ${g.code} at ${hex(g.addr)}, si_addr_lsb ${g.addrLsb}`))),
        );
      },
      () => last,
    ),
  );
  await redraw(null);
}

void renderView();
