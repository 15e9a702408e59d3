import { DaxBus, createDynamicRegion } from '@daxsim/device-dax';
import { AnonMemory, DaxKmem, MemoryHotplug } from '@daxsim/kmem';
import { createKernel } from '@daxsim/memremap';
import { SZ_1G, ARCH_PROFILES } from '@daxsim/mm';
import { sparseInitBootMemory } from '@daxsim/sparse-vmemmap';
import { describe, expect, it } from 'vitest';
import { checkMemoryBlocks } from './memory-blocks-invariant.js';


function boot(nid = 0) {
  const ram = [{ nid: 0, start: 0, size: 2 * SZ_1G }];
  const k = createKernel({ arch: ARCH_PROFILES.x86_64, ram, devices: [{ start: 4 * SZ_1G, size: SZ_1G, nid, name: 'hmem.0' }] });
  sparseInitBootMemory(k, ram);
  const region = createDynamicRegion(new DaxBus(k), { id: 0, start: 4 * SZ_1G, size: SZ_1G, targetNode: nid, parentName: 'hmem.0' });
  const hp = new MemoryHotplug(k, { bootMemEnd: 2 * SZ_1G, ram });
  const kmem = new DaxKmem(hp);
  kmem.probe(region.devices.get('dax0.0')!);
  return { k, hp, kmem };
}

const names = (v: { invariant: string }[]) => [...new Set(v.map((x) => x.invariant))];

describe('the memory-block invariants', () => {
  it('hold through online, process pages, migration on offline, and kernel pages in ZONE_NORMAL', () => {
    const { hp } = boot(1);
    expect(checkMemoryBlocks(hp)).toEqual([]);
    hp.setBlockState(32, 'online_movable');
    hp.setBlockState(33, 'online_kernel');
    const anon = AnonMemory.alloc(hp, 1, 100, true);
    const buf = AnonMemory.alloc(hp, 1, 10, false);
    expect(checkMemoryBlocks(hp)).toEqual([]);
    hp.setBlockState(32, 'offline');
    expect(checkMemoryBlocks(hp)).toEqual([]);
    anon.free();
    buf.free();
    expect(checkMemoryBlocks(hp)).toEqual([]);
  });

  it('catch a page of ZONE_MOVABLE nobody owns, an offline block still in the allocator, and a free page a process claims', () => {
    const { k, hp } = boot(1);
    hp.setBlockState(32, 'online_movable');
    // a movable allocation that bypasses every owner
    const stray = k.buddy.allocMovablePages(0, 1, 'other');
    expect(names(checkMemoryBlocks(hp))).toEqual(['memory-block-owner']);
    k.buddy.freePages(stray, 0, 'other');
    expect(checkMemoryBlocks(hp)).toEqual([]);
    // the block says offline while its pages are still in the allocator
    hp.block(32).state = 'offline';
    expect(names(checkMemoryBlocks(hp))).toContain('memory-block-offline');
    hp.block(32).state = 'online';
    // a process claims a page the allocator has as free
    const anon = AnonMemory.alloc(hp, 1, 1, true);
    k.buddy.freePages(anon.pfns[0]!, 0, 'other');
    expect(names(checkMemoryBlocks(hp))).toContain('memory-block-owner');
    (k as { corrupted?: boolean }).corrupted = true;
  });
});
