import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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
