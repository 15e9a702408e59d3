import { SZ_1G, SZ_1M, EACCES, EBUSY, EEXIST, EINVAL, ENOSPC, ENXIO, KernelError } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import {
  alignStore,
  createDynamicRegion,
  createStaticRegion,
  createStore,
  daxRegionCreate,
  daxRegionDelete,
  devDaxAddMapping,
  devDaxSetAlign,
  devDaxSetSize,
  mappingStore,
  sizeStore,
  unregisterDaxRegion,
} from './bus.js';
import { DaxBus, type DaxRegion } from './dax-region.js';
import type { DevDax } from './dev-dax.js';
import { machineState, testKernel } from './test/kernel.js';

const BASE = 4 * SZ_1G;

function hmem(devGiB = 4): { bus: DaxBus; region: DaxRegion; dax0: DevDax } {
  const bus = new DaxBus(testKernel(devGiB));
  const region = createDynamicRegion(bus, { id: 0, start: BASE, size: devGiB * SZ_1G });
  return { bus, region, dax0: region.devices.get('dax0.0')! };
}

/** A device of `size` bytes: write create, read seed, write size (daxctl create-device). */
function createDevice(region: DaxRegion, size?: number): DevDax {
  const dev = daxRegionCreate(region);
  expect(region.youngest).toBe(dev);
  devDaxSetSize(dev, size ?? region.availableSize);
  return dev;
}

/** daxctl destroy-device: size 0 then delete. */
function destroyDevice(region: DaxRegion, dev: DevDax): void {
  devDaxSetSize(dev, 0);
  daxRegionDelete(region, dev.name);
}

/** Expects `fn` to throw KernelError(errno) and the machine to be exactly as before. */
function expectRefused(bus: DaxBus, errno: number, fn: () => unknown, match?: RegExp): KernelError {
  const before = machineState(bus);
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KernelError);
  const ke = err as KernelError;
  expect(ke.errno).toBe(errno);
  if (match) expect(ke.message).toMatch(match);
  expect(machineState(bus)).toBe(before);
  return ke;
}

