import { DaxBus, createDynamicRegion } from '@daxsim/device-dax';
import { createKernel } from '@daxsim/memremap';
import { SZ_1G, SZ_1M, ARCH_PROFILES, C, EBUSY, EINVAL, EEXIST, KernelError, ZONE_MOVABLE, ZONE_NORMAL } from '@daxsim/mm';
import { sparseInitBootMemory } from '@daxsim/sparse-vmemmap';
import { describe, expect, it } from 'vitest';
import { AnonMemory } from './anon.js';
import { memoryBlockSizeBytes } from './block-size.js';
import { DaxKmem } from './kmem.js';
import { MemoryHotplug } from './memory-hotplug.js';
import { onlinePagesInit, onlinePagesInitReference } from './online-memmap.js';


/** 2 GiB of RAM on node 0 and a 1 GiB soft-reserved range at 4 GiB on `nid`, its dax0.0 bound to device_dax. */
function boot(opts: { nid?: number; autoOnline?: 'offline' | 'online' | 'online_movable'; memmapOnMemory?: boolean; devSize?: number; truncationWarning?: boolean } = {}) {
  const ram = [{ nid: 0, start: 0, size: 2 * SZ_1G }];
  const k = createKernel({ arch: ARCH_PROFILES.x86_64, ram, devices: [{ start: 4 * SZ_1G, size: SZ_1G, nid: opts.nid ?? 0, name: 'hmem.0' }] });
  sparseInitBootMemory(k, ram);
  const bus = new DaxBus(k);
  const region = createDynamicRegion(bus, { id: 0, start: 4 * SZ_1G, size: opts.devSize ?? SZ_1G, targetNode: opts.nid ?? 0, parentName: 'hmem.0' });
  const dev = region.devices.get('dax0.0')!;
  const hp = new MemoryHotplug(k, { bootMemEnd: 2 * SZ_1G, ram, autoOnline: opts.autoOnline ?? 'offline', memmapOnMemory: opts.memmapOnMemory ?? false });
  return { k, dev, hp, kmem: new DaxKmem(hp, { truncationWarning: opts.truncationWarning ?? false }) };
}

describe('memory_block_size_bytes()', () => {
  it("is x86-64's probe_memory_block_size(): 128M below 64G of boot memory, else the largest aligned power of two up to 2G", () => {
    const x86 = ARCH_PROFILES.x86_64;
    expect(memoryBlockSizeBytes(x86, 8 * SZ_1G)).toBe(128 * SZ_1M);
    expect(memoryBlockSizeBytes(x86, 63 * SZ_1G + 512 * SZ_1M)).toBe(128 * SZ_1M);
    expect(memoryBlockSizeBytes(x86, 64 * SZ_1G)).toBe(2 * SZ_1G);
    expect(memoryBlockSizeBytes(x86, 65 * SZ_1G)).toBe(SZ_1G);
    expect(memoryBlockSizeBytes(x86, 64 * SZ_1G + 384 * SZ_1M)).toBe(128 * SZ_1M);
    expect(memoryBlockSizeBytes(ARCH_PROFILES['arm64-64k'], 64 * SZ_1G)).toBe(2 ** ARCH_PROFILES['arm64-64k'].sectionSizeBits);
  });
});

