import { existsSync, readFileSync } from 'node:fs';
import { gupTestCmdName, gupTestPins } from '@daxsim/gup';
import { GUP_GENERATIONS, type GupGeneration, isGupGeneration } from '@daxsim/mm';
import { DEFAULT_CONFIG, Machine, type LineOutcome, deviceOfFile, parseSize, runGupTest, formatScenarioLanguage, runScenario } from '@daxsim/machine';
import { readState, writeState } from '@daxsim/machine/state-file';
import { BUS_MCEERR_AO, BUS_MCEERR_AR, type SigInfo, errnoName } from '@daxsim/mm';
import { type OptSpec, UsageError, formatUsage, parseArgs, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { BufferOutput } from '../output.js';
import { exitStatus, reportError, withMachine, withStateFileLock } from '../session.js';
import { machineConfigFromOptions, machineCreateOptions } from '../machine-options.js';

// ------------------------------------------------------------------ gup-test

const GUP_TEST_OPTS: OptSpec[] = [
  { long: 'gup', arg: 'generation', help: `GUP generation under huge leaves, overriding the machine kernel's: ${GUP_GENERATIONS.join(', ')} (per-page, head-once and grab-first walk devmap leaves: kernels before 6.17)` },
  { long: 'json', help: 'print one JSON object per loop (the counted get and put/unpin atomics, pgmap references, folios, pages, modelled and host times) instead of the TAP text' },
  { long: 'host-time', help: "print the host's JavaScript time in the Time line instead of the modelled kernel's (the machine's --platform)" },
  { long: 'help', help: 'show this help' },
];
const GUP_TEST_SYNOPSIS =
  'daxsim gup-test [--gup=GEN] [--json] [--host-time] -f /dev/daxX.Y [-m MB] [-r REPEATS] [-n PAGES] [-u|-a|-L] [-w|-W] [-S]\n' +
  '  (the options of tools/testing/selftests/mm/gup_test: -m size in MB, -r repeats, -n pages per call\n' +
  '   (negative: all), -u GUP_FAST_BENCHMARK, -a PIN_FAST_BENCHMARK, -L PIN_LONGTERM_BENCHMARK,\n' +
  '   -w/-W write on/off, -S MAP_SHARED, -f file)';

/** Pulls daxsim's own --gup=GEN, --json and --host-time out of a gup_test command line. */
function splitGupGeneration(args: string[]): { generation: GupGeneration | undefined; json: boolean; rest: string[]; hostTime: boolean } {
  let generation: GupGeneration | undefined;
  let json = false;
  let hostTime = false;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') {
      json = true;
      continue;
    }
    if (a === '--host-time') {
      hostTime = true;
      continue;
    }
    const v = a === '--gup' ? args[++i] : a.startsWith('--gup=') ? a.slice(6) : undefined;
    if (v === undefined && a !== '--gup') {
      rest.push(a);
      continue;
    }
    if (v === undefined || !isGupGeneration(v)) throw new UsageError(`invalid --gup '${v ?? ''}': one of ${GUP_GENERATIONS.join(', ')}`);
    generation = v;
  }
  return { generation, json, rest, hostTime };
}

/** One gup_test loop as --json prints it: what the model counted during the get and the put/unpin loop. */
function gupLoopJson(m: Machine, r: ReturnType<typeof runGupTest>, rep: ReturnType<typeof runGupTest>['repeats'][number], generation: GupGeneration) {
  const st = rep.stats;
  return {
    test: gupTestCmdName(r.options!.cmd),
    kernel: m.kernel.release.version,
    gup: generation,
    thread: rep.thread,
    loop: rep.repeat,
    status: rep.status,
    ...(rep.errno ? { errno: errnoName(rep.errno) } : {}),
    pages: st.nrPages,
    calls: st.calls,
    folios: st.folios,
    get_atomics: st.getAtomics,
    put_atomics: st.putAtomics,
    release: gupTestPins(r.options!.cmd, r.options!.testFlags) ? 'unpin_user_pages' : 'put_page',
    get_pgmap_refs: st.getPgmapRefs,
    // the Time line's figures: the modelled kernel's time (or the host's with --host-time)
    get_us: rep.args.getDeltaUsec,
    put_us: rep.args.putDeltaUsec,
    host_get_ms: Math.round(st.hostGetMs * 1000) / 1000,
    host_put_ms: Math.round(st.hostPutMs * 1000) / 1000,
  };
}

/**
 * What the shell and the kernel say when gup_test dies in its prefault loop
 * (p[0] = 0 every page): the signal, its si_code and si_addr, the device
 * offset the store hit, and the kernel's lines of the run (the fault
 * handler's dev_dbg() lines, printed by the real kernel only with dynamic
 * debug on). A store never consumes poison and the device-dax fault path
 * never looks at PG_hwpoison (poison-ref, 6.1 and 7.3), so a poisoned page
 * does not kill gup_test: a read does (`daxsim run`, `p read`).
 */
