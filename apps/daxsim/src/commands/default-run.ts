import { checkInvariants, formatViolation } from '@daxsim/debug-vm';
import { type GupGeneration, GUP_GENERATIONS } from '@daxsim/gup';
import { DEFAULT_KERNEL_VERSION, GUP, SEED_KERNEL_VERSION, SZ_1G, SZ_1M, SZ_1T, ALL_VMEMMAP_GENERATIONS, PROPOSED_VMEMMAP_GENERATIONS, type VmemmapGeneration } from '@daxsim/mm';
import { pgmapGeneration } from '@daxsim/memremap';

import { type OptSpec, flag } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import {
  DEFAULT_CONFIG,
  DEFAULT_CPU_LA57,
  Machine,
  kernelChoice,
  type MemmapCost,
  humanBytes,
  memmapCost,
  memmapDevices,
  ndctlCreateNamespace,
  ndctlDestroyNamespace,
  planMemmap,
  runGupTest,
} from '@daxsim/machine';
import { StreamTable, memmapCostCells } from '../output.js';

/** The GUP generations the letter compares: the ones that walk devmap leaves. */
const DEVMAP_GUP_GENERATIONS = GUP_GENERATIONS.filter((g) => GUP[g].grab !== 'folio');


/**
 * The numbers the cover letter gives (x86-64, 4K pages). Memory per TiB
 * counts the RAM that holds struct pages plus the vmemmap page tables that
 * map them when the letter counts those (the 1G figures do).
 */
const SEED = {
  perTiB: {
    'pre-series': { '2M': 16 * SZ_1G, '1G': 16 * SZ_1G },
    'tail-reuse': { '2M': 4 * SZ_1G, '1G': 40 * SZ_1M },
    'tail-reuse-pmd': { '1G': 16 * SZ_1M },
  } as Record<string, Record<string, number>>,
  // "NVDIMM namespace bootstrap improves from ~268-358 ms to ~80-110/<1ms on 128G NVDIMMs with 2M and 1G"
  initMs128G: { before: [268, 358], '2M': [80, 110], '1G': [0, 1] },
  // gup_test -m 16384 -r 10 -n 512 -w -S, 2M device-dax, memmap in RAM and on the device (altmap)
  gup: {
    mem: { get: { before: 59, after: 6.1 }, pin: { before: 87, after: 6.2 } },
    dev: { get: { before: 494, after: 9 }, pin: { before: 494, after: 10 } },
  },
};

export interface MemmapRow extends MemmapCost {
  /** Bytes the namespace's memmap covers (the device plus its info block and memmap area). */
  namespace_size: number;
  init_ms: number;
  memremap_ms: number;
  /**
   * The same namespace at exactly 1 TiB, from the planner (which tests hold
   * equal to the simulation, byte for byte): RAM for struct pages plus the
   * vmemmap page tables. Not an extrapolation of the measured row.
   */
  plan_tib_ram_bytes: number;
  plan_tib_data_bytes: number;
  plan_tib_pagetable_bytes: number;
}

export interface GupRow {
  test: 'GUP_FAST_BENCHMARK' | 'PIN_FAST_BENCHMARK';
  /** Where the device's struct pages live: RAM (mem) or the device itself (dev, an altmap). */
  map: 'mem' | 'dev';
  generation: GupGeneration;
  /** The vmemmap generation of the device's memmap: pre-series (5.15's base struct pages) for the letter's "before", tail-reuse (the series) for the rest. */
  memmap: VmemmapGeneration;
  get_ms_median: number;
  put_ms_median: number;
  get_atomics_per_loop: number;
  put_atomics_per_loop: number;
  pages_per_loop: number;
}

const ALIGNS = [{ name: '4K', bytes: 4096 }, { name: '2M', bytes: 2 * SZ_1M }, { name: '1G', bytes: SZ_1G }];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;

/** `ndctl create-namespace -f -e namespace0.0 -m devdax -a ALIGN -M MAP`: the label-less region's namespace as a dax device. */
function devdaxNamespace(m: Machine, align: number, map: 'mem' | 'dev') {
  return ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
}

