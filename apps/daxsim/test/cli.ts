import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  json: () => any;
}

/**
 * The environment of a CLI the tests run: no $DAXSIM_MACHINE; commands go to
 * the state file's daemon, which checks after each command that the machine
 * it keeps in memory is what a boot from the file gives
 * (DAXSIM_DAEMON_VERIFY), and exits 3 s after its last command.
 */
export const cliEnv = (env: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  DAXSIM_MACHINE: '',
  DAXSIM_DAEMON_IDLE: '3',
  DAXSIM_DAEMON_VERIFY: '1',
  ...env,
});

/** Runs the built CLI in `cwd` (a scratch directory holding the machine state). */
export function daxsim(cwd: string, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cliEnv(env) });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

export const scratch = (): string => mkdtempSync(join(tmpdir(), 'daxsim-test-'));
