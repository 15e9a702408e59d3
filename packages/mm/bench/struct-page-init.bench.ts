/**
 * Initialises the main fields of 2^22 struct pages (16 GiB of base pages)
 * through the vmemmap translation, beside a raw typed-array fill of the same
 * bytes, in one process. Run: pnpm --filter @daxsim/mm bench
 */
import { cpus } from 'node:os';
import { execSync } from 'node:child_process';
import { X86_64 } from '../src/arch.js';
import { mmFixture } from '../src/test/fixture.js';

const NR = 2 ** 22;
const ROUNDS = 7;
const f = mmFixture({ arch: X86_64, ramSize: 2 ** 30 });
const vmemmapPages = NR / 64;
for (let vmi = 0; vmi < vmemmapPages; vmi++) f.mapVmemmapPage(vmi, f.alloc.alloc());

const flagsHi = (2 << 19) | 0; // ZONE_NORMAL, node 0
function viaVmemmap(): void {
  const mm = f.memmap;
  for (let pfn = 0; pfn < NR; pfn++) {
    const i = mm.locate(pfn);
    const w = mm.w;
    w.fill(0, i, i + 16); // mm_zero_struct_page
    w[i + 1] = flagsHi; // set_page_links
    w[i + 2] = pfn; // INIT_LIST_HEAD (lru.next, lru.prev)
    w[i + 4] = pfn;
    w[i + 12] = -1; // page_mapcount_reset
    w[i + 13] = 1; // init_page_count
  }
}

const raw = new Int32Array(NR * 16);
function rawFill(): void {
  for (let pfn = 0; pfn < NR; pfn++) {
    const i = pfn << 4;
    raw.fill(0, i, i + 16);
    raw[i + 1] = flagsHi;
    raw[i + 2] = pfn;
    raw[i + 4] = pfn;
    raw[i + 12] = -1;
    raw[i + 13] = 1;
  }
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  a.push(time(viaVmemmap));
  b.push(time(rawFill));
}
const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
} catch {}
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}, commit ${commit}`);
console.log(`struct pages: ${NR} (16 GiB of 4 KiB pages), ${ROUNDS} rounds, median`);
console.log(`through the vmemmap: ${median(a).toFixed(1)} ms   raw typed-array fill: ${median(b).toFixed(1)} ms`);
console.log(`ratio vmemmap/raw: ${(median(a) / median(b)).toFixed(2)}x (target ≤ 2x)`);
console.log(`raw samples vmemmap: ${a.map((x) => x.toFixed(1)).join(' ')} | raw: ${b.map((x) => x.toFixed(1)).join(' ')}`);
