import { planMemmap } from '@daxsim/machine';
import { SZ_1G, ARCH_PROFILES, EINVAL, ENOMEM, ALL_VMEMMAP_GENERATIONS, archByName } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { Engine, TAB_FRAME_BUDGET, planRows, plannedFootprint } from './engine.js';

describe('the explorer engine', () => {
  it('plans every align of each architecture, both maps and every generation of @daxsim/mm, with planMemmap()', () => {
    const rows = planRows(2 ** 40, ['x86_64', 'arm64-64k']);
    const want = ['x86_64', 'arm64-64k'].reduce((n, a) => n + archByName(a)!.devdaxAligns.length * 2 * ALL_VMEMMAP_GENERATIONS.length, 0);
    expect(rows).toHaveLength(want);
    for (const r of rows) expect(r.cost).toEqual(planMemmap({ arch: archByName(r.arch)!, size: 2 ** 40, align: r.align, map: r.map, generation: r.generation as never }));
  });

  it('says which configurations a size cannot be planned for instead of leaving them out', () => {
    // 48 MiB: a multiple of 16 MiB (4K and 2M), not of 1 GiB
    const rows = planRows(48 * 2 ** 20, ['x86_64']);
    const bad = rows.filter((r) => r.cost === null);
    expect(bad.length).toBe(2 * ALL_VMEMMAP_GENERATIONS.length);
    expect(bad.every((r) => r.align === SZ_1G)).toBe(true);
    expect(bad[0]!.error).toMatch(/not a multiple of max\(align/);
    expect(errnoOf(() => planRows(2 ** 40, ['vax']))).toBe(EINVAL);
  });

  it('refuses (ENOMEM, naming the size) a device whose planned memmap frames do not fit in a tab', () => {
    const spec = { arch: 'x86_64', ram: 64 * SZ_1G, size: 1024 * SZ_1G, align: 4096, map: 'mem' as const, generation: 'pre-series' };
    expect(errnoOf(() => plannedFootprint(spec))).toBe(ENOMEM);
    expect(() => plannedFootprint(spec)).toThrow(/size 1T .* more than this tab's/);
    const small = plannedFootprint({ ...spec, size: 16 * SZ_1G, align: 2 ** 21, generation: 'tail-reuse' });
    expect(small.vmemmap_data_bytes + small.vmemmap_pagetable_bytes).toBeLessThan(TAB_FRAME_BUDGET);
  });

  it('refuses steps at offsets outside the device, naming them, and leaves the machine as it was', () => {
    const e = new Engine();
    const r = e.build({ arch: 'x86_64', ram: 4 * SZ_1G, size: 2 * SZ_1G, align: 2 ** 21, map: 'mem', generation: 'tail-reuse' });
    const before = e.m!.k.counters.snapshot();
    expect(errnoOf(() => e.fault(r.devSize))).toBe(EINVAL);
    expect(() => e.poison(-1)).toThrow(/offset -0x1 is outside dax0.0/);
    expect(errnoOf(() => e.pin(r.devSize - 4096, 2))).toBe(EINVAL);
    expect(errnoOf(() => e.inspect(r.firstPfn - 1))).toBe(EINVAL);
    expect(e.m!.k.counters.snapshot()).toEqual(before);
    // and the steps themselves move the model's counters
    const f = e.fault(0);
    expect(f.level).toBe('pmd');
    expect(f.counters['fault_pmd']).toBe(1);
    expect(Object.keys(ARCH_PROFILES)).toContain(r.spec.arch);
  });
});
