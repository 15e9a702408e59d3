import type { Kernel } from '@daxsim/memremap';
import { TEST_DEV_BASE, testKernel as memremapTestKernel } from '@daxsim/memremap/test';
import { SZ_1G } from '@daxsim/mm';
import { createDynamicRegion, devDaxSetAlign, devDaxSetSize } from '../bus.js';
import { bindDevDax } from '../device.js';
import { DaxBus, type DaxBusOptions, type DaxRegion } from '../dax-region.js';
import type { DevDax } from '../dev-dax.js';

/** Where the test machines' device memory starts. */
export const DEV_BASE = TEST_DEV_BASE;

/** A small machine: 256 MiB of RAM on node 0 and `devGiB` GiB of device memory ('hmem') at 4 GiB. */
export function testKernel(devGiB = 4): Kernel {
  return memremapTestKernel({ dev: { size: devGiB * SZ_1G, name: 'hmem' } });
}

/**
 * A dynamic dax region over the kit kernel's device memory, its dax0.0
 * sized to `size` with `align` and bound to device_dax: what hmem gives a
 * test of the layers above (faults, GUP, memory failure). Pass `k` (a
 * testKernel()) to look at the kernel before the region exists.
 */
export function testDaxDevice(opts: { align: number; size: number; devGiB?: number; bus?: DaxBusOptions; k?: Kernel }): {
  k: Kernel;
  bus: DaxBus;
  region: DaxRegion;
  dev: DevDax;
} {
  const k = opts.k ?? testKernel(opts.devGiB ?? 4);
  const bus = new DaxBus(k, opts.bus ?? {});
  const region = createDynamicRegion(bus, { id: 0, start: DEV_BASE, size: (opts.devGiB ?? 4) * SZ_1G });
  const dev = region.devices.get('dax0.0')!;
  devDaxSetSize(dev, opts.size);
  devDaxSetAlign(dev, opts.align);
  bindDevDax(dev);
  return { k, bus, region, dev };
}

/** Everything a refused request must leave alone: the bus bookkeeping, memory contents, counters, the buddy allocator. */
export function machineState(bus: DaxBus): string {
  const k = bus.k;
  const regions = [...bus.regions.values()].map((r) => ({
    id: r.id,
    avail: r.availableSize,
    seed: r.seed?.name ?? null,
    youngest: r.youngest?.name ?? null,
    children: r.children.map((c) => ({ ...c })),
    ids: [...r.ids].sort(),
    devices: r.devicesById().map((d) => ({
      name: d.name,
      align: d.align,
      bound: d.bound,
      alive: d.alive,
      pgmap: d.pgmap ? { shift: d.pgmap.vmemmapShift, ranges: d.pgmap.ranges, ref: d.pgmap.ref, dead: d.pgmap.dead } : null,
      ranges: d.ranges.map((x) => ({ start: x.start, end: x.end, pgoff: x.pgoff, id: x.mappingId })),
      vmas: [...d.mapping.iMmap].map((v) => [v.start, v.end, v.pgoff]),
    })),
  }));
  return JSON.stringify({ regions, digest: k.mem.digest(), counters: k.counters.snapshot(), buddy: k.buddy.snapshot() });
}
