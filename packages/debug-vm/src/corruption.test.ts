import { describe, expect, it } from 'vitest';
import { SZ_1M, ARCH_PROFILES, PAGE_COMPOUND_HEAD_OFFSET, PAGE_FLAGS_OFFSET, PAGE_REFCOUNT_OFFSET, PG_head, compoundInfoMask, hex, type VmemmapGeneration } from '@daxsim/mm';
import { type Kernel, memremapPages } from '@daxsim/memremap';
import { TEST_DEV_BASE, testKernel, testPagemap } from '@daxsim/memremap/test';
import { checkInvariants, type Violation } from './invariants.js';

/**
 * The sweep finds a struct page or a vmemmap PTE corrupted on purpose: each
 * case builds a clean memmap, writes one word behind the kernel's back
 * (through the frame the vmemmap maps, read-only PTEs or not) or rewrites one
 * PTE, and asks which invariant the full sweep (and, where the page is one it
 * samples, the cheap one) reports.
 */

const GENERATIONS: VmemmapGeneration[] = ['pre-series', 'compound', 'tail-reuse', 'tail-reuse-pmd', 'shared-tail'];
const PFN0 = TEST_DEV_BASE / 4096;
const W_FLAGS = PAGE_FLAGS_OFFSET / 4;
const W_HEAD = PAGE_COMPOUND_HEAD_OFFSET / 4;
const W_REFCOUNT = PAGE_REFCOUNT_OFFSET / 4;

function machine(generation: VmemmapGeneration, shift: number, size = 64 * SZ_1M): Kernel {
  const k = testKernel({ dev: { size: 1024 * SZ_1M } });
  memremapPages(k, testPagemap(size, shift), 0, { generation });
  Object.assign(k, { corrupted: true }); // the after-test sweep leaves these machines alone
  return k;
}

/** Writes word `word` of pfn's struct page in the frame the vmemmap maps it to (a read translation: no write fault). */
function poke(k: Kernel, pfn: number, word: number, v: number): void {
  const i = k.memmap.locate(pfn);
  k.memmap.w[i + word] = v;
}

const full = (k: Kernel): Violation[] => checkInvariants(k, undefined, [], { full: true });
const cheap = (k: Kernel): Violation[] => checkInvariants(k, undefined, [], { full: false });
const names = (v: Violation[]) => [...new Set(v.map((x) => x.invariant))].sort();
const says = (v: Violation[], invariant: string, text: string) => v.some((x) => x.invariant === invariant && x.message.includes(text));

