import { ARCH_PROFILES, VMEMMAP_GENERATIONS } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { memmapCost, memmapDevices } from './memmap-cost.js';
import { Machine } from './machine.js';
import { ndctlCreateNamespace } from './ndctl.js';
import { planMemmap } from './planner.js';

const GiB = 2 ** 30;

describe('the planner agrees with the simulation byte for byte', () => {
  for (const arch of Object.values(ARCH_PROFILES)) {
    for (const align of arch.devdaxAligns) {
      it(`${arch.name}, align ${align}: every map and generation`, () => {
        const size = Math.max(2 * GiB, 4 * align);
        for (const map of ['mem', 'dev'] as const)
          for (const generation of VMEMMAP_GENERATIONS) {
            const m = Machine.create({ arch: arch.name, ram: [4 * GiB], pmem: [{ size, labels: false }], softReserved: [], generation });
            const start = m.pmem[0]!.start;
            ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
            const sim = memmapCost(m, memmapDevices(m)[0]!);
            const plan = planMemmap({ arch, size, align, map, generation, start, ram: [{ start: 0, size: 4 * GiB }] });
            const pick = (c: typeof sim) => ({
              vmemmap_data_bytes: c.vmemmap_data_bytes,
              vmemmap_pagetable_bytes: c.vmemmap_pagetable_bytes,
              device_reserved_bytes: c.device_reserved_bytes,
              struct_pages_initialised: c.struct_pages_initialised,
            });
            expect({ map, generation, ...pick(plan) }).toEqual({ map, generation, ...pick(sim) });
          }
      });
    }
  }

  it('x86_64, a namespace whose vmemmap crosses a PMD-table boundary (pfn 2^24): every align, map and generation', () => {
    // RAM up to 62 GiB puts region0 at 62 GiB: its 4 GiB straddle vmemmap offset 1 GiB, where a second PMD table begins
    // (arm64-4k crosses a top-level entry already above: its vmemmap window starts 2 MiB below one)
    const arch = ARCH_PROFILES.x86_64;
    for (const align of arch.devdaxAligns)
      for (const map of ['mem', 'dev'] as const)
        for (const generation of VMEMMAP_GENERATIONS) {
          const m = Machine.create({ arch: arch.name, ram: [62 * GiB], pmem: [{ size: 4 * GiB, labels: false }], softReserved: [], generation });
          const start = m.pmem[0]!.start;
          expect(start).toBe(62 * GiB);
          ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
          const sim = memmapCost(m, memmapDevices(m)[0]!);
          const plan = planMemmap({ arch, size: 4 * GiB, align, map, generation, start, ram: [{ start: 0, size: 62 * GiB }] });
          const pick = (c: typeof sim) => [c.vmemmap_data_bytes, c.vmemmap_pagetable_bytes, c.device_reserved_bytes, c.struct_pages_initialised];
          expect({ align, map, generation, cost: pick(plan) }).toEqual({ align, map, generation, cost: pick(sim) });
          expect(sim.vmemmap_pagetable_bytes).toBeGreaterThan(0);
        }
  }, 120_000);

  it('reproduces the cover letter per TiB at 1G: 40 MiB with tail reuse, 16 MiB with patch 14', () => {
    const arch = ARCH_PROFILES.x86_64;
    const t = planMemmap({ arch, size: 2 ** 40, align: GiB, map: 'mem', generation: 'tail-reuse' });
    const p = planMemmap({ arch, size: 2 ** 40, align: GiB, map: 'mem', generation: 'tail-reuse-pmd' });
    // the namespace loses its first 1 GiB to the info block: 1023 compound pages
    expect((t.vmemmap_data_bytes + t.vmemmap_pagetable_bytes) / 1024).toBeCloseTo(40 * 1024, -3);
    expect((p.vmemmap_data_bytes + p.vmemmap_pagetable_bytes) / 1024).toBeCloseTo(16 * 1024, -3);
  });
});
