import { type GupGeneration, GUP_GENERATIONS, isGupGeneration } from '@daxsim/gup';
import { SZ_1G, SZ_1K, SZ_1M, hex } from '@daxsim/mm';
import { parseSize } from './size.js';

/**
 * The one operation language of daxsim: a scenario line of `daxsim run`, a
 * step of the fuzzer, and (as a `tool` op) a command line of the CLI are all
 * a ScenarioOp. parseScenarioLine() reads a line into one; formatScenarioOp()
 * writes one back as the line that does it, so what the fuzzer prints is a
 * scenario the runner reads, word for word.
 */
export type ScenarioOp =
  /** the first line only: the machine's command-line options (`daxsim machine create` without -f) */
  | { readonly op: 'machine'; readonly args: readonly string[] }
  /** a tool line: ndctl, daxctl, gup-test, stat (and any command the CLI adds to TOOL_WORDS) */
  | { readonly op: 'tool'; readonly argv: readonly string[] }
  /** DAXSIM_FAIL syntax: the n-th allocation or grab from now fails */
  | { readonly op: 'fail'; readonly spec: string }
  /** a bad media location at an offset of a device: memory_failure() with no consumer */
  | { readonly op: 'poison'; readonly dev: string; readonly off: number }
  /** echo V > /proc/sys/vm/memory_failure_early_kill */
  | { readonly op: 'sysctl'; readonly key: 'vm.memory_failure_early_kill'; readonly value: 0 | 1 }
  /** hwpoison_inject's debugfs files (kstrtoull base 0 of a pfn) */
  | { readonly op: 'hwpoison-inject'; readonly file: 'corrupt-pfn' | 'unpoison-pfn'; readonly pfn: number }
  /** a write to /sys/bus/dax/devices/daxX.Y/memmap_on_memory (kstrtobool) */
  | { readonly op: 'memmap-on-memory'; readonly dev: string; readonly value: boolean }
  /** dump_page() of one struct page: a pfn or `daxX.Y:INDEX` (resolved when the line runs), its text or --json */
  | { readonly op: 'page'; readonly spec: string; readonly json: boolean }
  | { readonly op: 'spawn'; readonly p: string }
  /** write and shared default to true (prot=rw flags=shared); length to the whole device from offset */
  | { readonly op: 'mmap'; readonly p: string; readonly m: string; readonly dev: string; readonly length?: number; readonly offset: number; readonly write?: boolean; readonly shared?: boolean }
  | { readonly op: 'munmap'; readonly p: string; readonly m: string }
  | { readonly op: 'touch'; readonly p: string; readonly m: string; readonly off: number; readonly write: boolean }
  | { readonly op: 'read'; readonly p: string; readonly m: string; readonly off: number; readonly len: number }
  | { readonly op: 'write'; readonly p: string; readonly m: string; readonly off: number; readonly data: string }
  /** pin_user_pages_fast / get_user_pages_fast / FOLL_LONGTERM; gen: the machine kernel's GUP when absent */
  | { readonly op: 'pin'; readonly p: string; readonly m: string; readonly off: number; readonly len: number; readonly kind: 'get' | 'pin' | 'longterm'; readonly gen?: GupGeneration }
  | { readonly op: 'unpin'; readonly p: string }
  /** p loads a byte at the offset and consumes poison there (BUS_MCEERR_AR) */
  | { readonly op: 'consume-poison'; readonly p: string; readonly m: string; readonly off: number }
  /** madvise(MADV_HWPOISON) on a page of p's own mapping; len: one page when absent */
  | { readonly op: 'madvise-hwpoison'; readonly p: string; readonly m: string; readonly off: number; readonly len?: number }
  | { readonly op: 'prctl-mce-kill'; readonly p: string; readonly policy: 'early' | 'late' | 'default' }
  | { readonly op: 'alloc'; readonly p: string; readonly name: string; readonly size: number; readonly node: number; readonly kernel: boolean }
  | { readonly op: 'free'; readonly p: string; readonly name: string }
  | { readonly op: 'exit'; readonly p: string };

