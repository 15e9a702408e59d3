import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { machineState } from '@daxsim/debug-vm';
import { type OpSpec, formatScenario, runFuzzSequence, scenarioPreamble } from '@daxsim/fuzz';
import { type LineOutcome, Machine, runScenario } from '@daxsim/machine';
import { ALL_VMEMMAP_GENERATIONS, VM_FAULT_ERROR, type VmemmapGeneration, errnoName } from '@daxsim/mm';
import { parseArgs } from './args.js';
import { main } from './cli.js';
import { daxDeviceJson } from './json.js';
import { machineConfigFromOptions, machineCreateOptions } from './machine-options.js';
import { BufferOutput } from './output.js';

/**
 * The fuzzer's printed scenarios reproduce: the scenario text a fuzzed
 * sequence prints, run by the machine package's interpreter with the
 * command line's tools (as `daxsim run` runs it), gives every line the
 * outcome it had in the fuzzer, and leaves the machine the fuzzer left,
 * byte for byte. Outcomes are compared as structured values, not as text.
 */

const machineLine = (args: string[]) => Machine.create(machineConfigFromOptions(parseArgs(args, machineCreateOptions).opts));

async function replay(text: string) {
  return runScenario(text, {
    machineLine,
    tool: async (words, m) => {
      const out = new BufferOutput();
      const status = await main(words, out, {}, m);
      return { status, text: out.stdout + out.stderr };
    },
  });
}

/** A line's outcome in the fuzzer's words (StepResult.outcome). */
function outcomeWord(o: LineOutcome): string {
  if (o.taken !== undefined || /^\S+ (pin|get|longterm) /.test(o.line)) return o.errno ? `-${errnoName(o.errno)}` : `took ${o.taken}`;
  if (o.faultRc !== undefined && /^\S+ touch /.test(o.line)) return o.faultRc & VM_FAULT_ERROR ? `fault 0x${o.faultRc.toString(16)}` : 'ok';
  return o.errno ? `-${errnoName(o.errno)}` : 'ok';
}

/** `daxctl list -i -M`'s devices, as the app lists them, for a bus. */
function deviceList(bus: Machine['bus']): unknown[] {
  return [...bus.regions]
    .sort((a, b) => a.id - b.id || a.start - b.start)
    .flatMap((r) => r.devicesById().map((d) => daxDeviceJson(d, { human: false, mappings: true })));
}

const specArb: fc.Arbitrary<OpSpec> = fc.record({ t: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat(), d: fc.nat() });
const seqArb = fc.array(specArb, { minLength: 150, maxLength: 250, size: 'max' });
const SEEDS = [1, 2];

describe('fuzz scenarios replay with daxsim run', () => {
  for (const gen of ALL_VMEMMAP_GENERATIONS as readonly VmemmapGeneration[])
    it.each(SEEDS)(`a fuzzed sequence on ${gen} (seed %i) replays line for line`, async (seed) => {
      const [specs] = fc.sample(seqArb, { seed: seed * 16 + ALL_VMEMMAP_GENERATIONS.indexOf(gen), numRuns: 1 });
      const r = runFuzzSequence(gen, specs!, { sweeps: false });
      expect(r.violations).toEqual([]);
      const text = formatScenario(gen, r.ops);
      const preamble = scenarioPreamble(gen).length;
      const res = await replay(text);
      expect(res.error).toBeUndefined();
      expect(res.outcomes.map((o) => o.line)).toEqual(text.trimEnd().split('\n'));
      expect(res.outcomes.slice(0, preamble).map(outcomeWord)).toEqual(scenarioPreamble(gen).map(() => 'ok'));
      const replayed = res.outcomes.slice(preamble).map((o) => `${o.line} => ${outcomeWord(o)}`);
      const fuzzed = r.ops.map((_, i) => `${res.outcomes[preamble + i]!.line} => ${r.outcomes[i]}`);
      expect(replayed).toEqual(fuzzed);
      const m = res.machine!;
      const fz = r.machine;
      expect(deviceList(m.bus)).toEqual(deviceList(fz.bus));
      expect(machineState(m.k, m.bus, res.session!.liveTasks())).toEqual(machineState(fz.k, fz.bus, fz.session.liveTasks()));
    });
});
