/**
 * `ndctl create-namespace` at scale (issue 22): a label-less region of 256 GiB,
 * 1 TiB and 4 TiB (and 64 TiB at 1G), reconfigured to devdax at 2M and 1G with
 * the memmap in RAM (-M mem), plus base pages (4K) at 1 TiB. Each case runs
 * the built CLI in a fresh process, one at a time, and reports wall time and
 * the process's peak RSS (its maxRSS at exit), or the refusal when exact
 * simulation would not fit the host memory limit (DAXSIM_HOST_MEMORY, default
 * half the host's memory).
 *   pnpm -r build && node apps/daxsim/bench/create-namespace.bench.mjs [filter]
 * A benchmark, not a test: several cases need GiBs of host memory; run one
 * benchmark at a time on a shared host.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const filter = process.argv[2] ?? '';
const dir = mkdtempSync(join(tmpdir(), 'daxsim-bench-'));
// prints the process's peak RSS (KiB) on stderr as it exits
const hook = join(dir, 'rss-hook.mjs');
writeFileSync(hook, "process.on('exit', () => process.stderr.write(`\\nBENCH_MAXRSS_KIB=${process.resourceUsage().maxRSS}\\n`));\n");

function run(state, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', hook, cli, '--machine', state, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const rss = Number(/BENCH_MAXRSS_KIB=(\d+)/.exec(r.stderr)?.[1] ?? NaN);
  const err = r.stderr.replace(/\n?BENCH_MAXRSS_KIB=\d+\n?/, '').trim();
  return { status: r.status, s, rssMiB: Math.round(rss / 1024), err };
}

const CASES = [
  ['256G', '2M'], ['256G', '1G'],
  ['1T', '2M'], ['1T', '1G'], ['1T', '4K'],
  ['4T', '2M'], ['4T', '1G'],
  ['64T', '1G'],
];
console.log(`host: ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const rows = [];
for (const [size, align] of CASES) {
  const name = `${size} ${align}`;
  if (!name.includes(filter)) continue;
  const state = join(dir, `${size}-${align}.json`);
  const boot = run(state, ['machine', 'create', '--ram', '64G', '--pmem', size]);
  if (boot.status !== 0) throw new Error(`machine create --pmem ${size}: ${boot.err}`);
  const c = run(state, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', align, '-M', 'mem']);
  const row = {
    case: name,
    'machine create s': +boot.s.toFixed(2),
    'create-namespace s': c.status === 0 ? +c.s.toFixed(2) : '-',
    'peak RSS MiB': c.status === 0 ? c.rssMiB : '-',
    result: c.status === 0 ? 'ok' : `exit ${c.status}: ${c.err.slice(0, 160)}`,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
  rmSync(state, { force: true });
}
console.table(rows);
rmSync(dir, { recursive: true, force: true });
