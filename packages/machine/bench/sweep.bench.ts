/**
 * What the default run's invariant sweeps cost: the debug-vm sweep (cheap and
 * full) on the default machine (64 GiB RAM, a 128 GiB label-less pmem region)
 * with its namespace as the default run builds it, for the rows that cost
 * most to sweep. Medians and minima of N runs each; with SWEEP_BASELINE=path
 * (a module exporting checkInvariants, e.g. an older invariants.ts), the
 * baseline and the current sweep alternate in one process and the ratio is
 * printed.
 *   NODE_OPTIONS=--conditions=@daxsim/source npx tsx bench/sweep.bench.ts
 */
import { cpus } from 'node:os';
import { checkInvariants as current } from '@daxsim/debug-vm';
import { SZ_1M, type VmemmapGeneration } from '@daxsim/mm';
import { DEFAULT_CONFIG, Machine, ndctlCreateNamespace, ndctlDestroyNamespace } from '../src/index.js';

type Sweep = typeof current;
const N = Number(process.env['SWEEP_N'] ?? 5);
const baselinePath = process.env['SWEEP_BASELINE'];
const baseline: Sweep | undefined = baselinePath ? ((await import(baselinePath)) as { checkInvariants: Sweep }).checkInvariants : undefined;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const min = (xs: number[]) => Math.min(...xs);

// The default run sweeps every namespace cheaply (26 rows) and the 2M tail-reuse device in full
// after its gup_tests, --map=mem and --map=dev.
const ROWS: [string, number, 'mem' | 'dev', VmemmapGeneration, boolean][] = [
  ['4K mem pre-series, cheap', 4096, 'mem', 'pre-series', false],
  ['2M mem tail-reuse, cheap', 2 * SZ_1M, 'mem', 'tail-reuse', false],
  ['2M mem tail-reuse, full', 2 * SZ_1M, 'mem', 'tail-reuse', true],
  ['2M dev tail-reuse, cheap', 2 * SZ_1M, 'dev', 'tail-reuse', false],
  ['2M dev tail-reuse, full', 2 * SZ_1M, 'dev', 'tail-reuse', true],
  ['2M mem shared-tail, cheap', 2 * SZ_1M, 'mem', 'shared-tail', false],
  ['2M mem shared-tail, full', 2 * SZ_1M, 'mem', 'shared-tail', true],
];

const only = process.env['SWEEP_ROWS'];
const m = Machine.create(DEFAULT_CONFIG);
console.log(`sweep bench: ${cpus()[0]?.model ?? '?'}, node ${process.version}, N=${N}`);
for (const [name, align, map, g, full] of ROWS) {
  if (only && !name.includes(only)) continue;
  m.bus.generation = g;
  const ns = ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
  const run = (f: Sweep): number => {
    const t0 = performance.now();
    const v = f(m.k, m.bus, [], { full });
    const t = performance.now() - t0;
    if (v.length) throw new Error(`${name}: ${v.length} violations: ${v[0]!.invariant}: ${v[0]!.message}`);
    return t;
  };
  const cur: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < N; i++) {
    if (baseline) base.push(run(baseline));
    cur.push(run(current));
  }
  const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms, min ${min(xs).toFixed(1)} ms`;
  console.log(
    baseline
      ? `${name.padEnd(26)} baseline ${fmt(base)} | current ${fmt(cur)} | ${(median(base) / median(cur)).toFixed(1)}x (min ${(min(base) / min(cur)).toFixed(1)}x)`
      : `${name.padEnd(26)} ${fmt(cur)}`,
  );
  ndctlDestroyNamespace(m, ns, true);
}
