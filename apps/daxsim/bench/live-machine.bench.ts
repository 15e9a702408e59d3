/**
 * What `ndctl list -N` costs on an empty machine (16 GiB of pmem, a raw
 * namespace) and with 1 TiB of 2M devdax live (issue 22: at most 3x), run
 * as a user runs it: the built CLI (dist/cli.js, `npx -y pnpm@10.34.8 -r build`
 * first), one process per command, wall time from spawn to exit.
 *
 * With the daemon (the default) the first command on a machine starts it and
 * boots the machine from its file (reported as "first"); the others find it
 * in memory (the median of --runs, default 7). With --no-daemon-too, the same
 * commands with DAXSIM_DAEMON=0 (every command boots and replays the file:
 * ~25 s each at 1 TiB). Prints the daemons' resident set size, then stops them.
 *   npx -y pnpm@10.34.8 --filter daxsim bench [-- --runs N] [-- --size 1T] [-- --no-daemon-too]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonStatus, stopDaemon } from '../src/client.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 7);
const SIZE = arg('--size') ?? '1T';
const NO_DAEMON_TOO = process.argv.includes('--no-daemon-too');

/** Runs the CLI on `state`; its wall time in ms (throws on a failure). */
function daxsim(state: string, args: string[], env: Record<string, string> = {}): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, '--machine', state, ...args], { encoding: 'utf8', env: { ...process.env, DAXSIM_MACHINE: '', ...env } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`daxsim ${args.join(' ')}: exit ${r.status}: ${r.stderr.slice(-300)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const GiB = 2 ** 30;

const dir = mkdtempSync(join(tmpdir(), 'daxsim-bench-'));
const empty = join(dir, 'empty.json');
const big = join(dir, 'big.json');
try {
  console.log(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, node ${process.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  // the machines, made with the daemon off (their daemons start with the first measured command)
  const local = { DAXSIM_DAEMON: '0' };
  daxsim(empty, ['machine', 'create', '--ram', '64G', '--pmem', '16G'], local);
  daxsim(big, ['machine', 'create', '--ram', '64G', '--pmem', SIZE], local);
  const made = daxsim(big, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem'], local);
  console.log(`${SIZE} 2M devdax namespace created (DAXSIM_DAEMON=0): ${fmt(made)}`);

  const rows: [string, number, number][] = [];
  const measure = (name: string, state: string, env: Record<string, string> = {}) => {
    const first = daxsim(state, ['ndctl', 'list', '-N'], env);
    const rest = Array.from({ length: RUNS }, () => daxsim(state, ['ndctl', 'list', '-N'], env));
    rows.push([name, first, median(rest)]);
  };
  measure('empty, daemon', empty);
  measure(`${SIZE} live, daemon`, big);
  if (NO_DAEMON_TOO) {
    measure('empty, DAXSIM_DAEMON=0', empty, local);
    measure(`${SIZE} live, DAXSIM_DAEMON=0`, big, local);
  }
  console.log(`ndctl list -N: first command, then the median of ${RUNS}`);
  for (const [name, first, med] of rows) console.log(`  ${name.padEnd(28)} first ${fmt(first).padStart(9)}   median ${fmt(med).padStart(9)}`);
  console.log(`${SIZE} live / empty, with the daemon: ${(rows[1]![2] / rows[0]![2]).toFixed(2)}x (median), ${(rows[1]![1] / rows[0]![1]).toFixed(2)}x (first)`);
  if (NO_DAEMON_TOO) console.log(`${SIZE} live / empty, DAXSIM_DAEMON=0: ${(rows[3]![2] / rows[2]![2]).toFixed(2)}x`);
  for (const [name, state] of [['empty', empty], [SIZE, big]] as const) {
    const s = await daemonStatus(state);
    if (s) console.log(`daemon of the ${name} machine: pid ${s.pid}, ${s.boots} boot(s), ${s.hits} command(s) found it in memory, RSS ${(s.rss / GiB).toFixed(2)} GiB (peak ${(s.peakRss / GiB).toFixed(2)} GiB)`);
  }
} finally {
  await stopDaemon(empty).catch(() => undefined);
  await stopDaemon(big).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
