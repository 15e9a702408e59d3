import { GUP, GUP_GENERATIONS, SZ_1G, SZ_1K, SZ_1M, type VmemmapGeneration } from '@daxsim/mm';
import { FAIL_POINTS } from '@daxsim/debug-vm';
import { FUZZ_PROLOGUE, type FuzzMachine, type FuzzOp, FuzzModel, bootFuzzMachine, formatScenario } from './fuzz-machine.js';

/** The GUP generations that walk devmap leaves: every one the fuzzer's kernel (FUZZ_KERNEL) can run under a huge leaf. */
const DEVMAP_GUP = GUP_GENERATIONS.filter((g) => GUP[g].grab !== 'folio');

/**
 * One abstract step as the property-testing library generates it: a kind
 * selector and four free numbers. It is resolved against the model's current
 * state into a concrete FuzzOp (device, process and mapping names that
 * exist), so every shrunk sequence is still meaningful and prints as a
 * scenario that replays it.
 */
export interface OpSpec {
  t: number;
  a: number;
  b: number;
  c: number;
  d: number;
}

const pick = <T>(xs: readonly T[], n: number): T | undefined => (xs.length ? xs[n % xs.length] : undefined);

/** Resolves a spec into a concrete op, or null when nothing fits (the step is skipped). */
export function resolveOp(model: FuzzModel, s: OpSpec, names: { proc: number; map: number }): FuzzOp | null {
  const devs = [...model.devs.values()];
  const dynDevs = devs.filter((d) => !d.isStatic);
  const bound = devs.filter((d) => d.bound && d.size > 0);
  const live = [...model.procs.entries()].filter(([, p]) => !p.exited);
  const withMaps = live.filter(([, p]) => p.maps.size > 0);
  const t = s.t % 100;
  if (t < 8) {
    const r = s.a % 20;
    if (r === 0) return { op: 'create', size: SZ_1G, align: SZ_1G };
    const align = r < 5 ? 4 * SZ_1K : 2 * SZ_1M;
    return { op: 'create', size: (1 + (s.b % 64)) * 2 * SZ_1M, align };
  }
  if (t < 14) {
    const d = pick(dynDevs, s.a);
    if (!d) return null;
    const unit = Math.max(d.align, 2 * SZ_1M);
    let size = (s.b % 48) * unit;
    if (s.c % 12 === 0) size += 4 * SZ_1K; // misaligned: -EINVAL
    return { op: 'resize', dev: d.name, size };
  }
  if (t < 22) {
    const cand = devs.filter((d) => !d.bound && d.size > 0);
    const d = pick(cand.length && s.c % 8 ? cand : devs, s.a);
    return d ? { op: 'enable', dev: d.name } : null;
  }
  if (t < 27) {
    const d = pick(bound.length && s.c % 8 ? bound : devs, s.a);
    return d ? { op: 'disable', dev: d.name } : null;
  }
  if (t < 30) {
    const d = pick(dynDevs, s.a);
    return d ? { op: 'destroy', dev: d.name } : null;
  }
  if (t < 34) {
    if (live.length >= 4) return null;
    return { op: 'spawn', p: `p${++names.proc}` };
  }
  if (t < 36) {
    const p = pick(live, s.a);
    return p ? { op: 'exit', p: p[0] } : null;
  }
  if (t < 46) {
    const p = pick(live, s.a);
    const d = pick(bound.length && s.d % 8 ? bound : devs, s.b);
    if (!p || !d) return null;
    const unit = d.align;
    const units = Math.max(1, Math.floor(d.size / unit));
    const count = 1 + (s.c % Math.min(4, units));
    let offset = ((s.c >>> 3) % units) * unit;
    if (s.d % 16 === 1) offset += 4 * SZ_1K; // misaligned offset: -EINVAL (unless 4K align)
    return { op: 'mmap', p: p[0], m: `m${++names.map}`, dev: d.name, length: count * unit, offset };
  }
  if (t < 50) {
    const p = pick(withMaps, s.a);
    if (!p) return null;
    const m = pick([...p[1].maps.keys()], s.b)!;
    return { op: 'munmap', p: p[0], m };
  }
  if (t >= 64 && t < 68) {
    // system-ram transitions: devdax <-> system-ram, online/offline
    const d = pick(devs, s.a);
    if (!d) return null;
    if (t === 64) return { op: 'sysram', dev: d.name, noMovable: s.b % 4 === 0 };
    if (t === 65) return { op: 'devdax', dev: d.name, force: s.c % 2 === 0 };
    return t === 66 ? { op: 'online', dev: d.name } : { op: 'offline', dev: d.name };
  }
  if (t < 70) {
    const p = pick(withMaps, s.a);
    if (!p) return null;
    const [m, mp] = pick([...p[1].maps.entries()], s.b)!;
    const off = (s.c % (mp.length / (4 * SZ_1K))) * 4 * SZ_1K + (s.d % 4096);
    return { op: 'touch', p: p[0], m, off, write: s.d % 2 === 0 };
  }
  if (t < 85) {
    const p = pick(withMaps, s.a);
    if (!p) return null;
    const [m, mp] = pick([...p[1].maps.entries()], s.b)!;
    const pages = mp.length / (4 * SZ_1K);
    const off = (s.c % pages) * 4 * SZ_1K;
    const len = Math.min(mp.length - off, (1 + (s.d % 1024)) * 4 * SZ_1K);
    const kinds = ['get', 'pin', 'longterm'] as const;
    return { op: 'pin', p: p[0], m, off, len, kind: kinds[(s.d >>> 10) % 3]!, gen: DEVMAP_GUP[(s.c >>> 12) % DEVMAP_GUP.length]! };
  }
  if (t < 91) {
    const p = pick(live.filter(([, x]) => x.holds.length > 0), s.a);
    return p ? { op: 'unpin', p: p[0] } : null;
  }
  if (t < 95) {
    const d = pick(bound.length ? bound : devs.filter((x) => x.size > 0), s.a);
    if (!d) return null;
    return { op: 'poison', dev: d.name, off: (s.b % (d.size / (4 * SZ_1K))) * 4 * SZ_1K };
  }
  return { op: 'fail', point: FAIL_POINTS[s.a % FAIL_POINTS.length]!, n: 1 + (s.b % 6) };
}

