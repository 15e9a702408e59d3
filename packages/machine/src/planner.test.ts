import {
  SZ_1G,
  ALL_VMEMMAP_GENERATIONS,
  ARCH_PROFILES,
  type ArchProfile,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  EOPNOTSUPP,
  KERNELS,
  VMEMMAP_OPTIMIZE_RULES,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
} from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { describeKernelChoice } from './config.js';
import { type MemmapCost, memmapCost, memmapDevices } from './memmap-cost.js';
import { Machine } from './machine.js';
import { ndctlCreateNamespace } from './ndctl.js';
import { planMemmap } from './planner.js';


/** The rules each generation is compared under: every rule where the rule can matter (generations that dedup), the default elsewhere. */
const rulesOf = (g: VmemmapGeneration): readonly VmemmapOptimizeRule[] =>
  g === 'tail-reuse' || g === 'tail-reuse-pmd' || g === 'shared-tail' ? VMEMMAP_OPTIMIZE_RULES : [DEFAULT_VMEMMAP_OPTIMIZE_RULE];

const pick = (c: MemmapCost) => [c.vmemmap_data_bytes, c.vmemmap_pagetable_bytes, c.device_reserved_bytes, c.struct_pages_initialised];

/** One namespace on a fresh machine, simulated and planned: the four numbers, or the errno both must refuse with. */
function both(arch: ArchProfile, size: number, align: number, map: 'mem' | 'dev', generation: VmemmapGeneration, rule: VmemmapOptimizeRule, ppc64Mmu?: 'radix' | 'hash', ram = 4 * SZ_1G) {
  const m = Machine.create({
    arch: arch.name,
    ram: [ram],
    pmem: [{ size, labels: false }],
    softReserved: [],
    generation,
    vmemmapOptimizeRule: rule,
    ...(ppc64Mmu ? { ppc64Mmu } : {}),
  });
  const start = m.pmem[0]!.start;
  let sim: unknown;
  let plan: unknown;
  const simErr = errnoOf(() => {
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
    sim = pick(memmapCost(m, memmapDevices(m)[0]!));
  });
  const planErr = errnoOf(() => {
    // the machine's kernel (7.3 unless named) gates vmemmap_can_optimize() by its Kconfig: the plan names that gate
    plan = pick(planMemmap({ arch, size, align, map, generation, rule, ...(ppc64Mmu ? { ppc64Mmu } : {}), gate: m.k.daxVmemmapGate, start, ram: [{ start: 0, size: ram }] }));
  });
  if (simErr) sim = `errno ${simErr}`;
  if (planErr) plan = `errno ${planErr}`;
  return { sim, plan, start };
}

