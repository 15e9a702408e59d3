import { pfnFirst, pgmapGeneration, pgmapVmemmapShift } from '@daxsim/memremap';
import { EINVAL, ENXIO, KernelError, entryPfn, entryPresent, entryWrite, structPagesPerPage } from '@daxsim/mm';
import { type SharedTail, sharedTails } from '@daxsim/sparse-vmemmap';
import type { Machine } from './machine.js';

/** One vmemmap page of a compound page, as the kernel page tables map it. */
export interface VmemmapPageView {
  /** Its place in the compound page's vmemmap: 0 holds the head's struct page. */
  readonly index: number;
  /** Kernel virtual address of the vmemmap page, hex without 0x. */
  readonly va: string;
  /** The first pfn whose struct page it holds. */
  readonly firstPfn: number;
  /** The frame its leaf entry maps (pfn), -1 when nothing maps it. */
  readonly frame: number;
  /** Name of the level of the leaf entry ('pte', or 'pmd' for a PMD block). */
  readonly level: string;
  /** Whether the leaf entry allows writes (a read-only shared tail does not). */
  readonly writable: boolean;
  /** The frame of the page table holding the leaf entry. */
  readonly table: number;
  /** vmemmap pages of the whole device that map `frame` (1: a frame of its own). */
  readonly frameUsers: number;
  /** Upper-level entries over the device that point at `table` (> 1: a shared PTE table, the seed's patch 14). */
  readonly tableUsers: number;
  /** When `frame` is a zone's shared tail page (shared-tail generation): the node and order it serves. */
  readonly sharedTail: SharedTail | null;
}

/** A device's vmemmap: the compound page asked for, page by page, and the whole device summarised. */
export interface VmemmapLayout {
  readonly device: string;
  readonly generation: string;
  readonly arch: string;
  /** Compound order (vmemmap_shift); 0 when the device has base pages. */
  readonly order: number;
  /** The compound page drawn, counted from the device's first one. */
  readonly page: number;
  /** Compound pages in the device's first range. */
  readonly compoundPages: number;
  readonly headPfn: number;
  readonly structPagesPerPage: number;
  readonly pages: readonly VmemmapPageView[];
  /** The device's vmemmap pages with a mapping. */
  readonly vmemmapPages: number;
  /** Distinct frames they map. */
  readonly frames: number;
  /** Frames mapped by more than one vmemmap page, and how many vmemmap pages map them. */
  readonly sharedFrames: number;
  readonly sharedFrameUsers: number;
  /** Distinct leaf page tables over the device, and those that more than one upper entry points at. */
  readonly leafTables: number;
  readonly sharedLeafTables: number;
}

// How many times each value occurs in a sorted array (binary search for the first and last).
function occurrences(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  let end = lo;
  hi = sorted.length;
  while (end < hi) {
    const mid = (end + hi) >>> 1;
    if (sorted[mid]! <= v) end = mid + 1;
    else hi = mid;
  }
  return end - lo;
}

// Distinct values of a sorted array, and how many of them occur more than once (and how often in all).
function distinct(sorted: Float64Array, n: number): { values: number; repeated: number; repeatedUses: number } {
  let values = 0;
  let repeated = 0;
  let repeatedUses = 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && sorted[j] === sorted[i]) j++;
    values++;
    if (j - i > 1) {
      repeated++;
      repeatedUses += j - i;
    }
    i = j;
  }
  return { values, repeated, repeatedUses };
}

/**
 * A device's vmemmap as Documentation/mm/vmemmap_dedup.rst draws it, as data:
 * for compound page `page`, each vmemmap page, the frame its entry maps, the
 * table that entry lives in, and how many vmemmap pages (and upper-level
 * entries) of the device share that frame (and that table). Read back from
 * init_mm's page tables by walking them, as the kernel's ptdump would.
 */
