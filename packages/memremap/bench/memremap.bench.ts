/**
 * memremap_pages() benchmark: 16 GiB and 128 GiB of device memory at align
 * 4K / 2M / 1G on x86-64 with the memmap in RAM, for each vmemmap generation.
 * Every case runs in a fresh process (npx tsx bench/memremap.bench.ts [filter] [--case gen:align:GiB] [--warmup N] [--runs N]).
 * Reports ms of memremap_pages (whole call) and of memmap_init_zone_device,
 * struct pages written, and frames handed out (data / page tables).
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SZ_1G, MEMORY_DEVICE_GENERIC, type VmemmapGeneration } from '@daxsim/mm';
import { createKernel, memmapStats, memremapPages, memunmapPages, newDevPagemap } from '../src/index.js';

const ALIGNS: Record<string, number> = { '4K': 0, '2M': 9, '1G': 18 };

// Warm-up runs before the three measured ones (default 2; `--warmup N` for steady-state figures of the
// millisecond cases, whose first runs are dominated by JIT tier-up rather than by simulated work).
const wi = process.argv.indexOf('--warmup');
const WARMUP = wi >= 0 ? Number(process.argv[wi + 1]) : 2;
// Measured runs after the warm-ups (default 3): the median and the minimum are reported; steady-state
// figures of the millisecond cases take many (`--runs 300`), the minimum being the least disturbed one.
const ri = process.argv.indexOf('--runs');
const RUNS = ri >= 0 ? Math.max(1, Number(process.argv[ri + 1])) : 3;

function runCase(gen: VmemmapGeneration, align: string, gib: number): Record<string, string | number> {
  const devStart = 1024 * SZ_1G;
  const k = createKernel({ ram: [{ nid: 0, size: 4 * SZ_1G }], devices: [{ start: devStart, size: gib * SZ_1G }] });
  const mk = () => newDevPagemap({ ranges: [{ start: devStart, end: devStart + gib * SZ_1G - 1 }], type: MEMORY_DEVICE_GENERIC, vmemmapShift: ALIGNS[align]! });
  // WARMUP warm-up runs at full size (JIT, slabs), then the median of three
  const runs: { ms: number; unmapMs: number; s: ReturnType<typeof memmapStats> }[] = [];
  let firstMs = 0; // the first call in this fresh process (cold JIT, slabs not yet allocated)
  for (let r = 0; r < WARMUP + RUNS; r++) {
    const pg = mk();
    const t0 = performance.now();
    memremapPages(k, pg, 0, { generation: gen });
    const ms = performance.now() - t0;
    if (r === 0) firstMs = ms;
    const s = memmapStats(k, pg);
    const t1 = performance.now();
    memunmapPages(k, pg);
    if (r >= WARMUP) runs.push({ ms, unmapMs: performance.now() - t1, s });
  }
  runs.sort((a, b) => a.ms - b.ms);
  const { ms, unmapMs, s } = runs[Math.floor(runs.length / 2)]!;
  const minMs = runs[0]!.ms;
  const minUnmapMs = Math.min(...runs.map((x) => x.unmapMs));
  return {
    generation: gen,
    align,
    GiB: gib,
    'first call ms': +firstMs.toFixed(1),
    'memremap ms': +ms.toFixed(2),
    'memremap min ms': +minMs.toFixed(2),
    'init ms': s.initMs,
    'struct pages written': s.structPagesInitialised,
    'data frames': s.vmemmapDataFrames,
    'pagetable frames': s.vmemmapPagetableFrames,
    'vmemmap MiB': +(((s.vmemmapDataFrames + s.vmemmapPagetableFrames) * 4096) / 2 ** 20).toFixed(3),
    'memunmap ms': +unmapMs.toFixed(1),
    'memunmap min ms': +minUnmapMs.toFixed(1),
  };
}

const arg = process.argv.indexOf('--case');
if (arg >= 0) {
  const [gen, align, gib] = process.argv[arg + 1]!.split(':');
  process.stdout.write(JSON.stringify(runCase(gen as VmemmapGeneration, align!, Number(gib))) + '\n');
} else {
  const self = fileURLToPath(import.meta.url);
  const only = process.argv[2]?.startsWith('--') ? undefined : process.argv[2];
  const cases: string[] = [];
  for (const gib of [16, 128])
    for (const align of ['4K', '2M', '1G'])
      for (const gen of align === '4K' ? ['pre-series'] : ['compound', 'tail-reuse', ...(align === '1G' ? ['tail-reuse-pmd'] : [])])
        cases.push(`${gen}:${align}:${gib}`);
  const rows = [];
  for (const c of cases) {
    if (only && !c.includes(only)) continue;
    const out = execFileSync(process.execPath, [...process.execArgv, self, '--case', c, '--warmup', String(WARMUP), '--runs', String(RUNS)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    rows.push(JSON.parse(out.trim().split('\n').pop()!));
  }
  console.log(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, ${(totalmem() / SZ_1G).toFixed(0)} GiB, node ${process.version}, ${WARMUP} warm-up runs, ${RUNS} measured`);
  console.table(rows);
}
