import { AnonMemory } from '@daxsim/kmem';
import { SZ_1G, SZ_1M, EBUSY, EINVAL, ZONE_MOVABLE, ZONE_NORMAL } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { daxctlMemoryInfo, daxctlOfflineMemory, daxctlOnlineMemory, daxctlReconfigureMode } from './daxctl-memory.js';
import { Machine } from './machine.js';


// auto_online_blocks=offline (the upstream default, CONFIG_MHP_DEFAULT_ONLINE_TYPE_OFFLINE): daxctl onlines
// the blocks itself; the default machine's 7.3 onlines them at hot-add (tested apart below)
const machine = (extra: Partial<Parameters<typeof Machine.create>[0]> = {}) =>
  Machine.create({ arch: 'x86_64', ram: [2 * SZ_1G], pmem: [], softReserved: [1 * SZ_1G], autoOnline: 'offline', ...extra });

describe('daxctl reconfigure-device --mode=system-ram (dax_kmem)', () => {
  it('hot-adds the device as 128 MiB blocks, onlined movable, whose pages the buddy allocator of the node gains', () => {
    const m = machine();
    const d = m.daxDevice('dax0.0');
    m.apply({ op: 'dax.unbind', dev: 'dax0.0' });
    const freeBefore = m.k.buddy.nrFreePages(0);
    const r = daxctlReconfigureMode(m, d, { mode: 'system-ram' });
    expect(r).toEqual({ rc: 0, messages: [] });
    expect(m.kmem.hotplug.blockSize).toBe(128 * SZ_1M);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 8, total_memblocks: 8, movable: true });
    // the buddy allocator gained every page of the device, minus the frames its memmap took from RAM
    const memmap = m.kmem.bindings.get(d)!.ranges[0]!.memmap;
    expect(memmap.vmemmapDataFrames).toBe(8 * 512); // 2 MiB of struct pages per 128 MiB block
    expect(m.k.buddy.nrFreePages(0) - freeBefore).toBe(SZ_1G / 4096 - memmap.vmemmapDataFrames - memmap.vmemmapPagetableFrames);
    // every struct page of the device was written, in ZONE_MOVABLE of node 0
    const pfn = d.resource / 4096 + 12345;
    expect(m.k.memmap.pageZonenum(pfn)).toBe(ZONE_MOVABLE);
  });

  it('offline-memory then --mode=devdax gives every frame back, and replays across invocations', () => {
    const m = machine();
    const d = m.daxDevice('dax0.0');
    const before = m.k.buddy.snapshot();
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram' }).rc).toBe(0);
    expect(daxctlOfflineMemory(m, d, { verbose: false }).rc).toBe(0);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 0, total_memblocks: 8 });
    const again = Machine.fromState(m.state());
    expect(daxctlMemoryInfo(again, again.daxDevice('dax0.0'))).toEqual({ online_memblocks: 0, total_memblocks: 8 });
    expect(daxctlReconfigureMode(again, again.daxDevice('dax0.0'), { mode: 'devdax' }).rc).toBe(0);
    expect(again.daxDevice('dax0.0').alive).toBe(true);
    expect(again.kmem.hotplug.blocks.size).toBe(0);
    expect(daxctlReconfigureMode(m, d, { mode: 'devdax' }).rc).toBe(0);
    expect(m.kmem.hotplug.blocks.size).toBe(0);
    // back in devdax mode: the allocator exactly as it was before the round trip
    expect(m.k.buddy.snapshot().nrFree).toEqual(before.nrFree);
  });

  it('refuses a device smaller than a memory block with EINVAL, and changes nothing', () => {
    const m = Machine.create({ arch: 'x86_64', ram: [2 * SZ_1G], pmem: [], softReserved: [256 * SZ_1M], autoOnline: 'offline' });
    // 256 MiB placed on a 1 GiB boundary holds two 128 MiB blocks; make the device 64 MiB short of that
    m.apply({ op: 'dax.unbind', dev: 'dax0.0' });
    m.apply({ op: 'dax.size', dev: 'dax0.0', size: 96 * SZ_1M });
    const d = m.daxDevice('dax0.0');
    const snap = m.k.buddy.snapshot();
    const r = daxctlReconfigureMode(m, d, { mode: 'system-ram' });
    expect(r.rc).toBe(-EINVAL);
    expect(r.messages.join('\n')).toMatch(/rejecting DAX region without any memory after alignment/);
    expect(r.messages.join('\n')).toMatch(/failed to enable/);
    expect(m.kmem.isBound(d)).toBe(false);
    expect(m.k.buddy.snapshot()).toEqual(snap);
  });

  it('--no-online under an auto-online policy is refused with EBUSY, unless forced', () => {
    const m = machine({ autoOnline: 'online' });
    const d = m.daxDevice('dax0.0');
    const r = daxctlReconfigureMode(m, d, { mode: 'system-ram', noOnline: true });
    expect(r.rc).toBe(-EBUSY);
    expect(r.messages).toEqual(['dax0.0: error: kernel policy will auto-online memory, aborting']);
    expect(d.alive).toBe(true);
    // -f: the kernel onlines every block at hot-add, into ZONE_NORMAL ("online", nothing movable spans it)
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram', noOnline: true, force: true }).rc).toBe(0);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 8, total_memblocks: 8, movable: false });
  });

  it('offline fails with EBUSY while a kernel allocation sits in a ZONE_NORMAL block, and succeeds once it is freed', () => {
    const m = machine({ softReservedNodes: [1] });
    const d = m.daxDevice('dax0.0');
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram', noMovable: true }).rc).toBe(0);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 8, total_memblocks: 8, movable: false });
    const buf = AnonMemory.alloc(m.kmem.hotplug, 1, 16, false);
    expect(buf.pfns[0]! * 4096).toBeGreaterThanOrEqual(d.resource);
    const snap = m.k.buddy.snapshot();
    const r = daxctlOfflineMemory(m, d, { verbose: false });
    expect(r.rc).toBe(-EBUSY);
    expect(r.messages[0]).toMatch(/Failed to offline \/sys\/devices\/system\/node\/node1\/memory\d+\/state: Device or resource busy/);
    expect(m.k.buddy.snapshot()).toEqual(snap);
    buf.free();
    expect(daxctlOfflineMemory(m, d, { verbose: false }).rc).toBe(0);
  });

  it('offline migrates a process page out of ZONE_MOVABLE, keeping its data', () => {
    const m = machine({ softReservedNodes: [1] });
    const d = m.daxDevice('dax0.0');
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram' }).rc).toBe(0);
    const anon = AnonMemory.alloc(m.kmem.hotplug, 1, 4, true);
    const old = anon.pfns[0]!;
    expect(old * 4096).toBeGreaterThanOrEqual(d.resource);
    m.k.mem.write(old * 4096, new TextEncoder().encode('hello'));
    expect(daxctlOfflineMemory(m, d, { verbose: false }).rc).toBe(0);
    expect(anon.pfns[0]! * 4096).toBeLessThan(2 * SZ_1G); // now on node 0's RAM
    expect(new TextDecoder().decode(m.k.mem.read(anon.pfns[0]! * 4096, 5))).toBe('hello');
    anon.free();
  });

  it('online-memory --no-movable onlines into ZONE_NORMAL; online-memory on a devdax device is ENXIO', () => {
    const m = machine();
    const d = m.daxDevice('dax0.0');
    expect(daxctlOnlineMemory(m, d, { noMovable: false, verbose: false })).toEqual({
      rc: -6,
      messages: ['dax0.0: memory operations are not applicable in devdax mode'],
    });
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram', noOnline: true }).rc).toBe(0);
    expect(daxctlMemoryInfo(m, d)).toEqual({ online_memblocks: 0, total_memblocks: 8 });
    expect(daxctlOnlineMemory(m, d, { noMovable: true, verbose: false }).rc).toBe(0);
    const blk = [...m.kmem.hotplug.blocks.values()][0]!;
    expect(blk.zone).toBe(ZONE_NORMAL);
  });

  it('memmap_on_memory: each block holds its own memmap, and the RAM gives none', () => {
    const m = machine({ memmapOnMemory: true });
    const d = m.daxDevice('dax0.0');
    m.apply({ op: 'dax.memmap_on_memory', dev: 'dax0.0', value: true });
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram' }).rc).toBe(0);
    const memmap = m.kmem.bindings.get(d)!.ranges[0]!.memmap;
    expect(memmap).toEqual({ vmemmapDataFrames: 0, vmemmapPagetableFrames: memmap.vmemmapPagetableFrames, altmapPfns: 8 * 512 });
    expect(daxctlOfflineMemory(m, d, { verbose: false }).rc).toBe(0);
    expect(daxctlReconfigureMode(m, d, { mode: 'devdax' }).rc).toBe(0);
  });

  it('refuses bad kernel-level operations with the kernel errno, naming the argument, changing nothing', () => {
    const m = machine({ memmapOnMemory: true });
    const d = m.daxDevice('dax0.0');
    expect(daxctlReconfigureMode(m, d, { mode: 'system-ram' }).rc).toBe(0);
    const snap = m.k.buddy.snapshot();
    const ops = m.ops.length;
    const refuse = (op: Parameters<Machine['apply']>[0], errno: number, re: RegExp) => {
      try {
        m.apply(op);
        expect.unreachable();
      } catch (e) {
        expect((e as { errno: number }).errno).toBe(errno);
        expect((e as Error).message).toMatch(re);
      }
    };
    // QEMU pc: 2 GiB of RAM stays below 4 GiB and the device memory region starts at 4 GiB (memory32)
    refuse({ op: 'memory.state', block: 31, state: 'offline' }, EINVAL, /memory31: no such memory block/);
    refuse({ op: 'memory.state', block: 32, state: 'online_movable' }, EINVAL, /memory32: .*online already/);
    refuse({ op: 'dax.size', dev: 'dax0.0', size: 0 }, EBUSY, /dax0\.0: size: the device is bound to kmem/);
    refuse({ op: 'dax.bind', dev: 'dax0.0' }, EBUSY, /bound to kmem/);
    refuse({ op: 'kmem.bind', dev: 'dax0.0' }, EBUSY, /already bound to kmem/);
    refuse({ op: 'dax.memmap_on_memory', dev: 'dax0.0', value: true }, EBUSY, /memmap_on_memory: the device is bound to kmem/);
    refuse({ op: 'kmem.unbind', dev: 'dax0.0' }, EBUSY, /cannot be hotremoved: memory32 is online/);
    expect(m.k.buddy.snapshot()).toEqual(snap);
    expect(m.ops.length).toBe(ops);
    expect(() => machine({ autoOnline: 'sometimes' })).toThrowError(/--auto-online sometimes is not offline, online, online_kernel or online_movable/);
    expect(() => machine({ softReservedNodes: [0, 1] })).toThrowError(/--soft-reserved-node given 2 times for 1 soft-reserved ranges/);
  });
});
