import { catPath, lsPath } from '@daxsim/machine';
import { ENOENT, KernelError, strerror } from '@daxsim/mm';
import { type OptSpec, UsageError, flag, formatUsage } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { reportError, withMachine } from '../session.js';

/**
 * `daxsim cat` and `daxsim ls`: the machine's /proc and /sys, read-only,
 * each file made from the machine's state when it is read. Errors as
 * coreutils prints them: cat exits 1, ls exits 2 on a path it cannot
 * access.
 */

const HELP: OptSpec = { long: 'help', short: 'h', help: 'show this help' };
const CAT_OPTS: OptSpec[] = [HELP];
const LS_OPTS: OptSpec[] = [{ long: 'long', short: 'l', help: 'long listing: mode, name, and where a link points' }, HELP];

/** The message coreutils derives from an errno (strerror). */
const why = (e: unknown): string => {
  if (e instanceof KernelError) return strerror(e.errno);
  throw e;
};

async function cat(ctx: CommandContext): Promise<number> {
  try {
    const paths = ctx.parsed.positionals;
    if (!paths.length) throw new UsageError('specify a file to read, e.g. /proc/meminfo');
    return await withMachine(
      ctx,
      (m) => {
        let rc = 0;
        for (const p of paths) {
          try {
            if (!p.startsWith('/')) throw new KernelError(ENOENT, `${p}: paths are absolute (/proc/..., /sys/...)`);
            ctx.out.out(catPath(m, p));
          } catch (e) {
            ctx.out.err(`cat: ${p}: ${why(e)}`);
            rc = 1;
          }
        }
        return rc;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, formatUsage('daxsim cat PATH...', CAT_OPTS));
  }
}

async function ls(ctx: CommandContext): Promise<number> {
  try {
    const paths = ctx.parsed.positionals.length ? ctx.parsed.positionals : ['/'];
    const long = flag(ctx.parsed.opts['long']);
    return await withMachine(
      ctx,
      (m) => {
        let rc = 0;
        const blocks: string[] = [];
        for (const p of paths) {
          try {
            if (!p.startsWith('/')) throw new KernelError(ENOENT, `${p}: paths are absolute`);
            const entries = lsPath(m, p);
            const lines = entries.map((e) => (long ? `${e.mode} ${e.name}${e.target !== undefined ? ` -> ${e.target}` : ''}` : e.name));
            blocks.push((paths.length > 1 ? `${p}:\n` : '') + lines.join('\n'));
          } catch (e) {
            ctx.out.err(`ls: cannot access '${p}': ${why(e)}`);
            rc = 2;
          }
        }
        if (blocks.length) ctx.out.out(blocks.filter((b) => b !== '').join('\n\n'));
        return rc;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, formatUsage('daxsim ls [-l] [PATH...]', LS_OPTS));
  }
}

export const fsCommands: Command[] = [
  {
    path: ['cat'],
    synopsis: 'daxsim cat PATH...',
    summary: "read the machine's /proc and /sys files (meminfo, zoneinfo, vmstat, iomem, memory blocks, dax devices)",
    options: CAT_OPTS,
    run: cat,
  },
  { path: ['ls'], synopsis: 'daxsim ls [-l] [PATH...]', summary: "list a directory of the machine's /proc and /sys", options: LS_OPTS, run: ls },
];
