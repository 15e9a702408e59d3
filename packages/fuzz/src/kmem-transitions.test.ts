import { describe, expect, it } from 'vitest';
import { type OpSpec, runFuzzSequence } from './fuzz.js';
import { formatOp } from './fuzz-machine.js';

const spec = (t: number, a = 0, b = 1, c = 1, d = 0): OpSpec => ({ t, a, b, c, d });

describe('the fuzzer drives system-ram transitions', () => {
  it('devdax → system-ram → offline → online → devdax on a created device, every step checked against the model and the sweeps', () => {
    // create-device -s 128M -a 2M: one whole memory block at the start of the dynamic region
    const specs: OpSpec[] = [spec(0, 5, 63)];
    for (let a = 0; a < 6; a++) specs.push(spec(64, a, 1), spec(67, a), spec(66, a), spec(65, a, 1, 0), spec(64, a, 0), spec(65, a, 1, 1), spec(65, a, 1, 0));
    const r = runFuzzSequence('tail-reuse', specs, { fullEvery: 1 });
    expect(r.violations).toEqual([]);
    const lines = r.ops.map((o, i) => `${formatOp(o)} → ${r.outcomes[i]}`);
    expect(lines).toContain('daxctl reconfigure-device --mode=system-ram dax1.1 → ok');
    expect(lines).toContain('daxctl offline-memory dax1.1 → ok');
    expect(lines).toContain('daxctl online-memory dax1.1 → ok');
    expect(lines).toContain('daxctl reconfigure-device --mode=devdax -f dax1.1 → ok');
    expect(lines).toContain('daxctl reconfigure-device --mode=system-ram --no-movable dax1.1 → ok');
    // a pmem namespace's device holds no whole 128 MiB block (its info block): EINVAL
    expect(lines.some((l) => /--mode=system-ram dax0\.\d → -EINVAL/.test(l))).toBe(true);
    // online memory refuses devdax without -f
    expect(lines).toContain('daxctl reconfigure-device --mode=devdax dax1.1 → -EBUSY');
  });
});
