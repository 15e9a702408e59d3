import { cxlCreateRegion, cxlList, cxlMediaPoison, cxlRegionAction } from '@daxsim/cxl';
import { KernelError, SZ_1G, SZ_1M, ZONE_MOVABLE, ZONE_NORMAL, mediaPoisonedPfns } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { daxctlMemoryInfo, daxctlOfflineMemory, daxctlOnlineMemory, daxctlReconfigureMode } from './daxctl-memory.js';
import { Machine } from './machine.js';

// Two 1 GiB volatile memdevs (the rig has 4 GiB ones: the same steps, a quarter of the memory).
const machine = (extra: Partial<Parameters<typeof Machine.create>[0]> = {}) =>
  Machine.create({
    arch: 'x86_64',
    ram: [2 * SZ_1G],
    pmem: [],
    softReserved: [],
    machineType: 'flat', // RAM at 0, the CXL window right after it
    cxlMemdevs: [
      { size: SZ_1G, pmem: false },
      { size: SZ_1G, pmem: false },
    ],
    ...extra,
  });

const create = (m: Machine, ...args: string[]) =>
  cxlCreateRegion(m.cxlBus(), m.cxlSysfs, { decoder: 'decoder0.0', type: 'ram', memdevs: true, ways: Number(args[0]), granularity: 256, targets: args.slice(1) });

const hooks = (m: Machine) => ({
  memoryIsOnline: (d: Parameters<typeof daxctlMemoryInfo>[1]) => (daxctlMemoryInfo(m, d)?.online_memblocks ?? 0) > 0,
  offlineMemory: (d: Parameters<typeof daxctlMemoryInfo>[1]) => daxctlOfflineMemory(m, d, { verbose: false }),
});

