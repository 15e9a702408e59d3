import { describe, expect, it } from 'vitest';
import { C, Counters } from './counters.js';
import { modelledNs, modelledTime } from './cost.js';
import { KERN_INFO, KernelLog, formatLogRecord } from './klog.js';
import { PLATFORMS } from './platform.js';

describe('the kernel log: one ring, stamped by the machine clock', () => {
  it('stamps each line with the clock it is given, and never earlier than the line before', () => {
    let t = 1.5;
    const log = new KernelLog({ now: () => t });
    log.info('a');
    t = 1.25; // a clock that stepped back (it must not show)
    log.info('b');
    t = 2;
    log.info('c');
    expect(log.entries.map((r) => r.time)).toEqual([1.5, 1.5, 2]);
    expect(formatLogRecord(log.entries[2]!)).toBe('[    2.000000] c');
  });

  it('a restored ring carries on after its last line, whatever the new clock reads', () => {
    const a = new KernelLog({ now: () => 3.25 });
    a.info('x');
    a.info('y');
    const b = new KernelLog({ now: () => 0.5 }); // a fresh boot's clock, before the state's counters are put back
    b.restore(a.entries);
    b.printk(KERN_INFO, 'z');
    expect(b.entries.map((r) => [r.text, r.time])).toEqual([
      ['x', 3.25],
      ['y', 3.25],
      ['z', 3.25],
    ]);
  });

  it("modelledNs() is modelledTime()'s ns, without the breakdown", () => {
    const c = new Counters();
    const p = PLATFORMS['cascadelake-optane']!;
    expect(modelledNs(p, c.v)).toBe(0);
    c.v[C.struct_pages_initialised] = 262144;
    c.v[C.line_dirty_pmem] = 262144;
    c.v[C.atomic_refcount_ops] = 512;
    c.v[C.line_seq_dram] = 4096;
    expect(modelledNs(p, c.v)).toBe(modelledTime(p, c.v).ns);
    expect(modelledNs(p, c.v)).toBeGreaterThan(0);
  });
});