export interface FuzzRunOptions {
  /** Sweep every struct page every `fullEvery` executed ops (and after the last); the other steps get the cheap sweep. */
  fullEvery?: number;
  /** Run the invariant sweep after each step (default true; false: the model comparison only). */
  sweeps?: boolean;
}

export interface FuzzRunResult {
  /** The concrete ops executed, in order (the reproducible scenario, after its preamble). */
  readonly ops: FuzzOp[];
  /** Each op's outcome as its scenario line reports it (StepResult.outcome), parallel to `ops`. */
  readonly outcomes: string[];
  /** Steps resolved and run (skipped specs not counted). */
  readonly executed: number;
  /** The first failing step's violations (empty: the run passed). */
  readonly violations: string[];
  /** The scenario text up to and including the failing step. */
  readonly scenario: string;
  /** The machine the sequence ran on, as it was left. */
  readonly machine: FuzzMachine;
}

/**
 * Runs a sequence of abstract steps on a fresh fuzz machine, checking each
 * against the reference model and the invariant sweep. Stops at the first
 * step with violations.
 */
export function runFuzzSequence(generation: VmemmapGeneration, specs: readonly OpSpec[], opts: FuzzRunOptions = {}): FuzzRunResult {
  const fullEvery = opts.fullEvery ?? 16;
  const machine = bootFuzzMachine(generation);
  const model = new FuzzModel(machine);
  const names = { proc: 0, map: 0 };
  const ops: FuzzOp[] = [];
  const outcomes: string[] = [];
  let executed = 0;
  // the prologue frees the dynamic region for new devices
  const all = [...FUZZ_PROLOGUE.map((o) => ({ o })), ...specs.map((s) => ({ s }))];
  for (let i = 0; i < all.length; i++) {
    const item = all[i]!;
    const o = 'o' in item ? item.o : resolveOp(model, item.s, names);
    if (o === null) continue;
    const last = i === all.length - 1;
    const sweep = opts.sweeps === false ? 'none' : last || (executed + 1) % fullEvery === 0 ? 'full' : 'cheap';
    const r = model.step(o, sweep);
    if (r.skipped) continue;
    ops.push(o);
    outcomes.push(r.outcome);
    executed++;
    if (r.violations.length > 0) {
      return { ops, outcomes, executed, machine, violations: r.violations, scenario: formatScenario(generation, ops, [`generation ${generation}: ${r.violations.length} violation(s) at the last step`, ...r.violations.slice(0, 10)]) };
    }
  }
  return { ops, outcomes, executed, machine, violations: [], scenario: formatScenario(generation, ops) };
}