describe('dynamic dax region (hmem)', () => {
  it('boots with dax0.0 over the whole region and no available space', () => {
    const { region, dax0 } = hmem();
    expect(region.size).toBe(4 * SZ_1G);
    expect(region.align).toBe(2 * SZ_1M);
    expect(region.availableSize).toBe(0);
    expect(region.seed).toBeNull();
    expect(dax0.size).toBe(4 * SZ_1G);
    expect(dax0.align).toBe(2 * SZ_1M);
    expect(dax0.mappings()).toEqual([{ name: 'mapping0', start: BASE, end: BASE + 4 * SZ_1G - 1, pageOffset: 0, size: 4 * SZ_1G }]);
  });

  it('shrinking dax0.0 to zero returns its space to available_size (daxctl-create.sh setup_dev)', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    expect(dax0.size).toBe(0);
    expect(dax0.mappings()).toEqual([]);
    expect(region.availableSize).toBe(region.size);
    expect(region.children).toEqual([]);
  });

  it('create with no size takes everything in one mapping (test1)', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const dev = createDevice(region);
    expect(dev.name).toBe('dax0.1');
    expect(dev.mappings()).toHaveLength(1);
    expect(dev.size).toBe(region.size);
    expect(region.availableSize).toBe(0);
    destroyDevice(region, dev);
    expect(region.availableSize).toBe(region.size);
    expect(region.devices.has('dax0.1')).toBe(false);
  });

  it('two devices, destroy the first, grow the second into the hole: two mappings, offsets preserved', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const size = region.availableSize / 4;
    const a = createDevice(region, size);
    const b = createDevice(region, size);
    expect([a.name, b.name]).toEqual(['dax0.1', 'dax0.2']);
    expect(b.ranges[0]!.start).toBe(BASE + size);
    destroyDevice(region, a);
    devDaxSetSize(b, 2 * size); // first fit: the hole at the region start
    expect(b.mappings()).toEqual([
      { name: 'mapping0', start: BASE + size, end: BASE + 2 * size - 1, pageOffset: 0, size },
      { name: 'mapping1', start: BASE, end: BASE + size - 1, pageOffset: size / 4096, size },
    ]);
    expect(b.size).toBe(2 * size);
    // Growing again: b's own range is no longer its last, so the space after it becomes a third range.
    devDaxSetSize(b, 3 * size);
    const m = b.mappings();
    expect(b.size).toBe(3 * size);
    expect(m.reduce((s, x) => s + x.size, 0)).toBe(b.size);
    expect(m[0]).toEqual({ name: 'mapping0', start: BASE + size, end: BASE + 2 * size - 1, pageOffset: 0, size });
    expect(m[1]).toEqual({ name: 'mapping1', start: BASE, end: BASE + size - 1, pageOffset: size / 4096, size });
    expect(m[2]).toEqual({ name: 'mapping2', start: BASE + 2 * size, end: BASE + 3 * size - 1, pageOffset: (2 * size) / 4096, size });
  });

  it('test2: dax0.0 + dax0.1 + dax0.2, destroy dax0.1, a 2*size device takes the middle hole and the end', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const size = region.availableSize / 4;
    devDaxSetSize(dax0, size);
    const d1 = createDevice(region, size);
    createDevice(region, size);
    destroyDevice(region, d1);
    const big = createDevice(region, 2 * size);
    expect(big.name).toBe('dax0.1'); // ida: the lowest free id is reused
    expect(big.mappings().map((m) => [m.start, m.pageOffset])).toEqual([
      [BASE + size, 0],
      [BASE + 3 * size, size / 4096],
    ]);
    expect(region.availableSize).toBe(0);
  });

  it('test3: dax0.0 empty, hole at the start + the end gives 2 mappings', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const size = region.availableSize / 4;
    const d1 = createDevice(region, size);
    createDevice(region, size);
    createDevice(region, size);
    destroyDevice(region, d1);
    const big = createDevice(region, 2 * size);
    expect(big.mappings().map((m) => m.start)).toEqual([BASE, BASE + 3 * size]);
    expect(region.availableSize).toBe(0);
  });

  it('test4 multi_reconfig 8: alternately growing two devices leaves each with 4 mappings', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const size = region.availableSize / 8;
    devDaxSetSize(dax0, size);
    const d1 = createDevice(region, size);
    for (let s = 2 * size; s <= 4 * size; s += size) {
      devDaxSetSize(dax0, s);
      devDaxSetSize(d1, s);
    }
    expect(dax0.mappings()).toHaveLength(4);
    expect(d1.mappings()).toHaveLength(4);
    expect(region.availableSize).toBe(0);
    // page offsets are contiguous in range order
    for (const d of [dax0, d1]) d.mappings().forEach((m, i) => expect(m.pageOffset).toBe((i * size) / 4096));
  });

  it('test5 adjust: growth into a distant hole adds a mapping, growth into adjacent space extends in place', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const size = region.availableSize / 4;
    const [d1, d2, d3, d4] = [1, 2, 3, 4].map(() => createDevice(region, size)) as [DevDax, DevDax, DevDax, DevDax];
    destroyDevice(region, d1);
    destroyDevice(region, d4);
    devDaxSetSize(d2, 2 * size);
    expect(d2.mappings().map((m) => [m.start, m.pageOffset])).toEqual([
      [BASE + size, 0],
      [BASE, size / 4096],
    ]);
    devDaxSetSize(d3, 2 * size);
    expect(d3.mappings()).toEqual([{ name: 'mapping0', start: BASE + 2 * size, end: BASE + 4 * size - 1, pageOffset: 0, size: 2 * size }]);
    expect(region.availableSize).toBe(0);
  });

  it('shrink trims the last range first, keeping the earlier ones', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const size = region.availableSize / 4;
    const d1 = createDevice(region, size);
    const d2 = createDevice(region, size);
    destroyDevice(region, d1);
    devDaxSetSize(d2, 3 * size); // [own][hole at start][end]
    devDaxSetSize(d2, size + size / 2);
    expect(d2.mappings().map((m) => [m.name, m.start, m.size])).toEqual([
      ['mapping0', BASE + size, size],
      ['mapping1', BASE, size / 2],
    ]);
    expect(region.availableSize).toBe(region.size - d2.size);
  });

  it('mapping_store claims an exact range (create-device --input)', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const dev = daxRegionCreate(region);
    mappingStore(dev, `${(BASE + SZ_1G).toString(16)}-${(BASE + 2 * SZ_1G - 1).toString(16)}\n`);
    devDaxAddMapping(dev, BASE, BASE + 512 * SZ_1M - 1);
    expect(dev.mappings().map((m) => [m.start, m.pageOffset])).toEqual([
      [BASE + SZ_1G, 0],
      [BASE, SZ_1G / 4096],
    ]);
  });

  it('create keeps one seed until it is used; ids are reused lowest first', () => {
    const { region, dax0 } = hmem();
    devDaxSetSize(dax0, 0);
    const s1 = createStore(region, '1\n');
    const s2 = daxRegionCreate(region);
    expect(region.seed).toBe(s1);
    expect(region.youngest).toBe(s2);
    daxRegionDelete(region, 'dax0.1\n');
    expect(region.seed).toBeNull();
    expect(daxRegionCreate(region).name).toBe('dax0.1');
  });

  it('align: 4K, 2M and 1G are accepted; the sysfs parser accepts hex', () => {
    const { dax0 } = hmem();
    devDaxSetAlign(dax0, 4096);
    expect(dax0.align).toBe(4096);
    alignStore(dax0, '0x40000000\n');
    expect(dax0.align).toBe(SZ_1G);
    sizeStore(dax0, String(2 * SZ_1G));
    expect(dax0.size).toBe(2 * SZ_1G);
  });

  it('unregistering the region removes every device and gives back the space', () => {
    const { bus, region, dax0 } = hmem();
    devDaxSetSize(dax0, SZ_1G);
    createDevice(region, SZ_1G);
    unregisterDaxRegion(region);
    expect(bus.regions.size).toBe(0);
    expect(region.children).toEqual([]);
    expect(bus.devices).toEqual([]);
  });
});

