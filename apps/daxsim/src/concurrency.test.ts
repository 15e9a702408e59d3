import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkInvariants, formatViolation } from '@daxsim/debug-vm';
import { Machine } from '@daxsim/machine';
import { readState } from '@daxsim/machine/state-file';
import { describe, expect, it } from 'vitest';
import { CLI, cliEnv, daxsim, scratch } from '../test/cli.js';
import { SZ_1M } from '@daxsim/mm';

/**
 * One machine file, many commands at once: every command that changes the
 * machine holds the state file's lock from its read to its write, so
 * concurrent commands serialise and no acknowledged change is lost.
 */


/** Runs the CLI asynchronously (so that several run at once). */
function run(dir: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: cliEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/** A machine with an empty 8 GiB dynamic region: dax0.0 disabled and sized to 0, as test/daxctl-create.sh starts. */
function emptyRegion(): string {
  const dir = scratch();
  expect(daxsim(dir, ['machine', 'create', '--ram', '2G', '--soft-reserved', '8G']).status).toBe(0);
  expect(daxsim(dir, ['daxctl', 'disable-device', 'dax0.0']).status).toBe(0);
  expect(daxsim(dir, ['daxctl', 'reconfigure-device', '-s', '0', 'dax0.0']).status).toBe(0);
  return dir;
}

const chardevOf = (stdout: string): string => JSON.parse(stdout)[0].chardev;

describe('concurrent commands on one machine file', () => {
  it('8 create-device -s 512M at once: 8 successes, 8 distinct chardevs, 8 devices listed', async () => {
    const dir = emptyRegion();
    const rs = await Promise.all(Array.from({ length: 8 }, () => run(dir, ['daxctl', 'create-device', '-r', '0', '-s', '512M'])));
    for (const r of rs) expect(r.status, r.stderr).toBe(0);
    const names = rs.map((r) => chardevOf(r.stdout));
    expect(new Set(names).size).toBe(8);
    const listed = daxsim(dir, ['daxctl', 'list']).json() as { chardev: string; size: number }[];
    expect(listed.map((d) => d.chardev).sort()).toEqual([...names].sort());
    expect(listed.every((d) => d.size === 512 * SZ_1M)).toBe(true);
    expect(existsSync(join(dir, 'daxsim-machine.json.lock'))).toBe(false);
  }, 120_000);

  it('8 processes creating and destroying devices for 3 rounds: the log holds exactly what they were told succeeded', async () => {
    const dir = emptyRegion();
    const initial = readState(join(dir, 'daxsim-machine.json'))!;
    const before = initial.ops.length;
    const count = (log: readonly { text: string }[], what: RegExp) => log.filter((r) => what.test(r.text)).length;
    const ALLOC = /^dax dax0\.\d+: alloc range/;
    const DELETE = /^dax dax0\.\d+: delete range/;
    let created = 0;
    let destroyed = 0;
    const worker = async () => {
      for (let round = 0; round < 3; round++) {
        const c = await run(dir, ['daxctl', 'create-device', '-r', '0', '-s', '256M']);
        expect(c.status, c.stderr).toBe(0);
        created++;
        const d = await run(dir, ['daxctl', 'destroy-device', '-f', chardevOf(c.stdout)]);
        expect(d.status, d.stderr).toBe(0);
        destroyed++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const state = readState(join(dir, 'daxsim-machine.json'))!;
    // the log compacted back to where the rounds started (every device made was destroyed again) ...
    expect(state.ops.length).toBe(before);
    // ... and the kernel's history holds every change a command reported: one range allocated per create, one deleted per destroy
    expect(count(state.history!.log, ALLOC) - count(initial.history!.log, ALLOC)).toBe(created);
    expect(count(state.history!.log, DELETE) - count(initial.history!.log, DELETE)).toBe(destroyed);
    // a serial replay of the log is the machine the commands left, and it is whole
    const m = Machine.fromState(state);
    expect(m.bus.devices.filter((d) => d.size > 0)).toEqual([]);
    expect(checkInvariants(m.k, m.bus, [], { full: true }).map(formatViolation)).toEqual([]);
    expect(daxsim(dir, ['daxctl', 'list', '-R']).json()[0]).toMatchObject({ available_size: 8 * 1024 * SZ_1M });
  }, 300_000);

  it('a writer killed while it holds the lock: the next command takes the stale lock over and finds the state whole', async () => {
    const dir = emptyRegion();
    const path = join(dir, 'daxsim-machine.json');
    const whole = readFileSync(path, 'utf8');
    // dies (SIGKILL) halfway through writing its new state, with the lock held
    const killed = await run(dir, ['daxctl', 'create-device', '-r', '0', '-s', '1G'], { DAXSIM_TEST_KILL_IN_WRITE: '1' });
    expect(killed.status).not.toBe(0);
    expect(existsSync(`${path}.lock`)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(whole);
    // a waiter gives up with EBUSY when the lock is younger than it waits, changing nothing
    const busy = await run(dir, ['--lock-timeout', '0.2', 'daxctl', 'create-device', '-r', '0', '-s', '1G'], { DAXSIM_LOCK_STALE: '30' });
    expect(busy.status).toBe(256 - 16);
    expect(busy.stderr).toMatch(/in use by another command/);
    expect(readFileSync(path, 'utf8')).toBe(whole);
    // with a 2 s stale time the next command takes the lock over
    const next = await run(dir, ['daxctl', 'create-device', '-r', '0', '-s', '1G'], { DAXSIM_LOCK_STALE: '2' });
    expect(next.status, next.stderr).toBe(0);
    expect(chardevOf(next.stdout)).toBe('dax0.1');
    expect(daxsim(dir, ['daxctl', 'list']).json().map((d: { chardev: string }) => d.chardev)).toEqual(['dax0.1']);
  }, 120_000);
});
