import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SZ_1G, SZ_1M, EBUSY, EINVAL, ENOSPC, ENXIO, EOPNOTSUPP, X86_64 } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type MachineConfig } from './config.js';
import { Machine } from './machine.js';
import { memmapCost, memmapDevices } from './memmap-cost.js';
import { ndctlCreateNamespace, ndctlDestroyNamespace } from './ndctl.js';
import { planMemmap } from './planner.js';
import { StateFileError, readState, writeState } from './state-file.js';
import { STATE_VERSION } from './state.js';


/** What a QEMU guest with `-m 8G` and a label-less `-device nvdimm` of 16 GiB boots with. */
const qemu16G = (extra: Partial<MachineConfig> = {}): Machine =>
  Machine.create({ arch: 'x86_64', ram: [8 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: false }], softReserved: [], ...extra });

describe('the first command of a pmem tutorial: ndctl create-namespace -f -e namespace0.0 -m devdax', () => {
  // Measured on Linux 6.1 (and 7.3-rc7) in QEMU with a label-less 16 GiB NVDIMM:
  // dax size and the RAM that memremap_pages() took for the vmemmap.
  const KERNEL = {
    '2M/mem': { size: 17_177_772_032, ram: 67_633_152 },
    '1G/mem': { size: 16_106_127_360, ram: 655_360 },
  } as const;

  for (const align of [4096, 2 * SZ_1M, SZ_1G])
    for (const map of ['mem', 'dev'] as const) {
      const name = `${align === 4096 ? '4K' : align === SZ_1G ? '1G' : '2M'}/${map}`;
      it(`${name}: the dax size and vmemmap RAM of the kernel, and the planner's`, () => {
        const m = qemu16G();
        const ns = ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
        expect(ns).toMatchObject({ id: 0, type: 'io', mode: 'devdax', size: 16 * SZ_1G, enabled: true });
        const dev = m.daxDevice('dax0.0');
        const cost = memmapCost(m, memmapDevices(m)[0]!);
        const ram = cost.vmemmap_data_bytes + cost.vmemmap_pagetable_bytes;
        const known = KERNEL[name as keyof typeof KERNEL];
        if (known) expect({ size: dev.size, ram }).toEqual(known);
        // the planner, checked against the simulation on the same start
        const plan = planMemmap({ arch: X86_64, size: 16 * SZ_1G, align, map, generation: 'tail-reuse', start: m.pmem[0]!.start, ram: [{ start: 0, size: 8 * SZ_1G }] });
        expect(plan.vmemmap_data_bytes + plan.vmemmap_pagetable_bytes).toBe(ram);
        expect(plan.device_reserved_bytes).toBe(cost.device_reserved_bytes);
        // --map=dev: the struct pages of every page come from the device, none from RAM
        if (map === 'dev') expect(cost.vmemmap_data_bytes).toBe(0);
      });
    }

  it('without -e, a label-less region has no idle namespace: ENOSPC, nothing changed', () => {
    const m = qemu16G();
    expect(errnoOf(() => ndctlCreateNamespace(m, { mode: 'devdax' }))).toBe(ENOSPC);
    expect(m.ops).toEqual([]);
  });

  it('refuses -s on a label-less region, an active namespace without -f, and a namespace that does not exist', () => {
    const m = qemu16G();
    expect(errnoOf(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', size: 8 * SZ_1G, force: true }))).toBe(EINVAL);
    expect(errnoOf(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax' }))).toBe(EBUSY);
    expect(errnoOf(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.3', mode: 'devdax', force: true }))).toBe(ENXIO);
    expect(m.ops).toEqual([]);
  });

  it('destroy leaves namespace0.0 raw and disabled; the next -e makes it a dax device again', () => {
    const m = qemu16G();
    const ns = ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'mem', force: true });
    expect(ndctlDestroyNamespace(m, ns, true)).toBe(true);
    expect(ns).toMatchObject({ mode: 'raw', enabled: false, size: 16 * SZ_1G });
    expect(m.bus.device('dax0.0')).toBeUndefined();
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'fsdax', force: true });
    expect(ns).toMatchObject({ mode: 'fsdax', enabled: true, align: 2 * SZ_1M, map: 'dev' });
  });
});

describe('a labelled region', () => {
  it('ndctl create-namespace -s takes the seed, first-fit, and leaves a new seed', () => {
    const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 8 * SZ_1G, labels: true }], softReserved: [] });
    const a = ndctlCreateNamespace(m, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem', size: 2 * SZ_1G });
    const b = ndctlCreateNamespace(m, { mode: 'fsdax', size: 2 * SZ_1G });
    expect([a.id, a.start - m.pmem[0]!.start, b.id, b.start - m.pmem[0]!.start, m.pmem[0]!.seed]).toEqual([0, 0, 1, 2 * SZ_1G, 2]);
    // the default size is the largest free extent
    expect(ndctlCreateNamespace(m, { mode: 'raw' }).size).toBe(4 * SZ_1G);
    expect(errnoOf(() => ndctlCreateNamespace(m, { mode: 'raw' }))).toBe(ENOSPC);
  });
});