/**
 * The label-less region's namespace0.0 of `m` reconfigured as a devdax
 * namespace, measured, and destroyed again (raw and disabled), so the next
 * measurement finds the machine as this one did.
 */
export function measureNamespace(m: Machine, align: number, map: 'mem' | 'dev'): MemmapRow {
  const region = m.pmem[0]!;
  const logFrom = m.k.log.entries.length;
  const t0 = performance.now();
  devdaxNamespace(m, align, map);
  const ms = performance.now() - t0;
  sweep(m, false);
  const dev = memmapDevices(m)[0]!;
  const cost = memmapCost(m, dev);
  const ns = region.namespaces[0]!;
  const covered = ns.size - ns.pfn!.endTrunc;
  const init = m.k.log.entries
    .slice(logFrom)
    .map((r) => /memmap_init_zone_device initialised \d+ pages in (\d+)ms/.exec(r.text))
    .filter((x): x is RegExpExecArray => x !== null);
  ndctlDestroyNamespace(m, ns, true);
  const plan = planMemmap({
    arch: m.arch,
    size: SZ_1T,
    align,
    map,
    generation: cost.generation as VmemmapGeneration,
    rule: m.k.vmemmapOptimizeRule,
    ppc64Mmu: m.kernel.ppc64Mmu,
    gate: m.k.daxVmemmapGate,
    start: region.start,
    // the RAM ranges firmware laid out (QEMU pc: below and above the 4 GiB hole), whose vmemmap page tables boot built
    ram: m.layout.ram.map((r) => ({ start: r.start, size: r.size })),
  });
  return {
    ...cost,
    namespace_size: covered,
    init_ms: init.length ? Number(init[init.length - 1]![1]) : NaN,
    memremap_ms: Math.round(ms * 10) / 10,
    plan_tib_ram_bytes: plan.vmemmap_data_bytes + plan.vmemmap_pagetable_bytes,
    plan_tib_data_bytes: plan.vmemmap_data_bytes,
    plan_tib_pagetable_bytes: plan.vmemmap_pagetable_bytes,
  };
}

/** Invariant sweeps run by the default run, and what they found. */
const sweeps = { cheap: 0, full: 0, violations: [] as string[] };

/** checkInvariants() on the machine: a cheap sweep (sampled struct pages) or a full one. */
function sweep(m: Machine, full: boolean): void {
  const v = checkInvariants(m.k, m.bus, [], { full });
  if (full) sweeps.full++;
  else sweeps.cheap++;
  sweeps.violations.push(...v.map(formatViolation));
}

/** gup_test on the 2M devdax device of a default machine, one GUP generation. */
export function measureGup(m: Machine, map: 'mem' | 'dev', test: 'u' | 'a', generation: GupGeneration, sizeMb = 16384, repeats = 10): GupRow {
  const r = runGupTest(m, ['-f', '/dev/dax0.0', '-m', String(sizeMb), '-r', String(repeats), '-n', '512', '-w', '-S', `-${test}`], generation);
  if (r.exitCode !== 0) throw new Error(`gup_test failed:\n${r.text}`);
  const st = r.repeats.map((x) => x.stats);
  return {
    test: test === 'u' ? 'GUP_FAST_BENCHMARK' : 'PIN_FAST_BENCHMARK',
    map,
    generation,
    memmap: pgmapGeneration(m.k, memmapDevices(m)[0]!.pgmap) as VmemmapGeneration,
    get_ms_median: Math.round(median(st.map((s) => s.getMs)) * 100) / 100,
    put_ms_median: Math.round(median(st.map((s) => s.putMs)) * 100) / 100,
    get_atomics_per_loop: st[0]!.getAtomics,
    put_atomics_per_loop: st[0]!.putAtomics,
    pages_per_loop: st[0]!.nrPages,
  };
}

