import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EBUSY } from '@daxsim/mm';
import lockfile from 'proper-lockfile';
import { type MachineState, STATE_FORMAT, STATE_VERSION, StateFormatError, upgradeState } from './state.js';

/**
 * The state file (Node.js only: `@daxsim/machine/state-file`). Writes are
 * atomic: the new state goes to a temporary file in the same directory, is
 * fsync'd, and renamed over the old one. A file that cannot be read back
 * (truncated, corrupted, foreign, a version this daxsim does not read) is
 * refused and never overwritten.
 */

export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateFileError';
  }
}

interface StateFile {
  format: string;
  version: number;
  sha256: string;
  state: unknown;
}

const digest = (state: unknown) => createHash('sha256').update(JSON.stringify(state)).digest('hex');

/** Reads a state file; undefined when it does not exist. Throws StateFileError when it cannot be trusted. */
export function readState(path: string): MachineState | undefined {
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new StateFileError(`${path}: cannot read the machine state: ${(e as Error).message}`);
  }
  let file: StateFile;
  try {
    file = JSON.parse(text) as StateFile;
  } catch {
    throw new StateFileError(`${path}: not a daxsim machine state (not JSON; truncated or corrupted?) — left untouched`);
  }
  if (typeof file !== 'object' || file === null || file.format !== STATE_FORMAT)
    throw new StateFileError(`${path}: not a daxsim machine state (format is not "${STATE_FORMAT}") — left untouched`);
  if (!file.state || typeof file.sha256 !== 'string' || digest(file.state) !== file.sha256)
    throw new StateFileError(`${path}: machine state checksum mismatch (corrupted?) — left untouched`);
  try {
    return upgradeState(file.version, file.state);
  } catch (e) {
    if (e instanceof StateFormatError) throw new StateFileError(`${path}: ${e.message} — left untouched`);
    throw e;
  }
}

/** Writes the state atomically (temp file, fsync, rename), always in the current version. */
export function writeState(path: string, state: MachineState): void {
  const file: StateFile = { format: STATE_FORMAT, version: STATE_VERSION, sha256: digest(state), state };
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const text = JSON.stringify(file, null, 1) + '\n';
  const fd = openSync(tmp, 'w', 0o644);
  try {
    if (process.env['DAXSIM_TEST_KILL_IN_WRITE']) {
      // For the crash test: die (SIGKILL) halfway through writing, as a killed process would.
      writeSync(fd, text.slice(0, text.length >> 1));
      fsyncSync(fd);
      process.kill(process.pid, 'SIGKILL');
    }
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {}
}

// ------------------------------------------------------------------ the lock

/**
 * A command that changes the machine holds the state file's lock from its
 * read to its rename (proper-lockfile: a `<state>.lock` directory made with
 * mkdir, its mtime refreshed while held). Commands that only read need no
 * lock: the rename makes every write atomic, so a reader sees one state or
 * the next, never a mix.
 */
export class StateLockError extends Error {
  readonly errno = EBUSY;
  constructor(message: string) {
    super(message);
    this.name = 'StateLockError';
  }
}

export interface StateLockOptions {
  /** How long to wait for another command's lock (ms). Default 60 s. */
  readonly timeoutMs?: number;
  /**
   * A lock whose holder has not refreshed it for this long is stale and
   * taken over (its holder was killed). Default 30 s; at least 2 s.
   */
  readonly staleMs?: number;
}

/** What the holder of the lock can ask of it. */
export interface StateLock {
  /** Throws StateLockError when the lock was taken over (this command outlived the stale time): write nothing then. */
  assertHeld(): void;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;
export const DEFAULT_LOCK_STALE_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` holding the exclusive lock of the state file at `path`, waiting for it up to the timeout. */
export async function withStateLock<T>(path: string, fn: (lock: StateLock) => T | Promise<T>, opts: StateLockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const stale = Math.max(2000, opts.staleMs ?? DEFAULT_LOCK_STALE_MS);
  const lockDir = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  let compromised: Error | null = null;
  let release: () => Promise<void>;
  for (let attempt = 0; ; attempt++) {
    try {
      release = await lockfile.lock(path, {
        realpath: false,
        stale,
        update: Math.floor(stale / 3),
        onCompromised: (e) => {
          compromised = e;
        },
      });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new StateLockError(`${path} is in use by another command (waited ${(timeoutMs / 1000).toFixed(1)} s for its lock; --lock-timeout SECONDS to wait longer) — nothing changed`);
      await sleep(Math.min(left, 20 * 2 ** Math.min(attempt, 5)));
    }
  }
  // Which lock is ours: a lock taken over as stale is removed and made again, a new directory.
  const ino = statSync(lockDir).ino;
  const lock: StateLock = {
    assertHeld() {
      let now = -1;
      try {
        now = statSync(lockDir).ino;
      } catch {}
      if (compromised || now !== ino)
        throw new StateLockError(`${path}: this command's lock was taken over as stale while it ran (longer than ${stale / 1000} s) — its changes are not saved`);
    },
  };
  try {
    return await fn(lock);
  } finally {
    if (!compromised) await release().catch(() => {});
  }
}
