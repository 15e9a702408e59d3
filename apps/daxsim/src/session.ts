import { DEFAULT_CONFIG, Machine } from '@daxsim/machine';
import { StateFileError, readState, writeState } from '@daxsim/machine/state-file';
import { KernelError, strerror } from '@daxsim/mm';
import { UsageError } from './args.js';
import type { CommandContext } from './command.js';

/** The exit status ndctl and daxctl use for a failed command: (-errno) & 0xff. */
export const exitStatus = (errno: number): number => (256 - Math.abs(errno)) & 0xff;

export { strerror };

/**
 * Loads the machine the state file describes (the default machine when there
 * is none), runs `fn`, and saves the state again if operations were applied —
 * also when `fn` fails after some of them (as a real command that fails
 * halfway leaves what it did). The write is atomic.
 */
export function withMachine<T>(ctx: CommandContext, fn: (m: Machine) => T, opts: { readOnly?: boolean } = {}): T {
  if (ctx.machine) return fn(ctx.machine);
  const state = readState(ctx.statePath);
  const m = state ? Machine.fromState(state) : Machine.create(DEFAULT_CONFIG);
  // DAXSIM_FAIL arms fault injection for this command's operations (not for the replay)
  const fail = ctx.env['DAXSIM_FAIL'];
  if (fail) m.armFailures(fail);
  const before = m.ops.length;
  try {
    return fn(m);
  } finally {
    if (!opts.readOnly && m.ops.length !== before) writeState(ctx.statePath, m.state());
  }
}

/** Turns what a command threw into its message and exit status. */
export function reportError(ctx: CommandContext, e: unknown, usage?: string): number {
  if (e instanceof UsageError) {
    ctx.out.err(`  Error: ${e.message}\n`);
    if (usage) ctx.out.err(usage);
    return 129;
  }
  if (e instanceof StateFileError) {
    ctx.out.err(`daxsim: ${e.message}`);
    return 1;
  }
  if (e instanceof KernelError) {
    ctx.out.err(`daxsim: ${e.message}`);
    return exitStatus(e.errno);
  }
  throw e;
}
