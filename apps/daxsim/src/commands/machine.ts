import { ARCH_PROFILES, EEXIST, KernelError, VMEMMAP_GENERATIONS, isVmemmapGeneration } from '@daxsim/mm';
import { existsSync } from 'node:fs';
import { type OptSpec, UsageError, flag, formatUsage, list, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { DEFAULT_CONFIG, Machine } from '../machine.js';
import { reportError } from '../session.js';
import { humanBytes, parseSize } from '../size.js';
import { type MachineConfig, readState, writeState } from '../state.js';

export const machineCreateOptions: OptSpec[] = [
  { long: 'arch', arg: 'arch', help: `architecture: ${Object.keys(ARCH_PROFILES).join(', ')} (default x86_64)` },
  { long: 'ram', arg: 'size', repeat: true, help: 'RAM of the next NUMA node (repeat for more nodes; default 64G)' },
  { long: 'pmem', arg: 'size', repeat: true, help: 'a persistent-memory region regionN (repeatable)' },
  { long: 'soft-reserved', arg: 'size', repeat: true, help: 'a soft-reserved range: a dynamic dax region (repeatable)' },
  { long: 'generation', arg: 'gen', help: `vmemmap generation the kernel runs: ${VMEMMAP_GENERATIONS.join(', ')} (default tail-reuse)` },
  {
    long: 'set-mapping-index',
    arg: 'align-down|align-up',
    help: "dax_set_mapping()'s page->index: align-down (the 2024 fix, default) or align-up (the seed's patch 5)",
  },
  { long: 'force', short: 'f', help: 'replace an existing machine' },
  { long: 'help', short: 'h', help: 'show this help' },
];
const CREATE_USAGE = formatUsage('daxsim machine create [--arch ARCH] [--ram SIZE]... [--pmem SIZE]... [--soft-reserved SIZE]...', machineCreateOptions);

function sizes(name: string, values: string[]): number[] {
  return values.map((v) => {
    const n = parseSize(v);
    if (n === undefined) throw new UsageError(`failed to parse --${name} size '${v}'`);
    return n;
  });
}

/** Parses `machine create` options into a configuration (usage errors for malformed ones). */
export function machineConfigFromOptions(o: CommandContext['parsed']['opts']): MachineConfig {
  const arch = str(o['arch']) ?? DEFAULT_CONFIG.arch;
  if (!(arch in ARCH_PROFILES)) throw new UsageError(`invalid arch '${arch}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  const gen = str(o['generation']);
  if (gen !== undefined && !isVmemmapGeneration(gen)) throw new UsageError(`invalid generation '${gen}': one of ${VMEMMAP_GENERATIONS.join(', ')}`);
  const smi = str(o['set-mapping-index']);
  if (smi !== undefined && smi !== 'align-down' && smi !== 'align-up') throw new UsageError(`invalid --set-mapping-index '${smi}': align-down or align-up`);
  const ram = sizes('ram', list(o['ram']));
  const cfg: MachineConfig = {
    arch,
    ram: ram.length ? ram : DEFAULT_CONFIG.ram,
    pmem: sizes('pmem', list(o['pmem'])),
    softReserved: sizes('soft-reserved', list(o['soft-reserved'])),
    ...(gen !== undefined ? { generation: gen } : {}),
    ...(smi !== undefined ? { setMappingIndex: smi } : {}),
  };
  return cfg;
}

function create(ctx: CommandContext): number {
  let cfg: MachineConfig;
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    cfg = machineConfigFromOptions(ctx.parsed.opts);
  } catch (e) {
    return reportError(ctx, e, CREATE_USAGE);
  }
  try {
    if (existsSync(ctx.statePath) && !flag(ctx.parsed.opts['force'])) {
      readState(ctx.statePath); // refuses (untouched) when it is not a machine state
      throw new KernelError(EEXIST, `machine create: ${ctx.statePath} already holds a machine (use --force to replace it)`);
    }
    const m = Machine.create(cfg); // validates by booting
    writeState(ctx.statePath, m.state());
    ctx.out.out(describe(m));
    return 0;
  } catch (e) {
    return reportError(ctx, e);
  }
}

function describe(m: Machine): string {
  const lines = [`arch: ${m.arch.name}  (page ${humanBytes(m.arch.pageSize)}, section ${humanBytes(2 ** m.arch.sectionSizeBits)})`];
  lines.push(`vmemmap generation: ${m.generation}; dax_set_mapping index: ${m.bus.setMappingIndex}`);
  m.config.ram.forEach((s, nid) => lines.push(`node${nid}: ${humanBytes(s)} RAM`));
  for (const r of m.pmem) lines.push(`region${r.id}: ${humanBytes(r.size)} pmem at 0x${r.start.toString(16)} (${r.namespaces.length} namespaces)`);
  for (const r of m.softReserved) lines.push(`dax region ${r.id}: ${humanBytes(r.size)} soft-reserved at 0x${r.start.toString(16)} (${r.parentName})`);
  lines.push(`operations replayed: ${m.ops.length}`);
  return lines.join('\n');
}

const SHOW_OPTS: OptSpec[] = [
  { long: 'json', help: 'print the configuration and operations as JSON' },
  { long: 'help', short: 'h', help: 'show this help' },
];

function show(ctx: CommandContext): number {
  try {
    const state = readState(ctx.statePath);
    const m = state ? Machine.fromState(state) : Machine.create(DEFAULT_CONFIG);
    if (flag(ctx.parsed.opts['json'])) ctx.out.out(JSON.stringify({ path: ctx.statePath, saved: Boolean(state), ...m.state() }, null, 2));
    else ctx.out.out(`${state ? ctx.statePath : '(no state file: the default machine)'}\n${describe(m)}`);
    return 0;
  } catch (e) {
    return reportError(ctx, e);
  }
}

export const machineCommands: Command[] = [
  { path: ['machine', 'create'], synopsis: 'daxsim machine create [<options>]', summary: 'define the simulated machine', options: machineCreateOptions, run: create },
  { path: ['machine', 'show'], synopsis: 'daxsim machine show [--json]', summary: 'show the machine and its replayed operations', options: SHOW_OPTS, run: show },
];
