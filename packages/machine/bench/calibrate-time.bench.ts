// The calibration harness of the modelled kernel time (@daxsim/mm cost.ts, platform.ts).
//
// 1. Runs the seed's struct-pages-in-RAM experiments on a cascadelake-optane machine and fits the CPU's
//    per-event costs (atomic, vmstat update, GUP call, struct page init) by least squares on relative error:
//    16G gup_test -u/-a before/after, 128G -u after, 128G bootstrap base pages and 2M.
// 2. With those costs and the published memory parameters, predicts the altmap figures (struct pages on
//    Optane) and prints figure / seed / model / error for every one.
// 3. With --lizhe: Li Zhe's v5 pairs (100 GB namespaces on icelake-vm, first bind and average rebind).
//
// Run: pnpm --filter @daxsim/machine bench:calibrate [-- --lizhe]   (a few minutes; 128 GiB namespaces)
import { C, PLATFORMS, type Platform, SZ_1G, SZ_1M, modelledTime } from '@daxsim/mm';
import { Machine, ndctlCreateNamespace, ndctlDisableNamespace, ndctlEnableNamespace, runGupTest, type MachineConfig } from '../src/index.js';

type Row = { figure: string; seed: number; lo?: number; hi?: number; events: Float64Array; calibrated: boolean };

const copy = (e: ArrayLike<number>): Float64Array => Float64Array.from(e as ArrayLike<number>);

function machine(extra: Partial<MachineConfig>, pmem: number): Machine {
  return Machine.create({ arch: 'x86_64', ram: [64 * SZ_1G], pmem: [{ size: pmem, labels: false }], softReserved: [], platform: 'cascadelake-optane', ...extra });
}

/** gup_test's get loop events (one loop: the loops are identical). */
function gup(before: boolean, map: 'mem' | 'dev', pmem: number, mb: number, flag: 'u' | 'a'): Float64Array {
  const m = machine({ kernel: '5.15', ...(before ? {} : { generation: 'tail-reuse' }) }, pmem);
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map, force: true });
  const r = runGupTest(m, ['-f', '/dev/dax0.0', '-m', String(mb), '-r', '1', '-S', `-${flag}`, '-n', '512', '-w'], before ? 'per-page' : 'head-once');
  if (r.exitCode !== 0) throw new Error(r.text);
  return copy(r.repeats[0]!.stats.getModel!.events);
}

/** memmap_init_zone_device's events for a 128 GiB namespace (the whole create-namespace: nothing else in it counts lines or struct page stores with map=mem). */
function boot(generation: string, align: number, map: 'mem' | 'dev'): Float64Array {
  const m = machine({ kernel: '5.15', generation }, 128 * SZ_1G);
  const mark = m.k.counters.v.slice();
  ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
  const v = m.k.counters.v;
  return Float64Array.from(v, (x, i) => x - mark[i]!);
}

/** The modelled ms memmap_init_zone_device's last log line printed. */
function initMs(m: Machine): number {
  const lines = m.k.log.entries.map((r) => /memmap_init_zone_device initialised \d+ pages in (\d+)ms/.exec(r.text)).filter((x) => x !== null);
  return Number(lines[lines.length - 1]![1]);
}

/** The CPU-event features the fit solves for, and the rest of the modelled time (memory, from the literature). */
const FEATURES = ['atomicNs', 'vmstatNs', 'gupCallNs', 'structPageInitNs'] as const;
function features(d: Float64Array): number[] {
  return [
    d[C.atomic_refcount_ops]! + d[C.atomic_flag_ops]!,
    d[C.vmstat_updates]!,
    d[C.gup_fast_calls]!,
    d[C.struct_pages_initialised]! - d[C.struct_pages_template]!,
  ];
}
function withCpu(p: Platform, theta: number[]): Platform {
  const cpu = { ...p.cpu };
  FEATURES.forEach((f, i) => ((cpu as Record<string, unknown>)[f] = theta[i]));
  return { ...p, cpu };
}

/** Least squares on relative error over the calibrated rows (normal equations, Gaussian elimination). */
function fit(p: Platform, rows: Row[]): number[] {
  const cal = rows.filter((r) => r.calibrated);
  const zero = withCpu(p, [0, 0, 0, 0]);
  const n = FEATURES.length;
  const A = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  for (const r of cal) {
    const f = features(r.events).map((x) => x / 1e6 / r.seed);
    const rest = modelledTime(zero, r.events);
    if (rest.bound !== 'cpu') throw new Error(`${r.figure}: not CPU-bound before the fit`);
    const y = 1 - rest.cpuNs / 1e6 / r.seed;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) A[i]![j]! += f[i]! * f[j]!;
      A[i]![n]! += f[i]! * y;
    }
  }
  for (let i = 0; i < n; i++) {
    let piv = i;
    for (let k = i + 1; k < n; k++) if (Math.abs(A[k]![i]!) > Math.abs(A[piv]![i]!)) piv = k;
    [A[i], A[piv]] = [A[piv]!, A[i]!];
    for (let k = 0; k < n; k++) {
      if (k === i) continue;
      const q = A[k]![i]! / A[i]![i]!;
      for (let j = i; j <= n; j++) A[k]![j]! -= q * A[i]![j]!;
    }
  }
  return A.map((row, i) => row[n]! / row[i]!);
}

const ms = (p: Platform, e: Float64Array): number => modelledTime(p, e).ns / 1e6;
const pct = (got: number, want: number): string => `${got >= want ? '+' : ''}${(((got - want) / want) * 100).toFixed(1)}%`;