/** Why the planned per-TiB figure differs from the letter's, from what it is made of. */
function why(row: MemmapRow, seedBytes: number | undefined): string | undefined {
  if (seedBytes === undefined) return undefined;
  const ours = row.plan_tib_ram_bytes;
  if (ours === seedBytes) return undefined;
  const data = row.plan_tib_data_bytes;
  const tables = row.plan_tib_pagetable_bytes;
  const head = `${humanBytes(row.align)} ${row.generation}: ${humanBytes(ours)}/TiB vs the letter's ${humanBytes(seedBytes)}`;
  if (data === seedBytes)
    return `${head}: the struct pages alone are exactly the letter's figure; the letter leaves out the ${humanBytes(tables)} of vmemmap page tables that map them`;
  if (ours > seedBytes && ours - seedBytes <= tables)
    return `${head}: struct pages ${humanBytes(data)} + page tables ${humanBytes(tables)}; the letter counts the PTE tables but not the ${humanBytes(ours - seedBytes)} of PMD/PUD tables above them`;
  if (data < seedBytes && ours < seedBytes)
    return `${head}: struct pages ${humanBytes(data)} + page tables ${humanBytes(tables)}; a 1 TiB namespace loses its first align-sized unit to the info block, which the letter's round figure does not`;
  return `${head}: struct pages ${humanBytes(data)} + page tables ${humanBytes(tables)} (not explained by page tables: look at this row)`;
}

/** The cover letter's per-TiB figure for a row, where it gives one (struct pages in RAM, 2M and 1G). */
function seedFor(r: { align: number; map: string; generation: string }): number | undefined {
  const a = r.align === 2 * SZ_1M ? '2M' : r.align === SZ_1G ? '1G' : undefined;
  if (r.map !== 'mem' || !a) return undefined;
  const g = r.generation === 'compound' ? 'pre-series' : r.generation;
  return SEED.perTiB[g]?.[a];
}

const OPTS: OptSpec[] = [
  { long: 'json', help: 'print the measurements as JSON' },
  { long: 'quick', help: 'a smaller run: 16 GiB namespaces and gup_test -m 4096 -r 3 (for tests)' },
  { long: 'help', short: 'h', help: 'show this help' },
];

