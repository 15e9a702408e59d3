import { machineState } from '@daxsim/debug-vm';
import { describe, expect, it } from 'vitest';
import { daxctlCreateDevice, daxctlDestroyDevice } from './daxctl.js';
import { Machine } from './machine.js';
import { ndctlCreateNamespace, ndctlDestroyNamespace } from './ndctl.js';
import { SZ_1G } from '@daxsim/mm';


/** A machine with a label-less 4 GiB NVDIMM and an emptied 16 GiB dynamic region (dax1.0 disabled, size 0). */
function boot(): Machine {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 4 * SZ_1G, labels: false }], softReserved: [16 * SZ_1G] });
  m.checkpoint();
  m.apply({ op: 'dax.unbind', dev: 'dax1.0' });
  m.apply({ op: 'dax.size', dev: 'dax1.0', size: 0 });
  m.checkpoint();
  return m;
}

/** One "command" after another, each ending at a checkpoint when `compact`. */
function cycles(m: Machine, n: number, compact: boolean): void {
  const step = (fn: () => void) => {
    fn();
    if (compact) m.checkpoint();
  };
  for (let i = 0; i < n; i++) {
    let dev = '';
    step(() => (dev = daxctlCreateDevice(m, { region: 1, size: 16 * SZ_1G }).device!.name));
    step(() => daxctlDestroyDevice(m, m.daxDevice(dev), true));
    step(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', force: true }));
    step(() => ndctlDestroyNamespace(m, m.namespace('namespace0.0'), true));
    step(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'raw', force: true }));
  }
}

/** Everything a later command can see of a machine. */
function observe(m: Machine) {
  return {
    state: machineState(m.k, m.bus),
    devices: m.bus.devices.map((d) => [d.name, d.size, d.align, d.bound, d.ranges]),
    namespaces: JSON.stringify(m.pmem),
    serial: m.nvdimm.serial,
    objects: m.k.objects.allocated,
    counters: m.k.counters.snapshot(),
    // the log of each run, as it ran (the milliseconds a memmap init took are its own)
    log: m.k.log.entries.map((r) => r.text.replace(/ in \d+ms$/, ' in Nms')),
  };
}

describe('log compaction', () => {
  it('50 create/destroy cycles leave the log as one cycle does, and the compacted machine replays to the full log’s, byte for byte', () => {
    const one = boot();
    cycles(one, 1, true);
    const compacted = boot();
    cycles(compacted, 50, true);
    const full = boot();
    cycles(full, 50, false);
    const before = boot().ops.length;
    expect(one.ops.length).toBe(before);
    expect(compacted.ops.length).toBe(before);
    // a cycle: create-device 3 ops, destroy-device 3, -e devdax 2 (disable, reconfig), destroy 1, -e raw 1
    expect(full.ops.length).toBe(before + 50 * 10);
    const a = Machine.fromState(compacted.state());
    const b = Machine.fromState(full.state());
    expect(observe(a)).toEqual(observe(b));
    // and the next command does the same on both, uuid included
    const na = ndctlCreateNamespace(a, { reconfig: 'namespace0.0', mode: 'fsdax', force: true });
    const nb = ndctlCreateNamespace(b, { reconfig: 'namespace0.0', mode: 'fsdax', force: true });
    expect(na.uuid).toBe(nb.uuid);
    expect(observe(a)).toEqual(observe(b));
  }, 120_000);

  it('keeps every operation of a history that does not return to an earlier state', () => {
    const m = boot();
    const n = m.ops.length;
    daxctlCreateDevice(m, { region: 1, size: 2 * SZ_1G });
    m.checkpoint();
    daxctlCreateDevice(m, { region: 1, size: 2 * SZ_1G });
    m.checkpoint();
    expect(m.ops.length).toBe(n + 6);
    expect(Machine.fromState(m.state()).digest()).toBe(m.digest());
  });
});