describe('the planner agrees with the simulation byte for byte', () => {
  for (const arch of Object.values(ARCH_PROFILES)) {
    for (const align of arch.devdaxAligns) {
      it(`${arch.name}, align ${align}: every map, generation (shared-tail too) and vmemmap_can_optimize rule`, () => {
        const size = Math.max(2 * SZ_1G, 4 * align);
        for (const map of ['mem', 'dev'] as const)
          for (const generation of ALL_VMEMMAP_GENERATIONS)
            for (const rule of rulesOf(generation)) {
              const { sim, plan } = both(arch, size, align, map, generation, rule);
              expect({ map, generation, rule, cost: plan }).toEqual({ map, generation, rule, cost: sim });
            }
        // ppc64's override: no dedup under the hash MMU
        if (arch.name.startsWith('ppc64'))
          for (const generation of ['tail-reuse', 'shared-tail'] as const) {
            const { sim, plan } = both(arch, size, align, 'mem', generation, 'reserve-nr', 'hash');
            expect({ generation, mmu: 'hash', cost: plan }).toEqual({ generation, mmu: 'hash', cost: sim });
          }
      }, 120_000);
    }
  }

  it('shared-tail at 1 TiB, 2M, --map=mem: 2 GiB of head vmemmap pages plus the one shared tail page', () => {
    const arch = ARCH_PROFILES.x86_64;
    const p = planMemmap({ arch, size: 2 ** 40, align: 2 * 2 ** 20, map: 'mem', generation: 'shared-tail' });
    // the memmap covers the whole namespace, its info block too: 2^19 compound pages' worth of vmemmap
    const compoundPages = 2 ** 19;
    expect(p.vmemmap_data_bytes).toBe(2 * SZ_1G + 4096);
    expect(p.vmemmap_data_bytes).toBe((compoundPages + 1) * 4096);
    const t = planMemmap({ arch, size: 2 ** 40, align: 2 * 2 ** 20, map: 'mem', generation: 'tail-reuse' });
    expect(t.vmemmap_data_bytes).toBe(4 * SZ_1G); // half of it goes with the shared tail
    // at 1G: 4 MiB per TiB of head pages plus the shared tail
    const g = planMemmap({ arch, size: 2 ** 40, align: SZ_1G, map: 'mem', generation: 'shared-tail' });
    expect(g.vmemmap_data_bytes).toBe(4 * 2 ** 20 + 4096);
  });

  it('shared-tail: a 16 GiB device in the simulation counts exactly the planner\'s frames, the shared tail among them', () => {
    const arch = ARCH_PROFILES.x86_64;
    for (const align of [2 * 2 ** 20, SZ_1G]) {
      const { sim, plan } = both(arch, 16 * SZ_1G, align, 'mem', 'shared-tail', 'reserve-nr', undefined, 8 * SZ_1G);
      expect(plan).toEqual(sim);
      expect((sim as number[])[0]).toBe((16 * SZ_1G / align + 1) * 4096);
    }
  });

  it('ppc64-64k at 2M: the v6.6 rule keeps every struct page (32 struct pages are not even one 64K vmemmap page); 1G dedups under radix only', () => {
    // powerpc's vmemmap_dedup.rst (Device DAX): 2M needs 32 struct pages, 2 KiB, less than one vmemmap page, so nothing is deduplicated;
    // 1G needs 16 vmemmap pages, of which the head's and one tail's are kept
    const arch = ARCH_PROFILES['ppc64-64k'];
    const at2M = (generation: VmemmapGeneration, ppc64Mmu: 'radix' | 'hash') =>
      pick(planMemmap({ arch, size: 16 * SZ_1G, align: 2 * 2 ** 20, map: 'mem', generation, rule: 'reserve-nr', ppc64Mmu }));
    expect(at2M('tail-reuse', 'radix')).toEqual(at2M('compound', 'radix'));
    expect(at2M('tail-reuse', 'hash')).toEqual(at2M('compound', 'hash'));
    const at1G = (ppc64Mmu: 'radix' | 'hash') => planMemmap({ arch, size: 16 * SZ_1G, align: SZ_1G, map: 'mem', generation: 'tail-reuse', rule: 'reserve-nr', ppc64Mmu });
    const compoundPages = 16; // the memmap of the whole namespace, its info block too
    expect(at1G('radix').struct_pages_initialised).toBe(compoundPages * 2 * 1024); // 2 vmemmap pages of 1024 struct pages each
    expect(at1G('radix').vmemmap_data_bytes).toBe(compoundPages * 2 * 65536);
    expect(at1G('hash').struct_pages_initialised).toBe(compoundPages * 16384); // the hash MMU: every struct page
    // the seed's rule (no reserve-NR threshold) would share tails at 2M where a compound page's memmap is less than a page:
    // compound_nr_pages() then asks for more struct pages than the compound page has (the model refuses: EOPNOTSUPP)
    expect(errnoOf(() => planMemmap({ arch, size: 16 * SZ_1G, align: 2 * 2 ** 20, map: 'mem', generation: 'tail-reuse', rule: 'seed' }))).toBe(EOPNOTSUPP);
  });

  it('x86_64, a namespace whose vmemmap crosses a PMD-table boundary (pfn 2^24): every align, map and generation (shared-tail too)', () => {
    // 61 GiB of RAM (QEMU pc: 3 GiB below 4 GiB, 58 GiB above) puts region0 at 62 GiB: its 4 GiB straddle vmemmap
    // offset 1 GiB, where a second PMD table begins
    // (arm64-4k crosses a top-level entry already above: its vmemmap window starts 2 MiB below one)
    const arch = ARCH_PROFILES.x86_64;
    for (const align of arch.devdaxAligns)
      for (const map of ['mem', 'dev'] as const)
        for (const generation of ALL_VMEMMAP_GENERATIONS) {
          const { sim, plan, start } = both(arch, 4 * SZ_1G, align, map, generation, DEFAULT_VMEMMAP_OPTIMIZE_RULE, undefined, 61 * SZ_1G);
          expect(start).toBe(62 * SZ_1G);
          expect({ align, map, generation, cost: plan }).toEqual({ align, map, generation, cost: sim });
          expect((sim as number[])[1]).toBeGreaterThan(0);
        }
  }, 120_000);

  it('reproduces the cover letter per TiB at 1G: 40 MiB with tail reuse, 16 MiB with patch 14', () => {
    const arch = ARCH_PROFILES.x86_64;
    const t = planMemmap({ arch, size: 2 ** 40, align: SZ_1G, map: 'mem', generation: 'tail-reuse' });
    const p = planMemmap({ arch, size: 2 ** 40, align: SZ_1G, map: 'mem', generation: 'tail-reuse-pmd' });
    // the namespace loses its first 1 GiB to the info block: 1023 compound pages
    expect((t.vmemmap_data_bytes + t.vmemmap_pagetable_bytes) / 1024).toBeCloseTo(40 * 1024, -3);
    expect((p.vmemmap_data_bytes + p.vmemmap_pagetable_bytes) / 1024).toBeCloseTo(16 * 1024, -3);
  });

  it("7.3 on arm64: vmemmap_can_optimize() is the #else stub (no ARCH_WANT_OPTIMIZE_DAX_VMEMMAP), so 2M pages cost 4x 6.1's; machine and plan agree", () => {
    const arch = ARCH_PROFILES['arm64-4k'];
    const cost = (kernel: '6.1' | '7.3') => {
      const m = Machine.create({ arch: arch.name, ram: [4 * SZ_1G], pmem: [{ size: 4 * SZ_1G, labels: false }], softReserved: [], kernel });
      ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * 2 ** 20, map: 'mem', force: true });
      const sim = memmapCost(m, memmapDevices(m)[0]!);
      const release = KERNELS[kernel];
      const plan = planMemmap({ arch, size: 4 * SZ_1G, align: 2 * 2 ** 20, map: 'mem', generation: release.vmemmap, rule: release.vmemmapOptimizeRule, gate: release.daxVmemmapGate, start: m.pmem[0]!.start, ram: [{ start: 0, size: 4 * SZ_1G }] });
      expect(pick(plan)).toEqual(pick(sim));
      return sim;
    };
    const old = cost('6.1');
    const now = cost('7.3');
    // 4 GiB of 2M pages: 2048 compound pages; 6.1 keeps 2 vmemmap pages of each, 7.3 all 8
    expect(old.vmemmap_data_bytes).toBe(2048 * 2 * 4096);
    expect(now.vmemmap_data_bytes).toBe(2048 * 8 * 4096);
    expect(now.struct_pages_initialised).toBe(4 * old.struct_pages_initialised);
    // machine show says why
    const show = (kernel: string, a: string) => describeKernelChoice({ arch: a, ram: [4 * SZ_1G], pmem: [], softReserved: [], kernel });
    expect(show('7.3', 'arm64-4k')).toContain('vmemmap_can_optimize: built under ARCH_WANT_OPTIMIZE_DAX_VMEMMAP, which arm64-4k does not select: no vmemmap tail reuse whatever the generation');
    expect(show('7.3', 'x86_64')).toContain('vmemmap_can_optimize: built under ARCH_WANT_OPTIMIZE_DAX_VMEMMAP, which x86_64-la57 selects');
    expect(show('6.1', 'arm64-4k')).toContain('vmemmap_can_optimize: no Kconfig gate (every architecture may reuse vmemmap tails)');
    // x86_64 selects the symbol: 7.3 reuses tails there
    expect(planMemmap({ arch: ARCH_PROFILES.x86_64, size: 2 ** 40, align: 2 * 2 ** 20, map: 'mem', generation: 'tail-reuse', gate: KERNELS['7.3'].daxVmemmapGate }).vmemmap_data_bytes).toBe(4 * SZ_1G);
    expect(planMemmap({ arch, size: 2 ** 40, align: 2 * 2 ** 20, map: 'mem', generation: 'tail-reuse', gate: KERNELS['7.3'].daxVmemmapGate }).vmemmap_data_bytes).toBe(16 * SZ_1G);
  });
});
