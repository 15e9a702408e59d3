import { checkInvariants, checkMemoryBlocks, emptySweepStats, formatViolation, type Violation } from '@daxsim/debug-vm';
import { dumpPage, pageDumpJson, resolvePageSpec } from '@daxsim/machine';
import { type OptSpec, UsageError, flag, formatUsage } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { reportError, withMachine } from '../session.js';

const HELP: OptSpec = { long: 'help', short: 'h', help: 'show this help' };

// ------------------------------------------------------------------ page

const PAGE_OPTS: OptSpec[] = [{ long: 'json', help: "the decoded fields as JSON: the page's own first (refcount, mapcount, flags), its folio's (a head: beside them; a tail: under \"folio\")" }, HELP];
const PAGE_SYNOPSIS = 'daxsim page <pfn | daxX.Y:index> [--json]';

/** `daxsim page`: dump_page() of one struct page, read through the vmemmap, in the format of the machine's release. */
async function page(ctx: CommandContext): Promise<number> {
  const usage = formatUsage(PAGE_SYNOPSIS, PAGE_OPTS);
  const arg = ctx.parsed.positionals[0];
  try {
    if (arg === undefined || ctx.parsed.positionals.length > 1) throw new UsageError('specify one page: a pfn (decimal or 0x hex) or daxX.Y:index');
  } catch (e) {
    return reportError(ctx, e, usage);
  }
  try {
    return await withMachine(
      ctx,
      (m) => {
        const spec = resolvePageSpec(m, arg);
        const d = dumpPage(m, spec.pfn, spec.arg);
        ctx.out.out(flag(ctx.parsed.opts['json']) ? JSON.stringify(pageDumpJson(d), null, 2) : d.text.join('\n'));
        return 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e);
  }
}

// ------------------------------------------------------------------ check

const CHECK_OPTS: OptSpec[] = [
  { long: 'cheap', help: 'the sampled sweep (first, last and 8 more compound pages per range) instead of every struct page' },
  { long: 'json', help: 'JSON: what was swept and the violations found' },
  HELP,
];

/**
 * `daxsim check`: CONFIG_DEBUG_VM's invariants over the machine as it
 * stands (@daxsim/debug-vm's checkInvariants and checkMemoryBlocks). The
 * state file's machine has no live process and holds no pin, so every head
 * must hold exactly its idle references and every user table is accounted.
 */
async function check(ctx: CommandContext): Promise<number> {
  const json = flag(ctx.parsed.opts['json']);
  const full = !flag(ctx.parsed.opts['cheap']);
  try {
    return await withMachine(
      ctx,
      (m) => {
        const stats = emptySweepStats();
        // no process outlives a command: no task, no pin (an empty ledger: heads at 1 + their mappings, pincount 0)
        const violations: Violation[] = [...checkInvariants(m.k, m.bus, [], { full, refs: new Map(), allTasks: true, stats }), ...checkMemoryBlocks(m.kmem.hotplug)];
        const swept = { sweep: full ? 'full' : 'cheap', kernel: m.k.release.version, ...stats, memoryBlocks: m.kmem.hotplug.blocks.size };
        if (json) ctx.out.out(JSON.stringify({ ...swept, ok: violations.length === 0, violations }, null, 2));
        else {
          ctx.out.out(
            `swept (${swept.sweep}, kernel ${swept.kernel}): ${stats.pgmaps} pgmaps (${stats.ranges} ranges), ${stats.heads} heads and ${stats.tails} tail struct pages, ` +
              `${stats.vmemmapPages} vmemmap pages in ${stats.vmemmapFrames} frames under ${stats.vmemmapTables} page tables, ${stats.sections} present sections, ` +
              `${stats.subsections} subsections, ${stats.daxRegions} dax regions with ${stats.daxDevices} devices, ${swept.memoryBlocks} memory blocks, ${stats.tasks} tasks`,
          );
          if (violations.length === 0) ctx.out.out('no violation');
        }
        if (violations.length === 0) return 0;
        // the first violation (the sweep stops at 50), exit status 1 as a failed selftest
        if (!json) ctx.out.err(`daxsim check: ${formatViolation(violations[0]!)}${violations.length > 1 ? ` (and ${violations.length - 1} more)` : ''}`);
        return 1;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e);
  }
}

export const pageCommands: Command[] = [
  { path: ['page'], synopsis: PAGE_SYNOPSIS, summary: "dump_page() of one struct page (a pfn, or a device's index-th base page) as the machine's release prints it", options: PAGE_OPTS, run: page },
  { path: ['check'], synopsis: 'daxsim check [--cheap] [--json]', summary: "the debug-vm invariant sweeps over the machine as it stands: what was swept, or the first violation", options: CHECK_OPTS, run: check },
];
