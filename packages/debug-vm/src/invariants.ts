import {
  type DevPagemap,
  STRUCT_PAGE_WORDS,
  W_FLAGS,
  W_HEAD,
  W_REFCOUNT,
  type PageTable,
  type Task,
  ZONE_DEVICE,
  FAULT_MODELS,
  _PAGE_DEVMAP_HI,
  _PAGE_SPECIAL,
  folioMapcount,
  _PAGE_PRESENT,
  _PAGE_PSE,
  compoundInfoMask,
  entryPfn,
  hex,
  isCompoundInfoMask,
} from '@daxsim/mm';
import {
  SECTION_HAS_MEM_MAP as SECTION_HAS_MEM_MAP_BIT,
  SECTION_MARKED_PRESENT as SECTION_MARKED_PRESENT_BIT,
  SECTION_TAINT_ZONE_DEVICE as SECTION_TAINT_ZONE_DEVICE_BIT,
} from '@daxsim/sparse-vmemmap';
import type { Kernel } from '@daxsim/memremap';
import { pfnEnd, pfnFirst, pfnLen } from '@daxsim/memremap';
import { type DaxBus, type DevDax, daxPgoffToPhys, taskExited } from '@daxsim/device-dax';
import { GUP_PIN_COUNTING_BIAS } from '@daxsim/gup';
import { checkSharedTails, vmemmapLeafProtOk } from './shared-tail-invariants.js';
import { isSharedTail } from '@daxsim/sparse-vmemmap';

/**
 * References the caller knows to be held on device pages, by head pfn (the
 * fuzzer's reference model keeps this ledger): `gets` FOLL_GET references and
 * `pins` FOLL_PIN pins, each counted once per base page taken.
 */
export type ExpectedRefs = ReadonlyMap<number, { gets: number; pins: number }>;

export interface InvariantOptions {
  /**
   * Sweep every struct page of every live pgmap (default). When false, a
   * cheap sweep: per range the first and last compound (or base) page and 8
   * more chosen by `sampleSeed`, each with its first two and last tail, every
   * page named in `refs`, and one subsection per span in the section check.
   * Everything else (page tables, frame accounting, pgmap refs, user leaves)
   * is checked in both modes.
   */
  full?: boolean;
  /** Cheap mode: which sample of heads to check (a rotating seed; default 0). */
  sampleSeed?: number;
  /** The references that should be held; without it only the idle shape (head count >= 1, tails 0) is checked. */
  refs?: ExpectedRefs;
  /** `tasks` is every live task of the machine: user page-table frames must add up to the allocator's count. */
  allTasks?: boolean;
  /** Filled with what the sweep read (for a report of what was swept); its counts are added to. */
  stats?: SweepStats;
}

/** What one sweep read: the objects each group of invariants was checked over. */
export interface SweepStats {
  /** Live dev_pagemaps and their pfn ranges. */
  pgmaps: number;
  ranges: number;
  /** Struct pages read: heads (or base pages) and tails. */
  heads: number;
  tails: number;
  /** Vmemmap page-table frames (the kernel pgd included), data frames mapped by a leaf, and vmemmap pages mapped. */
  vmemmapTables: number;
  vmemmapFrames: number;
  vmemmapPages: number;
  /** Present sections, and subsections checked for a live span. */
  sections: number;
  subsections: number;
  /** User tasks walked and the leaves their page tables hold. */
  tasks: number;
  userLeaves: number;
  /** Dax regions and devices on the bus. */
  daxRegions: number;
  daxDevices: number;
}

/** A SweepStats with every count 0. */
export function emptySweepStats(): SweepStats {
  return { pgmaps: 0, ranges: 0, heads: 0, tails: 0, vmemmapTables: 0, vmemmapFrames: 0, vmemmapPages: 0, sections: 0, subsections: 0, tasks: 0, userLeaves: 0, daxRegions: 0, daxDevices: 0 };
}

/** One broken invariant: its name and what was seen. */
export interface Violation {
  readonly invariant: string;
  readonly message: string;
}

/** "invariant: message", for logs and test failures. */
export function formatViolation(v: Violation): string {
  return `${v.invariant}: ${v.message}`;
}

/** Stops a sweep that finds a broken machine from printing a million lines. */
const MAX_VIOLATIONS = 50;

class Sink {
  readonly list: Violation[] = [];
  add(invariant: string, message: string): void {
    if (this.list.length < MAX_VIOLATIONS) this.list.push({ invariant, message });
  }
  get full(): boolean {
    return this.list.length >= MAX_VIOLATIONS;
  }
}

/** A growable Float64Array: the sweep's scratch lists, so recording an entry allocates nothing. */
class F64List {
  a = new Float64Array(256);
  n = 0;
  push(x: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }
}

/** Leaf orders fit in 5 bits: a data frame's sort key is pfn * ORDER_KEYS + order. */
const ORDER_KEYS = 32;

/** What one walk of the vmemmap page tables found (typed arrays: nothing per PTE or per frame). */
interface VmemmapScan {
  /** Distinct table frames (the pgd included). */
  tables: Set<number>;
  /** Page-table entries that point at each table. */
  tableRefs: Map<number, number>;
  /** Distinct data frames mapped by a leaf (the first frame of a PMD block), ascending. */
  framePfn: Float64Array;
  /** Order of the block each frame heads (0 for a PTE-mapped frame, PMD order for a PMD leaf). */
  frameOrder: Uint8Array;
  /** Leaf entries that map each frame; each distinct table counted once. */
  frameRefs: Uint32Array;
  nFrames: number;
  /** Mapped vmemmap page indexes, as ascending runs runFirst[i]..runLast[i]. */
  runFirst: Float64Array;
  runLast: Float64Array;
  nRuns: number;
}

