import { type OptSpec, type Parsed } from './args.js';
import type { Machine } from './machine.js';
import type { Output } from './output.js';

/** What every command gets: its parsed arguments, the output, and the machine state path. */
export interface CommandContext {
  readonly parsed: Parsed;
  readonly out: Output;
  /** The state file (--machine, $DAXSIM_MACHINE, or ./daxsim-machine.json). */
  readonly statePath: string;
  /** The environment (for DAXSIM_FAIL_* fault injection and the like). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A machine to act on instead of the state file's (a scenario's machine); nothing is saved then. */
  readonly machine?: Machine;
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
