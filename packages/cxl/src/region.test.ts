import { EBUSY, EINVAL, ENOSPC, ENXIO, ERANGE, KernelError, SZ_1G } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { type CxlEndpointDecoder, CxlSwitchDecoder, CXL_CONFIG_COMMIT } from './objects.js';
import { maxAvailableExtent } from './region.js';
import { cxlDriverBind, cxlDriverUnbind, cxlSysfsRead, cxlSysfsWrite } from './sysfs.js';
import { RIG_WINDOW_BASE, bootCxl } from './testing.js';

type Bus = ReturnType<typeof bootCxl>['bus'];
const w = (bus: Bus, dev: string, attr: string, v: string | number) => cxlSysfsWrite(bus, dev, attr, String(v));
const errno = (f: () => void): number => {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
};

/** What cxl-cli's create_region() writes for `-t ram -w 2 -g 256 mem0 mem1`. */
function createX2(bus: Bus, g = 256): string {
  const name = cxlSysfsRead(bus, 'decoder0.0', 'create_ram_region');
  w(bus, 'decoder0.0', 'create_ram_region', name);
  w(bus, name, 'interleave_granularity', g);
  w(bus, name, 'interleave_ways', 2);
  w(bus, name, 'size', 8 * SZ_1G);
  for (const [i, d] of ['decoder2.0', 'decoder3.0'].entries()) {
    w(bus, d, 'mode', 'ram');
    w(bus, d, 'dpa_size', 4 * SZ_1G);
    w(bus, name, `target${i}`, d);
  }
  w(bus, name, 'commit', 1);
  cxlDriverBind(bus, name);
  return name;
}

describe('the rig topology at boot', () => {
  it('has root0, port1 with two root ports, endpoint2 and endpoint3, decoder0.0 over the 16 GiB window', () => {
    const { bus } = bootCxl();
    expect(bus.root.name).toBe('root0');
    expect(bus.hostBridges.map((p) => [p.name, p.host, p.dports.map((d) => d.name)])).toEqual([['port1', 'pci0000:0c', ['0000:0c:00.0', '0000:0c:01.0']]]);
    expect(bus.endpoints.map((p) => [p.name, p.memdev!.name, p.parentDport!.name, p.depth])).toEqual([
      ['endpoint2', 'mem0', '0000:0c:00.0', 2],
      ['endpoint3', 'mem1', '0000:0c:01.0', 2],
    ]);
    expect(bus.memdevs.map((m) => m.host)).toEqual(['0000:0d:00.0', '0000:0e:00.0']);
    const root = bus.rootDecoders[0]!;
    expect([root.name, root.hpaRange.start, root.size, root.interleaveWays, maxAvailableExtent(root)]).toEqual(['decoder0.0', RIG_WINDOW_BASE, 16 * SZ_1G, 1, 16 * SZ_1G]);
    expect(bus.hostBridges[0]!.decoders.map((d) => d.name)).toEqual(['decoder1.0', 'decoder1.1', 'decoder1.2', 'decoder1.3']);
    expect(cxlSysfsRead(bus, 'decoder0.0', 'create_ram_region')).toBe('region0');
  });
});

describe('a x2 RAM region through the sysfs protocol', () => {
  it('commits the host bridge and endpoint decoders, allocates 8 GiB of HPA and 4 GiB of DPA per memdev', () => {
    const { bus } = bootCxl();
    const name = createX2(bus);
    expect(name).toBe('region0');
    const r = bus.region('region0');
    expect(r.params.state).toBe(CXL_CONFIG_COMMIT);
    expect(r.params.res).toEqual({ start: RIG_WINDOW_BASE, end: RIG_WINDOW_BASE + 8 * SZ_1G - 1 });
    const hb = bus.decoder('decoder1.0') as CxlSwitchDecoder;
    expect([hb.interleaveWays, hb.interleaveGranularity, hb.size, hb.enabled, hb.region?.name]).toEqual([2, 256, 8 * SZ_1G, true, 'region0']);
    expect(hb.target.slice(0, 2).map((t) => t?.name)).toEqual(['0000:0c:00.0', '0000:0c:01.0']);
    for (const n of ['decoder2.0', 'decoder3.0']) {
      const d = bus.decoder(n) as CxlEndpointDecoder;
      expect([d.dpaRes, d.mode, d.size, d.enabled, d.interleaveWays]).toEqual([{ start: 0, size: 4 * SZ_1G }, 'ram', 8 * SZ_1G, true, 2]);
    }
    expect(maxAvailableExtent(bus.rootDecoders[0]!)).toBe(8 * SZ_1G);
    expect(bus.hostBridges[0]!.decodersCommitted).toBe(1);
    expect(cxlSysfsRead(bus, 'decoder0.0', 'create_ram_region')).toBe('region1');
  });

  it('dax_cxl makes dax0.0 on node 1 and dax_kmem claims it: 64 offline blocks, memmap_on_memory set', () => {
    const { bus, kmem } = bootCxl();
    createX2(bus);
    const dev = bus.dax.device('dax0.0')!;
    expect([dev.size, dev.targetNode, dev.align, dev.region.start]).toEqual([8 * SZ_1G, 1, 2 * 2 ** 20, RIG_WINDOW_BASE]);
    expect(kmem.isBound(dev)).toBe(true);
    expect(kmem.memmapOnMemory(dev)).toBe(true);
    const blocks = kmem.blocksOf(dev);
    expect([blocks.length, blocks.every((b) => b.state === 'offline' && b.nid === 1)]).toEqual([64, true]);
  });

  it('disable (unbind), decode reset, detach, DPA free and delete give every frame back and restart at region0', () => {
    const { bus, k } = bootCxl();
    const before = k.buddy.snapshot();
    createX2(bus);
    cxlDriverUnbind(bus, 'region0');
    expect(bus.dax.device('dax0.0')).toBeUndefined();
    w(bus, 'region0', 'commit', 0);
    w(bus, 'region0', 'target0', '');
    w(bus, 'decoder2.0', 'dpa_size', 0);
    w(bus, 'region0', 'target1', '');
    w(bus, 'decoder3.0', 'dpa_size', 0);
    w(bus, 'decoder0.0', 'delete_region', 'region0');
    expect(k.buddy.snapshot()).toEqual(before);
    expect(bus.regions).toEqual([]);
    expect(maxAvailableExtent(bus.rootDecoders[0]!)).toBe(16 * SZ_1G);
    expect(bus.hostBridges[0]!.decodersCommitted).toBe(0);
    expect(cxlSysfsRead(bus, 'decoder0.0', 'create_ram_region')).toBe('region0');
  });
});

