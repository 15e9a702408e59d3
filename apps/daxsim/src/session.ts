import { totalmem } from 'node:os';
import { DEFAULT_CONFIG, Machine, parseSize } from '@daxsim/machine';
import { StateFileError, StateLockError, readState, withStateLock, writeState } from '@daxsim/machine/state-file';
import { EINVAL, KernelError, strerror } from '@daxsim/mm';
import { UsageError } from './args.js';
import type { CommandContext, SavedState } from './command.js';

/** The exit status ndctl and daxctl use for a failed command: (-errno) & 0xff. */
export const exitStatus = (errno: number): number => (256 - Math.abs(errno)) & 0xff;

export { strerror };

/** The lock options of a command: --lock-timeout / $DAXSIM_LOCK_TIMEOUT (seconds), $DAXSIM_LOCK_STALE (seconds). */
function lockOptions(ctx: CommandContext) {
  const stale = Number(ctx.env['DAXSIM_LOCK_STALE']);
  return {
    ...(ctx.lockTimeoutMs !== undefined ? { timeoutMs: ctx.lockTimeoutMs } : {}),
    ...(stale > 0 ? { staleMs: stale * 1000 } : {}),
  };
}

/**
 * The machine the state file describes (the default machine when there is
 * none) and whether there is a file: the daemon's resident machine, or one
 * booted from the file. Either way its TLB starts cold, so that what a
 * command counts (tlb_hit, tlb_miss) does not depend on which commands the
 * machine ran before in memory.
 */
export function loadMachine(ctx: CommandContext): { machine: Machine; saved: boolean } {
  let r: { machine: Machine; saved: boolean };
  if (ctx.resident) r = ctx.resident.load(ctx.statePath);
  else {
    const state = readState(ctx.statePath);
    r = { machine: state ? Machine.fromState(state) : Machine.create(DEFAULT_CONFIG), saved: Boolean(state) };
  }
  r.machine.k.mmu.flushTlbAll();
  return r;
}

/**
 * What the model may spend of the host's memory on one memmap it builds:
 * $DAXSIM_HOST_MEMORY (a size: 12G), else half the host's memory. Beyond
 * it a namespace is refused with the figure (checkHostMemory()).
 */
export function hostMemoryLimit(env: Readonly<Record<string, string | undefined>>): number {
  const v = env['DAXSIM_HOST_MEMORY'];
  if (v === undefined || v === '') return Math.floor(totalmem() / 2);
  const n = parseSize(v);
  if (n === undefined || n <= 0) throw new KernelError(EINVAL, `DAXSIM_HOST_MEMORY=${v} is not a size (such as 12G)`);
  return n;
}

/**
 * Runs `fn` on the machine the state file describes (the default machine
 * when there is none). A command that may change it holds the state file's
 * lock from the read to the write, so concurrent commands serialise as
 * daxctl calls do on the kernel's device locks, and none of them loses
 * another's work; its state is saved if operations were applied — also
 * when `fn` fails after some of them (as a real command that fails halfway
 * leaves what it did). A read-only command reads without the lock: every
 * write is an atomic rename, so it sees one whole state.
 *
 * In the daemon the machine is the resident one, and the state is written
 * (atomically, as here) before the command's exit status goes back to its
 * client: what a client was told succeeded is in the file.
 */
export async function withMachine<T>(ctx: CommandContext, fn: (m: Machine) => T, opts: { readOnly?: boolean } = {}): Promise<T> {
  if (ctx.machine) return fn(ctx.machine);
  const resident = ctx.resident;
  // DAXSIM_FAIL arms fault injection for this command's operations (not for the replay)
  const fail = ctx.env['DAXSIM_FAIL'];
  const run = (m: Machine, body: () => T, save?: () => SavedState | undefined): T => {
    const mark = resident?.mark(m);
    let saved: SavedState | undefined;
    try {
      m.hostMemoryLimit = hostMemoryLimit(ctx.env);
      if (fail) m.armFailures(fail);
      return body();
    } finally {
      try {
        saved = save?.();
      } finally {
        if (resident) resident.settle(ctx.statePath, m, mark!, saved, { injected: Boolean(fail) });
      }
    }
  };
  if (opts.readOnly) {
    const m = loadMachine(ctx).machine;
    return run(m, () => fn(m));
  }
  return withStateLock(
    ctx.statePath,
    (lock) => {
      const m = loadMachine(ctx).machine;
      let before = -1; // ops before fn (-1: fn never ran: nothing to save)
      return run(
        m,
        () => {
          // the first command on a machine records where it started, so that going back there compacts the log
          if (m.checkpoints.length === 0) m.checkpoint();
          before = m.ops.length;
          return fn(m);
        },
        () => {
          if (before < 0 || m.ops.length === before) return undefined;
          m.checkpoint();
          lock.assertHeld();
          return writeState(ctx.statePath, m.state(), ctx.env);
        },
      );
    },
    lockOptions(ctx),
  );
}

/** Runs `fn` holding the state file's lock (for commands that write the state themselves: `machine create`). */
export function withStateFileLock<T>(ctx: CommandContext, fn: () => T): Promise<T> {
  return withStateLock(ctx.statePath, () => fn(), lockOptions(ctx));
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
  if (e instanceof StateLockError) {
    ctx.out.err(`daxsim: ${e.message}`);
    return exitStatus(e.errno);
  }
  if (e instanceof KernelError) {
    ctx.out.err(`daxsim: ${e.message}`);
    return exitStatus(e.errno);
  }
  throw e;
}
