import { daxPgoffToPhys } from '@daxsim/device-dax';
import { pfnFirst, pfnLen, pgmapGeneration, pgmapVmemmapShift } from '@daxsim/memremap';
import { EINVAL, ENXIO, KernelError, SZ_2M, VMEMMAP, entryPfn, entryPresent, entryWrite, structPagesPerPage } from '@daxsim/mm';
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
  /** Bytes the leaf entry maps: a page for a PTE, a whole vmemmap block for a PMD (vmemmap_populate_hugepages()). */
  readonly leafBytes: number;
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

/** A device's vmemmap: the unit asked for (a compound page or a 2 MiB extent), page by page, and the whole pgmap summarised. */
export interface VmemmapLayout {
  readonly device: string;
  readonly generation: string;
  readonly arch: string;
  /** Compound order (vmemmap_shift); 0 when the device has base pages. */
  readonly order: number;
  /**
   * What `page` counts: the device's compound pages when the generation
   * shares tail vmemmap pages, else 2 MiB extents (pre-series and compound
   * keep a vmemmap page per 64 struct pages, so one compound page draws as
   * 1 or 4096 pages; an extent draws as 8 on x86-64).
   */
  readonly unit: 'compound page' | '2M extent';
  /** Pfns per unit. */
  readonly unitPfns: number;
  /** The unit drawn, counted from the device's own first pfn (dax_pgoff_to_phys(dev, 0)). */
  readonly page: number;
  /** Units in the device. */
  readonly units: number;
  /** Compound pages in the device. */
  readonly compoundPages: number;
  /** Compound pages in the pgmap (pfn_len() over its ranges): more than the device's when the info block is in the pgmap. */
  readonly pgmapCompoundPages: number;
  /** The unit's first pfn (the head of its compound page when the unit is one). */
  readonly headPfn: number;
  /** The device's first pfn: where its data, and page 0, begin. */
  readonly devFirstPfn: number;
  /** The pgmap's first pfn with a struct page (pfn_first()): before devFirstPfn when the namespace's info block is in the pgmap (--map=mem). */
  readonly pgmapFirstPfn: number;
  readonly structPagesPerPage: number;
  readonly pages: readonly VmemmapPageView[];
  /** The vmemmap pages of the device's pgmap (all its ranges, from pgmapFirstPfn's section on) with a mapping. */
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

/** The extent drawn for generations without tail sharing: 2 MiB, what vmemmap_dedup.rst draws for a HugeTLB page. */
const EXTENT_BYTES = SZ_2M;

/**
 * A device's vmemmap as Documentation/mm/vmemmap_dedup.rst draws it, as data:
 * for unit `page` of the device (a compound page, or a 2 MiB extent where
 * the generation shares nothing), each vmemmap page, the frame its entry
 * maps, the table that entry lives in, and how many vmemmap pages (and
 * upper-level entries) of the device share that frame (and that table).
 * Units are counted from the device's own first pfn, as dax_pgoff_to_phys()
 * counts file offsets. Read back from init_mm's page tables by walking
 * them, as the kernel's ptdump would; the whole pgmap summarised.
 */
export function vmemmapLayout(m: Machine, devName: string, page: number): VmemmapLayout {
  // an observer: reading the vmemmap back gives no frame a copy of its own
  return m.k.memmap.peek(() => readLayout(m, devName, page));
}

function readLayout(m: Machine, devName: string, page: number): VmemmapLayout {
  const dev = m.daxDevice(devName);
  if (!dev.bound || !dev.pgmap) throw new KernelError(ENXIO, `layout: ${devName} is not enabled (no memmap to read)`);
  const k = m.k;
  const arch = m.arch;
  const ps = arch.pageSize;
  const pgmap = dev.pgmap;
  const shift = pgmapVmemmapShift(k, pgmap);
  const nr = 2 ** shift;
  const generation = pgmapGeneration(k, pgmap);
  const spp = structPagesPerPage(arch);
  const pgmapFirst = pfnFirst(k, pgmap, 0);
  let devPages = 0;
  for (const r of dev.ranges) devPages += (r.end - r.start + 1) / ps;
  const unit = VMEMMAP[generation].dedup ? 'compound page' : '2M extent';
  const unitPfns = unit === 'compound page' ? nr : Math.max(1, EXTENT_BYTES / ps);
  const units = Math.floor(devPages / unitPfns);
  if (!Number.isInteger(page) || page < 0 || page >= units)
    throw new KernelError(EINVAL, `layout: page ${page} is not a ${unit} of ${devName} (0..${units - 1}, counted from its first pfn)`);
  // dax_pgoff_to_phys(): unit `page` starts at file page page * unitPfns
  const phys = daxPgoffToPhys(dev, page * unitPfns, unitPfns * ps);
  if (phys < 0) throw new KernelError(EINVAL, `layout: ${unit} ${page} of ${devName} straddles two of its ranges`);
  const headPfn = phys / ps;
  const devFirstPfn = daxPgoffToPhys(dev, 0, ps) / ps;

  const mmu = k.mmu;
  const pt = mmu.pgtable;
  const leafOf = (vmi: number): number => pt.walk(mmu.vmemmapOffset + vmi * ps);

  // Every vmemmap page of the pgmap: the frame it maps and the leaf table of its entry.
  let total = 0;
  for (const r of pgmap.ranges) total += Math.floor(r.end / ps / spp) - Math.floor(r.start / ps / spp) + 1;
  const frames = new Float64Array(total);
  const tables = new Float64Array(total);
  let n = 0;
  let nt = 0;
  let lastGranule = -1;
  for (const r of pgmap.ranges) {
    const lo = Math.floor(r.start / ps / spp);
    const hi = Math.floor(r.end / ps / spp);
    for (let vmi = lo; vmi <= hi; vmi++) {
      const f = mmu.resolveFrame(vmi);
      if (f < 0) continue;
      frames[n++] = f;
      // one leaf table per upper-level entry: count the table once per granule it maps
      const level = leafOf(vmi);
      const granule = Math.floor((mmu.vmemmapOffset + vmi * ps) / (pt.levelSize(level) * 2 ** arch.levels[level]!.bits));
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

  const firstVmi = Math.floor(headPfn / spp);
  const lastVmi = Math.floor((headPfn + unitPfns - 1) / spp);
  const tails = sharedTails(k);
  const pages: VmemmapPageView[] = [];
  for (let vmi = firstVmi; vmi <= lastVmi; vmi++) {
    const va = mmu.vmemmapOffset + vmi * ps;
    const level = pt.walk(va);
    const present = entryPresent(pt.wLo);
    const leafBytes = pt.levelSize(level);
    const frame = present ? entryPfn(pt.wLo, pt.wHi, arch.pageShift) + Math.floor((va % leafBytes) / ps) : -1;
    const table = pt.wTable;
    pages.push({
      index: vmi - firstVmi,
      va: mmu.kernelVa(va).toString(16),
      firstPfn: Math.max(headPfn, vmi * spp),
      frame,
      level: arch.levels[level]!.name,
      leafBytes,
      writable: present && entryWrite(pt.wLo),
      table,
      frameUsers: present ? occurrences(sortedFrames, frame) : 0,
      tableUsers: occurrences(sortedTables, table),
      sharedTail: present ? (tails.find((t) => t.pfn === frame) ?? null) : null,
    });
  }
  return {
    device: devName,
    generation,
    arch: arch.name,
    order: shift,
    unit,
    unitPfns,
    page,
    units,
    compoundPages: Math.floor(devPages / nr),
    pgmapCompoundPages: pgmap.ranges.reduce((a, _, i) => a + pfnLen(k, pgmap, i), 0),
    headPfn,
    devFirstPfn,
    pgmapFirstPfn: pgmapFirst,
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
