import { createHash } from 'node:crypto';
import { type BigIntStats, closeSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { EBUSY, EINVAL } from '@daxsim/mm';
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
  /** ENOENT: there is no file; EINVAL: the file is not a state this daxsim can trust (the CLI exits 1 on either). */
  readonly errno: number;
  constructor(message: string, errno: number = EINVAL) {
    super(message);
    this.name = 'StateFileError';
    this.errno = errno;
  }
}

/** The absolute path of a state file, as Machine.load() and machine.save() remember it. */
export const stateFilePath = (path: string): string => resolve(path);

interface StateFile {
  format: string;
  version: number;
  sha256: string;
  state: unknown;
}

const digest = (state: unknown) => createHash('sha256').update(JSON.stringify(state)).digest('hex');

/**
 * Which file a state was read from or written to: device, inode, size, and
 * the modification and change times in nanoseconds. A rename puts a new inode
 * in place and any write moves the change time, so a file whose identity is
 * unchanged holds the bytes it held (the resident machine's test that the
 * state file is still the one it has in memory).
 */
export interface StateFileId {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

const idOf = (s: BigIntStats): StateFileId => ({ dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs });

/** The identity of the file at `path` now; undefined when there is none. */
export function stateFileId(path: string): StateFileId | undefined {
  try {
    return idOf(statSync(path, { bigint: true }));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(`${path}: cannot read the machine state: ${(e as Error).message}`);
  }
}

export const sameStateFile = (a: StateFileId | undefined, b: StateFileId | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs);

/** A state file's bytes as read, with the identity of the file they were read from and their sha256. */
export interface StateFileBytes {
  readonly text: string;
  readonly id: StateFileId;
  readonly sha256: string;
}

/** Reads the bytes of the state file at `path` and the identity of the very file they came from; undefined when there is none. */
export function readStateFileBytes(path: string): StateFileBytes | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(`${path}: cannot read the machine state: ${(e as Error).message}`);
  }
  try {
    const id = idOf(fstatSync(fd, { bigint: true }));
    const text = readFileSync(fd, 'utf8');
    return { text, id, sha256: createHash('sha256').update(text).digest('hex') };
  } catch (e) {
    throw new StateFileError(`${path}: cannot read the machine state: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** Decodes the text of the state file at `path`. Throws StateFileError when it cannot be trusted. */
export function parseState(path: string, text: string): MachineState {
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

/** Reads a state file; undefined when it does not exist. Throws StateFileError when it cannot be trusted. */
export function readState(path: string): MachineState | undefined {
  const bytes = readStateFileBytes(path);
  return bytes && parseState(path, bytes.text);
}

/**
 * Writes the state atomically (temp file, fsync, rename), always in the
 * current version. Returns the identity and sha256 of the file it put in
 * place. `env`: the command's environment (DAXSIM_TEST_KILL_IN_WRITE, for
 * the crash tests, makes the writer SIGKILL itself halfway through).
 */
export function writeState(path: string, state: MachineState, env: Readonly<Record<string, string | undefined>> = process.env): StateFileBytes {
  const file: StateFile = { format: STATE_FORMAT, version: STATE_VERSION, sha256: digest(state), state };
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const text = JSON.stringify(file, null, 1) + '\n';
  const fd = openSync(tmp, 'w', 0o644);
  let id: StateFileId;
  try {
    if (env['DAXSIM_TEST_KILL_IN_WRITE']) {
      // For the crash test: die (SIGKILL) halfway through writing, as a killed process would.
      writeSync(fd, text.slice(0, text.length >> 1));
      fsyncSync(fd);
      process.kill(process.pid, 'SIGKILL');
    }
    writeSync(fd, text);
    fsyncSync(fd);
    try {
      renameSync(tmp, path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {}
      throw e;
    }
    // the identity of the inode just renamed into place (its change time moved with the rename)
    id = idOf(fstatSync(fd, { bigint: true }));
  } finally {
    closeSync(fd);
  }
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {}
  return { text, id, sha256: createHash('sha256').update(text).digest('hex') };
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