function scanVmemmap(k: Kernel, sink: Sink): VmemmapScan {
  const pt = k.mmu.pgtable;
  const arch = k.arch;
  const ps = arch.pageSize;
  const last = pt.nrLevels - 1;
  const pmdOrder = arch.pmdShift - arch.pageShift;
  const tables = new Set([pt.root]);
  const tableRefs = new Map<number, number>();
  // Counted leaves as runs of one key (pfn * ORDER_KEYS + order): tail reuse maps one frame from
  // several PTEs in a row. Keys that come out ascending (frames allocated in va order) need no sort.
  const runKeys = new F64List();
  const runLeaves = new F64List();
  let lastKey = -1;
  let ascending = true;
  const runs = new F64List(); // first, last pairs, ascending
  let curFirst = -1;
  let curLast = -2;
  const top = arch.levels[0]!;
  const topEntries = 2 ** top.bits;
  const idx0 = pt.index(0, 0);
  const mem = k.mem;
  // isSharedTail() of the last leaf's frame: tail reuse maps one frame from several PTEs in a row
  let protFrame = -1;
  let protShared = false;
  const visit = (table: number, level: number, vaBase: number, count: boolean): void => {
    const n = 2 ** arch.levels[level]!.bits;
    const size = pt.levelSize(level);
    // The table's entries, read as PageTable.lo()/hi() read them (a [lo, hi] word pair each), from
    // its frame found once; a frame that was never written reads as zeros: nothing present.
    const slot = mem.frameSlot(table);
    if (slot < 0) return;
    const words = mem.slabI32[slot >>> mem.slabShift]!;
    const base = mem.slotWord(slot);
    // The top level starts at the window's first entry, so leaves come in ascending va.
    for (let ii = 0; ii < n; ii++) {
      const i = level === 0 ? (idx0 + ii) % topEntries : ii;
      const lo = words[base + 2 * i]!;
      if (!(lo & _PAGE_PRESENT)) continue;
      const hi = words[base + 2 * i + 1]!;
      const target = entryPfn(lo, hi, arch.pageShift);
      const va = level === 0 ? ii * size : vaBase + i * size;
      const leaf = level === last || (lo & _PAGE_PSE) !== 0;
      if (!leaf) {
        if (count) tableRefs.set(target, (tableRefs.get(target) ?? 0) + 1);
        const seen = tables.has(target);
        tables.add(target);
        // A table several entries share (seed patch 14) is counted once, but its mappings are recorded for every va.
        visit(target, level + 1, va, count && !seen);
        continue;
      }
      if (level !== last && level !== arch.pmdLevel) sink.add('vmemmap-leaf-level', `a leaf at level ${level} maps vmemmap ${hex(va)}`);
      if (target !== protFrame) {
        protFrame = target;
        protShared = isSharedTail(k, target);
      }
      if (!vmemmapLeafProtOk(lo, protShared)) sink.add('vmemmap-leaf-prot', `vmemmap ${hex(va)}: entry flags ${hex(lo & 0xfff)} are not PAGE_KERNEL (PAGE_KERNEL_RO for a shared tail)`);
      const order = level === last ? 0 : pmdOrder;
      if (count) {
        const key = target * ORDER_KEYS + order;
        if (key === lastKey) runLeaves.a[runLeaves.n - 1]!++;
        else {
          if (key < lastKey) ascending = false;
          runKeys.push(key);
          runLeaves.push(1);
          lastKey = key;
        }
      }
      const first = Math.floor((va - k.mmu.vmemmapOffset) / ps);
      const lastVmi = first + 2 ** order - 1;
      if (first <= curLast + 1) {
        if (lastVmi > curLast) curLast = lastVmi;
      } else {
        if (curFirst >= 0) {
          runs.push(curFirst);
          runs.push(curLast);
        }
        curFirst = first;
        curLast = lastVmi;
      }
    }
  };
  visit(pt.root, 0, 0, true);
  if (curFirst >= 0) {
    runs.push(curFirst);
    runs.push(curLast);
  }
  // Distinct data frames and how many leaves map each. Ascending runs are distinct keys already;
  // otherwise the distinct keys come from a sorted copy and each run adds its leaves to its key's.
  let keys = runKeys.a.subarray(0, runKeys.n);
  let leaves = runLeaves.a.subarray(0, runLeaves.n);
  if (!ascending) {
    const sorted = Float64Array.from(keys).sort();
    let nk = 0;
    for (let x = 0; x < sorted.length; x++) if (x === 0 || sorted[x] !== sorted[x - 1]) sorted[nk++] = sorted[x]!;
    const distinct = sorted.subarray(0, nk);
    const sums = new Float64Array(nk);
    for (let r = 0; r < keys.length; r++) sums[bsearch(distinct, nk, keys[r]!)]! += leaves[r]!;
    keys = distinct;
    leaves = sums;
  }
  const framePfn = new Float64Array(keys.length);
  const frameOrder = new Uint8Array(keys.length);
  const frameRefs = new Uint32Array(keys.length);
  let nFrames = 0;
  for (let x = 0; x < keys.length; x++) {
    const key = keys[x]!;
    const pfn = Math.floor(key / ORDER_KEYS);
    if (nFrames > 0 && framePfn[nFrames - 1] === pfn) {
      // one frame mapped as both a PTE page and a PMD block: keep the larger block, count every leaf
      frameOrder[nFrames - 1] = Math.max(frameOrder[nFrames - 1]!, key % ORDER_KEYS);
      frameRefs[nFrames - 1]! += leaves[x]!;
    } else {
      framePfn[nFrames] = pfn;
      frameOrder[nFrames] = key % ORDER_KEYS;
      frameRefs[nFrames] = leaves[x]!;
      nFrames++;
    }
  }
  const nRuns = runs.n / 2;
  const runFirst = new Float64Array(nRuns);
  const runLast = new Float64Array(nRuns);
  for (let r = 0; r < nRuns; r++) {
    runFirst[r] = runs.a[2 * r]!;
    runLast[r] = runs.a[2 * r + 1]!;
  }
  return { tables, tableRefs, framePfn, frameOrder, frameRefs, nFrames, runFirst, runLast, nRuns };
}