// one entry per op: the compiler checks the list is complete
const OP_KINDS: Record<ScenarioOp['op'], true> = {
  machine: true, tool: true, fail: true, poison: true, sysctl: true, 'hwpoison-inject': true, 'memmap-on-memory': true, page: true,
  spawn: true, mmap: true, munmap: true, touch: true, read: true, write: true, pin: true, unpin: true, 'consume-poison': true,
  'madvise-hwpoison': true, 'prctl-mce-kill': true, alloc: true, free: true, exit: true,
};
/** Every kind of op of the language. */
export const SCENARIO_OP_KINDS: readonly ScenarioOp['op'][] = Object.keys(OP_KINDS) as ScenarioOp['op'][];

/** A malformed line: the scenario stops there. */
export class ScenarioSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioSyntaxError';
  }
}

/** The first words of the lines handed to a tool runner (the CLI's commands). */
export const TOOL_WORDS: readonly string[] = ['ndctl', 'daxctl', 'gup-test', 'stat'];

/** A size as a scenario writes it: 4K, 2M, 1G or bytes. */
export function formatScenarioSize(n: number): string {
  if (n !== 0 && n % SZ_1G === 0) return `${n / SZ_1G}G`;
  if (n !== 0 && n % SZ_1M === 0) return `${n / SZ_1M}M`;
  if (n !== 0 && n % SZ_1K === 0) return `${n / SZ_1K}K`;
  return String(n);
}

function num(s: string | undefined, what: string): number {
  const v = s === undefined ? undefined : parseSize(s);
  if (v === undefined) throw new ScenarioSyntaxError(`${what}: '${s ?? ''}' is not a size or offset`);
  return v;
}

function name(s: string | undefined, usage: string): string {
  if (!s) throw new ScenarioSyntaxError(usage);
  return s;
}

function kv(words: readonly string[]): { flags: Set<string>; kv: Map<string, string> } {
  const flags = new Set<string>();
  const map = new Map<string, string>();
  for (const w of words) {
    const i = w.indexOf('=');
    if (i > 0) map.set(w.slice(0, i), w.slice(i + 1));
    else flags.add(w);
  }
  return { flags, kv: map };
}

