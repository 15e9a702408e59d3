import { parseSize } from '@daxsim/machine';
import { SZ_1G, ARCH_PROFILES, type ArchProfile, ALL_VMEMMAP_GENERATIONS, archByName, isVmemmapGeneration } from '@daxsim/mm';

/** The views of the explorer, in tab order. */
export const VIEWS = ['plan', 'device', 'inspect', 'step'] as const;
export type View = (typeof VIEWS)[number];

/**
 * Everything the page shows follows from this: it lives in the URL's
 * fragment (`#view=device&arch=x86_64&size=16G&align=2M&...`), so a link
 * reproduces the page on any static host, and nothing is sent to a server.
 */
export interface ExplorerState {
  readonly view: View;
  /** The device: a label-less pmem region of `size` reconfigured to devdax. */
  readonly arch: string;
  readonly ram: number;
  readonly size: number;
  readonly align: number;
  readonly map: 'mem' | 'dev';
  readonly generation: string;
  /** The compound page drawn, counted from the device's first. */
  readonly page: number;
  /** The pfn inspected, -1: the head of the page drawn. */
  readonly pfn: number;
  /** Plan view: the size the table is for, and the architectures plotted. */
  readonly planSize: number;
  readonly planArches: readonly string[];
  /** Step view: the offset faulted, the pages pinned. */
  readonly offset: number;
  readonly pin: number;
}


export const DEFAULT_STATE: ExplorerState = Object.freeze({
  view: 'device',
  arch: 'x86_64',
  ram: 64 * SZ_1G,
  size: 16 * SZ_1G,
  align: 2 ** 21,
  map: 'mem',
  generation: 'tail-reuse',
  page: 0,
  pfn: -1,
  planSize: 2 ** 40,
  planArches: ['x86_64'],
  offset: 0,
  pin: 512,
});

/** A size as the command line writes it: 16G, 2M, 4K, 1T (the largest unit that divides it). */
export function sizeText(bytes: number): string {
  for (const [suf, mul] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const)
    if (bytes >= mul && bytes % mul === 0) return `${bytes / mul}${suf}`;
  return String(bytes);
}

/** A size from the URL or a form: what ndctl parses (K/M/G/T), or P for the planner's petabytes. */
export function readSize(text: string): number | undefined {
  const p = /^\s*(\d+)[pP]\s*$/.exec(text);
  if (p) return Number(p[1]) * 2 ** 50;
  return parseSize(text);
}

export function archOf(s: ExplorerState): ArchProfile {
  return archByName(s.arch)!;
}