describe('dax_kmem probe and remove', () => {
  it('adds the device as offline blocks with a PMD-mapped memmap from RAM, and remove gives every frame back', () => {
    const { k, dev, kmem } = boot();
    const before = k.buddy.snapshot();
    const b = kmem.probe(dev);
    expect(b.ranges).toEqual([{ start: 4 * SZ_1G, end: 5 * SZ_1G, memmap: { vmemmapDataFrames: 8 * 512, vmemmapPagetableFrames: 0, altmapPfns: 0 } }]);
    expect(kmem.blocksOf(dev).map((x) => [x.id, x.state])).toEqual([32, 33, 34, 35, 36, 37, 38, 39].map((id) => [id, 'offline']));
    kmem.remove(dev);
    expect(k.buddy.snapshot()).toEqual(before);
  });

  it('onlines into the buddy allocator and writes every struct page; offline takes them back', () => {
    const { k, dev, kmem, hp } = boot();
    kmem.probe(dev);
    const free0 = k.buddy.nrFreePages(0);
    hp.setBlockState(32, 'online_movable');
    expect(k.buddy.nrFreePages(0) - free0).toBe(32768);
    expect(k.memmap.pageZonenum(4 * SZ_1G / 4096 + 100)).toBe(ZONE_MOVABLE);
    expect(() => hp.setBlockState(32, 'online')).toThrow(KernelError);
    hp.setBlockState(32, 'offline');
    expect(k.buddy.nrFreePages(0)).toBe(free0);
    expect(() => hp.setBlockState(32, 'offline')).toThrowError(/offline already/);
  });

  it('chooses the zone as contig-zones does: online next to a movable block is movable, online_kernel is normal', () => {
    const { dev, kmem, hp } = boot();
    kmem.probe(dev);
    hp.setBlockState(33, 'online_movable');
    hp.setBlockState(35, 'online_movable');
    // ZONE_MOVABLE spans 33..35 now, ZONE_NORMAL only the RAM: block 34 goes where it lies
    hp.setBlockState(34, 'online');
    expect(hp.block(34).zone).toBe(ZONE_MOVABLE);
    // adjacent to a zone is not inside it: nothing spans 36, so online means ZONE_NORMAL
    hp.setBlockState(36, 'online');
    expect(hp.block(36).zone).toBe(ZONE_NORMAL);
    // ZONE_NORMAL spans the RAM up to 36 (and so block 32), ZONE_MOVABLE does not
    hp.setBlockState(32, 'online');
    expect(hp.block(32).zone).toBe(ZONE_NORMAL);
  });

  it('refuses a device with no whole block (EINVAL) and a second add of the same range (EEXIST), changing nothing', () => {
    const small = boot({ devSize: 96 * SZ_1M });
    const snap = small.k.buddy.snapshot();
    expect(() => small.kmem.probe(small.dev)).toThrowError(/rejecting DAX region without any memory after alignment/);
    expect(small.k.buddy.snapshot()).toEqual(snap);
    const { dev, kmem, hp } = boot();
    kmem.probe(dev);
    try {
      hp.addMemoryDriverManaged(0, 4 * SZ_1G, 128 * SZ_1M, 'again', false);
      expect.unreachable();
    } catch (e) {
      expect((e as KernelError).errno).toBe(EEXIST);
    }
    try {
      hp.addMemoryDriverManaged(0, 4 * SZ_1G + 64 * SZ_1M, 128 * SZ_1M, 'again', false);
      expect.unreachable();
    } catch (e) {
      expect((e as KernelError).errno).toBe(EINVAL);
    }
  });

  it('remove is EBUSY while a block is online; offline is EBUSY while a kernel page is in a ZONE_NORMAL block', () => {
    const { dev, kmem, hp } = boot({ nid: 1, autoOnline: 'online' });
    kmem.probe(dev);
    expect(kmem.blocksOf(dev).every((b) => b.state === 'online' && b.zone === ZONE_NORMAL)).toBe(true);
    const buf = AnonMemory.alloc(hp, 1, 1, false);
    const blk = kmem.blocksOf(dev).find((b) => buf.pfns[0]! >= b.startPfn && buf.pfns[0]! < b.startPfn + b.nrPages)!;
    try {
      hp.setBlockState(blk.id, 'offline');
      expect.unreachable();
    } catch (e) {
      expect((e as KernelError).errno).toBe(EBUSY);
    }
    expect(() => kmem.remove(dev)).toThrowError(/cannot be hotremoved/);
    buf.free();
    for (const b of kmem.blocksOf(dev)) hp.setBlockState(b.id, 'offline');
    kmem.remove(dev);
  });

  it('memmap_on_memory: each 128 MiB block gives its first 512 pfns to its own memmap, only when the parameter is on', () => {
    const off = boot();
    expect(() => off.kmem.setMemmapOnMemory(off.dev, true)).toThrowError(/does not support it/);
    const { k, dev, kmem, hp } = boot({ memmapOnMemory: true });
    kmem.setMemmapOnMemory(dev, true);
    const b = kmem.probe(dev);
    // RAM's boot memmap built the PMD table this vmemmap range needs: the hot-add takes no frame of RAM at all
    expect(b.ranges[0]!.memmap).toEqual({ vmemmapDataFrames: 0, vmemmapPagetableFrames: 0, altmapPfns: 8 * 512 });
    const free0 = k.buddy.nrFreePages(0);
    hp.setBlockState(32, 'online_movable');
    expect(k.buddy.nrFreePages(0) - free0).toBe(32768 - 512);
    hp.setBlockState(32, 'offline');
    kmem.remove(dev);
  });
});

describe('the onlined memmap', () => {
  it('is written word for word as the reference path writes it', () => {
    const a = boot();
    const b = boot();
    for (const x of [a, b]) x.kmem.probe(x.dev);
    const first = 4 * SZ_1G / 4096 + 3;
    const end = first + 1000;
    onlinePagesInit(a.k, first, end, ZONE_MOVABLE, 0);
    onlinePagesInitReference(b.k, first, end, ZONE_MOVABLE, 0);
    for (let pfn = first - 3; pfn < end + 3; pfn++) expect(a.k.memmap.rawBytes(pfn)).toEqual(b.k.memmap.rawBytes(pfn));
    expect(a.k.counters.v[C.struct_pages_initialised]).toBe(b.k.counters.v[C.struct_pages_initialised]);
  });
});

describe("dev_dax_kmem_probe()'s truncation warning", () => {
  it('a kernel that has it logs how much memory-block alignment trimmed; one without logs nothing', () => {
    // a 1 GiB - 64 MiB device at 4 GiB with 128 MiB blocks: 7 blocks are added, 64 MiB is trimmed
    for (const truncationWarning of [true, false]) {
      const { k, dev, kmem } = boot({ devSize: SZ_1G - 64 * SZ_1M, truncationWarning });
      kmem.probe(dev);
      const lines = k.log.entries.map((e) => e.text).filter((t) => t.includes('truncated'));
      expect(lines).toEqual(truncationWarning ? ['kmem dax0.0: DAX region truncated by 64.0 MiB due to alignment'] : []);
    }
  });
});
