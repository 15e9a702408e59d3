import { EEXIST, KernelError } from '@daxsim/mm';
import { existsSync } from 'node:fs';
import { type OptSpec, UsageError, flag, formatUsage } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { DEFAULT_CPU_LA57, Machine, type MachineConfig, describeKernelChoice, humanBytes } from '@daxsim/machine';
import { machineConfigFromOptions, machineCreateOptions } from '../machine-options.js';
import { stopDaemon } from '../client.js';
import { readState, writeState } from '@daxsim/machine/state-file';
import { loadMachine, reportError, withStateFileLock } from '../session.js';

const CREATE_USAGE = formatUsage('daxsim machine create [--kernel VERSION] [--arch ARCH] [--ram SIZE]... [--pmem SIZE[:labels]]... [--soft-reserved SIZE]... [--cxl-memdev SIZE[:pmem]]...', machineCreateOptions);

async function create(ctx: CommandContext): Promise<number> {
  let cfg: MachineConfig;
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    cfg = machineConfigFromOptions(ctx.parsed.opts);
  } catch (e) {
    return reportError(ctx, e, CREATE_USAGE);
  }
  try {
    return await withStateFileLock(ctx, () => {
      if (existsSync(ctx.statePath) && !flag(ctx.parsed.opts['force'])) {
        const old = readState(ctx.statePath); // refuses (untouched) when it is not a machine state
        // the same machine asked for again (a script run twice): nothing to do, as `mkdir -p` does
        if (old !== undefined && sameConfig(old.config, cfg)) {
          ctx.out.err(`machine create: ${ctx.statePath} already holds this machine; left as it is (--force starts it afresh)\n`);
          return 0;
        }
        throw new KernelError(EEXIST, `machine create: ${ctx.statePath} already holds another machine (use --force to replace it)`);
      }
      const m = Machine.create(cfg); // validates by booting
      m.checkpoint(); // the boot state: the log compacts back to it
      const saved = writeState(ctx.statePath, m.state(), ctx.env);
      ctx.resident?.replace(ctx.statePath, m, saved);
      ctx.out.out(describe(m));
      return 0;
    });
  } catch (e) {
    return reportError(ctx, e);
  }
}

/** Two configurations ask for the same machine: the same keys with the same values, whatever their order. */
function sameConfig(a: MachineConfig, b: MachineConfig): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, canon(x)])) : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

function describe(m: Machine): string {
  const lines = [`arch: ${m.arch.name}  (page ${humanBytes(m.arch.pageSize)}, section ${humanBytes(2 ** m.arch.sectionSizeBits)})`];
  if (m.arch.name.startsWith('x86_64'))
    lines[0] += `; paging: ${m.arch.levels.length}-level, CPU ${(m.config.cpuLa57 ?? DEFAULT_CPU_LA57) || m.config.arch === 'x86_64-la57' ? 'with' : 'without'} LA57`;
  if (m.arch.name.startsWith('ppc64')) lines[0] += `; MMU: ${m.kernel.ppc64Mmu}`;
  lines.push(...describeKernelChoice(m.config, m.kernel));
  lines.push(`machine type: ${m.layout.machineType}; auto_online_blocks: ${m.kmem.hotplug.autoOnline}`);
  m.config.ram.forEach((s, nid) => {
    const at = m.layout.ram.filter((r) => r.nid === nid).map((r) => `0x${r.start.toString(16)}-0x${(r.start + r.size - 1).toString(16)}`);
    lines.push(`node${nid}: ${humanBytes(s)} RAM at ${at.join(', ')}`);
  });
  for (const r of m.pmem)
    lines.push(
      `region${r.id}: ${humanBytes(r.size)} pmem at 0x${r.start.toString(16)}, ${r.nstype === 'io' ? 'label-less' : 'labelled'} (${r.namespaces.filter((n) => n.size > 0).length} namespaces with capacity)`,
    );
  for (const r of m.softReserved) lines.push(`dax region ${r.id}: ${humanBytes(r.size)} soft-reserved at 0x${r.start.toString(16)} (${r.parentName})`);
  if (m.cxl) {
    for (const [i, d] of m.cxl.rootDecoders.entries())
      lines.push(`CXL Window ${i} (${d.name}): ${humanBytes(d.size)} at 0x${d.hpaRange.start.toString(16)}, node ${m.cxl.windowNids[i]}, granularity ${d.interleaveGranularity}`);
    for (const md of m.cxl.memdevs)
      lines.push(`${md.name}: ${md.pmemSize ? `${humanBytes(md.pmemSize)} pmem` : `${humanBytes(md.ramSize)} ram`} CXL type-3 at ${md.host}`);
  }
  lines.push(`operations replayed: ${m.ops.length}`);
  return lines.join('\n');
}

const SHOW_OPTS: OptSpec[] = [
  { long: 'json', help: 'print the configuration and operations as JSON' },
  { long: 'help', short: 'h', help: 'show this help' },
];

function show(ctx: CommandContext): number {
  try {
    const { machine: m, saved } = loadMachine(ctx);
    if (flag(ctx.parsed.opts['json'])) ctx.out.out(JSON.stringify({ path: ctx.statePath, saved, ...m.state() }, null, 2));
    else ctx.out.out(`${saved ? ctx.statePath : '(no state file: the default machine)'}\n${describe(m)}`);
    return 0;
  } catch (e) {
    return reportError(ctx, e);
  }
}

const STOP_OPTS: OptSpec[] = [{ long: 'help', short: 'h', help: 'show this help' }];

/** `machine stop`: the state file's daemon exits (after the command it runs); the next command starts another. */
async function stop(ctx: CommandContext): Promise<number> {
  if (ctx.parsed.positionals.length) return reportError(ctx, new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`), formatUsage('daxsim machine stop', STOP_OPTS));
  const pid = await stopDaemon(ctx.statePath);
  ctx.out.err(pid === undefined ? `no daemon runs for ${ctx.statePath}` : `stopped the daemon of ${ctx.statePath} (pid ${pid})`);
  return 0;
}

export const machineCommands: Command[] = [
  { path: ['machine', 'create'], synopsis: 'daxsim machine create [<options>]', summary: 'define the simulated machine', options: machineCreateOptions, run: create },
  { path: ['machine', 'show'], synopsis: 'daxsim machine show [--json]', summary: 'show the machine and its replayed operations', options: SHOW_OPTS, run: show },
  { path: ['machine', 'stop'], synopsis: 'daxsim machine stop', summary: "stop the machine's daemon (it keeps the machine in memory between commands)", options: STOP_OPTS, run: stop },
];