function gupTestKilled(m: Machine, r: ReturnType<typeof runGupTest>): string {
  const addr = r.faultAddr ?? r.addr;
  const off = addr - r.addr;
  const file = r.options?.file ?? '';
  const dev = deviceOfFile(m, file);
  const size = dev ? dev.ranges.reduce((n, x) => n + x.end - x.start + 1, 0) : 0;
  const code = r.signal === 'SIGSEGV' ? 'SEGV_MAPERR' : 'BUS_ADRERR';
  const why =
    r.signal === 'SIGBUS' && dev && off >= size
      ? ` (past the ${size} bytes of ${dev.name}: dax_pgoff_to_phys() finds no range, VM_FAULT_SIGBUS)`
      : r.signal === 'SIGSEGV'
        ? ' (no VMA there)'
        : ' (VM_FAULT_SIGBUS)';
  const lines = [`gup_test: killed by ${r.signal} (${code}) at 0x${addr.toString(16)}: its store to offset 0x${off.toString(16)} of ${file}${why}`];
  for (const l of r.kernelLines) lines.push(`kernel: ${l}`);
  return lines.join('\n');
}

async function gupTest(ctx: CommandContext): Promise<number> {
  let split: { generation: GupGeneration | undefined; json: boolean; rest: string[]; hostTime: boolean };
  try {
    split = splitGupGeneration(ctx.parsed.positionals);
    if (!split.rest.some((a) => a === '-f' || /^-[^-]*f/.test(a)))
      throw new UsageError('daxsim models device-dax files only: pass -f /dev/daxX.Y');
  } catch (e) {
    return reportError(ctx, e, GUP_TEST_SYNOPSIS);
  }
  try {
    return await withMachine(
      ctx,
      (m) => {
        const r = runGupTest(m, split.rest, split.generation, { hostTime: split.hostTime });
        if (split.json && r.options !== null && r.exitCode === 0) {
          const gen = split.generation ?? m.kernel.gupGeneration;
          ctx.out.out(JSON.stringify(r.repeats.map((rep) => gupLoopJson(m, r, rep, gen)), null, 2) + '\n');
        } else ctx.out.out(r.text);
        if (r.signal) ctx.out.err(gupTestKilled(m, r));
        return r.exitCode;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e);
  }
}

// ------------------------------------------------------------------ poison

const POISON_OPTS: OptSpec[] = [
  { long: 'offset', arg: 'bytes', help: 'byte offset in the device to poison (K/M/G suffixes); for a CXL memN, the device physical address (DPA)' },
  { long: 'help', short: 'h', help: 'show this help' },
];
const POISON_USAGE = formatUsage('daxsim poison <daxX.Y>|<memN> --offset BYTES', POISON_OPTS);

export function describeSignal(who: string, s: SigInfo): string {
  const names: Record<number, string> = { [BUS_MCEERR_AR]: 'BUS_MCEERR_AR', [BUS_MCEERR_AO]: 'BUS_MCEERR_AO' };
  if (s.signo === 7) names[2] = 'BUS_ADRERR';
  if (s.signo === 11) Object.assign(names, { 1: 'SEGV_MAPERR', 2: 'SEGV_ACCERR' });
  const code = names[s.code] ?? String(s.code);
  const sig = s.signo === 7 ? 'SIGBUS' : s.signo === 11 ? 'SIGSEGV' : `signal ${s.signo}`;
  const lsb = s.addrLsb ? ` addr_lsb=${s.addrLsb} (${2 ** s.addrLsb} bytes)` : '';
  return `${who}: ${sig} ${code} addr=0x${s.addr.toString(16)}${lsb}`;
}

async function poison(ctx: CommandContext): Promise<number> {
  let dev: string;
  let offset: number;
  try {
    if (ctx.parsed.positionals.length !== 1) throw new UsageError('specify one device: daxsim poison daxX.Y --offset BYTES');
    dev = ctx.parsed.positionals[0]!;
    const text = str(ctx.parsed.opts['offset']);
    if (text === undefined) throw new UsageError('--offset is required');
    const v = parseSize(text);
    if (v === undefined) throw new UsageError(`failed to parse --offset '${text}'`);
    offset = v;
  } catch (e) {
    return reportError(ctx, e, POISON_USAGE);
  }
  try {
    return await withMachine(ctx, (m) => {
      const logFrom = m.k.log.entries.length;
      // a CXL memdev's DPA: the dax device and offset its region decodes it to
      if (/^mem\d+$/.test(dev)) ({ dev, offset } = m.cxlDpaToDax(dev, offset));
      m.apply({ op: 'poison', dev, offset });
      const signals = m.lastSignals;
      for (const r of m.k.log.entries.slice(logFrom)) if (/Memory failure|memory_failure/.test(r.text)) ctx.out.out(r.text);
      for (const s of signals) ctx.out.out(describeSignal('mce-consumer', s));
      return 0;
    });
  } catch (e) {
    return reportError(ctx, e);
  }
}

// ------------------------------------------------------------------ run

const RUN_OPTS: OptSpec[] = [{ long: 'help', short: 'h', help: 'show this help' }];

/** How `daxsim run` prints a line's outcome, under the echoed line. */
export function formatOutcome(o: LineOutcome): string[] {
  const out: string[] = [];
  const isTool = o.status !== undefined;
  for (const msg of o.messages) out.push(isTool ? msg : o.errno && msg === o.messages[o.messages.length - 1] ? `  error: -${errnoName(o.errno)}: ${msg}` : `  ${msg}`);
  if (isTool && o.status !== 0) out.push(`  exit status ${o.status}`);
  const faults = Object.entries(o.faults).map(([c, n]) => `${n} ${c.replace('fault_', '')}`);
  if (faults.length) out.push(`  faults: ${faults.join(', ')}`);
  if (o.memoryFailures) out.push(`  memory_failure: ${o.memoryFailures}`);
  for (const k of o.kernel ?? []) out.push(`  kernel: ${k}`);
  for (const s of o.signals) out.push(`  ${describeSignal(s.proc, s.info)}`);
  return out;
}

/**
 * `daxsim run SCENARIO`: the machine package's interpreter over a copy of
 * the state file's machine (or the scenario's own `machine` line); tool
 * lines run as daxsim commands on it. The machine it leaves is saved when it
 * continued the file's machine or the file held none. Each line is printed
 * with what it caused as soon as it has run.
 */
export async function runScenarioCommand(ctx: CommandContext, text: string, name: string): Promise<number> {
  // The machine the scenario leaves is saved to the state file when the scenario continued the file's
  // machine, or made one where the file held none; a scenario that makes its own machine beside an
  // existing one leaves the file alone. Processes exit at the end: their mappings and pins go with them.
  const heldMachine = !ctx.machine && existsSync(ctx.statePath);
  let booted = false;
  const result = await runScenario(text, {
    ...(ctx.machine ? { machine: ctx.machine } : {}),
    boot: () => {
      booted = true;
      const state = readState(ctx.statePath);
      return state ? Machine.fromState(state) : Machine.create(DEFAULT_CONFIG);
    },
    machineLine: (args) => Machine.create(machineConfigFromOptions(parseArgs(args, machineCreateOptions).opts)),
    tool: async (words, m) => {
      // the command's messages (stdout and stderr) go inline with the scenario's events
      const buf = new BufferOutput();
      const status = await ctx.dispatch(words, { out: (t) => buf.out(t), err: (t) => buf.out(t.replace(/\n$/, '').replace(/^/gm, '  ')), isTTY: false }, m);
      return { status, text: buf.stdout };
    },
    onLine: (o) => {
      ctx.out.out(`${name}:${o.lineNo}: ${o.line}`);
      const lines = formatOutcome(o);
      if (lines.length) ctx.out.out(lines.join('\n'));
    },
  });
  if (result.error) {
    const lineText = text.split('\n')[result.error.lineNo - 1]!.replace(/#.*/, '').trim();
    ctx.out.out(`${name}:${result.error.lineNo}: ${lineText}`);
    ctx.out.err(`${name}:${result.error.lineNo}: ${result.error.message}`);
    return 129;
  }
  // Refused operations are events of the workload, not failures of the run.
  ctx.out.out(`${name}: done, ${result.refused} command${result.refused === 1 ? '' : 's'} refused`);
  const m = result.machine;
  if (m && !ctx.machine && (booted || !heldMachine)) {
    for (const [p, pr] of result.session?.procs ?? []) if (pr.alive) result.session!.exit(p);
    await withStateFileLock(ctx, () => {
      m.checkpoint();
      writeState(ctx.statePath, m.state());
    });
  } else if (m && heldMachine && !booted) ctx.out.err(`${name}: made its own machine; ${ctx.statePath} holds another and is left as it was\n`);
  return 0;
}

async function run(ctx: CommandContext): Promise<number> {
  const file = ctx.parsed.positionals[0];
  if (!file || ctx.parsed.positionals.length > 1)
    return reportError(ctx, new UsageError('specify one scenario file'), formatUsage('daxsim run SCENARIO', RUN_OPTS));
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    ctx.out.err(`daxsim run: cannot read ${file}: ${(e as Error).message}`);
    return exitStatus(2);
  }
  try {
    return await runScenarioCommand(ctx, text, file);
  } catch (e) {
    return reportError(ctx, e);
  }
}

export const workloadCommands: Command[] = [
  {
    path: ['gup-test'],
    synopsis: GUP_TEST_SYNOPSIS,
    summary: 'the kernel gup_test selftest on a device-dax mapping',
    options: GUP_TEST_OPTS,
    raw: true,
    run: gupTest,
  },
  { path: ['poison'], synopsis: 'daxsim poison <daxX.Y>|<memN> --offset BYTES', summary: 'a bad media location at a device byte (memN: at a CXL DPA, through its region) (memory_failure; a later load of it is a machine check)', options: POISON_OPTS, run: poison },
  {
    path: ['run'],
    synopsis: 'daxsim run SCENARIO',
    summary: 'run a workload scenario (processes, faults, pins, poison)',
    options: RUN_OPTS,
    details: formatScenarioLanguage,
    run,
  },
];