/** The words of a line: `#` starts a comment; [] for a blank line. */
export function scenarioWords(line: string): string[] {
  const t = line.replace(/#.*/, '').trim();
  return t ? t.split(/\s+/) : [];
}

/** Reads one scenario line; null for a blank or comment line. ScenarioSyntaxError names what is wrong. */
export function parseScenarioLine(line: string): ScenarioOp | null {
  const words = scenarioWords(line);
  return words.length ? parseScenarioWords(words) : null;
}

/** Reads the words of one scenario line (see parseScenarioLine). */
export function parseScenarioWords(words: readonly string[]): ScenarioOp {
  const w0 = words[0]!;
  if (w0 === 'machine') return { op: 'machine', args: words.slice(1) };
  if (TOOL_WORDS.includes(w0)) return { op: 'tool', argv: [...words] };
  if (w0 === 'fail') {
    if (words.length !== 2) throw new ScenarioSyntaxError('fail POINT:N[,POINT:N...]');
    return { op: 'fail', spec: words[1]! };
  }
  if (w0 === 'poison' && words.length === 3) return { op: 'poison', dev: words[1]!, off: num(words[2], 'poison offset') };
  if (w0 === 'sysctl') {
    const v = words[2];
    if (words.length !== 3 || words[1] !== 'vm.memory_failure_early_kill' || (v !== '0' && v !== '1'))
      throw new ScenarioSyntaxError('sysctl vm.memory_failure_early_kill 0|1');
    return { op: 'sysctl', key: 'vm.memory_failure_early_kill', value: v === '1' ? 1 : 0 };
  }
  if (w0 === 'sysfs' && words[1]?.startsWith('/sys/kernel/debug/hwpoison/')) {
    const file = words[1].slice('/sys/kernel/debug/hwpoison/'.length);
    const pfn = words[2] !== undefined ? Number(words[2]) : NaN;
    if (words.length !== 3 || (file !== 'corrupt-pfn' && file !== 'unpoison-pfn') || !Number.isSafeInteger(pfn) || pfn < 0)
      throw new ScenarioSyntaxError('sysfs /sys/kernel/debug/hwpoison/corrupt-pfn|unpoison-pfn PFN');
    return { op: 'hwpoison-inject', file, pfn };
  }
  if (w0 === 'sysfs') {
    // memmap_on_memory_store(): kstrtobool() of the value
    const v = words[3]?.toLowerCase();
    if (words.length !== 4 || words[2] !== 'memmap_on_memory' || !['0', '1', 'y', 'n', 'on', 'off'].includes(v ?? ''))
      throw new ScenarioSyntaxError('sysfs daxX.Y memmap_on_memory 0|1');
    return { op: 'memmap-on-memory', dev: words[1]!, value: v === '1' || v === 'y' || v === 'on' };
  }
  if (w0 === 'page') {
    const rest = words.slice(1);
    const args = rest.filter((w) => w !== '--json');
    if (args.length !== 1 || args[0]!.startsWith('-')) throw new ScenarioSyntaxError('page PFN|daxX.Y:INDEX [--json]');
    return { op: 'page', spec: args[0]!, json: rest.length > 1 };
  }
  if (w0 === 'spawn') {
    if (!words[1] || words.length !== 2) throw new ScenarioSyntaxError('spawn NAME');
    return { op: 'spawn', p: words[1] };
  }
  const p = w0;
  const verb = words[1];
  switch (verb) {
    case 'mmap': {
      const usage = 'P mmap NAME daxX.Y length=SIZE [offset=BYTES] [prot=rw|r] [flags=shared|private]';
      const m = name(words[2], usage);
      const dev = name(words[3], usage);
      const a = kv(words.slice(4));
      const len = a.kv.get('length');
      return {
        op: 'mmap',
        p,
        m,
        dev,
        ...(len !== undefined ? { length: num(len, 'length') } : {}),
        offset: num(a.kv.get('offset') ?? '0', 'offset'),
        write: (a.kv.get('prot') ?? 'rw') !== 'r',
        shared: (a.kv.get('flags') ?? 'shared') !== 'private',
      };
    }
    case 'touch':
      return { op: 'touch', p, m: name(words[2], 'P touch NAME OFFSET [write]'), off: num(words[3], 'touch offset'), write: words.slice(4).includes('write') };
    case 'read':
      return { op: 'read', p, m: name(words[2], 'P read NAME OFFSET LENGTH'), off: num(words[3], 'read offset'), len: num(words[4], 'read length') };
    case 'write':
      return { op: 'write', p, m: name(words[2], 'P write NAME OFFSET TEXT'), off: num(words[3], 'write offset'), data: words.slice(4).join(' ') };
    case 'pin':
    case 'get':
    case 'longterm': {
      const m = name(words[2], `P ${verb} NAME OFFSET LENGTH [gen=G] [get] [longterm]`);
      const off = num(words[3], 'pin offset');
      const len = num(words[4], 'pin length');
      const a = kv(words.slice(5));
      const gen = a.kv.get('gen');
      if (gen !== undefined && !isGupGeneration(gen)) throw new ScenarioSyntaxError(`gen=${gen}: one of ${GUP_GENERATIONS.join(', ')}`);
      const kind = verb === 'get' || a.flags.has('get') ? 'get' : verb === 'longterm' || a.flags.has('longterm') ? 'longterm' : 'pin';
      return { op: 'pin', p, m, off, len, kind, ...(gen !== undefined ? { gen } : {}) };
    }
    case 'unpin':
      return { op: 'unpin', p };
    case 'poison':
      return { op: 'consume-poison', p, m: name(words[2], 'P poison NAME OFFSET'), off: num(words[3], 'poison offset') };
    case 'madvise': {
      if (words[4] !== 'hwpoison' || words.length > 6) throw new ScenarioSyntaxError('P madvise NAME OFFSET hwpoison [LENGTH]');
      return { op: 'madvise-hwpoison', p, m: words[2]!, off: num(words[3], 'madvise offset'), ...(words[5] !== undefined ? { len: num(words[5], 'madvise length') } : {}) };
    }
    case 'prctl': {
      const policy = words[3];
      if (words[2] !== 'mce_kill' || words.length !== 4 || (policy !== 'early' && policy !== 'late' && policy !== 'default'))
        throw new ScenarioSyntaxError('P prctl mce_kill early|late|default');
      return { op: 'prctl-mce-kill', p, policy };
    }
    case 'munmap':
      return { op: 'munmap', p, m: name(words[2], 'P munmap NAME') };
    case 'alloc': {
      const n = words[2];
      if (!n || words[3] === undefined) throw new ScenarioSyntaxError('P alloc NAME SIZE [node=N] [kernel]');
      const a = kv(words.slice(4));
      const node = Number(a.kv.get('node') ?? '0');
      if (!Number.isInteger(node) || node < 0) throw new ScenarioSyntaxError(`node=${a.kv.get('node')}: a node number`);
      return { op: 'alloc', p, name: n, size: num(words[3], 'alloc size'), node, kernel: a.flags.has('kernel') };
    }
    case 'free':
      return { op: 'free', p, name: words[2] ?? '' };
    case 'exit':
      return { op: 'exit', p };
    default:
      throw new ScenarioSyntaxError(`unknown command '${words.slice(0, 2).join(' ')}'`);
  }
}

/** The scenario line that does `o` (parseScenarioLine() of it gives `o` back). */
export function formatScenarioOp(o: ScenarioOp): string {
  const sz = formatScenarioSize;
  switch (o.op) {
    case 'machine':
      return ['machine', ...o.args].join(' ');
    case 'tool':
      return o.argv.join(' ');
    case 'fail':
      return `fail ${o.spec}`;
    case 'poison':
      return `poison ${o.dev} ${hex(o.off)}`;
    case 'sysctl':
      return `sysctl ${o.key} ${o.value}`;
    case 'hwpoison-inject':
      return `sysfs /sys/kernel/debug/hwpoison/${o.file} ${hex(o.pfn)}`;
    case 'memmap-on-memory':
      return `sysfs ${o.dev} memmap_on_memory ${o.value ? 1 : 0}`;
    case 'page':
      return `page ${o.spec}${o.json ? ' --json' : ''}`;
    case 'spawn':
      return `spawn ${o.p}`;
    case 'mmap':
      return `${o.p} mmap ${o.m} ${o.dev}${o.length !== undefined ? ` length=${sz(o.length)}` : ''} offset=${hex(o.offset)} prot=${o.write === false ? 'r' : 'rw'} flags=${o.shared === false ? 'private' : 'shared'}`;
    case 'munmap':
      return `${o.p} munmap ${o.m}`;
    case 'touch':
      return `${o.p} touch ${o.m} ${hex(o.off)} ${o.write ? 'write' : 'read'}`;
    case 'read':
      return `${o.p} read ${o.m} ${hex(o.off)} ${o.len}`;
    case 'write':
      return `${o.p} write ${o.m} ${hex(o.off)} ${o.data}`;
    case 'pin':
      return `${o.p} ${o.kind} ${o.m} ${hex(o.off)} ${sz(o.len)}${o.gen !== undefined ? ` gen=${o.gen}` : ''}`;
    case 'unpin':
      return `${o.p} unpin`;
    case 'consume-poison':
      return `${o.p} poison ${o.m} ${hex(o.off)}`;
    case 'madvise-hwpoison':
      return `${o.p} madvise ${o.m} ${hex(o.off)} hwpoison${o.len !== undefined ? ` ${sz(o.len)}` : ''}`;
    case 'prctl-mce-kill':
      return `${o.p} prctl mce_kill ${o.policy}`;
    case 'alloc':
      return `${o.p} alloc ${o.name} ${sz(o.size)} node=${o.node}${o.kernel ? ' kernel' : ''}`;
    case 'free':
      return `${o.p} free ${o.name}`;
    case 'exit':
      return `${o.p} exit`;
  }
}
