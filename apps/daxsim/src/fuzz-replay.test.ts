import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type OpSpec, bootFuzzMachine, formatScenario, machineState, runFuzzSequence, scenarioPreamble } from '@daxsim/debug-vm';
import { VMEMMAP_GENERATIONS, type VmemmapGeneration, errnoName } from '@daxsim/mm';
import { parseArgs } from './args.js';
import { main } from './cli.js';
import type { CommandContext } from './command.js';
import { machineConfigFromOptions, machineCreateOptions } from './commands/machine.js';
import { daxDeviceJson } from './json.js';
import { Machine } from './machine.js';
import { BufferOutput } from './output.js';
import { runScenario } from './scenario.js';

/**
 * The fuzzer's printed scenarios reproduce: the machine `daxsim run` builds
 * from a fuzz scenario's preamble is the fuzz machine, byte for byte, and
 * replaying a fuzzed sequence through the app gives every line the outcome
 * it had in the fuzz model and leaves the same machine.
 */

const ctxOf = (out: BufferOutput, machine?: Machine): CommandContext => ({
  parsed: { opts: {}, positionals: [] },
  out,
  statePath: '/nonexistent/daxsim-fuzz-replay.json',
  env: {},
  ...(machine ? { machine } : {}),
});

/** The machine a scenario's `machine ...` line makes, as runScenario makes it. */
function machineOf(line: string): Machine {
  const words = line.split(/\s+/);
  expect(words[0]).toBe('machine');
  return Machine.create(machineConfigFromOptions(parseArgs(words.slice(1), machineCreateOptions).opts));
}

/** Each scenario line and what `daxsim run` reported for it, in the fuzz model's outcome words. */
function outcomes(stdout: string, name: string): { line: string; outcome: string }[] {
  const res: { line: string; outcome: string }[] = [];
  const echo = new RegExp(`^${name}:(\\d+): (.*)$`);
  for (const l of stdout.split('\n')) {
    const m = echo.exec(l);
    if (m) {
      res.push({ line: m[2]!, outcome: 'ok' });
      continue;
    }
    const cur = res[res.length - 1];
    if (!cur) continue;
    let x: RegExpExecArray | null;
    if ((x = /^ {2}exit status (\d+)$/.exec(l))) cur.outcome = `-${errnoName(256 - Number(x[1]))}`;
    else if ((x = /^ {2}error: (-E[A-Z0-9]+):/.exec(l))) cur.outcome = x[1]!;
    else if ((x = /^ {2}fault failed \(vm_fault_t (0x[0-9a-f]+)\)$/.exec(l))) cur.outcome = `fault ${x[1]}`;
    else if ((x = /^ {2}(?:pinned|got) (\d+) of \d+ pages$/.exec(l))) cur.outcome = `took ${x[1]}`;
  }
  return res;
}

/** `daxctl list -i`'s devices, as the app lists them, for a bus. */
function deviceList(bus: Machine['bus']): unknown[] {
  return [...bus.regions]
    .sort((a, b) => a.id - b.id || a.start - b.start)
    .flatMap((r) => r.devicesById().map((d) => daxDeviceJson(d, { human: false, mappings: true })));
}

const specArb: fc.Arbitrary<OpSpec> = fc.record({ t: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat(), d: fc.nat() });
const seqArb = fc.array(specArb, { minLength: 150, maxLength: 250, size: 'max' });
const SEEDS = [1, 2];

describe('fuzz scenarios replay with daxsim run', () => {
  it.each(VMEMMAP_GENERATIONS)('the preamble builds the fuzz machine byte for byte (%s)', async (gen) => {
    const [machineLine, ...ndctl] = scenarioPreamble(gen);
    const m = machineOf(machineLine!);
    const out = new BufferOutput();
    for (const line of ndctl) expect(await main(line.split(/\s+/), out, {}, m), out.stderr).toBe(0);
    const fz = bootFuzzMachine(gen);
    // the namespaces' pgmaps: nd_pfn_init()'s dataoff and __nvdimm_setup_pfn()'s altmap
    for (const [ns, dev] of [['namespace0.0', 'dax0.0'], ['namespace0.1', 'dax0.1']] as const) {
      const want = m.namespacePgmap(m.namespace(ns))!;
      const got = fz.bus.device(dev)!.pgmap!;
      expect({ type: got.type, flags: got.flags, ranges: got.ranges, altmap: got.altmap ?? null }).toEqual({ type: want.type, flags: want.flags, ranges: want.ranges, altmap: want.altmap ?? null });
    }
    expect(deviceList(fz.bus)).toEqual(deviceList(m.bus));
    expect(machineState(fz.k, fz.bus)).toEqual(machineState(m.k, m.bus));
  });

  for (const gen of VMEMMAP_GENERATIONS as readonly VmemmapGeneration[])
    it.each(SEEDS)(`a fuzzed sequence on ${gen} (seed %i) replays line for line`, async (seed) => {
      const [specs] = fc.sample(seqArb, { seed: seed * 16 + VMEMMAP_GENERATIONS.indexOf(gen), numRuns: 1 });
      const r = runFuzzSequence(gen, specs!, { sweeps: false });
      expect(r.violations).toEqual([]);
      const text = formatScenario(gen, r.ops);
      const preamble = scenarioPreamble(gen).length;

      // 1. The printed text, verbatim, with a device listing at the end.
      const out = new BufferOutput();
      const rc = await runScenario(ctxOf(out), `${text}daxctl list -i -M\n`, 'fuzz');
      expect(out.stderr).toBe(''); // no usage error
      expect(rc).toBe(0);
      const got = outcomes(out.stdout, 'fuzz');
      expect(got.map((x) => x.line)).toEqual([...text.trimEnd().split('\n'), 'daxctl list -i -M']);
      expect(got.slice(0, preamble).map((x) => x.outcome)).toEqual(scenarioPreamble(gen).map(() => 'ok'));
      const replayed = got.slice(preamble, preamble + r.ops.length).map((x) => `${x.line} => ${x.outcome}`);
      const fuzzed = r.ops.map((_, i) => `${got[preamble + i]!.line} => ${r.outcomes[i]}`);
      expect(replayed).toEqual(fuzzed);
      const listing = out.stdout.slice(out.stdout.lastIndexOf('daxctl list -i -M\n') + 'daxctl list -i -M\n'.length, out.stdout.lastIndexOf('fuzz: done'));

      // 2. The same lines on a machine made from the machine line, so its state can be compared with the fuzz machine's.
      const fz = r.machine;
      const [machineLine, ...rest] = text.trimEnd().split('\n');
      const m = machineOf(machineLine!);
      const out2 = new BufferOutput();
      expect(await runScenario(ctxOf(out2, m), rest.join('\n'), 'fuzz')).toBe(0);
      expect(deviceList(m.bus)).toEqual(deviceList(fz.bus));
      expect(JSON.parse(listing)).toEqual(deviceList(fz.bus));
      expect(machineState(m.k, m.bus)).toEqual(machineState(fz.k, fz.bus));
    });
});
