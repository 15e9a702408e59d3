import { describe, expect, it } from 'vitest';
import { SZ_1G, SZ_1M, ARM64_4K, PPC64_64K, X86_64, type ArchProfile, type VmemAltmap, pagesPerSection } from '@daxsim/mm';
import { createKernelCore } from '@daxsim/page-alloc';
import { SparseMem, addPages, pfnToVmemmap, removePages, vmemmapFree, vmemmapPopulate, vmemmapPopulateBasepages, type SparseKernel } from './index.js';

const DEV = 4 * SZ_1G;

function boot(arch: ArchProfile): SparseKernel {
  const k = createKernelCore({ arch, ram: [{ nid: 0, size: 512 * SZ_1M }], devices: [{ start: DEV, size: 2 * SZ_1G }] });
  return Object.assign(k, { sparse: new SparseMem(arch) });
}

function altmapAt(basePfn: number, free: number): VmemAltmap {
  return { basePfn, endPfn: basePfn + free, reserve: 0, free, align: 0, alloc: 0 };
}

/** The frame backing vmemmap address `va`, or a negative number when nothing maps it. */
const frameOf = (k: SparseKernel, va: number): number => k.mmu.resolveFrame((va - k.mmu.vmemmapOffset) / k.arch.pageSize);

/** How many vmemmap pages in [start, end) are mapped, and how many of them by frames inside [lo, hi). */
function backing(k: SparseKernel, start: number, end: number, lo: number, hi: number): { mapped: number; inside: number } {
  let mapped = 0;
  let inside = 0;
  for (let va = start; va < end; va += k.arch.pageSize) {
    const f = frameOf(k, va);
    if (f < 0) continue;
    mapped++;
    if (f >= lo && f < hi) inside++;
  }
  return { mapped, inside };
}

describe('vmemmap_populate per architecture (Linux 5.15)', () => {
  it('x86-64: a PMD that already holds a PTE table is completed with base pages from RAM, not from the altmap', () => {
    const k = boot(X86_64);
    const pfn0 = DEV / X86_64.pageSize;
    const start = pfnToVmemmap(k, pfn0);
    const end = pfnToVmemmap(k, pfn0 + pagesPerSection(X86_64)); // one section's memmap: one PMD
    expect(vmemmapPopulateBasepages(k, start, start + 32 * 1024, 0, null)).toBe(0);
    const altmap = altmapAt(pfn0 + pagesPerSection(X86_64), 4096);
    expect(vmemmapPopulate(k, start, end, 0, altmap)).toBe(0);
    // vmemmap_populate_basepages(addr, next, node, NULL): nothing from the altmap
    expect(altmap.alloc).toBe(0);
    const b = backing(k, start, end, altmap.basePfn, altmap.endPfn);
    expect(b).toEqual({ mapped: 512, inside: 0 });
  });

  it('x86-64: an altmap too small for a PMD block is -ENOMEM (no fallback)', () => {
    const k = boot(X86_64);
    const pfn0 = DEV / X86_64.pageSize;
    const altmap = altmapAt(pfn0 + pagesPerSection(X86_64), 300);
    const start = pfnToVmemmap(k, pfn0);
    expect(vmemmapPopulate(k, start, pfnToVmemmap(k, pfn0 + pagesPerSection(X86_64)), 0, altmap)).toBe(-12);
    expect(altmap.alloc).toBe(0);
  });

  it('arm64 4K: a failed PMD block falls back to base pages from the altmap; a present PMD is only verified', () => {
    const k = boot(ARM64_4K);
    const pfn0 = DEV / ARM64_4K.pageSize;
    const sec = pagesPerSection(ARM64_4K);
    const altmap = altmapAt(pfn0 + sec, 300);
    const start = pfnToVmemmap(k, pfn0);
    // half a PMD of memmap: the 512-page block does not fit in 300 pfns, base pages do
    expect(vmemmapPopulate(k, start, start + SZ_1M, 0, altmap)).toBe(0);
    expect(altmap.alloc).toBe(256);
    expect(backing(k, start, start + SZ_1M, altmap.basePfn, altmap.endPfn)).toEqual({ mapped: 256, inside: 256 });
    // the PMD now holds a PTE table: arm64 leaves it as it is (vmemmap_verify), x86 would fill it
    expect(vmemmapPopulate(k, start, start + 2 * SZ_1M, 0, altmap)).toBe(0);
    expect(altmap.alloc).toBe(256);
    expect(backing(k, start + SZ_1M, start + 2 * SZ_1M, 0, 0).mapped).toBe(0);
  });

  it('ppc64: an altmap block that would describe pfns outside the altmap comes from RAM, and so does one the altmap cannot give', () => {
    const k = boot(PPC64_64K);
    const ps = PPC64_64K.pageSize;
    const pfn0 = DEV / ps;
    const block = (2 * SZ_1M) / PPC64_64K.structPageSize; // pfns described by one 2 MiB vmemmap block
    const start = pfnToVmemmap(k, pfn0);
    // the altmap serves only the first half of the block's pfns: altmap_cross_boundary()
    const crossing = altmapAt(pfn0, block / 2);
    const ram0 = k.buddy.nrFreePages();
    expect(vmemmapPopulate(k, start, start + 2 * SZ_1M, 0, crossing)).toBe(0);
    expect(crossing.alloc).toBe(0);
    expect(backing(k, start, start + 2 * SZ_1M, pfn0, pfn0 + block)).toEqual({ mapped: 32, inside: 0 });
    expect(ram0 - k.buddy.nrFreePages()).toBeGreaterThanOrEqual(32);
    // the next block's pfns are inside this altmap, but it holds too few free pfns: "falling back to system memory"
    const small = altmapAt(pfn0 + block, block);
    small.free = 8;
    const s2 = pfnToVmemmap(k, pfn0 + block);
    expect(vmemmapPopulate(k, s2, s2 + 2 * SZ_1M, 0, small)).toBe(0);
    expect(small.alloc).toBe(0);
    // a block the altmap can give comes from it
    const fits = altmapAt(pfn0 + 2 * block, block);
    const s3 = pfnToVmemmap(k, pfn0 + 2 * block);
    expect(vmemmapPopulate(k, s3, s3 + 2 * SZ_1M, 0, fits)).toBe(0);
    expect(fits.alloc).toBe(32);
    expect(backing(k, s3, s3 + 2 * SZ_1M, fits.basePfn, fits.endPfn)).toEqual({ mapped: 32, inside: 32 });
    vmemmapFree(k, s3, s3 + 2 * SZ_1M, fits);
    expect(fits.alloc).toBe(0);
  });
});