export function vmemmapLayout(m: Machine, devName: string, page: number): VmemmapLayout {
  const dev = m.daxDevice(devName);
  if (!dev.bound || !dev.pgmap) throw new KernelError(ENXIO, `layout: ${devName} is not enabled (no memmap to read)`);
  const k = m.k;
  const arch = m.arch;
  const pgmap = dev.pgmap;
  const shift = pgmapVmemmapShift(k, pgmap);
  const nr = 2 ** shift;
  const spp = structPagesPerPage(arch);
  const first = pfnFirst(k, pgmap, 0);
  const endPfn = Math.floor((pgmap.ranges[0]!.end + 1) / arch.pageSize);
  const compoundPages = Math.floor((endPfn - first) / nr);
  if (!Number.isInteger(page) || page < 0 || page >= compoundPages)
    throw new KernelError(EINVAL, `layout: page ${page} is not a compound page of ${devName}'s first range (0..${compoundPages - 1})`);

  const mmu = k.mmu;
  const pt = mmu.pgtable;
  const leafOf = (vmi: number): number => pt.walk(mmu.vmemmapOffset + vmi * arch.pageSize);

  // Every vmemmap page of the device: the frame it maps and the leaf table of its entry.
  let total = 0;
  for (const r of pgmap.ranges) total += Math.floor(r.end / arch.pageSize / spp) - Math.floor(r.start / arch.pageSize / spp) + 1;
  const frames = new Float64Array(total);
  const tables = new Float64Array(total);
  let n = 0;
  let nt = 0;
  let lastGranule = -1;
  for (const r of pgmap.ranges) {
    const lo = Math.floor(r.start / arch.pageSize / spp);
    const hi = Math.floor(r.end / arch.pageSize / spp);
    for (let vmi = lo; vmi <= hi; vmi++) {
      const f = mmu.resolveFrame(vmi);
      if (f < 0) continue;
      frames[n++] = f;
      // one leaf table per upper-level entry: count the table once per granule it maps
      const level = leafOf(vmi);
      const granule = Math.floor((mmu.vmemmapOffset + vmi * arch.pageSize) / (pt.levelSize(level) * 2 ** arch.levels[level]!.bits));
      if (granule !== lastGranule) {
        tables[nt++] = pt.wTable;
        lastGranule = granule;
      }
    }
  }
  const sortedFrames = frames.subarray(0, n).sort();
  const sortedTables = tables.subarray(0, nt).sort();
  const f = distinct(sortedFrames, n);
  const t = distinct(sortedTables, nt);

  const headPfn = first + page * nr;
  const firstVmi = Math.floor(headPfn / spp);
  const lastVmi = Math.floor((headPfn + nr - 1) / spp);
  const tails = sharedTails(k);
  const pages: VmemmapPageView[] = [];
  for (let vmi = firstVmi; vmi <= lastVmi; vmi++) {
    const va = mmu.vmemmapOffset + vmi * arch.pageSize;
    const level = pt.walk(va);
    const present = entryPresent(pt.wLo);
    const frame = present ? entryPfn(pt.wLo, pt.wHi, arch.pageShift) + Math.floor((va % pt.levelSize(level)) / arch.pageSize) : -1;
    const table = pt.wTable;
    pages.push({
      index: vmi - firstVmi,
      va: mmu.kernelVa(va).toString(16),
      firstPfn: Math.max(headPfn, vmi * spp),
      frame,
      level: arch.levels[level]!.name,
      writable: present && entryWrite(pt.wLo),
      table,
      frameUsers: present ? occurrences(sortedFrames, frame) : 0,
      tableUsers: occurrences(sortedTables, table),
      sharedTail: present ? (tails.find((t) => t.pfn === frame) ?? null) : null,
    });
  }
  return {
    device: devName,
    generation: pgmapGeneration(k, pgmap),
    arch: arch.name,
    order: shift,
    page,
    compoundPages,
    headPfn,
    structPagesPerPage: spp,
    pages,
    vmemmapPages: n,
    frames: f.values,
    sharedFrames: f.repeated,
    sharedFrameUsers: f.repeatedUses,
    leafTables: t.values,
    sharedLeafTables: t.repeated,
  };
}
