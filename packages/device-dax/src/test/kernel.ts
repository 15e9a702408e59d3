import { createKernel, type Kernel } from '@daxsim/memremap';
import type { DaxBus } from '../dax-region.js';
import { SZ_1G, SZ_1M } from '@daxsim/mm';

/** Where the test machines' device memory starts. */
export const DEV_BASE = 4 * SZ_1G;

/** A small machine: 256 MiB of RAM on node 0 and `devGiB` GiB of device memory at 4 GiB. */
export function testKernel(devGiB = 4): Kernel {
  return createKernel({ ram: [{ nid: 0, size: 256 * SZ_1M }], devices: [{ start: DEV_BASE, size: devGiB * SZ_1G, name: 'hmem' }] });
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