async function run(ctx: CommandContext): Promise<number> {
  const json = flag(ctx.parsed.opts['json']);
  const quick = flag(ctx.parsed.opts['quick']);
  // Text goes out a row at a time, as each is measured, on a terminal or not; --json prints one document at the end.
  const say = (s: string) => {
    if (!json) ctx.out.out(s);
  };
  const progress = (s: string) => {
    if (ctx.out.isTTY && !json) process.stderr.write(`\r\x1b[K${s}`);
  };
  sweeps.cheap = sweeps.full = 0;
  sweeps.violations = [];
  const t0 = performance.now();
  const memmap: MemmapRow[] = [];
  const combos: [number, 'mem' | 'dev', VmemmapGeneration][] = [];
  // every generation, the proposed shared-tail (Muchun Song's HVO for device-dax) beside the letter's
  for (const g of ALL_VMEMMAP_GENERATIONS)
    for (const map of ['mem', 'dev'] as const)
      for (const a of ALIGNS) {
        if (g === 'tail-reuse-pmd' && a.bytes !== SZ_1G) continue; // patch 14 only changes 1G geometry
        combos.push([a.bytes, map, g]);
      }
  const pmem = quick ? 16 * SZ_1G : DEFAULT_CONFIG.pmem[0]!.size;
  // The letter's kernel: v5.15 with the series applied, on its test box's CPU (Cascade Lake: no LA57,
  // 4-level paging). The rows pick the vmemmap and GUP generations the letter compares; 7.3 has no
  // devmap leaves for the devmap GUP generations to walk (d438d2734170).
  // Times are the modelled kernel's on the seed's class of box (cascadelake-optane: @daxsim/mm platform.ts).
  const config = { ...DEFAULT_CONFIG, pmem: [{ size: pmem, labels: false }], kernel: SEED_KERNEL_VERSION, cpuLa57: false, platform: 'cascadelake-optane' };
  say('daxsim: the compound devmap series (v4) on a simulated machine');
  say(
    `machine: Linux ${SEED_KERNEL_VERSION} with the series, x86_64 (4-level paging), 4 KiB pages, 64 GiB RAM, one label-less ${humanBytes(pmem)} pmem region, on platform ${kernelChoice(config).platform.description}; times are the modelled kernel's (counted events x that platform's costs); each row is \`ndctl create-namespace -f -e namespace0.0 -m devdax -a ALIGN -M MAP\`, measured, then destroyed`,
  );
  say('');
  say('struct page cost of the namespace, measured (frames the page allocator handed out, device pfns the altmap handed out,');
  say('struct pages written); and RAM per TiB, planned for a namespace of exactly 1 TiB (the planner equals the simulation):');
  say('');
  const genWidth = Math.max(...ALL_VMEMMAP_GENERATIONS.map((g) => g.length));
  const mt = new StreamTable(
    ['align', 'map', 'generation', 'RAM: struct pages', 'RAM: page tables', 'device pfns', 'struct pages written', 'init ms', 'RAM per TiB (plan)', 'cover letter'],
    [5, 3, genWidth, 9, 9, 9, 9, 5, 9, 9],
    ['r', 'l', 'l'],
  );
  say(mt.head());
  // One machine for every row, generations side by side: each namespace is destroyed after it is measured.
  const machine = Machine.create(config);
  for (const [i, [align, map, g]] of combos.entries()) {
    progress(`[${i + 1}/${combos.length}] memremap_pages: ${humanBytes(pmem)} devdax, align ${humanBytes(align)}, --map=${map}, ${g}`);
    machine.bus.generation = g;
    const r = measureNamespace(machine, align, map);
    memmap.push(r);
    progress('');
    const seed = seedFor(r);
    say(
      mt.row([
        humanBytes(r.align),
        r.map,
        r.generation,
        ...memmapCostCells(r),
        r.init_ms,
        humanBytes(r.plan_tib_ram_bytes),
        seed === undefined ? ((PROPOSED_VMEMMAP_GENERATIONS as readonly string[]).includes(r.generation) ? '(proposal)' : '') : humanBytes(seed),
      ]),
    );
  }
  say('');
  for (const line of memmapSummary(memmap)) say(line);
  say('');
  const sizeMb = quick ? 4096 : 16384;
  const repeats = quick ? 3 : 10;
  say(`gup_test -m ${sizeMb} -r ${repeats} -n 512 -w -S on the 2M device, struct pages in RAM (mem) or on the device (dev), median per loop;`);
  say("per-page runs as the letter's \"before\" kernel had it, on base struct pages (pre-series), the others on the series' memmap (tail-reuse):");
  say('');
  const gt = new StreamTable(
    ['test', 'map', 'generation', 'memmap', 'get ms', 'put ms', 'atomics per get loop', 'atomics per put loop', 'cover letter'],
    [18, 3, Math.max(...DEVMAP_GUP_GENERATIONS.map((g) => g.length)), 10, 6, 6, 8, 8, 18],
    ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'l'],
  );
  say(gt.head());
  const gup: GupRow[] = [];
  // per-page before the series (its memmap of base pages), the compound-page generations after it
  const phases: [VmemmapGeneration, readonly GupGeneration[]][] = [
    ['pre-series', DEVMAP_GUP_GENERATIONS.filter((g) => GUP[g].grab === 'base-page')],
    ['tail-reuse', DEVMAP_GUP_GENERATIONS.filter((g) => GUP[g].grab !== 'base-page')],
  ];
  for (const map of ['mem', 'dev'] as const)
    for (const [memmapGen, gens] of phases) {
      // the 2M device over the whole region, its memmap in RAM or on the device
      machine.bus.generation = memmapGen;
      const ns = devdaxNamespace(machine, 2 * SZ_1M, map);
      for (const test of ['u', 'a'] as const)
        for (const g of gens) {
          progress(`gup_test -m ${sizeMb} -r ${repeats} -n 512 -w -S -${test} --map=${map} (${g}, ${memmapGen})`);
          const r = measureGup(machine, map, test, g, sizeMb, repeats);
          gup.push(r);
          progress('');
          say(gt.row([r.test, r.map, r.generation, r.memmap, r.get_ms_median, r.put_ms_median, r.get_atomics_per_loop, r.put_atomics_per_loop, seedGup(r)]));
        }
      // after every get and put: every struct page of the device as the kernel would have it
      progress(`invariant sweep of every struct page (--map=${map}, ${memmapGen})`);
      sweep(machine, true);
      ndctlDestroyNamespace(machine, ns, true);
    }
  sweep(machine, true);
  // Today's kernel beside the letter's: 7.3 maps the device's folios without the devmap bit and
  // GUP-fast takes each PMD leaf as one folio (fd2825b0760a), so a get loop takes one atomic per folio.
  const today = Machine.create({ ...config, kernel: DEFAULT_KERNEL_VERSION, cpuLa57: DEFAULT_CPU_LA57 });
  devdaxNamespace(today, 2 * SZ_1M, 'mem');
  for (const test of ['u', 'a'] as const) {
    progress(`gup_test -m ${sizeMb} -r ${repeats} -n 512 -w -S -${test} --map=mem (Linux ${DEFAULT_KERNEL_VERSION}: folio)`);
    const r = measureGup(today, 'mem', test, 'folio', sizeMb, repeats);
    gup.push(r);
    progress('');
    say(gt.row([r.test, r.map, r.generation, r.memmap, r.get_ms_median, r.put_ms_median, r.get_atomics_per_loop, r.put_atomics_per_loop, `(Linux ${DEFAULT_KERNEL_VERSION})`]));
  }
  sweep(today, true);
  progress('');
  const elapsed = (performance.now() - t0) / 1000;
  if (json) {
    ctx.out.out(JSON.stringify({ machine: config, memmap, gup, invariants: { ...sweeps }, seed: SEED, seconds: Math.round(elapsed * 10) / 10 }, null, 2));
    return sweeps.violations.length ? 1 : 0;
  }
  say('');
  for (const line of gupSummary(gup)) say(line);
  say(
    sweeps.violations.length
      ? `invariants: ${sweeps.violations.length} VIOLATIONS:\n${sweeps.violations.slice(0, 20).join('\n')}`
      : `invariants: ${sweeps.cheap} sampled and ${sweeps.full} full sweeps of the machine (debug-vm checkInvariants), no violation`,
  );
  say(`(${elapsed.toFixed(1)} s)`);
  return sweeps.violations.length ? 1 : 0;
}