describe('a corrupted struct page or vmemmap PTE is found', () => {
  for (const g of GENERATIONS) {
    it(`${g}: a clean memmap passes both sweeps`, () => {
      for (const shift of [0, 9]) {
        const k = machine(g, shift);
        expect(full(k)).toEqual([]);
        expect(cheap(k)).toEqual([]);
      }
    });

    if (g === 'pre-series') continue; // base pages only: no tails (below)

    it(`${g}: a tail with a reference, PG_head or another compound_head (in the head's vmemmap page)`, () => {
      const head = PFN0 + 3 * 512;
      let k = machine(g, 9);
      poke(k, head + 5, W_REFCOUNT, 1);
      expect(names(full(k))).toEqual(['page-refcount']);
      expect(says(full(k), 'page-refcount', `tail ${hex(head + 5)} `)).toBe(true);

      k = machine(g, 9);
      poke(k, head + 9, W_FLAGS, k.memmap.flags(head + 9) | (1 << PG_head));
      expect(says(full(k), 'compound-tail', `tail ${hex(head + 9)} of pmem0 has PG_head`)).toBe(true);

      k = machine(g, 9);
      const other = head + 512;
      poke(k, head + 7, W_HEAD, k.memmap.pageVirtLo(other) | 1);
      poke(k, head + 7, W_HEAD + 1, k.memmap.pageVirtHi(other));
      expect(says(full(k), 'compound-tail', `tail ${hex(head + 7)} of pmem0: compound_head is ${hex(other)}, not ${hex(head)}`)).toBe(true);

      // not a tail at all (bit 0 clear): compound_head() is the page itself
      k = machine(g, 9);
      poke(k, head + 11, W_HEAD, 0);
      poke(k, head + 11, W_HEAD + 1, 0);
      expect(says(full(k), 'compound-tail', `tail ${hex(head + 11)} of pmem0: compound_head is ${hex(head + 11)}`)).toBe(true);
    });

    it(`${g}: a tail deep in the compound page (a reused or shared tail frame where the generation has one)`, () => {
      const head = PFN0 + 5 * 512;
      const k = machine(g, 9);
      poke(k, head + 300, W_REFCOUNT, 7);
      const v = full(k);
      expect(says(v, 'page-refcount', '_refcount 7, expected 0')).toBe(true);
      // (a shared tail changed too, but its aliases in every compound page fill the report's 50 lines first)
    });

    it(`${g}: the cheap sweep finds a sampled tail (tail 1 of the first compound page)`, () => {
      const k = machine(g, 9);
      poke(k, PFN0 + 1, W_REFCOUNT, 2);
      expect(says(cheap(k), 'page-refcount', `tail ${hex(PFN0 + 1)} `)).toBe(true);
    });

    it(`${g}: a 1 GiB compound page's last tail`, () => {
      const k = machine(g, 18, 1024 * SZ_1M - 0);
      const last = PFN0 + 2 ** 18 - 1;
      poke(k, last, W_REFCOUNT, 3);
      expect(says(full(k), 'page-refcount', '_refcount 3, expected 0')).toBe(true);
      expect(says(cheap(k), 'page-refcount', '_refcount 3, expected 0')).toBe(true);
    });
  }

  it('pre-series (base pages): a page without its reference, or with PG_head', () => {
    for (const shift of [0, 9]) {
      let k = machine('pre-series', shift);
      poke(k, PFN0 + 777, W_REFCOUNT, 0);
      expect(says(full(k), 'page-refcount', `head ${hex(PFN0 + 777)} of pmem0: _refcount 0, expected >= 1`)).toBe(true);
      k = machine('pre-series', shift);
      poke(k, PFN0 + 9, W_FLAGS, k.memmap.flags(PFN0 + 9) | (1 << PG_head));
      expect(says(full(k), 'compound-head', `pfn ${hex(PFN0 + 9)} of pmem0 (order 0) is compound`)).toBe(true);
    }
  });

  it('shared-tail: a shared tail holding the mask of a smaller order sends the tails past it to the wrong head', () => {
    const k = machine('shared-tail', 9);
    const head = PFN0;
    // tail 64 + 10 lives in the shared frame; with order 8's mask the tails from head + 256 round down to head + 256
    const [lo, hi] = compoundInfoMask(k.arch, 8);
    poke(k, head + 64 + 10, W_HEAD, lo);
    poke(k, head + 64 + 10, W_HEAD + 1, hi);
    const v = full(k);
    expect(names(v)).toEqual(['compound-tail']);
    expect(says(v, 'compound-tail', `tail ${hex(head + 256 + 10)} of pmem0: compound_head is ${hex(head + 256)}, not ${hex(head)}`)).toBe(true);
    expect(says(v, 'compound-tail', `tail ${hex(head + 192 + 10)} `)).toBe(false);
  });

  for (const g of ['compound', 'tail-reuse'] as const)
    it(`${g}: a vmemmap PTE cleared or pointed at another compound page's frame`, () => {
      const head = PFN0 + 2 * 512;
      const pt = (k: Kernel) => {
        const p = k.mmu.pgtable;
        const va = k.mmu.vmemmapVa(head + 3 * 64); // the 4th vmemmap page of the compound page
        p.walk(va);
        return { p, va, table: p.wTable, idx: p.index(va, k.arch.pteLevel) };
      };
      let k = machine(g, 9);
      let e = pt(k);
      e.p.setEntry(e.table, e.idx, 0, 0, e.va, k.arch.pteLevel);
      let v = full(k);
      expect(names(v)).toContain('struct-page-readable');
      expect(says(v, 'struct-page-readable', `struct page of pfn ${hex(head)} cannot be read`)).toBe(true);
      expect(names(v)).toContain('vmemmap-populated');

      k = machine(g, 9);
      e = pt(k);
      // the frame that holds the next compound page's head: its struct pages name another head
      const va2 = k.mmu.vmemmapVa(head + 512);
      e.p.walk(va2);
      const lo2 = e.p.lo(e.p.wTable, e.p.index(va2, k.arch.pteLevel));
      const hi2 = e.p.hi(e.p.wTable, e.p.index(va2, k.arch.pteLevel));
      e.p.setEntry(e.table, e.idx, lo2, hi2, e.va, k.arch.pteLevel);
      k.mmu.flushTlbAll();
      v = full(k);
      expect(says(v, 'compound-tail', `tail ${hex(head + 3 * 64)} of pmem0: compound_head is`)).toBe(true);
      expect(names(v)).toContain('vmemmap-shared-frame-refs');
    });
});

describe('vmemmap-populated on every profile', () => {
  // 16K / 64K pages: a vmemmap page holds several subsections' struct pages; ppc64 and arm64 4K map
  // the vmemmap in 2 MiB blocks that describe far more than the device. None of that is a violation.
  it.each(['ppc64-64k', 'arm64-64k', 'arm64-16k', 'arm64-4k', 'x86_64'] as const)('%s: clean memmaps of 2, 64 and 512 MiB sweep clean', (name) => {
    for (const size of [2 * SZ_1M, 64 * SZ_1M, 512 * SZ_1M]) {
      const k = testKernel({ arch: ARCH_PROFILES[name], dev: { size: 1024 * SZ_1M } });
      memremapPages(k, testPagemap(size, 0), 0, { generation: 'compound' });
      expect(checkInvariants(k).map((x) => x.message)).toEqual([]);
      expect(checkInvariants(k, undefined, [], { full: false }).map((x) => x.message)).toEqual([]);
    }
  });

  it('x86-64: a vmemmap page still mapped after its subsection was deactivated is reported', () => {
    const k = testKernel({ dev: { size: 1024 * SZ_1M } });
    memremapPages(k, testPagemap(64 * SZ_1M, 0), 0, { generation: 'compound' });
    Object.assign(k, { corrupted: true });
    // clear the last subsection's bit behind memunmap's back: its 8 vmemmap pages stay mapped
    const last = PFN0 + (64 * SZ_1M) / 4096 - 512;
    expect(k.sparse.clearSubsectionMap(last, 512)).toBe(0);
    expect(names(checkInvariants(k))).toContain('vmemmap-populated');
  });
});
