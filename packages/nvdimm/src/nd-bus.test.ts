import { DaxBus } from '@daxsim/device-dax';
import { armFailures, machineState } from '@daxsim/debug-vm';
import { createKernel } from '@daxsim/memremap';
import { SZ_1G, SZ_1M, EBUSY, ENOMEM, ENXIO, EOPNOTSUPP, X86_64 } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { NvdimmBus } from './nd-bus.js';
import { NULL_UUID, availableSize, isConfigurationIdle, namespaceName, regionGetNamespace } from './region.js';


/** A machine with 2 GiB of RAM and one pmem region of `size` at 4 GiB. */
function boot(labels: boolean, size = 4 * SZ_1G) {
  const k = createKernel({ arch: X86_64, ram: [{ nid: 0, start: 0, size: 2 * SZ_1G }], devices: [{ start: 4 * SZ_1G, size, name: 'region0', nid: 0 }] });
  const dax = new DaxBus(k, { generation: 'tail-reuse' });
  const nd = new NvdimmBus(k, dax, [{ id: 0, start: 4 * SZ_1G, size, nid: 0, labels }]);
  return { k, dax, nd, region: nd.regions[0]! };
}

describe('a label-less region (nd_namespace_io)', () => {
  it('has namespace0.0 raw over the whole region, enabled at boot, with no uuid and no capacity to spare', () => {
    const { region } = boot(false);
    expect(region.namespaces).toHaveLength(1);
    expect(region.namespaces[0]).toMatchObject({ id: 0, type: 'io', start: 4 * SZ_1G, size: 4 * SZ_1G, mode: 'raw', uuid: null, enabled: true });
    expect(region.seed).toBeNull();
    expect(availableSize(region)).toBe(0);
    expect(regionGetNamespace(region)).toBeUndefined(); // an io namespace is never configuration-idle
  });

  it('reconfigures namespace0.0 as devdax in place: the dax region covers the data after the info block', () => {
    const { nd, dax, region } = boot(false);
    const ns = region.namespaces[0]!;
    expect(errnoOf(() => nd.reconfigureNamespace(ns, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem' }))).toBe(EBUSY); // still enabled
    nd.disableNamespace(ns);
    nd.zeroInfoBlock(ns);
    nd.reconfigureNamespace(ns, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem' });
    expect(ns).toMatchObject({ mode: 'devdax', enabled: true, size: 4 * SZ_1G });
    expect(ns.uuid).toMatch(/^[0-9a-f-]{36}$/);
    const dev = dax.device('dax0.0')!;
    expect(dev.size).toBe(4 * SZ_1G - 2 * SZ_1M); // nd_pfn_init(): dataoff = ALIGN(8K, 2M)
    expect(dev.bound).toBe(true);
  });

  it('cannot be subdivided, and destroy keeps the capacity (raw and disabled)', () => {
    const { nd, region } = boot(false);
    expect(errnoOf(() => nd.createNamespace(0, 0, 4 * SZ_1G, SZ_1G, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem' }))).toBe(EOPNOTSUPP);
    const ns = region.namespaces[0]!;
    nd.destroyNamespace(ns);
    expect(ns).toMatchObject({ mode: 'raw', size: 4 * SZ_1G, enabled: false, uuid: null });
    expect(region.namespaces).toHaveLength(1);
  });

  it('a reconfigure that fails (memremap_pages -ENOMEM) leaves the namespace raw and disabled, the kernel as it was', () => {
    const { k, dax, nd, region } = boot(false);
    const ns = region.namespaces[0]!;
    nd.disableNamespace(ns);
    const before = machineState(k, dax);
    armFailures({ k }, { page_alloc: 3 });
    expect(errnoOf(() => nd.reconfigureNamespace(ns, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem' }))).toBe(ENOMEM);
    expect(ns).toMatchObject({ mode: 'raw', pfn: null, enabled: false });
    expect(machineState(k, dax)).toEqual(before);
  });
});

describe('a labelled region (nd_namespace_pmem)', () => {
  it('starts with an idle seed namespace0.0 of size 0 and a null uuid', () => {
    const { region } = boot(true);
    expect(region.namespaces).toEqual([expect.objectContaining({ id: 0, type: 'pmem', size: 0, uuid: NULL_UUID, enabled: false })]);
    expect(region.seed).toBe(0);
    expect(availableSize(region)).toBe(4 * SZ_1G);
    expect(regionGetNamespace(region)?.id).toBe(0);
  });

  it('consuming the seed makes a new one with the lowest free id', () => {
    const { nd, region, dax } = boot(true);
    nd.createNamespace(0, 0, 4 * SZ_1G, SZ_1G, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem' });
    expect(region.seed).toBe(1);
    nd.createNamespace(0, 1, 5 * SZ_1G, SZ_1G, { mode: 'fsdax', align: 2 * SZ_1M, map: 'dev' });
    expect(region.seed).toBe(2);
    expect(region.namespaces.map((n) => [namespaceName(n), n.size, n.enabled])).toEqual([
      ['namespace0.0', SZ_1G, true],
      ['namespace0.1', SZ_1G, true],
      ['namespace0.2', 0, false],
    ]);
    expect(availableSize(region)).toBe(2 * SZ_1G);
    expect(dax.device('dax0.0')?.bound).toBe(true);
    expect(nd.pgmapOf(region.namespaces[1]!)).not.toBeNull();
  });

  it('a destroyed namespace stays as an idle one, and create-namespace prefers namespace0.0 when it is idle', () => {
    const { nd, region } = boot(true);
    nd.createNamespace(0, 0, 4 * SZ_1G, SZ_1G, { mode: 'raw', align: 4096, map: 'dev' });
    nd.createNamespace(0, 1, 5 * SZ_1G, SZ_1G, { mode: 'raw', align: 4096, map: 'dev' });
    nd.destroyNamespace(region.namespaces[0]!);
    expect(isConfigurationIdle(region.namespaces[0]!)).toBe(true);
    expect(region.seed).toBe(2);
    expect(regionGetNamespace(region)?.id).toBe(0);
  });

  it('refuses overlapping ranges, a namespace that is not idle, and one outside the region, changing nothing', () => {
    const { k, dax, nd, region } = boot(true);
    nd.createNamespace(0, 0, 4 * SZ_1G, SZ_1G, { mode: 'devdax', align: 2 * SZ_1M, map: 'mem' });
    const before = machineState(k, dax);
    const snapshot = JSON.stringify(region);
    const cfg = { mode: 'devdax' as const, align: 2 * SZ_1M, map: 'mem' as const };
    expect(errnoOf(() => nd.createNamespace(0, 1, 4 * SZ_1G + SZ_1G / 2, SZ_1G, cfg))).toBe(EBUSY);
    expect(errnoOf(() => nd.createNamespace(0, 0, 6 * SZ_1G, SZ_1G, cfg))).toBe(EBUSY);
    expect(errnoOf(() => nd.createNamespace(0, 1, 7 * SZ_1G + SZ_1G / 2, SZ_1G, cfg))).toBe(ENXIO);
    expect(errnoOf(() => nd.createNamespace(0, 5, 6 * SZ_1G, SZ_1G, cfg))).toBe(ENXIO);
    expect(JSON.stringify(region)).toBe(snapshot);
    expect(machineState(k, dax)).toEqual(before);
  });
});
