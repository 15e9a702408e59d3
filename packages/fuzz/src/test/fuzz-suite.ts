import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { VmemmapGeneration } from '@daxsim/mm';
import { kernelBootHooks } from '@daxsim/memremap';
import { type OpSpec, runFuzzSequence } from '../fuzz.js';

/** Total fuzzed operations over the four vmemmap generations (CI default 100,000; DAXSIM_FUZZ_OPS for longer runs). */
export const FUZZ_OPS = Number(process.env.DAXSIM_FUZZ_OPS ?? 100_000);
/** Base seed (DAXSIM_FUZZ_SEED to reproduce or vary a run); each generation adds its index. */
export const FUZZ_SEED = Number(process.env.DAXSIM_FUZZ_SEED ?? 0x5eed);
/**
 * A full struct-page sweep every this many ops (and after the last); the cheap sweep on every other op.
 * 256 (was 64): a full sweep costs 7-30 ms on the fuzz machine, so at 64 it was a third of the run; the
 * cheap sweep still checks every step, and the last step of every sequence gets the full one.
 */
export const FULL_SWEEP_EVERY = 256;

const specArb: fc.Arbitrary<OpSpec> = fc.record({ t: fc.nat(), a: fc.nat(), b: fc.nat(), c: fc.nat(), d: fc.nat() });
// Longer sequences boot fewer machines per op (booting the fuzz machine binds 1.25 GiB of device memory).
const seqArb = fc.array(specArb, { minLength: 100, maxLength: 400, size: 'max' });

/**
 * Model-based fuzzing of one vmemmap generation: random op sequences on the
 * fuzz machine, each step checked against the reference model and the
 * invariant sweep. A failure is shrunk by fast-check and printed as a
 * `daxsim run` scenario.
 */
export function fuzzGeneration(generation: VmemmapGeneration, index: number, share: number): void {
  describe(`fuzz ${generation}`, () => {
    it(`${share} random operations keep every invariant and match the reference model`, () => {
      const seed = FUZZ_SEED + index;
      const budget = share; // ops for this generation
      let executed = 0;
      let runs = 0;
      const t0 = performance.now();
      let shrinking = false;
      const prop = fc.property(seqArb, (specs) => {
        if (executed >= budget && !shrinking) return true; // budget spent: the remaining runs are no-ops
        const r = runFuzzSequence(generation, specs, { fullEvery: FULL_SWEEP_EVERY });
        executed += r.executed;
        runs++;
        if (r.violations.length > 0) shrinking = true;
        return r.violations.length === 0;
      });
      // Sequences run until the budget of executed ops is spent (each executes ~100-150 ops).
      const numRuns = Math.max(1, Math.ceil(budget / 40));
      // Every fuzz machine is swept by the fuzzer itself (cheap after every op, full after the last), so
      // the after-test sweep's boot hook (scripts/vitest/sweep-after-file.ts) is left out while it runs:
      // it would keep all ~200 machines of this test alive until the test ends (gigabytes).
      const hooks = kernelBootHooks.splice(0);
      let out: fc.RunDetails<[OpSpec[]]>;
      try {
        out = fc.check(prop, { seed, numRuns });
      } finally {
        kernelBootHooks.push(...hooks);
      }
      const ms = performance.now() - t0;
      console.log(`fuzz ${generation}: seed ${seed}, ${runs} sequences, ${executed} ops, ${(ms / 1000).toFixed(1)} s`);
      if (out.failed) {
        const specs = out.counterexample![0];
        const r = runFuzzSequence(generation, specs, { fullEvery: 1 });
        const msg = `fuzz ${generation} (seed ${seed}, path ${out.counterexamplePath}) failed; shrunk to ${r.ops.length} ops. Reproduce with \`daxsim run\` on:\n\n${r.scenario}`;
        console.error(msg);
        expect.fail(msg);
      }
      expect(executed).toBeGreaterThan(0);
    }, 900_000);
  });
}
