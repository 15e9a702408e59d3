// Test helpers (not exported): a small machine with the rig's CXL topology.
import { DaxBus } from '@daxsim/device-dax';
import { DaxKmem, MemoryHotplug, type OnlineType } from '@daxsim/kmem';
import { createKernel } from '@daxsim/memremap';
import { ARCH_PROFILES, SZ_1G } from '@daxsim/mm';
import { sparseInitBootMemory } from '@daxsim/sparse-vmemmap';
import { CxlBus, type CxlFeatures, type CxlTopology } from './cxl-bus.js';

/** QEMU's window base in the rig (above maxmem): 0xa90000000. */
export const RIG_WINDOW_BASE = 0xa90000000;

/** The rig: one host bridge (bus 12) with two root ports, a 4 GiB volatile memdev on each, one 16 GiB window at granularity 256. */
export const RIG_TOPOLOGY: CxlTopology = {
  hostBridges: [{ busNr: 12, rootPorts: 2 }],
  memdevs: [
    { ramSize: 4 * SZ_1G, pmemSize: 0, hostBridge: 0, rootPort: 0 },
    { ramSize: 4 * SZ_1G, pmemSize: 0, hostBridge: 0, rootPort: 1 },
  ],
  windows: [{ base: RIG_WINDOW_BASE, size: 16 * SZ_1G, targets: [0], granularity: 256, nid: 1 }],
};

export interface TestBusOptions {
  topology?: CxlTopology;
  features?: CxlFeatures;
  autoOnline?: OnlineType;
  memmapOnMemory?: boolean;
  ramGiB?: number;
}

/** A kernel with RAM on node 0, each window a device range on its node, memory hotplug, dax_kmem and the CXL bus. */
export function bootCxl(opts: TestBusOptions = {}) {
  const topology = opts.topology ?? RIG_TOPOLOGY;
  const ram = [{ nid: 0, start: 0, size: (opts.ramGiB ?? 4) * SZ_1G }];
  const devices = topology.windows.map((w, i) => ({ start: w.base, size: w.size, nid: w.nid, name: `CXL Window ${i}` }));
  const k = createKernel({ arch: ARCH_PROFILES.x86_64, ram, devices });
  sparseInitBootMemory(k, ram);
  const dax = new DaxBus(k);
  const hotplug = new MemoryHotplug(k, { bootMemEnd: ram[0]!.size, ram, autoOnline: opts.autoOnline ?? 'offline', memmapOnMemory: opts.memmapOnMemory ?? false });
  const kmem = new DaxKmem(hotplug);
  const bus = new CxlBus({ topology, dax, kmem, ...(opts.features ? { features: opts.features } : {}) });
  return { k, dax, kmem, hotplug, bus };
}