function main(): void {
  const base = PLATFORMS['cascadelake-optane']!;
  const G16 = 20 * SZ_1G;
  const G128 = 128 * SZ_1G;
  const t0 = performance.now();
  const rows: Row[] = [
    { figure: '16G gup_test -u, before (per-page), struct pages in RAM', seed: 59, events: gup(true, 'mem', G16, 16384, 'u'), calibrated: true },
    { figure: '16G -a, before', seed: 87, events: gup(true, 'mem', G16, 16384, 'a'), calibrated: true },
    { figure: '16G -u, after (head-once)', seed: 6.1, events: gup(false, 'mem', G16, 16384, 'u'), calibrated: true },
    { figure: '16G -a, after', seed: 6.2, events: gup(false, 'mem', G16, 16384, 'a'), calibrated: true },
    { figure: '128G -u, after (-m 129022)', seed: 49, events: gup(false, 'mem', G128, 129022, 'u'), calibrated: true },
    { figure: '128G bootstrap, base pages (268-358)', seed: 313, lo: 268, hi: 358, events: boot('pre-series', 2 * SZ_1M, 'mem'), calibrated: true },
    { figure: '128G bootstrap, 2M (78-110)', seed: 94, lo: 78, hi: 110, events: boot('tail-reuse', 2 * SZ_1M, 'mem'), calibrated: true },
    { figure: '128G bootstrap, 1G (< 1)', seed: 1, lo: 0, hi: 1, events: boot('tail-reuse', SZ_1G, 'mem'), calibrated: false },
    { figure: '16G -u altmap, before', seed: 494, events: gup(true, 'dev', G16, 16384, 'u'), calibrated: false },
    { figure: '16G -a altmap, before', seed: 494, events: gup(true, 'dev', G16, 16384, 'a'), calibrated: false },
    { figure: '16G -u altmap, after', seed: 9, events: gup(false, 'dev', G16, 16384, 'u'), calibrated: false },
    { figure: '16G -a altmap, after', seed: 10, events: gup(false, 'dev', G16, 16384, 'a'), calibrated: false },
    { figure: '128G -u altmap, before (-m 127004)', seed: 3910, events: gup(true, 'dev', G128, 127004, 'u'), calibrated: false },
    { figure: '128G -u altmap, after (-m 127004)', seed: 70, events: gup(false, 'dev', G128, 127004, 'u'), calibrated: false },
  ];
  const theta = fit(base, rows);
  const fitted = withCpu(base, theta);
  console.log(`fitted on ${rows.filter((r) => r.calibrated).length} struct-pages-in-RAM figures:`);
  FEATURES.forEach((f, i) => console.log(`  ${f} = ${theta[i]!.toFixed(3)} ns   (platform table: ${(base.cpu as unknown as Record<string, number>)[f]})`));
  console.log('');
  console.log('| figure | seed (ms) | model, fitted (ms) | model, table (ms) | error (table) | bound | kind |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const got = ms(fitted, r.events);
    const tab = ms(base, r.events);
    const seed = r.lo !== undefined ? `${r.lo}-${r.hi}` : String(r.seed);
    const err = r.lo !== undefined ? (tab >= r.lo && tab <= r.hi! ? 'in range' : pct(tab, tab < r.lo ? r.lo : r.hi!)) : pct(tab, r.seed);
    console.log(`| ${r.figure} | ${seed} | ${got.toFixed(2)} | ${tab.toFixed(2)} | ${err} | ${modelledTime(base, r.events).bound} | ${r.calibrated ? 'calibrated' : 'predicted'} |`);
  }
  if (process.argv.includes('--lizhe')) lizhe();
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s on this host)`);
}

/** Li Zhe's v5 pairs: 100 GB namespaces, first bind and a rebind, without and with the series, on icelake-vm. */
function lizhe(): void {
  console.log('\nLi Zhe v5 (icelake-vm, 100 GB namespaces, map=dev; the log line\'s modelled ms):');
  console.log('| case | published (ms) | model (ms) | error |');
  console.log('|---|---|---|---|');
  const cases: [string, 'devdax' | 'fsdax', string, number, number][] = [
    ['dax_pmem, devdax align 2M', 'devdax', 'per-page', 1462, 273.31],
    ['dax_pmem, devdax align 2M', 'devdax', 'template-nt', 1354, 119.04],
    ['nd_pmem, fsdax map=dev', 'fsdax', 'per-page', 1456, 244.28],
    ['nd_pmem, fsdax map=dev', 'fsdax', 'template-nt', 1272, 96.79],
  ];
  for (const [name, mode, init, first, rebind] of cases) {
    const m = Machine.create({ arch: 'x86_64', ram: [64 * SZ_1G], pmem: [{ size: 100 * SZ_1G, labels: false }], softReserved: [], platform: 'icelake-vm', kernel: '7.3', memmapInit: init });
    const ns = ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode, align: 2 * SZ_1M, map: 'dev', force: true });
    const f = initMs(m);
    ndctlDisableNamespace(m, ns);
    ndctlEnableNamespace(m, ns);
    const b = initMs(m);
    console.log(`| ${name}, ${init === 'per-page' ? 'base' : 'with the series'}, first bind | ${first} | ${f} | ${pct(f, first)} |`);
    console.log(`| ${name}, ${init === 'per-page' ? 'base' : 'with the series'}, rebind | ${rebind} | ${b} | ${pct(b, rebind)} |`);
  }
}

main();
