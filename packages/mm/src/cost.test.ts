import { describe, expect, it } from 'vitest';
import { CACHE_LINE, chargeLines, costMark, costSince, modelledTime } from './cost.js';
import { C, COUNTER_NAMES, Counters } from './counters.js';
import { PLATFORMS, PLATFORM_NAMES, TIER_DRAM, TIER_PMEM, isPlatformName, platformByName } from './platform.js';

const CL = PLATFORMS['cascadelake-optane']!;
const events = (set: Partial<Record<number, number>>): Float64Array => {
  const d = new Float64Array(COUNTER_NAMES.length);
  for (const [i, v] of Object.entries(set)) d[Number(i)] = v!;
  return d;
};

describe('the modelled time is the counted events times the platform costs', () => {
  it('no event costs nothing', () => {
    const t = modelledTime(CL, events({}));
    expect(t.ns).toBe(0);
    expect(t.bound).toBe('cpu');
  });

  it("CPU events: atomics (refcount and flag), vmstat updates, GUP calls and struct page stores, each at the platform's cost", () => {
    const t = modelledTime(CL, events({ [C.atomic_refcount_ops]: 1000, [C.atomic_flag_ops]: 500, [C.vmstat_updates]: 200, [C.gup_fast_calls]: 3, [C.struct_pages_initialised]: 10 }));
    const c = CL.cpu;
    expect(t.cpuNs).toBeCloseTo(1500 * c.atomicNs + 200 * c.vmstatNs + 3 * c.gupCallNs + 10 * c.structPageInitNs, 6);
    expect(t.ns).toBe(t.cpuNs);
  });

  it('twice the events, twice the time (the model is linear in what was counted)', () => {
    const e1 = events({ [C.atomic_refcount_ops]: 4096, [C.line_seq_dram]: 512, [C.line_dirty_pmem]: 64 });
    const e2 = e1.map((x) => 2 * x);
    expect(modelledTime(CL, e2).ns).toBeCloseTo(2 * modelledTime(CL, e1).ns, 6);
  });

  it('an out-of-stream line waits for the tier it is in: Optane 305 ns, DDR4 81 ns (Izraelevitz et al. 2019)', () => {
    const dram = modelledTime(CL, events({ [C.line_rand_dram]: 1000 }));
    const pmem = modelledTime(CL, events({ [C.line_rand_pmem]: 1000 }));
    expect(dram.cpuNs).toBeCloseTo(1000 * 81, 6);
    expect(pmem.cpuNs).toBeCloseTo(1000 * 305, 6);
  });

  it('a dirty line written back to Optane is a whole 256 B XPLine of media write bandwidth; to DRAM 64 B', () => {
    const n = 1 << 20;
    const pmem = modelledTime(CL, events({ [C.line_dirty_pmem]: n }));
    expect(pmem.mediaNs[TIER_PMEM]).toBeCloseTo((n * 256) / 2.3, 3);
    expect(pmem.bound).toBe('pmem');
    const dram = modelledTime(CL, events({ [C.line_dirty_dram]: n }));
    expect(dram.mediaNs[TIER_DRAM]).toBeCloseTo((n * CACHE_LINE) / (6 * 21.3), 3);
    expect(pmem.ns / dram.ns).toBeGreaterThan(100);
  });

  it('the slowest resource bounds overlapping work: media beyond the core makes the tier the bound', () => {
    const core = events({ [C.atomic_refcount_ops]: 1000 });
    const both = events({ [C.atomic_refcount_ops]: 1000, [C.line_dirty_pmem]: 1 << 20 });
    expect(modelledTime(CL, core).bound).toBe('cpu');
    const t = modelledTime(CL, both);
    expect(t.bound).toBe('pmem');
    expect(t.ns).toBe(t.mediaNs[TIER_PMEM]);
  });

  it("a platform without pmem charges pmem lines at DRAM's cost", () => {
    const spr = PLATFORMS['sapphirerapids-cxl']!;
    expect(modelledTime(spr, events({ [C.line_rand_pmem]: 10 })).cpuNs).toBe(modelledTime(spr, events({ [C.line_rand_dram]: 10 })).cpuNs);
  });

  it('streaming stores (the template copy) cost no read latency, only the tier write bandwidth', () => {
    const n = 1 << 16;
    const nt = modelledTime(CL, events({ [C.struct_pages_initialised]: n, [C.struct_pages_template]: n, [C.line_nt_dram]: n }));
    expect(nt.cpuNs).toBeCloseTo(n * CL.cpu.templateCopyNs, 6);
    expect(nt.mediaNs[TIER_DRAM]).toBeCloseTo((n * CACHE_LINE) / CL.tiers.dram!.ntStoreGBs, 3);
  });

  it('costSince() models only what was counted after the mark; chargeLines() counts lines per tier', () => {
    const c = new Counters();
    c.v[C.atomic_refcount_ops] = 1e6;
    const mark = costMark(c);
    c.v[C.atomic_refcount_ops] += 10;
    chargeLines(c, TIER_PMEM, 4, 2, 3);
    expect(c.v[C.line_seq_pmem]).toBe(4);
    expect(c.v[C.line_rand_pmem]).toBe(2);
    expect(c.v[C.line_dirty_pmem]).toBe(3);
    const t = costSince(CL, c, mark);
    expect(t.events[C.atomic_refcount_ops]).toBe(10);
    expect(t.cpuNs).toBeCloseTo(10 * CL.cpu.atomicNs + 2 * 305 + (4 * 169) / CL.cpu.streamMlp, 6);
  });

  it('the named platforms, and every tier parameter cites where it comes from', () => {
    expect(PLATFORM_NAMES).toEqual(expect.arrayContaining(['cascadelake-optane', 'sapphirerapids-cxl', 'icelake-vm']));
    expect(isPlatformName('pdp-11')).toBe(false);
    expect(platformByName(undefined).name).toBe('cascadelake-optane');
    for (const p of Object.values(PLATFORMS))
      for (const t of Object.values(p.tiers)) {
        if (!t) continue;
        for (const k of ['readLatencyNs', 'readGBs', 'writeGBs']) expect(t.sources[k], `${p.name} ${t.name} ${k}`).toBeTruthy();
      }
  });
});
