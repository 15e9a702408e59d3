import type { Machine } from '@daxsim/machine';
import type { StateFileBytes } from '@daxsim/machine/state-file';
import { type OptSpec, type Parsed } from './args.js';
import type { Output } from './output.js';

/** Runs a daxsim command line (the dispatcher), e.g. for a scenario's tool lines; returns the exit status. */
export type Dispatch = (argv: string[], out: Output, machine?: Machine) => Promise<number>;

/** What every command gets: its parsed arguments, the output, and the machine state path. */
export interface CommandContext {
  readonly parsed: Parsed;
  readonly out: Output;
  /** The state file (--machine, $DAXSIM_MACHINE, or ./daxsim-machine.json). */
  readonly statePath: string;
  /** The environment (for DAXSIM_FAIL fault injection and the like). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A machine to act on instead of the state file's (a scenario's machine); nothing is saved then. */
  readonly machine?: Machine;
  /** The state file's machine kept in memory between commands (the daemon's); without it each command boots its own from the file. */
  readonly resident?: ResidentMachine;
  /** How long a command that changes the machine waits for the state file's lock (--lock-timeout); default 60 s. */
  readonly lockTimeoutMs?: number;
  /** The dispatcher, for commands that run other command lines (`run`). */
  readonly dispatch: Dispatch;
}

/**
 * The machine of a state file, kept in memory between commands by daxsim's
 * daemon (./resident.ts). It is always what a boot from the file would give:
 * it is read again when the file changed, and dropped when a command may
 * have left it different from its file.
 */
export interface ResidentMachine {
  /** The machine the state file at `path` describes now, and whether there is a file (else: the default machine). StateFileError when the file cannot be trusted. */
  load(path: string): { machine: Machine; saved: boolean };
  /** A command is about to run on `m`: what it is now, to tell afterwards what the command changed. */
  mark(m: Machine): ResidentMark;
  /**
   * The command that began at `mark` ended. `saved`: what it wrote to the
   * state file (the machine is now that file's), undefined when it wrote
   * nothing. The machine is kept only when it is what a boot from the file
   * would give; otherwise it is dropped and the next command boots again.
   */
  settle(path: string, m: Machine, mark: ResidentMark, saved: SavedState | undefined, opts?: { injected?: boolean }): void;
  /** `m` is the machine of the state file just written (`machine create`). */
  replace(path: string, m: Machine, saved: SavedState): void;
}

/** What a command wrote: the state file's identity and sha256 (what writeState returns). */
export type SavedState = StateFileBytes;

/** What a resident machine was before a command (opaque to the commands). */
export interface ResidentMark {
  readonly ops: number;
}

export interface Command {
  /** Words that select it: ['ndctl', 'create-namespace']. */
  readonly path: readonly string[];
  readonly synopsis: string;
  readonly summary: string;
  readonly options: readonly OptSpec[];
  /** Arguments go to the command untouched (as positionals): it parses them itself (gup-test's getopt). */
  readonly raw?: boolean;
  /** Text `--help` prints after the options (the scenario language of `run`). */
  readonly details?: () => string;
  /** Returns the exit status. */
  run(ctx: CommandContext): number | Promise<number>;
}
