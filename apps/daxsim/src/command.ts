import type { Machine } from '@daxsim/machine';
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
  /** How long a command that changes the machine waits for the state file's lock (--lock-timeout); default 60 s. */
  readonly lockTimeoutMs?: number;
  /** The dispatcher, for commands that run other command lines (`run`). */
  readonly dispatch: Dispatch;
}

export interface Command {
  /** Words that select it: ['ndctl', 'create-namespace']. */
  readonly path: readonly string[];
  readonly synopsis: string;
  readonly summary: string;
  readonly options: readonly OptSpec[];
  /** Arguments go to the command untouched (as positionals): it parses them itself (gup-test's getopt). */
  readonly raw?: boolean;
  /** Returns the exit status. */
  run(ctx: CommandContext): number | Promise<number>;
}
