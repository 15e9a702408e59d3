import { SZ_1G, SZ_1M } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import type { MachineConfig } from './config.js';
import { Machine } from './machine.js';
import { ndctlCreateNamespace, ndctlDestroyNamespace } from './ndctl.js';
import { runScenario } from './scenario.js';

const config = (extra: Partial<MachineConfig> = {}): MachineConfig => ({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 4 * SZ_1G, labels: false }], softReserved: [], ...extra });

/** One CLI command: boot from the state the last one saved, run `fn`, reach a checkpoint, save. */
function command(state: ReturnType<Machine['state']> | undefined, cfg: MachineConfig, fn: (m: Machine) => void) {
  const m = state ? Machine.fromState(JSON.parse(JSON.stringify(state))) : Machine.create(cfg);
  fn(m);
  m.checkpoint();
  return m.state();
}

const times = (m: Machine) => m.k.log.entries.map((r) => r.time);

describe('the kernel log is one ring on the machine clock, across commands', () => {
  it('stamps never decrease across commands booted from the state file, compaction included, and each stamp is the modelled time so far', () => {
    const cfg = config();
    let st = command(undefined, cfg, () => {});
    const create = (align: number) => (m: Machine) => void ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map: 'mem', force: true });
    const destroy = (m: Machine) => ndctlDestroyNamespace(m, m.namespace('namespace0.0'), true);
    st = command(st, cfg, create(2 * SZ_1M));
    st = command(st, cfg, destroy);
    st = command(st, cfg, create(2 * SZ_1M));
    st = command(st, cfg, destroy); // back where the first destroy left it: the log of operations is compacted
    const opsBefore = st.ops.length;
    st = command(st, cfg, create(SZ_1G));
    const m = Machine.fromState(st);
    expect(opsBefore).toBeLessThan(4); // compacted: the second create/destroy pair left no operations behind
    const t = times(m);
    expect(m.k.log.entries.map((r) => r.text.replace(/ in \d+ms$/, ''))).toEqual([
      'dax dax0.0: alloc range[0]: 0x0000000140200000:0x000000023fffffff',
      'memmap_init_zone_device initialised 1048576 pages',
      'dax dax0.0: delete range[0]: 0x0000000140200000:0x000000023fffffff',
      'dax dax0.0: alloc range[0]: 0x0000000140200000:0x000000023fffffff',
      'memmap_init_zone_device initialised 1048576 pages',
      'dax dax0.0: delete range[0]: 0x0000000140200000:0x000000023fffffff',
      'dax dax0.0: alloc range[0]: 0x0000000180000000:0x000000023fffffff',
      'memmap_init_zone_device initialised 1048576 pages',
    ]);
    for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThanOrEqual(t[i - 1]!);
    // the second 2M namespace's memmap init ends a whole memmap init after the first's, not back at the boot clock
    expect(t[4]! - t[3]!).toBeCloseTo(t[1]! - t[0]!, 9);
    expect(t[4]!).toBeGreaterThan(t[1]!);
    // the clock between a device's alloc line and its memmap_init line is the time that line reports (ms, truncated)
    const ms = Number(/in (\d+)ms$/.exec(m.k.log.entries[1]!.text)![1]);
    expect(Math.trunc((t[1]! - t[0]!) * 1000)).toBe(ms);
    expect(ms).toBeGreaterThan(0);
  });

  it('a machine kept in memory and one booted from its state stamp the next line alike', () => {
    const cfg = config();
    const m = Machine.create(cfg);
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'mem', force: true });
    m.checkpoint();
    const booted = Machine.fromState(JSON.parse(JSON.stringify(m.state())));
    for (const x of [m, booted]) ndctlDestroyNamespace(x, x.namespace('namespace0.0'), true);
    expect(booted.k.log.entries.map((r) => [r.time, r.text])).toEqual(m.k.log.entries.map((r) => [r.time, r.text]));
  });
});

describe("dev_dax_huge_fault()'s debug line in the machine's release", () => {
  const faultLine = async (kernel: '6.1' | '6.8' | '7.3') => {
    // a 2 GiB soft-reserved range: dax_hmem's dax0.0 at align 2M, bound at boot
    const m = Machine.create(config({ pmem: [], softReserved: [2 * SZ_1G], kernel }));
    const r = await runScenario(['spawn p', 'p mmap m dax0.0 length=2M offset=0 prot=rw flags=shared', 'p touch m 0 write'].join('\n'), { machine: m });
    expect(r.error).toBeUndefined();
    return m.k.log.entries.map((x) => x.text).filter((x) => x.startsWith('device_dax dax0.0: p: '));
  };

  // the first touch tries a PUD first (the pud is none), falls back, and maps a PMD: two calls, two lines
  it('6.1: pe_size; 6.8: order and the VMA (1d024e7a8dab); 7.3: op=, the aligned address, order=', async () => {
    expect(await faultLine('6.1')).toEqual([
      'device_dax dax0.0: p: write (0x7f0000000000 - 0x7f0000200000) size = 2',
      'device_dax dax0.0: p: write (0x7f0000000000 - 0x7f0000200000) size = 1',
    ]);
    expect(await faultLine('6.8')).toEqual([
      'device_dax dax0.0: p: write (0x7f0000000000 - 0x7f0000200000) order:18',
      'device_dax dax0.0: p: write (0x7f0000000000 - 0x7f0000200000) order:9',
    ]);
    expect(await faultLine('7.3')).toEqual(['device_dax dax0.0: p: op=write addr=0x7f0000000000 order=18', 'device_dax dax0.0: p: op=write addr=0x7f0000000000 order=9']);
  });
});