describe('ndctl create-namespace -f -e on a labelled namespace with -s: the size written in place', () => {
  const labelled = (): Machine => Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: true }], softReserved: [] });

  it('shrinks from the end and grows into the free capacity after it, keeping the name and start', () => {
    const m = labelled();
    const ns = ndctlCreateNamespace(m, { mode: 'devdax', size: 4 * SZ_1G });
    const start = ns.start;
    expect(ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', size: 8 * SZ_1G, force: true })).toBe(ns);
    expect(ns).toMatchObject({ start, size: 8 * SZ_1G, mode: 'devdax', enabled: true });
    expect(m.daxDevice('dax0.0').size).toBeGreaterThan(4 * SZ_1G);
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'fsdax', size: 2 * SZ_1G, force: true });
    expect(ns).toMatchObject({ start, size: 2 * SZ_1G, mode: 'fsdax', enabled: true });
    expect(m.ops.map((o) => o.op)).toEqual(['ns.create', 'ns.disable', 'ns.raw', 'ns.resize', 'ns.reconfig', 'ns.disable', 'ns.raw', 'ns.resize', 'ns.reconfig']);
    // the log replays to the same namespaces and memory
    const r = Machine.fromState(m.state());
    expect(JSON.stringify(r.pmem)).toBe(JSON.stringify(m.pmem));
    expect(r.digest()).toBe(m.digest());
  });

  it('cannot grow past the next namespace or the region: ENOSPC, and the namespace stays enabled as it was', () => {
    const m = labelled();
    ndctlCreateNamespace(m, { mode: 'devdax', size: 4 * SZ_1G });
    ndctlCreateNamespace(m, { mode: 'fsdax', size: 4 * SZ_1G });
    const before = { ops: m.ops.length, digest: m.digest(), pmem: JSON.stringify(m.pmem) };
    expect(errnoOf(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', size: 6 * SZ_1G, force: true }))).toBe(ENOSPC);
    expect(errnoOf(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.1', mode: 'fsdax', size: 16 * SZ_1G, force: true }))).toBe(ENOSPC);
    expect({ ops: m.ops.length, digest: m.digest(), pmem: JSON.stringify(m.pmem) }).toEqual(before);
    // namespace0.1 can take what is free after it
    ndctlCreateNamespace(m, { reconfig: 'namespace0.1', mode: 'fsdax', size: 12 * SZ_1G, force: true });
    expect(m.pmem[0]!.namespaces.find((n) => n.id === 1)).toMatchObject({ size: 12 * SZ_1G, enabled: true });
  });

  it('the size sysfs write itself refuses an enabled or idle namespace and a size off the region align', () => {
    const m = labelled();
    ndctlCreateNamespace(m, { mode: 'devdax', size: 4 * SZ_1G });
    expect(errnoOf(() => m.apply({ op: 'ns.resize', dev: 'namespace0.0', size: 2 * SZ_1G }))).toBe(EBUSY);
    m.apply({ op: 'ns.disable', dev: 'namespace0.0' });
    expect(errnoOf(() => m.apply({ op: 'ns.resize', dev: 'namespace0.0', size: 2 * SZ_1G + 4096 }))).toBe(EINVAL);
    expect(errnoOf(() => m.apply({ op: 'ns.resize', dev: 'namespace0.1', size: 2 * SZ_1G }))).toBe(ENXIO);
  });
});

describe('the machine and its log', () => {
  it('replays its operations to the same machine, uuids and pfns included', () => {
    const m = Machine.create({ ...DEFAULT_CONFIG, pmem: [{ size: 4 * SZ_1G, labels: true }], softReserved: [2 * SZ_1G] });
    ndctlCreateNamespace(m, { mode: 'devdax', align: 2 * SZ_1M, map: 'dev', size: 2 * SZ_1G });
    m.apply({ op: 'dax.unbind', dev: 'dax1.0' });
    m.apply({ op: 'dax.size', dev: 'dax1.0', size: SZ_1G });
    const r = Machine.fromState(m.state());
    expect(JSON.stringify(r.pmem)).toBe(JSON.stringify(m.pmem));
    expect(r.bus.devices.map((d) => [d.name, d.size, d.bound, d.ranges])).toEqual(m.bus.devices.map((d) => [d.name, d.size, d.bound, d.ranges]));
    expect(r.k.mem.digest()).toBe(m.k.mem.digest());
  });

  it('a failed operation is not logged and changes nothing', () => {
    const m = qemu16G();
    expect(errnoOf(() => m.apply({ op: 'ns.reconfig', dev: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'mem' }))).toBe(EBUSY);
    expect(errnoOf(() => m.apply({ op: 'dax.bind', dev: 'dax9.9' }))).toBe(ENXIO);
    expect(m.ops).toEqual([]);
  });
});

describe('the state file', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'daxsim-machine-'));

  it('writes the current version and reads it back', () => {
    const path = join(dir(), 'm.json');
    const m = qemu16G();
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', force: true });
    writeState(path, m.state());
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(STATE_VERSION);
    expect(readState(path)).toEqual(m.state());
  });

  it("reads a version-1 state (pmem regions as sizes) as labelled regions, and replays it to the same namespaces", () => {
    const path = join(dir(), 'v1.json');
    // what daxsim 0.0.0 wrote for `machine create --pmem 4G` and `ndctl create-namespace -m devdax -s 2G`
    const state = {
      config: { arch: 'x86_64', ram: [4 * SZ_1G], pmem: [4 * SZ_1G], softReserved: [] },
      ops: [{ op: 'ns.create', region: 0, id: 0, start: 4 * SZ_1G, size: 2 * SZ_1G, mode: 'devdax', align: 2 * SZ_1M, map: 'dev' }],
    };
    const sha256 = createHash('sha256').update(JSON.stringify(state)).digest('hex');
    writeFileSync(path, JSON.stringify({ format: 'daxsim-machine', version: 1, sha256, state }));
    const m = Machine.fromState(readState(path)!);
    expect(m.config.pmem).toEqual([{ size: 4 * SZ_1G, labels: true }]);
    expect(m.namespace('namespace0.0')).toMatchObject({ mode: 'devdax', size: 2 * SZ_1G, enabled: true });
    expect(m.daxDevice('dax0.0').bound).toBe(true);
  });

  it('refuses a version it does not read, naming it, and leaves the file untouched', () => {
    const path = join(dir(), 'v9.json');
    const state = { config: {}, ops: [] };
    const text = JSON.stringify({ format: 'daxsim-machine', version: 9, sha256: createHash('sha256').update(JSON.stringify(state)).digest('hex'), state });
    writeFileSync(path, text);
    expect(() => readState(path)).toThrow(StateFileError);
    expect(() => readState(path)).toThrow(/version 9 is not supported/);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });
});