describe('invalid requests get the kernel errno, a message naming the argument, and change nothing', () => {
  it('align 8K, 3M and 2G are -EINVAL', () => {
    const { bus, dax0 } = hmem();
    for (const a of [8192, 3 * SZ_1M, 2 * SZ_1G]) expectRefused(bus, EINVAL, () => devDaxSetAlign(dax0, a), /align: \d+ is not one of 4096, 2097152, 1073741824/);
  });

  it('an align the ranges are not multiples of is -EINVAL and the old align stays', () => {
    const { bus, dax0 } = hmem();
    devDaxSetSize(dax0, SZ_1G + 2 * SZ_1M);
    expectRefused(bus, EINVAL, () => devDaxSetAlign(dax0, SZ_1G), /align: 1073741824 invalid for range 0/);
    expect(dax0.align).toBe(2 * SZ_1M);
  });

  it('an unparsable align is -ENXIO (kstrtoul failure mapped by align_store)', () => {
    const { bus, dax0 } = hmem();
    expectRefused(bus, ENXIO, () => alignStore(dax0, '2M'), /align: "2M" is not a number/);
  });

  it('a size that is not a multiple of max(align, 2 MiB) is -EINVAL', () => {
    const { bus, dax0 } = hmem();
    expectRefused(bus, EINVAL, () => devDaxSetSize(dax0, SZ_1G + 4096), /size: 1073745920 misaligned/);
    devDaxSetSize(dax0, 0);
    devDaxSetAlign(dax0, 4096);
    expectRefused(bus, EINVAL, () => devDaxSetSize(dax0, 3 * 4096), /multiple of 2097152/); // subsection granularity even at 4K
    devDaxSetAlign(dax0, SZ_1G);
    expectRefused(bus, EINVAL, () => devDaxSetSize(dax0, 3 * 512 * SZ_1M), /multiple of 1073741824/);
  });

  it('growing beyond available_size is -ENOSPC', () => {
    const { bus, region, dax0 } = hmem();
    devDaxSetSize(dax0, 2 * SZ_1G);
    expectRefused(bus, ENOSPC, () => devDaxSetSize(dax0, 6 * SZ_1G), /exceeds the region's available_size 2147483648/);
    const d = createDevice(region, SZ_1G);
    expectRefused(bus, ENOSPC, () => devDaxSetSize(d, 4 * SZ_1G));
  });

  it('create with no space left is -ENOSPC', () => {
    const { bus, region } = hmem();
    expectRefused(bus, ENOSPC, () => daxRegionCreate(region), /no available_size left/);
    expectRefused(bus, EINVAL, () => createStore(region, '2'), /must be 1/);
  });

  it('delete: dax0.0 and sized devices are -EBUSY, unknown names -ENXIO', () => {
    const { bus, region, dax0 } = hmem();
    expectRefused(bus, EBUSY, () => daxRegionDelete(region, 'dax0.0'), /dax0.0: delete: device has size/);
    devDaxSetSize(dax0, 0);
    expectRefused(bus, EBUSY, () => daxRegionDelete(region, 'dax0.0'), /id 0 is never deleted/);
    const d = createDevice(region, SZ_1G);
    expectRefused(bus, EBUSY, () => daxRegionDelete(region, d.name), /resize it to 0 first/);
    expectRefused(bus, ENXIO, () => daxRegionDelete(region, 'dax0.7'), /no device named "dax0.7"/);
  });

  it('a second region over the same memory, or a misaligned one, is refused', () => {
    const { bus } = hmem();
    expectRefused(bus, EBUSY, () => createDynamicRegion(bus, { id: 1, start: BASE + SZ_1G, size: SZ_1G }), /overlaps dax region 0/);
    expectRefused(bus, EEXIST, () => createDynamicRegion(bus, { id: 0, start: BASE, size: SZ_1G }));
    expectRefused(bus, EINVAL, () => createDynamicRegion(bus, { id: 2, start: 0, size: 64 * SZ_1M }), /not inside one device range/);
  });
});

describe('static dax region (pmem namespace)', () => {
  it('has one device with the region size and align, and refuses create/delete/size/align', () => {
    const bus = new DaxBus(testKernel());
    const region = createStaticRegion(bus, { id: 1, start: BASE, size: 2 * SZ_1G, align: SZ_1G });
    const dev = region.devices.get('dax1.0')!;
    expect(dev.size).toBe(2 * SZ_1G);
    expect(dev.align).toBe(SZ_1G);
    expect(dev.pgmap).not.toBeNull();
    expectRefused(bus, EINVAL, () => daxRegionCreate(region), /create: not supported on a static dax region/);
    expectRefused(bus, EINVAL, () => daxRegionDelete(region, 'dax1.0'));
    expectRefused(bus, EACCES, () => devDaxSetSize(dev, SZ_1G), /read-only/);
    expectRefused(bus, EACCES, () => devDaxSetAlign(dev, 2 * SZ_1M), /read-only/);
  });
});