/** What the memmap rows say beside the cover letter. */
function memmapSummary(memmap: MemmapRow[]): string[] {
  const out: string[] = [];
  const byKey = (a: number, g: string, map = 'mem') => memmap.find((r) => r.align === a && r.generation === g && r.map === map);
  const pre = byKey(2 * SZ_1M, 'pre-series');
  const t2 = byKey(2 * SZ_1M, 'tail-reuse');
  const t1 = byKey(SZ_1G, 'tail-reuse');
  const t1p = byKey(SZ_1G, 'tail-reuse-pmd');
  if (pre && t2 && t1 && t1p) {
    const ratio = (x: MemmapRow) => (pre.plan_tib_ram_bytes / x.plan_tib_ram_bytes).toFixed(1);
    out.push(
      `struct page RAM per TiB is ${ratio(t2)}x smaller at 2M and ${ratio(t1)}x (${ratio(t1p)}x with patch 14) at 1G than before the series; the letter says 3.8x / 1071x.`,
    );
    const cp = byKey(2 * SZ_1M, 'compound');
    if (cp)
      out.push(
        `memmap_init_zone_device writes ${t2.struct_pages_initialised / (t2.namespace_size / t2.align)} struct pages per 2M compound page with tail reuse (${cp.struct_pages_initialised / (cp.namespace_size / cp.align)} without), and every struct page with --map=dev.`,
      );
    out.push(
      `memmap init of ${humanBytes(pre.namespace_size)}: ${pre.init_ms} ms before, ${t2.init_ms} ms at 2M, ${t1.init_ms} ms at 1G (the letter: 268-358 ms, 80-110 ms, <1 ms on its hardware).`,
    );
  }
  const s2 = byKey(2 * SZ_1M, 'shared-tail');
  const s1 = byKey(SZ_1G, 'shared-tail');
  if (t2 && t1 && s2 && s1) {
    // Muchun Song's proposal: "an additional 4KB for every 2MB huge page" (one vmemmap page per compound page instead of two)
    const saved = (t2.plan_tib_data_bytes - s2.plan_tib_data_bytes) / (SZ_1T / t2.align);
    out.push(
      `shared-tail (proposed, not merged): struct pages per TiB ${humanBytes(s2.plan_tib_data_bytes)} at 2M (tail-reuse ${humanBytes(t2.plan_tib_data_bytes)}: ${humanBytes(saved)} saved per 2 MiB page; the proposal says 4 KiB) and ${humanBytes(s1.plan_tib_data_bytes)} at 1G (tail-reuse ${humanBytes(t1.plan_tib_data_bytes)}); RAM with page tables ${humanBytes(s2.plan_tib_ram_bytes)} / ${humanBytes(s1.plan_tib_ram_bytes)}, one shared tail page per node and order included; memmap init writes ${s2.struct_pages_initialised / (s2.namespace_size / s2.align)} struct pages per 2M compound page.`,
    );
  }
  for (const r of memmap) {
    const n = why(r, seedFor(r));
    if (n) out.push(`note: ${n}`);
  }
  return out;
}

