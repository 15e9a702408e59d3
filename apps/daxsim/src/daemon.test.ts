import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readState } from '@daxsim/machine/state-file';
import { CLI, cliEnv, daxsim, scratch } from '../test/cli.js';
import { daemonPaths, daemonPid } from './client.js';

/**
 * The state file's daemon (./daemon.ts): what a command prints and returns
 * does not depend on it; killing it loses nothing a client was told
 * succeeded; it does not outlive its state file, its socket or its idle time.
 */

const dirs: string[] = [];
const dir = (): string => {
  const d = scratch();
  dirs.push(d);
  return d;
};
// no daemon a test started outlives the file
afterAll(() => {
  for (const d of dirs) {
    const pid = daemonPid(join(d, 'daxsim-machine.json'));
    if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGTERM');
  }
});

const LOCAL = { DAXSIM_DAEMON: '0' };
const stateOf = (d: string) => join(d, 'daxsim-machine.json');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone (false after `ms`). */
async function exits(pid: number, ms = 8000): Promise<boolean> {
  for (let t = 0; t < ms; t += 100) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

/** The pid of the daemon serving the machine in `d` (after a command started it). */
function pidIn(d: string): number {
  const pid = daemonPid(stateOf(d));
  expect(pid, `a daemon serves ${d}`).toBeDefined();
  expect(alive(pid!)).toBe(true);
  return pid!;
}

/** Runs the CLI asynchronously. */
function run(d: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: d, env: cliEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('exit', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/** An empty 8 GiB dynamic region (dax0.0 disabled and sized to 0). */
function emptyRegion(env: Record<string, string> = {}): string {
  const d = dir();
  expect(daxsim(d, ['machine', 'create', '--ram', '2G', '--soft-reserved', '8G'], env).status).toBe(0);
  expect(daxsim(d, ['daxctl', 'disable-device', 'dax0.0'], env).status).toBe(0);
  expect(daxsim(d, ['daxctl', 'reconfigure-device', '-s', '0', 'dax0.0'], env).status).toBe(0);
  return d;
}

describe('the daemon', () => {
  it('changes nothing a command prints or returns: the same stdout, stderr and exit status with DAXSIM_DAEMON=0', () => {
    const lines: string[][] = [
      ['machine', 'create', '--ram', '4G', '--pmem', '4G'],
      ['ndctl', 'list', '-N', '-R'],
      ['ndctl', 'create-namespace', '-m', 'devdax', '-a', '2M'], // ENOSPC: namespace0.0 holds the region
      ['ndctl', 'create-namespace', '-f', '-e', 'namespace9.9', '-m', 'devdax'], // no such namespace
      ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '3M'], // bad align
      ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem'],
      ['daxctl', 'list'],
      ['stat', '--json'],
      ['layout'],
      ['gup-test', '-f', '/dev/dax0.0', '-m', '4', '-n', '512', '-u', '-S'],
      ['stat', '--json'],
      ['dmesg'],
      ['ndctl', 'list', '-N'],
      ['machine', 'show'],
      ['--machine', 'missing/x.json', 'ndctl', 'list'],
    ];
    const viaDaemon = dir();
    const local = dir();
    for (const args of lines) {
      const a = daxsim(viaDaemon, args);
      const b = daxsim(local, args, LOCAL);
      // wall times (gup_test's, the kernel log's timestamps and memmap_init_zone_device's) differ from run to run
      const mask = (t: string) =>
        t
          .replace(/get:\d+ put:\d+ us/g, 'get:N put:N us')
          .replace(/^\[ *\d+\.\d{6}\]/gm, '[T]')
          .replace(/ in \d+ms$/gm, ' in Nms');
      expect({ args, status: a.status, stdout: mask(a.stdout), stderr: a.stderr }).toEqual({ args, status: b.status, stdout: mask(b.stdout), stderr: b.stderr });
    }
    pidIn(viaDaemon);
    expect(daemonPid(stateOf(local))).toBeUndefined();
    // the same state saved, but for the kernel log's wall-clock times
    const saved = (d: string) => {
      const st = readState(stateOf(d))!;
      const ms = (t: string) => t.replace(/ in \d+ms$/, ' in Nms');
      // the host's own time (hostText, the time model's --host-time line) is wall-clock too
      return { ...st, history: { ...st.history!, log: st.history!.log.map((r) => ({ ...r, time: 0, text: ms(r.text), ...('hostText' in r ? { hostText: ms(String(r.hostText)) } : {}) })) } };
    };
    expect(saved(viaDaemon)).toEqual(saved(local));
  });

  it('killed (SIGKILL) at random moments: every device a client was told it created is in the state file', async () => {
    const d = emptyRegion();
    const told: string[] = [];
    let killed = 0;
    let lost = 0;
    for (let round = 0; round < 4; round++) {
      const clients = Array.from({ length: 4 }, () => run(d, ['daxctl', 'create-device', '-r', '0', '-s', '256M']));
      // kill whichever daemon serves the file after a while (the clients start another when theirs is gone)
      await sleep(100 + ((round * 173) % 400));
      const pid = daemonPid(stateOf(d));
      if (pid !== undefined && alive(pid)) {
        process.kill(pid, 'SIGKILL');
        killed++;
      }
      for (const r of await Promise.all(clients)) {
        if (r.status === 0) told.push(JSON.parse(r.stdout)[0].chardev);
        else {
          expect(r.status, r.stderr).toBe(70); // its daemon died under it: the client says so
          expect(r.stderr).toMatch(/died while it ran this command/);
          lost++;
        }
      }
    }
    expect(killed).toBeGreaterThan(0);
    expect(told.length + lost).toBe(16);
    const listed = daxsim(d, ['daxctl', 'list'], LOCAL).json() as { chardev: string }[];
    const names = listed.map((x) => x.chardev);
    for (const c of told) expect(names).toContain(c);
    expect(new Set(names).size).toBe(names.length);
    // and the daemon's view is the file's
    expect(daxsim(d, ['daxctl', 'list']).json()).toEqual(listed);
  }, 120_000);

  it('with clients of the daemon and commands run in their own process at once: distinct devices, each one listed', async () => {
    const d = emptyRegion();
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => run(d, ['daxctl', 'create-device', '-r', '0', '-s', '512M'], i % 2 ? LOCAL : {})));
    for (const r of rs) expect(r.status, r.stderr).toBe(0);
    const names = rs.map((r) => JSON.parse(r.stdout)[0].chardev as string);
    expect(new Set(names).size).toBe(8);
    const viaDaemon = daxsim(d, ['daxctl', 'list']).json() as { chardev: string }[];
    expect(viaDaemon.map((x) => x.chardev).sort()).toEqual([...names].sort());
    expect(daxsim(d, ['daxctl', 'list'], LOCAL).json()).toEqual(viaDaemon);
  }, 120_000);

  it('refuses a state file corrupted under it and leaves it untouched', () => {
    const d = dir();
    expect(daxsim(d, ['machine', 'create', '--ram', '2G', '--soft-reserved', '2G']).status).toBe(0);
    expect(daxsim(d, ['daxctl', 'list']).status).toBe(0);
    const text = readFileSync(stateOf(d), 'utf8');
    const bad = text.replace('"ops"', '"opz"');
    writeFileSync(stateOf(d), bad);
    for (const args of [['daxctl', 'list'], ['daxctl', 'disable-device', 'dax0.0']]) {
      const r = daxsim(d, args);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/daxsim-machine\.json/);
      expect(readFileSync(stateOf(d), 'utf8')).toBe(bad);
    }
  });

  it('exits when its state file is deleted', async () => {
    const d = dir();
    expect(daxsim(d, ['machine', 'create', '--ram', '2G']).status).toBe(0);
    const pid = pidIn(d);
    rmSync(stateOf(d));
    expect(await exits(pid)).toBe(true);
    expect(existsSync(daemonPaths(stateOf(d)).socket)).toBe(false);
  });

  it('exits when another writer replaces its state file, and the next command reads the new machine', async () => {
    const d = dir();
    expect(daxsim(d, ['machine', 'create', '--ram', '2G', '--soft-reserved', '2G']).status).toBe(0);
    const pid = pidIn(d);
    expect(daxsim(d, ['daxctl', 'disable-device', 'dax0.0'], LOCAL).status).toBe(0);
    expect(await exits(pid)).toBe(true);
    expect(daxsim(d, ['daxctl', 'list']).json()[0]).toMatchObject({ chardev: 'dax0.0', state: 'disabled' });
  });

  it('a command sees another writer\'s change even before the daemon notices it', () => {
    const d = dir();
    expect(daxsim(d, ['machine', 'create', '--ram', '2G', '--soft-reserved', '2G']).status).toBe(0);
    expect(daxsim(d, ['daxctl', 'list']).json()[0]).not.toHaveProperty('state');
    expect(daxsim(d, ['daxctl', 'disable-device', 'dax0.0'], LOCAL).status).toBe(0);
    expect(daxsim(d, ['daxctl', 'list']).json()[0]).toMatchObject({ chardev: 'dax0.0', state: 'disabled' });
  });

  it('exits after its idle time, and on `machine stop`', async () => {
    const d = dir();
    expect(daxsim(d, ['machine', 'create', '--ram', '2G'], { DAXSIM_DAEMON_IDLE: '1' }).status).toBe(0);
    expect(await exits(pidIn(d), 4000)).toBe(true);
    expect(daxsim(d, ['ndctl', 'list']).status).toBe(0);
    const pid = pidIn(d);
    const stop = daxsim(d, ['machine', 'stop']);
    expect(stop.status).toBe(0);
    expect(stop.stderr).toBe(`stopped the daemon of daxsim-machine.json (pid ${pid})\n`);
    expect(await exits(pid)).toBe(true);
    expect(daxsim(d, ['machine', 'stop']).stderr).toBe('no daemon runs for daxsim-machine.json\n');
  });

  it('a daemon killed leaves a stale socket: the next command removes it and starts another', async () => {
    const d = dir();
    expect(daxsim(d, ['machine', 'create', '--ram', '2G', '--soft-reserved', '2G']).status).toBe(0);
    const pid = pidIn(d);
    process.kill(pid, 'SIGKILL');
    expect(await exits(pid)).toBe(true);
    expect(existsSync(daemonPaths(stateOf(d)).socket)).toBe(true);
    const r = daxsim(d, ['daxctl', 'list']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json()[0]).toMatchObject({ chardev: 'dax0.0' });
    expect(pidIn(d)).not.toBe(pid);
    expect(readState(stateOf(d))).toBeDefined();
  });

  it('a daemon of another build (daxsim rebuilt since it started) exits, and the client starts one of its own', async () => {
    // a copy of the built CLI, so that changing its build does not touch the other tests' daemons
    const copy = dir();
    const bin = join(copy, 'dist');
    cpSync(dirname(CLI), bin, { recursive: true });
    symlinkSync(join(dirname(CLI), '..', 'node_modules'), join(copy, 'node_modules')); // its dependencies (proper-lockfile)
    const cli = join(bin, 'cli.js');
    const d = dir();
    const run1 = (args: string[]) => {
      const r = spawnSync(process.execPath, [cli, ...args], { cwd: d, encoding: 'utf8', env: cliEnv() });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    expect(run1(['machine', 'create', '--ram', '2G', '--soft-reserved', '2G']).status).toBe(0);
    const old = pidIn(d);
    const later = new Date(Date.now() + 60_000);
    utimesSync(cli, later, later); // "rebuilt"
    const r = run1(['daxctl', 'list']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ chardev: 'dax0.0' });
    expect(await exits(old)).toBe(true);
    expect(pidIn(d)).not.toBe(old);
  });
});
