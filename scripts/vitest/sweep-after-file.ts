// A vitest setup file: after each test, the DEBUG_VM-style invariant sweep
// (a sampled one) runs on every machine the test booted through
// createKernel(), as CONFIG_DEBUG_VM would have checked them all along. A
// test that corrupts a machine on purpose (to show that a checker or a hazard
// works) sets `corrupted` on it so the sweep leaves it alone.
import { checkInvariants, formatViolation } from '@daxsim/debug-vm';
import { type Kernel, kernelBootHooks } from '@daxsim/memremap';
import { afterEach } from 'vitest';

const booted: Kernel[] = [];
kernelBootHooks.push((k) => booted.push(k));

afterEach(() => {
  const found: string[] = [];
  for (const k of booted.splice(0)) {
    if ((k as { corrupted?: boolean }).corrupted) continue;
    for (const v of checkInvariants(k, undefined, [], { full: false })) found.push(formatViolation(v));
  }
  if (found.length) throw new Error(`invariant sweep after this test: ${found.length} violations\n${found.slice(0, 10).join('\n')}`);
});