describe("the kernel's validation", () => {
  it('interleave_ways: 1, 2, 3, 4, 6, 8, 12, 16 and a power-of-2 multiple of the root ways; granularity 256..16K powers of two', () => {
    const { bus } = bootCxl();
    w(bus, 'decoder0.0', 'create_ram_region', 'region0');
    for (const bad of [0, 5, 7, 9, 10, 32]) expect(errno(() => w(bus, 'region0', 'interleave_ways', bad))).toBe(EINVAL);
    // 3, 6 and 12 are ways the kernel knows, but not a power-of-2 multiple of this window's 1 way
    for (const bad of [3, 6, 12]) expect(errno(() => w(bus, 'region0', 'interleave_ways', bad))).toBe(EINVAL);
    for (const good of [1, 2, 4, 8, 16]) expect(errno(() => w(bus, 'region0', 'interleave_ways', good))).toBe(0);
    for (const bad of [0, 100, 128, 384, 32768, -256]) expect(errno(() => w(bus, 'region0', 'interleave_granularity', bad))).toBe(EINVAL);
    for (const good of [256, 512, 1024, 2048, 4096, 8192, 16384]) expect(errno(() => w(bus, 'region0', 'interleave_granularity', good))).toBe(0);
  });

  it('a refused write changes nothing', () => {
    const { bus } = bootCxl();
    w(bus, 'decoder0.0', 'create_ram_region', 'region0');
    w(bus, 'region0', 'interleave_granularity', 512);
    expect(errno(() => w(bus, 'region0', 'interleave_granularity', 100))).toBe(EINVAL);
    expect(cxlSysfsRead(bus, 'region0', 'interleave_granularity')).toBe('512');
    // size before ways: ENXIO; not a multiple of 256M x ways: EINVAL; more than the window: ERANGE
    expect(errno(() => w(bus, 'region0', 'size', SZ_1G))).toBe(ENXIO);
    w(bus, 'region0', 'interleave_ways', 2);
    expect(errno(() => w(bus, 'region0', 'size', 256 * 2 ** 20))).toBe(EINVAL);
    expect(errno(() => w(bus, 'region0', 'size', 32 * SZ_1G))).toBe(ERANGE);
    expect(cxlSysfsRead(bus, 'region0', 'size')).toBe('0x0');
    w(bus, 'region0', 'size', 16 * SZ_1G);
    // DPA: a memdev has 4 GiB of ram; 8 GiB is ENOSPC and leaves the decoder without an allocation
    w(bus, 'decoder2.0', 'mode', 'ram');
    expect(errno(() => w(bus, 'decoder2.0', 'dpa_size', 8 * SZ_1G))).toBe(ENOSPC);
    expect(cxlSysfsRead(bus, 'decoder2.0', 'dpa_size')).toBe('0x0');
    expect(errno(() => w(bus, 'decoder2.0', 'dpa_size', 3 * 2 ** 27))).toBe(EINVAL);
    // a decoder out of order (decoder2.1 before decoder2.0)
    w(bus, 'decoder2.1', 'mode', 'ram');
    expect(errno(() => w(bus, 'decoder2.1', 'dpa_size', SZ_1G))).toBe(EBUSY);
    // a pmem partition the memdev does not have
    expect(errno(() => w(bus, 'decoder2.0', 'mode', 'pmem'))).toBe(ENXIO);
  });

  it('a target must have DPA of region size / ways, and a memdev takes one position', () => {
    const { bus } = bootCxl();
    w(bus, 'decoder0.0', 'create_ram_region', 'region0');
    w(bus, 'region0', 'interleave_granularity', 256);
    w(bus, 'region0', 'interleave_ways', 2);
    w(bus, 'region0', 'size', 8 * SZ_1G);
    w(bus, 'decoder2.0', 'mode', 'ram');
    expect(errno(() => w(bus, 'region0', 'target0', 'decoder2.0'))).toBe(ENXIO);
    w(bus, 'decoder2.0', 'dpa_size', 2 * SZ_1G);
    expect(errno(() => w(bus, 'region0', 'target0', 'decoder2.0'))).toBe(EINVAL);
    w(bus, 'decoder2.0', 'dpa_size', 4 * SZ_1G);
    w(bus, 'region0', 'target0', 'decoder2.0');
    expect(errno(() => w(bus, 'region0', 'target1', 'decoder2.0'))).toBe(EBUSY);
    expect(errno(() => w(bus, 'region0', 'target0', 'decoder3.0'))).toBe(EINVAL);
    // the decoder attached: its DPA cannot be freed
    expect(errno(() => w(bus, 'decoder2.0', 'dpa_size', 0))).toBe(EBUSY);
    // not all targets: commit refused
    expect(errno(() => w(bus, 'region0', 'commit', 1))).toBe(ENXIO);
    expect(errno(() => w(bus, 'region0', 'target0', 'decoder1.0'))).toBe(EINVAL);
  });
});