describe('hot-add and hot-remove through the section table', () => {
  // x86 adds half a section too (base pages below a section); arm64 4K removes whole 128 MiB
  // sections (the model does not track sub-PMD use, README); on ppc64 128 sections of 16 MiB
  // share one 2 MiB vmemmap block, which goes with the last of them (vmemmap_populated()).
  it.each<[string, ArchProfile, number]>([
    ['x86_64', X86_64, 2.5 * pagesPerSection(X86_64)],
    ['arm64-4k', ARM64_4K, 2 * pagesPerSection(ARM64_4K)],
    ['ppc64-64k', PPC64_64K, 100 * pagesPerSection(PPC64_64K)],
  ])('%s: __add_pages maps every struct page, __remove_pages gives every frame back', (_name, arch, nr) => {
    const k = boot(arch);
    const pfn0 = DEV / arch.pageSize;
    const free0 = k.buddy.nrFreePages();
    const sparse0 = k.sparse.digest();
    expect(addPages(k, 0, pfn0, nr, { altmap: null, pgmap: null })).toBe(0);
    const start = pfnToVmemmap(k, pfn0);
    const end = pfnToVmemmap(k, pfn0 + nr);
    expect(backing(k, start, end, 0, 0).mapped).toBe(Math.ceil((end - start) / arch.pageSize));
    // a struct page written through the vmemmap reads back
    k.memmap.setPageCount(pfn0 + nr - 1, 7);
    expect(k.memmap.pageRefCount(pfn0 + nr - 1)).toBe(7);
    expect(k.sparse.digest()).not.toBe(sparse0);
    expect(k.buddy.nrFreePages()).toBeLessThan(free0);
    removePages(k, pfn0, nr, null);
    expect(backing(k, start, end, 0, 0).mapped).toBe(0);
    expect(k.sparse.digest()).toBe(sparse0);
    // every vmemmap frame and every page table below the top level is back
    expect(k.buddy.framesInUse('vmemmap_data')).toBe(0);
    expect(k.buddy.nrFreePages()).toBe(free0);
  });

  it('ppc64: removing some of the sections a 2 MiB vmemmap block serves keeps the block; removing the last frees it', () => {
    const k = boot(PPC64_64K);
    const sec = pagesPerSection(PPC64_64K);
    const pfn0 = DEV / PPC64_64K.pageSize;
    const start = pfnToVmemmap(k, pfn0);
    const free0 = k.buddy.nrFreePages();
    expect(addPages(k, 0, pfn0, 64 * sec, { altmap: null, pgmap: null })).toBe(0);
    expect(backing(k, start, start + 2 * SZ_1M, 0, 0).mapped).toBe(32); // one block for all 64 sections
    removePages(k, pfn0, 32 * sec, null);
    // the block still serves the other 32 sections: their struct pages stay readable
    expect(backing(k, start, start + 2 * SZ_1M, 0, 0).mapped).toBe(32);
    k.memmap.setPageCount(pfn0 + 40 * sec, 3);
    expect(k.memmap.pageRefCount(pfn0 + 40 * sec)).toBe(3);
    removePages(k, pfn0 + 32 * sec, 32 * sec, null);
    expect(backing(k, start, start + 2 * SZ_1M, 0, 0).mapped).toBe(0);
    expect(k.buddy.nrFreePages()).toBe(free0);
  });
});
