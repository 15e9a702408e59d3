// gup_test -m 16384 -r 10 -n 512 -w -S [-u | -a] over a 16 GiB mapping at
// 2 MiB align, for each __gup_device_huge generation side by side: the seed's
// patch 8 benchmark. Run: npx tsx packages/gup/bench/gup-test.bench.ts [--repeats N] [--gens per-page,head-once,grab-first]
// Also printed: the untimed held check between the loops (stats.checkMs),
// and the floor under record_subpages(): the same
// 4,194,304 pfns stored in 8,192 runs of 512 with nothing else, and a
// Float64Array.fill() of the 32 MiB, measured in the same process.
import { execSync } from 'node:child_process';
import os from 'node:os';
import { Gup, gupTestMain, isGupGeneration, type GupGeneration, type GupTestResult } from '../src/index.js';
import { allocPageArray, storePfnRunJs } from '../src/page-array.js';
import { createDaxFixture } from '../src/test/index.js';
import { SZ_1G } from '@daxsim/mm';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1]! : dflt;
};
const repeats = Number(opt('--repeats', '10'));
const gens = opt('--gens', 'per-page,head-once,grab-first').split(',').filter(isGupGeneration) as GupGeneration[];

const f = createDaxFixture({ size: 16 * SZ_1G, align: 2 * 2 ** 20 });
const vma = f.mmap(16 * SZ_1G);

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number): string => x.toFixed(2);

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: new URL('.', import.meta.url).pathname }).toString().trim();
} catch {
  /* not a git checkout */
}
console.log(`machine: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length} (${os.availableParallelism?.() ?? os.cpus().length} usable), ${os.platform()} ${os.release()}, node ${process.version}, commit ${commit}`);
console.log(`gup_test -f /dev/dax0.0 -m 16384 -r ${repeats} -n 512 -w -S [-u|-a], 2 MiB align, vmemmap tail-reuse\n`);

interface Row {
  cmd: string;
  gen: GupGeneration;
  get: number[];
  put: number[];
  getAtomics: number;
  putAtomics: number;
  pgmapRefs: number;
  getUsec: number[];
  verify: number[];
}
const rows: Row[] = [];
for (const cmd of ['-u', '-a']) {
  for (const gen of gens) {
    f.gup = new Gup(f.k, { generation: gen });
    // one warm-up run per generation, not reported
    gupTestMain({ gup: f.gup, mm: f.mm, mmap: () => vma.start }, ['-m', '16384', '-r', '1', '-n', '512', '-w', '-S', cmd]);
    const r: GupTestResult = gupTestMain({ gup: f.gup, mm: f.mm, mmap: () => vma.start }, ['-f', '/dev/dax0.0', '-m', '16384', '-r', String(repeats), '-n', '512', '-w', '-S', cmd]);
    if (r.exitCode !== 0 || r.repeats.some((x) => x.stats.notHeld)) throw new Error(`gup_test ${cmd} (${gen}) failed:\n${r.text}`);
    console.log(`## ${gen} ${cmd}`);
    for (const l of r.lines) console.log(l);
    const st = r.repeats.map((x) => x.stats);
    rows.push({
      cmd,
      gen,
      get: st.map((s) => s.hostGetMs),
      put: st.map((s) => s.hostPutMs),
      getAtomics: st[0]!.getAtomics,
      putAtomics: st[0]!.putAtomics,
      pgmapRefs: st[0]!.getPgmapRefs,
      getUsec: r.repeats.map((x) => x.args.hostGetUsec ?? 0),
      verify: st.map((s) => s.checkMs),
    });
  }
}

console.log('\n| cmd | generation | get ms mean | get ms median | get ms min | put ms mean | put ms min | held check ms mean | atomics/get loop | atomics/put loop | pgmap refs/get loop |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows)
  console.log(
    `| ${r.cmd} | ${r.gen} | ${ms(mean(r.get))} | ${ms(median(r.get))} | ${ms(Math.min(...r.get))} | ${ms(mean(r.put))} | ${ms(Math.min(...r.put))} | ${ms(mean(r.verify))} | ${r.getAtomics} | ${r.putAtomics} | ${r.pgmapRefs} |`,
  );

// The floor under record_subpages(): 4,194,304 pfns in 8,192 runs of 512 into a
// 32 MiB pages array, with the store the get loop uses and with the JS loop,
// and a whole-array fill(), as many times as the get loops ran.
{
  const n = 4_194_304;
  const a = allocPageArray(n);
  const plain = new Float64Array(n);
  const t: Record<string, number[]> = { store: [], js: [], fill: [] };
  for (let k = 0; k < repeats; k++) {
    let t0 = performance.now();
    if (a.seq !== null) for (let i = 0; i < n; i += 512) a.seq(i * 8, 512, 0x100000 + i + k);
    else for (let i = 0; i < n; i += 512) storePfnRunJs(a.pages, i, 0x100000 + i + k, 512);
    t.store!.push(performance.now() - t0);
    t0 = performance.now();
    for (let i = 0; i < n; i += 512) storePfnRunJs(plain, i, 0x100000 + i + k, 512);
    t.js!.push(performance.now() - t0);
    t0 = performance.now();
    plain.fill(k);
    t.fill!.push(performance.now() - t0);
  }
  const f2 = (xs: number[]): string => `${ms(Math.min(...xs))} min / ${ms(median(xs))} median`;
  console.log(`\nrecord_subpages floor (32 MiB of pfns, 8,192 runs of 512): ${a.seq !== null ? 'WebAssembly' : 'JS (no WebAssembly)'} store ${f2(t.store!)} ms; JS loop ${f2(t.js!)} ms; fill() ${f2(t.fill!)} ms`);
}
console.log('');
for (const cmd of ['-u', '-a']) {
  const a = rows.find((r) => r.cmd === cmd && r.gen === 'per-page');
  for (const b of rows.filter((r) => r.cmd === cmd && r.gen !== 'per-page')) {
    if (!a) continue;
    console.log(`${cmd}: per-page / ${b.gen}: get time ${(median(a.get) / median(b.get)).toFixed(1)}x (median), atomics ${(a.getAtomics / b.getAtomics).toFixed(0)}x; ${b.gen} get ${ms(median(b.get))} ms per 16 GiB (target <= 6 ms; the kernel: 6.1 ms)`);
  }
}