/** Index of `x` in the ascending `a[0..n)`, or -1 (binary search). */
function bsearch(a: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = a[mid]!;
    if (v === x) return mid;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Index of the data frame whose block starts at `pfn`, or -1 (binary search). */
function frameIndex(scan: VmemmapScan, pfn: number): number {
  return bsearch(scan.framePfn, scan.nFrames, pfn);
}

/** Whether `pfn` lies inside some mapped data block (binary search on the block starts). */
function inDataBlock(scan: VmemmapScan, pfn: number): boolean {
  let lo = 0;
  let hi = scan.nFrames - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (scan.framePfn[mid]! <= pfn) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // blocks may nest only when one frame is mapped at two orders, which frameOrder already merged
  return best >= 0 && pfn < scan.framePfn[best]! + 2 ** scan.frameOrder[best]!;
}

function runsCover(scan: VmemmapScan, first: number, last: number): boolean {
  for (let r = 0; r < scan.nRuns; r++) if (scan.runFirst[r]! <= first && last <= scan.runLast[r]!) return true;
  return false;
}

/** The live pgmap spans, [startPfn, endPfn) each, with their pgmaps. */
function liveSpans(k: Kernel): { pgmap: DevPagemap; shift: number; startPfn: number; endPfn: number }[] {
  const out = [];
  for (const e of k.pgmaps.entries) for (const s of e.spans) out.push({ pgmap: e.pgmap, shift: e.shift, startPfn: s.startPfn, endPfn: s.endPfn });
  return out;
}

function checkVmemmapAndBuddy(k: Kernel, sink: Sink, scan: VmemmapScan, userTables: Map<number, string>, allTasks: boolean): void {
  const b = k.buddy;
  // Page-table frames: referenced by as many entries as their page count says (one, unless patch 14 shares a PTE table).
  for (const t of scan.tables) {
    if (!b.managesPfn(t)) {
      sink.add('vmemmap-table-frame', `table frame ${hex(t)} is not RAM`);
      continue;
    }
    const refs = t === k.mmu.pgtable.root ? 1 : (scan.tableRefs.get(t) ?? 0);
    if (b.pageCount(t) !== refs) sink.add('vmemmap-table-refs', `table frame ${hex(t)}: ${refs} entries point at it, page count ${b.pageCount(t)}`);
  }
  // Data frames: a RAM frame's page count is the number of PTEs that map it (get_page per shared PTE).
  let ramData = 0;
  for (let x = 0; x < scan.nFrames; x++) {
    const f = scan.framePfn[x]!;
    const refs = scan.frameRefs[x]!;
    const order = scan.frameOrder[x]!;
    if (b.managesPfn(f)) {
      ramData += 2 ** order;
      if (b.pageCount(f) !== refs) sink.add('vmemmap-shared-frame-refs', `vmemmap frame ${hex(f)} is mapped by ${refs} PTEs, page count ${b.pageCount(f)}`);
      if (scan.tables.has(f)) sink.add('frame-owner', `frame ${hex(f)} is both a vmemmap table and a vmemmap data frame`);
    } else {
      if (refs !== 1) sink.add('vmemmap-altmap-shared', `device frame ${hex(f)} is mapped by ${refs} PTEs (altmap frames are never shared)`);
      let inAltmap = false;
      for (const e of k.pgmaps.entries) {
        const a = e.pgmap.altmap;
        if (a && f >= a.basePfn + a.reserve && f + 2 ** order <= a.basePfn + a.reserve + a.alloc + a.align) inAltmap = true;
      }
      // the altmaps of hot-added memory blocks (memmap_on_memory, @daxsim/kmem)
      for (const a of (k as { hotplugAltmaps?: Iterable<{ basePfn: number; reserve: number; alloc: number; align: number }> }).hotplugAltmaps ?? [])
        if (f >= a.basePfn + a.reserve && f + 2 ** order <= a.basePfn + a.reserve + a.alloc + a.align) inAltmap = true;
      if (!inAltmap) sink.add('vmemmap-device-frame', `vmemmap frame ${hex(f)} is device memory outside every live altmap's allocation`);
    }
  }
  if (b.framesInUse('vmemmap_pagetable') !== scan.tables.size)
    sink.add('buddy-purpose', `${b.framesInUse('vmemmap_pagetable')} vmemmap_pagetable frames allocated, ${scan.tables.size} tables reachable`);
  if (b.framesInUse('vmemmap_data') !== ramData)
    sink.add('buddy-purpose', `${b.framesInUse('vmemmap_data')} vmemmap_data frames allocated, ${ramData} mapped by the vmemmap`);
  let userFrames = 0;
  for (const [t, owner] of userTables) {
    userFrames++;
    if (scan.tables.has(t) || inDataBlock(scan, t)) sink.add('frame-owner', `frame ${hex(t)} is a page table of ${owner} and a vmemmap frame`);
    if (!b.managesPfn(t)) sink.add('frame-owner', `user table ${hex(t)} of ${owner} is not RAM`);
  }
  if (allTasks && b.framesInUse('user_pagetable') !== userFrames)
    sink.add('buddy-purpose', `${b.framesInUse('user_pagetable')} user_pagetable frames allocated, ${userFrames} reachable from the live tasks`);
  // Free lists and allocated frames add up to each node's size, no frame both free and in use.
  let allocated = 0;
  // every free block, all nodes, as a sort key pfn * ORDER_KEYS + order (a typed array: nothing per block)
  const freeKeys = new F64List();
  for (const node of b.debugNodes()) {
    const span = node.endPfn - node.startPfn;
    let nfree = 0;
    for (const [pfn, order] of node.freeBlocks) {
      const n = 2 ** order;
      if (pfn < node.startPfn || pfn + n > node.endPfn) sink.add('buddy-free-block', `node ${node.nid}: free block ${hex(pfn)} order ${order} leaves the node`);
      else if (b.pageCount(pfn) !== 0) sink.add('buddy-free-block', `free block ${hex(pfn)} has page count ${b.pageCount(pfn)}`);
      freeKeys.push(pfn * ORDER_KEYS + order);
      nfree += n;
    }
    const counted = node.nrFree.reduce((s2, c, k2) => s2 + c * 2 ** k2, 0);
    if (counted !== nfree) sink.add('buddy-nr-free', `node ${node.nid}: nr_free says ${counted} free frames, the bitmaps hold ${nfree}`);
    allocated += span - nfree;
  }
  // [freeStart[i], freeEnd[i]) ascending by start
  const keys = freeKeys.a.subarray(0, freeKeys.n).sort();
  const nFree = keys.length;
  const freeStart = new Float64Array(nFree);
  const freeEnd = new Float64Array(nFree);
  for (let i = 0; i < nFree; i++) {
    const pfn = Math.floor(keys[i]! / ORDER_KEYS);
    freeStart[i] = pfn;
    freeEnd[i] = pfn + 2 ** (keys[i]! % ORDER_KEYS);
  }
  for (let i = 1; i < nFree; i++) if (freeStart[i]! < freeEnd[i - 1]!) sink.add('buddy-free-block', `frame ${hex(freeStart[i]!)} is in two free blocks`);
  const freeOverlaps = (pfn: number, n: number): boolean => {
    let lo = 0;
    let hi = nFree - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (pfn + n <= freeStart[mid]!) hi = mid - 1;
      else if (pfn >= freeEnd[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  };
  for (const t of scan.tables) if (freeOverlaps(t, 1)) sink.add('buddy-in-use-free', `vmemmap table ${hex(t)} is on a free list`);
  for (let x = 0; x < scan.nFrames; x++) {
    const f = scan.framePfn[x]!;
    if (b.managesPfn(f) && freeOverlaps(f, 2 ** scan.frameOrder[x]!)) sink.add('buddy-in-use-free', `vmemmap data block ${hex(f)} is on a free list`);
  }
  for (const t of userTables.keys()) if (freeOverlaps(t, 1)) sink.add('buddy-in-use-free', `user page table ${hex(t)} is on a free list`);
  let inUse = 0;
  for (const p of ['vmemmap_data', 'vmemmap_pagetable', 'user_pagetable', 'other'] as const) inUse += b.framesInUse(p);
  if (inUse !== allocated) sink.add('buddy-accounting', `${allocated} frames are off the free lists, ${inUse} are counted in use by purpose`);
}

function checkSections(k: Kernel, sink: Sink, scan: VmemmapScan, full: boolean, stats?: SweepStats): void {
  const s = k.sparse;
  const spp = 2 ** k.mmu.sppShift;
  const spans = liveSpans(k);
  const pps = s.pagesPerSubsection;
  for (const sp of spans) {
    const step = full ? pps : Math.max(pps, sp.endPfn - sp.startPfn - pps);
    for (let pfn = sp.startPfn; pfn < sp.endPfn; pfn += step) {
      if (stats) stats.subsections++;
      if (!s.pfnSectionValid(pfn)) sink.add('subsection-map', `pfn ${hex(pfn)} of ${sp.pgmap.name}: subsection not active`);
      const f = s.sectionFlags(s.pfnToSectionNr(pfn));
      const want = SECTION_MARKED_PRESENT_BIT | SECTION_HAS_MEM_MAP_BIT | SECTION_TAINT_ZONE_DEVICE_BIT;
      if ((f & want) !== want) sink.add('section-flags', `section ${s.pfnToSectionNr(pfn)} of ${sp.pgmap.name}: flags ${hex(f)}`);
      if (sink.full) return;
    }
    // The whole memmap of the span is mapped.
    const first = Math.floor(sp.startPfn / spp);
    const last = Math.ceil(sp.endPfn / spp) - 1;
    if (!runsCover(scan, first, last)) sink.add('vmemmap-populated', `${sp.pgmap.name}: the vmemmap of pfns ${hex(sp.startPfn)}-${hex(sp.endPfn - 1)} is not fully mapped`);
  }
  // Every active subsection belongs to a live span; every present section has usage and some active subsection.
  for (const sec of s.presentSections()) {
    if (stats) stats.sections++;
    if (!s.hasUsage(sec)) sink.add('section-usage', `present section ${sec} has no usage`);
    if (s.subsectionMapEmpty(sec)) sink.add('subsection-map', `present section ${sec} has no active subsection`);
    if (s.earlySection(sec)) continue; // boot memory (sparse_init): RAM, which no pgmap covers
    if (!(s.sectionFlags(sec) & SECTION_TAINT_ZONE_DEVICE_BIT)) continue; // hot-added System RAM (dax_kmem): no pgmap either
    const base = s.sectionNrToPfn(sec);
    for (let i = 0; i < s.subsectionsPerSection; i++) {
      const pfn = base + i * pps;
      if (!s.pfnSectionValid(pfn)) continue;
      let covered = false;
      for (let x = 0; x < spans.length && !covered; x++) covered = pfn >= spans[x]!.startPfn && pfn < spans[x]!.endPfn;
      if (!covered) sink.add('subsection-map', `subsection at pfn ${hex(pfn)} is active but no live pgmap covers it`);
    }
  }
  // Every mapped vmemmap page describes pfns of an active subsection: one check per subsection's worth
  // of vmemmap pages (a vmemmap page of 64K pages spans 32 subsections: any of them will do). A page
  // inside a PMD block (ppc64's 2 MiB blocks, arm64's) may describe nothing active as long as some
  // pfn its block describes is: the kernel maps and frees the vmemmap a block at a time there.
  const anyActive = (pfn0: number, n: number): boolean => {
    for (let p = pfn0 - (pfn0 % pps); p < pfn0 + n; p += pps) if (s.pfnSectionValid(p)) return true;
    return false;
  };
  const pt = k.mmu.pgtable;
  const pteLevel = k.arch.pteLevel;
  const blockActive = (vmi: number): boolean => {
    const level = pt.walk(k.mmu.vmemmapOffset + vmi * k.arch.pageSize);
    if (level >= pteLevel) return false;
    const per = pt.levelSize(level) / k.arch.pageSize; // vmemmap pages the leaf maps
    return anyActive(Math.floor(vmi / per) * per * spp, per * spp);
  };
  const vstep = Math.max(1, pps / spp);
  for (let r = 0; r < scan.nRuns; r++) {
    const a = scan.runFirst[r]!;
    const z = scan.runLast[r]!;
    for (let vmi = a; vmi <= z; vmi += vstep) {
      if (!anyActive(vmi * spp, spp) && !blockActive(vmi)) {
        sink.add('vmemmap-populated', `vmemmap page ${vmi} (pfns ${hex(vmi * spp)}-${hex(vmi * spp + spp - 1)}) is mapped but describes no active subsection`);
        break;
      }
    }
  }
}

/** Indexes of the units a cheap sweep checks: the first, the last and 8 spread by `seed`. */
function cheapSample(count: number, seed: number): number[] {
  if (count <= 10) return Array.from({ length: count }, (_, i) => i);
  const out = new Set([0, count - 1]);
  for (let i = 0; i < 8; i++) out.add((Math.imul(seed * 8 + i + 1, 0x9e3779b1) >>> 0) % count);
  return [...out];
}

/**
 * The tail checks of checkStructPages() for every tail of one compound page,
 * in order, reading each struct page's words from the frame the vmemmap maps
 * it to: one locate() per vmemmap page instead of four accessor calls per
 * tail. A compound_head that is neither the head's pointer nor a mask shown
 * to give the head for every tail goes through headFromCompoundInfo(), as
 * compound_head() does (with compound_info_has_mask() the head is the tail's
 * address rounded down, monotone in the pfn: the first and the last tail
 * decide for all).
 */
function checkTails(k: Kernel, sink: Sink, pgmap: DevPagemap, head: number, shift: number, stats?: SweepStats): void {
  const m = k.memmap;
  const spp = 2 ** k.mmu.sppShift;
  const sppMask = spp - 1;
  const nr = 2 ** shift;
  const ptrLo = m.pageVirtLo(head) | 1;
  const ptrHi = m.pageVirtHi(head);
  const ptrOk = !isCompoundInfoMask(ptrLo, ptrHi) && m.headFromCompoundInfo(head + 1, ptrLo, ptrHi) === head;
  let maskLo = 0;
  let maskHi = 0;
  let maskOk = false;
  try {
    [maskLo, maskHi] = compoundInfoMask(k.arch, shift);
    maskOk = m.headFromCompoundInfo(head + 1, maskLo, maskHi) === head && m.headFromCompoundInfo(head + nr - 1, maskLo, maskHi) === head;
  } catch {
    maskOk = false; // no mask for this order: every tail takes the generic path
  }
  const end = head + nr;
  if (stats) stats.tails += nr - 1;
  let pfn = head + 1;
  while (pfn < end) {
    let i = m.locate(pfn);
    const w = m.w;
    const stop = Math.min(end, pfn - (pfn & sppMask) + spp);
    for (; pfn < stop; pfn++, i += STRUCT_PAGE_WORDS) {
      const lo = w[i + W_HEAD]!;
      const hi = w[i + W_HEAD + 1]!;
      if (!((ptrOk && lo === ptrLo && hi === ptrHi) || (maskOk && lo === maskLo && hi === maskHi)))
        if ((lo & 1) === 0 || m.headFromCompoundInfo(pfn, lo, hi) !== head)
          sink.add('compound-tail', `tail ${hex(pfn)} of ${pgmap.name}: compound_head is ${hex(m.compoundHead(pfn))}, not ${hex(head)}`);
      if ((w[i + W_FLAGS]! >>> m.pg.head) & 1) sink.add('compound-tail', `tail ${hex(pfn)} of ${pgmap.name} has PG_head`);
      const rc = w[i + W_REFCOUNT]!;
      if (rc !== 0) sink.add('page-refcount', `tail ${hex(pfn)} of ${pgmap.name}: _refcount ${rc}, expected 0`);
    }
  }
}

function checkStructPages(k: Kernel, sink: Sink, scan: VmemmapScan, opts: InvariantOptions): void {
  const m = k.memmap;
  const full = opts.full ?? true;
  const refs = opts.refs;
  const spp = 2 ** k.mmu.sppShift;
  const frameOf = (pfn: number): number => k.mmu.resolveFrame(Math.floor(pfn / spp));
  const seenHeads = new Set<number>();
  const refcountedFaults = FAULT_MODELS[k.release.fault].refcounted;
  const stats = opts.stats;
  const checkHead = (pgmap: DevPagemap, head: number, shift: number): void => {
    const nr = 2 ** shift;
    if (stats) stats.heads++;
    if (m.pageZonenum(head) !== ZONE_DEVICE) sink.add('struct-page-zone', `pfn ${hex(head)} of ${pgmap.name} is not ZONE_DEVICE`);
    if (m.pagePgmap<DevPagemap>(head) !== pgmap) sink.add('struct-page-pgmap', `pfn ${hex(head)}: page->pgmap is not ${pgmap.name}`);
    if (shift > 0) {
      if (!m.PageHead(head)) sink.add('compound-head', `pfn ${hex(head)} of ${pgmap.name}: PG_head not set`);
      else if (m.compoundOrder(head) !== shift || m.compoundNr(head) !== nr)
        sink.add('compound-order', `head ${hex(head)} of ${pgmap.name}: order ${m.compoundOrder(head)} nr ${m.compoundNr(head)}, pgmap order ${shift}`);
      const f = frameOf(head);
      const x = frameIndex(scan, f);
      if (x >= 0 && scan.frameRefs[x]! > 1) sink.add('vmemmap-shared-head', `head ${hex(head)} lives in frame ${hex(f)}, which ${scan.frameRefs[x]} PTEs share`);
    } else if (m.PageHead(head) || m.PageTail(head)) sink.add('compound-head', `pfn ${hex(head)} of ${pgmap.name} (order 0) is compound`);
    // Reference counts: 1 idle, plus what gets and pins explain.
    const want = refs?.get(head);
    const gets = want?.gets ?? 0;
    const pins = want?.pins ?? 0;
    const pincountAvail = shift > 0 && m.pincountAvailable(shift);
    const rc = m.pageRefCount(head);
    // folio faults (v6.15): every mapping holds a reference too
    const maps = refcountedFaults ? folioMapcount(m, head) : 0;
    const expect = 1 + maps + gets + pins * (pincountAvail ? 1 : GUP_PIN_COUNTING_BIAS);
    if (refs !== undefined ? rc !== expect : rc < 1)
      sink.add('page-refcount', `head ${hex(head)} of ${pgmap.name}: _refcount ${rc}, expected ${refs !== undefined ? expect : '>= 1'} (${gets} gets, ${pins} pins)`);
    if (pincountAvail) {
      const pc = m.compoundPincount(head);
      if (refs !== undefined ? pc !== pins : pc < 0) sink.add('page-pincount', `head ${hex(head)} of ${pgmap.name}: pincount ${pc}, expected ${refs !== undefined ? pins : '>= 0'}`);
    }
  };
  const checkTail = (pgmap: DevPagemap, head: number, pfn: number): void => {
    if (stats) stats.tails++;
    if (!m.PageTail(pfn) || m.compoundHead(pfn) !== head) sink.add('compound-tail', `tail ${hex(pfn)} of ${pgmap.name}: compound_head is ${hex(m.compoundHead(pfn))}, not ${hex(head)}`);
    if (m.PageHead(pfn)) sink.add('compound-tail', `tail ${hex(pfn)} of ${pgmap.name} has PG_head`);
    const rc = m.pageRefCount(pfn);
    if (rc !== 0) sink.add('page-refcount', `tail ${hex(pfn)} of ${pgmap.name}: _refcount ${rc}, expected 0`);
  };
  for (const e of k.pgmaps.entries) {
    const pgmap = e.pgmap;
    const shift = e.shift;
    const nr = 2 ** shift;
    if (stats) {
      stats.pgmaps++;
      stats.ranges += pgmap.ranges.length;
    }
    for (let r = 0; r < pgmap.ranges.length; r++) {
      const first = pfnFirst(k, pgmap, r);
      const end = pfnEnd(k, pgmap, r);
      const count = Math.floor((end - first) / nr);
      const sample = full ? null : cheapSample(count, opts.sampleSeed ?? 0);
      for (let j = 0; j < (sample ? sample.length : count); j++) {
        const head = first + (sample ? sample[j]! : j) * nr;
        if (sink.full) return;
        try {
          checkHead(pgmap, head, shift);
          if (refs?.has(head)) seenHeads.add(head); // only the ledger's heads are looked up again
          if (shift === 0) continue;
          if (full) checkTails(k, sink, pgmap, head, shift, stats);
          else {
            // tails 1, 2 and the last, each once (nr is a power of two >= 2)
            checkTail(pgmap, head, head + 1);
            if (nr > 2) checkTail(pgmap, head, head + 2);
            if (nr > 3) checkTail(pgmap, head, head + nr - 1);
          }
        } catch (err) {
          sink.add('struct-page-readable', `${pgmap.name}: struct page of pfn ${hex(head)} cannot be read: ${(err as Error).message}`);
        }
      }
    }
    if (pgmap.dead) sink.add('pgmap-ref', `${pgmap.name} is in the registry but dead`);
    let bulk = 0;
    for (let r = 0; r < pgmap.ranges.length; r++) bulk += pfnLen(k, pgmap, r);
    // GUP takes and drops its pgmap reference within a call, so a quiescent pgmap holds exactly one per compound page.
    if (pgmap.ref !== bulk) sink.add('pgmap-ref', `${pgmap.name}: ref ${pgmap.ref}, expected ${bulk} (pfn_len)`);
  }
  // Every reference the ledger says is held lands on a head of a live pgmap.
  if (refs) {
    for (const [head, want] of refs) {
      if (want.gets === 0 && want.pins === 0) continue;
      const e = k.pgmaps.find(head);
      if (!e) {
        sink.add('refs-on-dead-pgmap', `${want.gets} gets and ${want.pins} pins are held on pfn ${hex(head)}, which no live pgmap covers`);
        continue;
      }
      if (!seenHeads.has(head)) {
        try {
          checkHead(e.pgmap, head, e.shift);
        } catch (err) {
          sink.add('struct-page-readable', `struct page of pinned pfn ${hex(head)} cannot be read: ${(err as Error).message}`);
        }
      }
    }
  }
}

/** Walks a user page table: table frames (each must be referenced once) and devmap leaves. */
function walkUser(pt: PageTable, owner: string, sink: Sink, tables: Map<number, string>, leaf: (va: number, level: number, lo: number, hi: number) => void): void {
  const arch = pt.arch;
  const last = pt.nrLevels - 1;
  const addTable = (t: number) => {
    if (tables.has(t)) sink.add('user-table-refs', `user table ${hex(t)} of ${owner} is referenced again (also by ${tables.get(t)})`);
    tables.set(t, owner);
  };
  addTable(pt.root);
  const visit = (table: number, level: number, vaBase: number): void => {
    const n = 2 ** arch.levels[level]!.bits;
    const size = pt.levelSize(level);
    for (let i = 0; i < n; i++) {
      const lo = pt.lo(table, i);
      if (!(lo & _PAGE_PRESENT)) continue;
      const hi = pt.hi(table, i);
      const va = vaBase + i * size;
      if (level === last || lo & _PAGE_PSE) leaf(va, level, lo, hi);
      else {
        const t = entryPfn(lo, hi, arch.pageShift);
        addTable(t);
        visit(t, level + 1, va);
      }
    }
  };
  visit(pt.root, 0, 0);
}

function checkUser(k: Kernel, sink: Sink, tasks: readonly Task[], _full: boolean, allTasks: boolean, stats?: SweepStats): Map<number, string> {
  const tables = new Map<number, string>();
  const ps = k.arch.pageSize;
  const refcounted = FAULT_MODELS[k.release.fault].refcounted;
  const devmapBit = k.release.devmapBit;
  /** Folio faults: the leaves that map each folio (by head pfn), to hold against its mapcount. */
  const mappings = new Map<number, number>();
  for (const t of tasks) {
    if (taskExited(t)) continue;
    const owner = `${t.comm}:${t.pid}`;
    if (stats) stats.tasks++;
    walkUser(t.mm.pgd, owner, sink, tables, (va, level, lo, hi) => {
      if (stats) stats.userLeaves++;
      const size = t.mm.pgd.levelSize(level);
      const pfn = entryPfn(lo, hi, k.arch.pageShift);
      // the leaf's name (owner and va) is formatted only inside a failing branch
      // pfn faults leave a devmap leaf (a special one once the devmap bit is gone); folio faults a plain one
      if (refcounted ? (hi & _PAGE_DEVMAP_HI) !== 0 || (lo & _PAGE_SPECIAL) !== 0 : devmapBit ? !(hi & _PAGE_DEVMAP_HI) : !(lo & _PAGE_SPECIAL))
        sink.add('user-leaf-devmap', `${owner} ${hex(va)}: leaf ${hi & _PAGE_DEVMAP_HI ? 'with' : 'without'} _PAGE_DEVMAP, ${lo & _PAGE_SPECIAL ? 'with' : 'without'} _PAGE_SPECIAL, under ${k.release.fault} faults`);
      if (refcounted) {
        const head = k.memmap.compoundHead(pfn);
        mappings.set(head, (mappings.get(head) ?? 0) + 1);
      }
      if (pfn % (size / ps) !== 0) sink.add('user-leaf-align', `${owner} ${hex(va)}: pfn ${hex(pfn)} not aligned to the ${hex(size)} leaf`);
      const vma = t.mm.findVma(va);
      if (!vma || va + size > vma.end) {
        sink.add('user-leaf-vma', `${owner} ${hex(va)}: leaf of ${hex(size)} is not inside a vma`);
        return;
      }
      const dev = vma.file?.privateData as DevDax | undefined;
      if (!dev || !dev.alive) sink.add('user-leaf-dev', `${owner} ${hex(va)}: leaf maps ${dev?.name ?? 'a file'} which is not alive`);
      if (dev && size !== dev.align) sink.add('user-leaf-size', `${owner} ${hex(va)}: leaf of ${hex(size)}, ${dev.name} align ${hex(dev.align)}`);
      const e = k.pgmaps.find(pfn);
      if (!e || e.pgmap.dead) sink.add('user-leaf-pgmap', `${owner} ${hex(va)}: pfn ${hex(pfn)} is in no live pgmap`);
      else {
        if (dev && e.pgmap !== dev.pgmap) sink.add('user-leaf-pgmap', `${owner} ${hex(va)}: pfn ${hex(pfn)} belongs to ${e.pgmap.name}, not ${dev.name}'s pgmap`);
        let inside = false;
        for (let x = 0; x < e.spans.length && !inside; x++) inside = pfn >= e.spans[x]!.startPfn && pfn + size / ps <= e.spans[x]!.endPfn;
        if (!inside) sink.add('user-leaf-pgmap', `${owner} ${hex(va)}: leaf runs past ${e.pgmap.name}`);
      }
      if (dev) {
        const phys = daxPgoffToPhys(dev, vma.pgoffOf(va), size);
        if (phys !== pfn * ps) sink.add('user-leaf-target', `${owner} ${hex(va)}: maps pfn ${hex(pfn)}, file offset says ${phys < 0 ? 'nothing' : hex(phys / ps)}`);
      }
      // a leaf may map a PG_hwpoison folio: device-dax faults it back in (the kernel's fault path never looks)
    });
  }
  // every leaf of a refcounted mapping is one mapcount of its folio (folio_add_file_rmap_pmd/pte)
  if (allTasks)
    for (const [head, n] of mappings) {
      const mc = folioMapcount(k.memmap, head);
      if (mc !== n) sink.add('folio-mapcount', `folio ${hex(head)}: mapcount ${mc}, but ${n} page-table entries map it`);
    }
  return tables;
}

function checkBus(k: Kernel, sink: Sink, bus: DaxBus, stats?: SweepStats): void {
  for (const region of bus.regions.values()) {
    if (stats) {
      stats.daxRegions++;
      stats.daxDevices += region.devices.size;
    }
    let prevEnd = region.start - 1;
    let used = 0;
    for (const c of region.children) {
      if (c.start <= prevEnd || c.end > region.end || c.end < c.start) sink.add('dax-region-children', `${region}: child ${c.name} ${hex(c.start)}-${hex(c.end)} overlaps or leaves the region`);
      prevEnd = c.end;
      used += c.end - c.start + 1;
    }
    if (region.availableSize !== region.size - used) sink.add('dax-region-avail', `${region}: available_size ${region.availableSize}, children leave ${region.size - used}`);
    let devBytes = 0;
    for (const dev of region.devices.values()) {
      devBytes += dev.size;
      for (const r of dev.ranges) if (!region.children.includes(r.res) || r.res.start !== r.start || r.res.end !== r.end) sink.add('dax-dev-range', `${dev.name}: range ${hex(r.start)}-${hex(r.end)} has no matching region child`);
      if (dev.alive !== dev.bound) sink.add('dax-dev-alive', `${dev.name}: alive ${dev.alive} but bound ${dev.bound}`);
      const live = dev.pgmap !== null && k.pgmaps.of(dev.pgmap) !== undefined;
      if (dev.bound && !live) sink.add('dax-dev-pgmap', `${dev.name} is bound but its pgmap is not mapped`);
      if (!dev.bound && live) sink.add('dax-dev-pgmap', `${dev.name} is unbound but its pgmap is still mapped`);
      if (!dev.bound && !region.isStatic && dev.pgmap !== null) sink.add('dax-dev-pgmap', `${dev.name} is unbound but keeps a dynamic pgmap`);
      if (dev.bound && dev.pgmap) {
        const ps = k.arch.pageSize;
        for (const r of dev.ranges)
          if (!dev.pgmap.ranges.some((p) => p.start <= r.start && r.end <= p.end)) sink.add('dax-dev-pgmap', `${dev.name}: range ${hex(r.start)}-${hex(r.end)} is outside its pgmap`);
        if (dev.pgmap.vmemmapShift !== Math.log2(Math.max(dev.align, ps) / ps)) sink.add('dax-dev-pgmap', `${dev.name}: vmemmap_shift ${dev.pgmap.vmemmapShift} for align ${hex(dev.align)}`);
      }
    }
    if (devBytes !== used) sink.add('dax-region-children', `${region}: devices hold ${devBytes} bytes, children ${used}`);
  }
}

/**
 * The DEBUG_VM sweep: every invariant of the simulated machine that must hold
 * between operations. Returns the violations found (empty: all hold). Costs
 * nothing unless called; with `full: false` the per-struct-page checks are
 * sampled (see InvariantOptions) and everything else still runs.
 */
export function checkInvariants(k: Kernel, bus?: DaxBus, tasks: readonly Task[] = [], opts: InvariantOptions = {}): Violation[] {
  // CONFIG_DEBUG_VM's checks look and store nothing: no vmemmap frame gets a copy of its own for being read
  return k.memmap.peek(() => sweep(k, bus, tasks, opts));
}

function sweep(k: Kernel, bus: DaxBus | undefined, tasks: readonly Task[], opts: InvariantOptions): Violation[] {
  const sink = new Sink();
  const stats = opts.stats;
  const scan = scanVmemmap(k, sink);
  if (stats) {
    stats.vmemmapTables += scan.tables.size;
    stats.vmemmapFrames += scan.nFrames;
    for (let r = 0; r < scan.nRuns; r++) stats.vmemmapPages += scan.runLast[r]! - scan.runFirst[r]! + 1;
  }
  const userTables = checkUser(k, sink, tasks, opts.full ?? true, opts.allTasks ?? false, stats);
  checkVmemmapAndBuddy(k, sink, scan, userTables, opts.allTasks ?? false);
  checkSections(k, sink, scan, opts.full ?? true, stats);
  checkStructPages(k, sink, scan, opts);
  if (bus) checkBus(k, sink, bus, stats);
  checkSharedTails(k, (invariant, message) => sink.add(invariant, message));
  return sink.list;
}