/** Problems with a state, one message per field (empty: valid). The lists come from @daxsim/mm, never from here. */
export function stateProblems(s: ExplorerState): string[] {
  const out: string[] = [];
  const arch = archByName(s.arch);
  if (!arch) out.push(`arch: '${s.arch}' is not one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  if (!isVmemmapGeneration(s.generation)) out.push(`generation: '${s.generation}' is not one of ${ALL_VMEMMAP_GENERATIONS.join(', ')}`);
  if (arch && !arch.devdaxAligns.includes(s.align))
    out.push(`align: ${sizeText(s.align)} is not an align device-dax supports on ${arch.name} (${arch.devdaxAligns.map(sizeText).join(', ')})`);
  if (!Number.isSafeInteger(s.size) || s.size <= 0) out.push(`size: ${s.size} is not a positive size`);
  if (!Number.isSafeInteger(s.ram) || s.ram <= 0) out.push(`ram: ${s.ram} is not a positive size`);
  if (!Number.isSafeInteger(s.planSize) || s.planSize <= 0) out.push(`plan: ${s.planSize} is not a positive size`);
  for (const a of s.planArches) if (!archByName(a)) out.push(`arches: '${a}' is not one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  if (!Number.isSafeInteger(s.page) || s.page < 0) out.push(`page: ${s.page} is not a compound page number`);
  if (!Number.isSafeInteger(s.pfn) || s.pfn < -1) out.push(`pfn: ${s.pfn} is not a pfn`);
  if (!Number.isSafeInteger(s.offset) || s.offset < 0) out.push(`offset: ${s.offset} is not an offset`);
  if (!Number.isSafeInteger(s.pin) || s.pin <= 0) out.push(`pin: ${s.pin} is not a number of pages`);
  return out;
}

/** The state as a URL fragment (without '#'); fields equal to the default are left out. */
export function encodeState(s: ExplorerState): string {
  const d = DEFAULT_STATE;
  const q = new URLSearchParams();
  q.set('view', s.view);
  if (s.arch !== d.arch) q.set('arch', s.arch);
  if (s.ram !== d.ram) q.set('ram', sizeText(s.ram));
  if (s.size !== d.size) q.set('size', sizeText(s.size));
  if (s.align !== d.align) q.set('align', sizeText(s.align));
  if (s.map !== d.map) q.set('map', s.map);
  if (s.generation !== d.generation) q.set('gen', s.generation);
  if (s.page !== d.page) q.set('page', String(s.page));
  if (s.pfn !== d.pfn) q.set('pfn', `0x${s.pfn.toString(16)}`);
  if (s.planSize !== d.planSize) q.set('plan', sizeText(s.planSize));
  if (s.planArches.join(',') !== d.planArches.join(',')) q.set('arches', s.planArches.join(','));
  if (s.offset !== d.offset) q.set('off', `0x${s.offset.toString(16)}`);
  if (s.pin !== d.pin) q.set('pin', String(s.pin));
  return q.toString();
}

const int = (t: string): number => (/^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^-?\d+$/.test(t) ? Number(t) : NaN);

/**
 * A URL fragment back to a state. Returns the state and what was wrong with
 * it: a field that does not parse or is not valid keeps its default and is
 * named in `problems`.
 */
export function decodeState(fragment: string): { state: ExplorerState; problems: string[] } {
  const q = new URLSearchParams(fragment.replace(/^#/, ''));
  const problems: string[] = [];
  const s: { -readonly [K in keyof ExplorerState]: ExplorerState[K] } = { ...DEFAULT_STATE };
  const size = (key: string, field: 'ram' | 'size' | 'align' | 'planSize') => {
    const t = q.get(key);
    if (t === null) return;
    const v = readSize(t);
    if (v === undefined) problems.push(`${key}: '${t}' is not a size`);
    else s[field] = v;
  };
  const num = (key: string, field: 'page' | 'pfn' | 'offset' | 'pin') => {
    const t = q.get(key);
    if (t === null) return;
    const v = int(t);
    if (Number.isNaN(v)) problems.push(`${key}: '${t}' is not a number`);
    else s[field] = v;
  };
  const view = q.get('view');
  if (view !== null) {
    if ((VIEWS as readonly string[]).includes(view)) s.view = view as View;
    else problems.push(`view: '${view}' is not one of ${VIEWS.join(', ')}`);
  }
  s.arch = q.get('arch') ?? s.arch;
  size('ram', 'ram');
  size('size', 'size');
  size('align', 'align');
  const map = q.get('map');
  if (map !== null) {
    if (map === 'mem' || map === 'dev') s.map = map;
    else problems.push(`map: '${map}' is not mem or dev`);
  }
  s.generation = q.get('gen') ?? s.generation;
  num('page', 'page');
  num('pfn', 'pfn');
  size('plan', 'planSize');
  const arches = q.get('arches');
  if (arches !== null) s.planArches = arches.split(',').filter(Boolean);
  num('off', 'offset');
  num('pin', 'pin');
  // an invalid field falls back to its default, so the page always shows something real
  for (const p of stateProblems(s)) {
    problems.push(p);
    const field = p.slice(0, p.indexOf(':'));
    const key = ({ plan: 'planSize', arches: 'planArches', gen: 'generation' } as Record<string, keyof ExplorerState>)[field] ?? (field as keyof ExplorerState);
    (s as Record<string, unknown>)[key] = DEFAULT_STATE[key];
  }
  // the default align may not exist on the architecture asked for: take its PMD-sized one, or its first
  const arch = archByName(s.arch)!;
  if (!arch.devdaxAligns.includes(s.align)) s.align = arch.devdaxAligns.find((a) => a > arch.pageSize) ?? arch.devdaxAligns[0]!;
  return { state: s, problems };
}