/** The letter's gup_test figure beside a row. */
function seedGup(r: GupRow): string {
  const s = r.test === 'GUP_FAST_BENCHMARK' ? SEED.gup[r.map].get : SEED.gup[r.map].pin;
  return r.generation === 'per-page' ? `~${s.before} ms (before)` : r.generation === 'head-once' ? `~${s.after} ms (after)` : '';
}

/** What the gup_test rows say beside the cover letter. */
function gupSummary(gup: GupRow[]): string[] {
  const out: string[] = [];
  for (const map of ['mem', 'dev'] as const)
    for (const t of ['GUP_FAST_BENCHMARK', 'PIN_FAST_BENCHMARK'] as const) {
      const before = gup.find((r) => r.test === t && r.map === map && r.generation === 'per-page');
      const after = gup.find((r) => r.test === t && r.map === map && r.generation === 'head-once');
      if (!before || !after) continue;
      const s = t === 'GUP_FAST_BENCHMARK' ? SEED.gup[map].get : SEED.gup[map].pin;
      out.push(
        `${t} --map=${map}: get ${before.get_ms_median} ms before (per-page, ${before.memmap}), ${after.get_ms_median} ms after (head-once, ${after.memmap}), modelled; the letter: ${s.before} ms, ${s.after} ms. per-page/head-once = ${(before.get_ms_median / after.get_ms_median).toFixed(1)}x here (${before.get_atomics_per_loop / after.get_atomics_per_loop}x fewer atomics); the letter measured ${(s.before / s.after).toFixed(1)}x.`,
      );
    }
  out.push(
    "note: times are the modelled kernel's: the events each loop counted (atomics, vmstat updates, GUP calls, struct page lines in the tier that holds them) x the platform's costs. The CPU costs are calibrated on the letter's struct-pages-in-RAM figures; --map=dev's are predictions from Optane's published latency and bandwidth (Izraelevitz et al. 2019, Yang et al. FAST 2020).",
  );
  return out;
}

export const defaultRunCommand: Command = {
  path: [],
  synopsis: 'daxsim [--json] [--quick]',
  summary: 'the seed experiments on a default machine, beside the cover letter',
  options: OPTS,
  run,
};