describe('the kernel axis: --kernel picks what that release ran', () => {
  it('7.3 on an LA57 CPU (the measured box): 5-level paging, and the dax sizes and vmemmap RAM 7.3-rc7 gave', () => {
    const measured = { [2 * SZ_1M]: { size: 17_177_772_032, ram: 67_633_152 }, [SZ_1G]: { size: 16_106_127_360, ram: 655_360 } };
    for (const align of [2 * SZ_1M, SZ_1G]) {
      const m = qemu16G({ kernel: '7.3' });
      expect([m.arch.name, m.generation, m.bus.setMappingIndex, m.k.vmemmapOptimizeRule, m.kernel.gupGeneration]).toEqual([
        'x86_64-la57',
        'tail-reuse',
        'align-down',
        'reserve-nr',
        'folio',
      ]);
      ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map: 'mem', force: true });
      const cost = memmapCost(m, memmapDevices(m)[0]!);
      expect({ size: m.daxDevice('dax0.0').size, ram: cost.vmemmap_data_bytes + cost.vmemmap_pagetable_bytes }).toEqual(measured[align]);
      expect(m.k.mmu.kernelVa(0) >= 0xffd4000000000000n).toBe(true);
    }
  });

  it('each release picks its own pieces; --generation and --set-mapping-index override one piece; no CPU LA57: 4-level', () => {
    const pieces = (m: Machine) => [m.arch.name, m.generation, m.bus.setMappingIndex, m.k.vmemmapOptimizeRule, m.kernel.gupGeneration];
    // Debian's configs set CONFIG_X86_5LEVEL=y from 5.x on: every release pages 5-level on the default (LA57) CPU
    expect(pieces(qemu16G({ kernel: '5.15' }))).toEqual(['x86_64-la57', 'pre-series', 'align-down', 'seed', 'per-page']);
    expect(pieces(qemu16G({ kernel: '5.15', cpuLa57: false }))).toEqual(['x86_64', 'pre-series', 'align-down', 'seed', 'per-page']);
    expect(pieces(qemu16G({ kernel: '5.19', cpuLa57: false }))).toEqual(['x86_64', 'tail-reuse', 'align-up', 'seed', 'per-page']);
    expect(pieces(qemu16G({ kernel: '6.1', cpuLa57: false }))).toEqual(['x86_64', 'tail-reuse', 'align-down', 'seed', 'per-page']); // 6.1.192: 7fcbd9785d4c from stable (poison-ref)
    expect(pieces(qemu16G({ kernel: '6.6', cpuLa57: false }))).toEqual(['x86_64', 'tail-reuse', 'align-up', 'reserve-nr', 'per-page']);
    expect(pieces(qemu16G({ kernel: '7.3', cpuLa57: false }))).toEqual(['x86_64', 'tail-reuse', 'align-down', 'reserve-nr', 'folio']);
    expect(pieces(qemu16G({ kernel: '7.3', generation: 'shared-tail', setMappingIndex: 'align-up' }))).toEqual(['x86_64-la57', 'shared-tail', 'align-up', 'reserve-nr', 'folio']);
    // no kernel: today's default, 7.3 on the default CPU
    expect(pieces(qemu16G())).toEqual(pieces(qemu16G({ kernel: '7.3' })));
    // the kernel survives the state: a replay boots the same kernel
    const m = qemu16G({ kernel: '5.19' });
    expect(pieces(Machine.fromState(m.state()))).toEqual(pieces(m));
  });

  it('refuses what no kernel has, naming the option', () => {
    const refused = (extra: Partial<MachineConfig>) => {
      try {
        qemu16G(extra);
        return 'booted';
      } catch (e) {
        return `${errnoOf(() => { throw e; })} ${(e as Error).message}`;
      }
    };
    expect(refused({ kernel: '4.19' })).toMatch(new RegExp(`^${EINVAL} .*--kernel 4.19`));
    expect(refused({ vmemmapOptimizeRule: 'always' })).toMatch(/--vmemmap-optimize-rule always/);
    expect(refused({ ppc64Mmu: 'hash' })).toMatch(/--ppc64-mmu hash: --arch x86_64 is not ppc64/);
    expect(refused({ arch: 'arm64-4k', cpuLa57: true })).toMatch(/--cpu-la57 .*--arch arm64-4k/);
    expect(refused({ arch: 'ppc64-64k', ppc64Mmu: 'radix', kernel: '6.6' })).toBe('booted');
  });

  it("ppc64-64k under 6.6 at 2M: every struct page kept, radix or hash, as powerpc's vmemmap_dedup.rst says; 5.19's rule would overrun", () => {
    // "With 2M PMD level mapping, we require 32 struct pages and a single 64K vmemmap page can contain 1024 struct pages":
    // no deduplication. (1G, where radix does dedup, is not a devdax align of the model's ppc64-64k profile: planner.test.ts.)
    const ppc = (kernel: string, ppc64Mmu: string) => {
      const m = Machine.create({ arch: 'ppc64-64k', ram: [8 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: false }], softReserved: [], kernel, ppc64Mmu });
      const err = errnoOf(() => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'mem', force: true }));
      return err ? -err : memmapCost(m, memmapDevices(m)[0]!).struct_pages_initialised;
    };
    const pfns = (16 * SZ_1G) / 65536;
    expect(ppc('6.6', 'radix')).toBe(pfns);
    expect(ppc('6.6', 'hash')).toBe(pfns);
    expect(ppc('5.19', 'radix')).toBe(-EOPNOTSUPP);
  });
});