describe('CXL memdevs in a machine (--cxl-memdev)', () => {
  it('boots one host bridge, a root port per memdev and one window on a node of its own', () => {
    const m = machine();
    const j = cxlList(m.cxlBus(), { memdevs: true, decoders: true, decoderFilter: 'root' }).json as Record<string, unknown>[];
    expect(j).toEqual([
      { memdevs: [expect.objectContaining({ memdev: 'mem0', ram_size: SZ_1G }), expect.objectContaining({ memdev: 'mem1', ram_size: SZ_1G })] },
      { 'root decoders': [expect.objectContaining({ decoder: 'decoder0.0', size: 2 * SZ_1G, max_available_extent: 2 * SZ_1G, volatile_capable: true })] },
    ]);
    expect(m.cxlBus().windowNids).toEqual([1]);
    expect(() => machine({ cxlMemdevs: [{ size: 100 * SZ_1M, pmem: false }] })).toThrow(/--cxl-memdev .* multiple of 256M/);
    expect(() => Machine.create({ arch: 'x86_64', ram: [SZ_1G], pmem: [], softReserved: [] }).cxlBus()).toThrow(KernelError);
  });

  it("7.3's policy: a x2 region's dax device goes to kmem by itself, online in ZONE_NORMAL of node 1; destroy refused, nothing changed", () => {
    const m = machine({ kernel: '7.3' });
    const pages0 = m.kmem.hotplug.onlinePages();
    const r = create(m, '2', 'mem0', 'mem1');
    expect(r.exitCode).toBe(0);
    expect(r.json).toMatchObject({ region: 'region0', size: 2 * SZ_1G, type: 'ram', interleave_ways: 2, interleave_granularity: 256, decode_state: 'commit' });
    expect((r.json as { mappings: unknown[] }).mappings).toHaveLength(2);
    const d = m.daxDevice('dax0.0');
    expect(d.targetNode).toBe(1);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 16, total_memblocks: 16, movable: false });
    expect(m.k.memmap.pageZonenum(d.resource / 4096 + 777)).toBe(ZONE_NORMAL);
    // MemTotal's hot-plugged part: every page of the region (the memmap sits in RAM: memmap_on_memory is off)
    expect(m.kmem.hotplug.onlinePages() - pages0).toBe((2 * SZ_1G) / 4096);
    expect(m.cxlIomem()).toEqual([
      {
        start: 2 * SZ_1G,
        end: 4 * SZ_1G - 1,
        name: 'CXL Window 0',
        children: [
          {
            start: 2 * SZ_1G,
            end: 4 * SZ_1G - 1,
            name: 'region0',
            children: [{ start: 2 * SZ_1G, end: 4 * SZ_1G - 1, name: 'dax0.0', children: [{ start: 2 * SZ_1G, end: 4 * SZ_1G - 1, name: 'System RAM (kmem)', children: [] }] }],
          },
        ],
      },
    ]);
    const ops = m.ops.length;
    const digest = m.digest();
    const bad = cxlRegionAction(m.cxlBus(), m.cxlSysfs, 'destroy', { regions: ['region0'] }, hooks(m));
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr[0]).toBe('cxl region: destroy_region: region0 active. Disable it or use --force');
    expect([m.ops.length, m.digest()]).toEqual([ops, digest]);
    // the log replays the same machine
    expect(Machine.fromState(m.state()).digest()).toBe(digest);
  });

  it('refuses -w 3 over two memdevs with nothing created, and a window-sized failure uses no region id', () => {
    const m = machine({ kernel: '7.3' });
    const digest = m.digest();
    const r = create(m, '3', 'mem0', 'mem1');
    expect(r.exitCode).toBe(1);
    expect(r.stderr[0]).toBe('cxl region: validate_ways: Interleave ways 3 is greater than number of memdevs specified: 2');
    expect([m.ops.length, m.digest()]).toEqual([0, digest]);
    expect(create(m, '2', 'mem0', 'mem1').json).toMatchObject({ region: 'region0' });
  });

  it('offline policy: blocks added offline, onlined movable by daxctl; disable-region offlines; destroy frees the DPA', () => {
    const m = machine({ autoOnline: 'offline' });
    const pages0 = m.kmem.hotplug.onlinePages();
    expect(create(m, '2', 'mem0', 'mem1').exitCode).toBe(0);
    const d = m.daxDevice('dax0.0');
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 0, total_memblocks: 16 });
    expect(m.kmem.hotplug.onlinePages()).toBe(pages0);
    expect(daxctlOnlineMemory(m, d, { noMovable: false, verbose: false }).rc).toBe(0);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 16, total_memblocks: 16, movable: true });
    expect(m.k.memmap.pageZonenum(d.resource / 4096 + 777)).toBe(ZONE_MOVABLE);
    expect(m.kmem.hotplug.onlinePages() - pages0).toBe((2 * SZ_1G) / 4096);
    const dis = cxlRegionAction(m.cxlBus(), m.cxlSysfs, 'disable', { regions: ['region0'] }, hooks(m));
    expect(dis).toMatchObject({ exitCode: 0 });
    expect(m.kmem.hotplug.onlinePages()).toBe(pages0);
    expect(m.bus.device('dax0.0')).toBeUndefined();
    expect(cxlRegionAction(m.cxlBus(), m.cxlSysfs, 'destroy', { regions: ['region0'] }, hooks(m)).exitCode).toBe(0);
    const root = () => (cxlList(m.cxlBus(), { decoders: true, decoderFilter: 'decoder0.0' }).json as { max_available_extent: number }[])[0]!;
    expect(root().max_available_extent).toBe(2 * SZ_1G);
    const one = create(m, '1', 'mem1');
    expect(one.json).toMatchObject({ region: 'region0', size: SZ_1G, interleave_ways: 1 });
    // and the whole history replays
    expect(Machine.fromState(m.state()).digest()).toBe(m.digest());
  });

  it('media poison: the debugfs write is a logged op that cxl list -L shows; a bad address is refused with the machine unchanged', () => {
    const m = machine({ kernel: '7.3' });
    const ok = cxlMediaPoison(m.cxlBus(), m.cxlSysfs, 'inject', { memdev: 'mem0', address: '0x1000' });
    expect(ok).toMatchObject({ exitCode: 0, stdout: ['poison inject at mem0:0x1000'] });
    expect(m.ops.at(-1)).toEqual({ op: 'cxl.debugfs', memdev: 'mem0', attr: 'inject_poison', value: '0x1000' });
    const mem = cxlList(m.cxlBus(), { memdevs: true, memdevFilter: 'mem0', mediaErrors: true }).json as { media_errors: unknown[] }[];
    expect(mem[0]!.media_errors).toEqual([{ offset: 4096, length: 64, source: 'Injected' }]);
    const ops = m.ops.length;
    expect(cxlMediaPoison(m.cxlBus(), m.cxlSysfs, 'inject', { memdev: 'mem0', address: 'zz' }).exitCode).toBe(1);
    expect(m.ops.length).toBe(ops);
  });

  it('poison at a CXL DPA becomes a bad media location and memory_failure() at the HPA the DPA interleaves to', () => {
    const m = machine({ autoOnline: 'offline' });
    expect(create(m, '2', 'mem0', 'mem1').exitCode).toBe(0);
    const d = m.daxDevice('dax0.0');
    expect(daxctlReconfigureMode(m, d, { mode: 'devdax' }).rc).toBe(0);
    // mem1 is position 1 of 2 at granularity 256: DPA 0x1000 is HPA offset 0x2000 | 1 << 8
    expect(m.cxlDpaToDax('mem1', 0x1000)).toEqual({ dev: 'dax0.0', offset: 0x2100, hpa: 2 * SZ_1G + 0x2100 });
    expect(m.cxlDpaToDax('mem0', 0x1000).offset).toBe(0x2000);
    expect(() => m.cxlDpaToDax('mem1', SZ_1G)).toThrow(/not mapped by a committed region/);
    const { dev, offset } = m.cxlDpaToDax('mem1', 0x1000);
    m.apply({ op: 'poison', dev, offset });
    // detected, not consumed: no process is told; the pfn of HPA 2 GiB + 0x2100 is bad and counted
    expect(m.lastSignals).toEqual([]);
    expect(mediaPoisonedPfns(m.k)).toEqual([Math.floor((2 * SZ_1G + 0x2100) / 4096)]);
    expect(m.k.counters.get('num_poisoned_pages')).toBe(1);
  });
});
