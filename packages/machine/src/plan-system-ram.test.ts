import { SZ_1G, SZ_1M, ARCH_PROFILES } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { daxctlReconfigureMode } from './daxctl-memory.js';
import { Machine } from './machine.js';
import { planSystemRam } from './plan-system-ram.js';
import { systemRamCosts } from './system-ram-cost.js';


/** Builds the device in system-ram mode on a machine (RAM from 0 in one piece, as the plans are given it) and measures its memmap. */
function simulate(arch: string, ramSize: number, size: number, memmapOnMemory: boolean) {
  const m = Machine.create({ arch, ram: [ramSize], pmem: [], softReserved: [size], memmapOnMemory, machineType: 'flat', autoOnline: 'offline' });
  const d = m.daxDevice('dax0.0');
  if (memmapOnMemory && m.kmem.hotplug.mhpSupportsMemmapOnMemory()) m.apply({ op: 'dax.memmap_on_memory', dev: 'dax0.0', value: true });
  const r = daxctlReconfigureMode(m, d, { mode: 'system-ram' });
  expect(r.rc).toBe(0);
  const c = systemRamCosts(m)[0]!;
  return { m, start: d.resource, cost: c };
}

describe('plan --mode system-ram agrees with the simulation', () => {
  const cases: [arch: string, ram: number, size: number][] = [
    ['x86_64', 2 * SZ_1G, 1 * SZ_1G],
    ['x86_64', 4 * SZ_1G, 3 * SZ_1G + 64 * SZ_1M],
    ['x86_64-la57', 2 * SZ_1G, 1 * SZ_1G],
    ['arm64-4k', 2 * SZ_1G, 1 * SZ_1G],
    ['arm64-16k', 2 * SZ_1G, 1 * SZ_1G],
    ['arm64-64k', 2 * SZ_1G, 2 * SZ_1G],
  ];
  for (const [arch, ram, size] of cases)
    for (const mom of [false, true])
      it(`${arch}, ${ram / SZ_1G}G RAM, a ${size / SZ_1M}M device, memmap_on_memory ${mom ? 'on' : 'off'}`, () => {
        const { start, cost } = simulate(arch, ram, size, mom);
        const plan = planSystemRam({ arch: ARCH_PROFILES[arch as keyof typeof ARCH_PROFILES], size, start, ram: [{ start: 0, size: ram }], memmapOnMemory: mom });
        const pick = (c: { vmemmap_data_bytes: number; vmemmap_pagetable_bytes: number; device_reserved_bytes: number; struct_pages_initialised: number; memmap_on_memory: boolean; block_size: number }) => ({
          block_size: c.block_size,
          memmap_on_memory: c.memmap_on_memory,
          vmemmap_data_bytes: c.vmemmap_data_bytes,
          vmemmap_pagetable_bytes: c.vmemmap_pagetable_bytes,
          device_reserved_bytes: c.device_reserved_bytes,
          struct_pages_initialised: c.struct_pages_initialised,
        });
        expect(pick(plan)).toEqual(pick(cost));
        expect(plan.hotplug_size).toBe(cost.size);
      });

  it('2 GiB blocks from 64 GiB of boot RAM: a 2G+512M device hot-adds one block', () => {
    const { start, cost } = simulate('x86_64', 64 * SZ_1G, 2 * SZ_1G + 512 * SZ_1M, true);
    const plan = planSystemRam({ arch: ARCH_PROFILES.x86_64, size: 2 * SZ_1G + 512 * SZ_1M, start, memmapOnMemory: true });
    expect(plan).toMatchObject({ block_size: 2 * SZ_1G, hotplug_size: 2 * SZ_1G, memmap_on_memory: true, device_reserved_bytes: 32 * SZ_1M, vmemmap_data_bytes: 0 });
    expect(cost).toMatchObject({ size: 2 * SZ_1G, device_reserved_bytes: plan.device_reserved_bytes, vmemmap_pagetable_bytes: plan.vmemmap_pagetable_bytes });
  });

  it('refuses a device with no whole block, as dax_kmem does', () => {
    expect(() => planSystemRam({ arch: ARCH_PROFILES.x86_64, size: 256 * SZ_1M, memmapOnMemory: false })).toThrowError(/no whole 2147483648-byte memory block/);
  });
});
