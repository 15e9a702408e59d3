import {
  ALL_VMEMMAP_GENERATIONS,
  type ArchProfile,
  C,
  DEFAULT_VMEMMAP_GENERATION,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  type DevPagemap,
  type MemmapInitVariant,
  type MemoryTier,
  type Platform,
  EBUSY,
  ENOMEM,
  EINVAL,
  EOPNOTSUPP,
  VMEMMAP_OPTIMIZE_RULES,
  VMEMMAP_OPTIMIZE_RULE_GATE,
  type DaxVmemmapGate,
  type VmemmapOptimizeRule,
  ENXIO,
  KernelError,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_GENERIC,
  MEMORY_DEVICE_PCI_P2PDMA,
  MEMORY_DEVICE_PRIVATE,
  PGMAP_ALTMAP_VALID,
  type PhysAddrRange,
  type VmemmapGeneration,
  errnoName,
  hex,
  isVmemmapGeneration,
  pagesPerSubsection,
  pgmapAltmap,
  pow2,
  VMEMMAP,
  type KernelRelease,
  takeHwpoisonPages,
} from '@daxsim/mm';
import {
  type MemmapInitPath,
  type PageAllocKernel,
  type Ppc64Mmu,
  compoundNrPages,
  createKernelCore,
  memmapInitRange,
  memmapInitZoneDevice,
  vmemmapCanOptimize,
} from '@daxsim/page-alloc';
import { SparseMem, addPages, isSharedTail, removePages, vmemAltmapOffset } from '@daxsim/sparse-vmemmap';

/** What memremap_pages() measured for one pgmap (counted, never computed). */
export interface MemmapStats {
  /** Frames of struct pages the page allocator handed out. */
  vmemmapDataFrames: number;
  /** Page-table frames of the vmemmap the page allocator handed out. */
  vmemmapPagetableFrames: number;
  /** Device pfns the altmap handed out for struct pages. */
  altmapPfns: number;
  /** __init_single_page calls (struct pages written). */
  structPagesInitialised: number;
  /** Shared tail pages (shared-tail generation) this pgmap's vmemmap maps; counted in vmemmapDataFrames when this pgmap allocated them. */
  sharedTailFrames: number;
  initMs: number;
}

interface PgmapEntry {
  readonly pgmap: DevPagemap;
  readonly generation: VmemmapGeneration;
  /** The vmemmap shift the memmap was built with (0 for 'pre-series'). */
  readonly shift: number;
  readonly nid: number;
  /** Which memmap_init_zone_device() loops build the struct pages ('fast' unless a test asks). */
  readonly initPath: MemmapInitPath;
  /** [startPfn, endPfn) per range */
  readonly spans: { startPfn: number; endPfn: number }[];
  stats: MemmapStats;
}

/** The pgmap registry (the kernel's pgmap_array xarray, keyed by pfn range). */
export class PgmapRegistry {
  readonly entries: PgmapEntry[] = [];
  find(pfn: number): PgmapEntry | undefined {
    for (const e of this.entries) for (const s of e.spans) if (pfn >= s.startPfn && pfn < s.endPfn) return e;
    return undefined;
  }
  of(pgmap: DevPagemap): PgmapEntry | undefined {
    return this.entries.find((e) => e.pgmap === pgmap);
  }
}

export interface Kernel extends PageAllocKernel {
  readonly sparse: SparseMem;
  readonly pageblock: SparseMem;
  readonly pgmaps: PgmapRegistry;
  /** Which vmemmap_can_optimize() this kernel runs (a property of the kernel version, see KERNELS). */
  readonly vmemmapOptimizeRule: VmemmapOptimizeRule;
  /** On ppc64: the MMU the kernel runs under (vmemmap dedup only with radix). */
  readonly ppc64Mmu: Ppc64Mmu;
  /**
   * The Kconfig symbol its vmemmap_can_optimize() is built under: the
   * release's (KernelRelease.daxVmemmapGate) when one is named, else the
   * rule's (VMEMMAP_OPTIMIZE_RULE_GATE).
   */
  readonly daxVmemmapGate: DaxVmemmapGate;
}

export interface CreateKernelOptions {
  arch?: ArchProfile;
  ram: { nid: number; size: number; start?: number }[];
  devices?: { start: number; size: number; name?: string; nid?: number; tier?: MemoryTier }[];
  tlb?: boolean;
  /**
   * The release the kernel runs (a KERNELS row): its struct page layout, and
   * what device-dax's faults and GUP take from it. Default: the seed's (v5.15).
   */
  kernel?: KernelRelease;
  /** The CPU + memory profile modelled times are computed for (default: @daxsim/mm DEFAULT_PLATFORM). */
  platform?: Platform;
  /** How memmap_init_zone_device() writes struct pages (default: the release's, per-page; template-nt is Li Zhe's proposal). */
  memmapInit?: MemmapInitVariant;
  /** vmemmap_can_optimize() rule (default: the kernel's when one is named, else 'reserve-nr', v6.6 and later). */
  vmemmapOptimizeRule?: VmemmapOptimizeRule;
  /** ppc64 only: 'radix' (default) or 'hash'. */
  ppc64Mmu?: Ppc64Mmu;
}

/**
 * Called with every kernel createKernel() boots: how a debug harness (the
 * invariant sweep after each test file) finds the machines a test made.
 * Empty unless something registers.
 */
export const kernelBootHooks: ((k: Kernel) => void)[] = [];

/** Boots a simulated machine with the section table and the pgmap registry. */
export function createKernel(opts: CreateKernelOptions): Kernel {
  const rule = opts.vmemmapOptimizeRule ?? opts.kernel?.vmemmapOptimizeRule ?? DEFAULT_VMEMMAP_OPTIMIZE_RULE;
  if (!(VMEMMAP_OPTIMIZE_RULES as readonly string[]).includes(rule))
    throw new KernelError(EINVAL, `createKernel: vmemmapOptimizeRule '${String(rule)}' is not one of ${VMEMMAP_OPTIMIZE_RULES.join(', ')}`);
  const ppc64Mmu = opts.ppc64Mmu ?? 'radix';
  if (ppc64Mmu !== 'radix' && ppc64Mmu !== 'hash') throw new KernelError(EINVAL, `createKernel: ppc64Mmu '${String(ppc64Mmu)}' is not radix or hash`);
  const core = createKernelCore(opts);
  const sparse = new SparseMem(core.arch);
  const daxVmemmapGate = opts.kernel ? opts.kernel.daxVmemmapGate : VMEMMAP_OPTIMIZE_RULE_GATE[rule];
  const k: Kernel = Object.assign(core, { sparse, pageblock: sparse, pgmaps: new PgmapRegistry(), vmemmapOptimizeRule: rule, ppc64Mmu, daxVmemmapGate });
  for (const hook of kernelBootHooks) hook(k);
  return k;
}

/** A dev_pagemap with the defaults of a zeroed struct. */
export function newDevPagemap(init: Partial<DevPagemap> & { ranges: PhysAddrRange[]; type: number }): DevPagemap {
  return {
    flags: init.altmap ? PGMAP_ALTMAP_VALID : 0,
    vmemmapShift: 0,
    altmap: null,
    ops: null,
    owner: null,
    ref: 0,
    dead: false,
    name: 'pgmap',
    ...init,
  };
}

const PHYS_PFN = (k: Kernel, addr: number): number => Math.floor(addr / k.arch.pageSize);
const rangeLen = (r: PhysAddrRange): number => r.end - r.start + 1;

/** The vmemmap shift the memmap of `pgmap` is built with ('pre-series' builds base pages). */
export function pgmapVmemmapShift(k: Kernel, pgmap: DevPagemap): number {
  const e = k.pgmaps.of(pgmap);
  return e ? e.shift : pgmap.vmemmapShift;
}

/** The generation a live pgmap was mapped with. */
export function pgmapGeneration(k: Kernel, pgmap: DevPagemap): VmemmapGeneration {
  const e = k.pgmaps.of(pgmap);
  if (!e) throw new KernelError(EINVAL, `pgmap ${pgmap.name}: not mapped by memremap_pages`);
  return e.generation;
}

// pfn_first(): the first pfn with a ZONE_DEVICE struct page (after the altmap's own pfns in range 0)
export function pfnFirst(k: Kernel, pgmap: DevPagemap, rangeId: number): number {
  return PHYS_PFN(k, pgmap.ranges[rangeId]!.start) + (rangeId === 0 ? vmemAltmapOffset(pgmapAltmap(pgmap)) : 0);
}
// pfn_end()
export function pfnEnd(k: Kernel, pgmap: DevPagemap, rangeId: number): number {
  const r = pgmap.ranges[rangeId]!;
  return PHYS_PFN(k, r.start + rangeLen(r));
}
// pfn_len(): compound pages in the range (one pgmap reference each)
export function pfnLen(k: Kernel, pgmap: DevPagemap, rangeId: number): number {
  return Math.floor((pfnEnd(k, pgmap, rangeId) - pfnFirst(k, pgmap, rangeId)) / pow2(pgmapVmemmapShift(k, pgmap)));
}
// pfn_next() (seed patch 4): steps by the compound size
export function pfnNext(k: Kernel, pgmap: DevPagemap, pfn: number): number {
  return pfn + pow2(pgmapVmemmapShift(k, pgmap));
}
// for_each_device_pfn(): every head (or base) pfn of every range
export function forEachDevicePfn(k: Kernel, pgmap: DevPagemap, fn: (pfn: number) => void): void {
  const step = pfnNext(k, pgmap, 0);
  for (let i = 0; i < pgmap.ranges.length; i++) {
    const end = pfnEnd(k, pgmap, i);
    for (let pfn = pfnFirst(k, pgmap, i); pfn < end; pfn += step) fn(pfn);
  }
}

function refuse(errno: number, msg: string): never {
  throw new KernelError(errno, `memremap_pages: ${msg}`);
}

// The checks memremap_pages() and pagemap_range() make before changing anything.
function validate(k: Kernel, pgmap: DevPagemap, generation: VmemmapGeneration): void {
  const arch = k.arch;
  if (!isVmemmapGeneration(generation)) refuse(EINVAL, `generation '${String(generation)}' is not one of ${ALL_VMEMMAP_GENERATIONS.join(', ')}`);
  if (k.pgmaps.of(pgmap)) refuse(EBUSY, `pgmap ${pgmap.name} is already mapped`);
  if (!pgmap.ranges || pgmap.ranges.length === 0) refuse(EINVAL, `pgmap ${pgmap.name}: nr_range must be specified`);
  switch (pgmap.type) {
    case MEMORY_DEVICE_PRIVATE:
      if (!pgmap.ops?.pageFree) refuse(EINVAL, `pgmap ${pgmap.name}: MEMORY_DEVICE_PRIVATE needs ops->page_free`);
      if (!pgmap.owner) refuse(EINVAL, `pgmap ${pgmap.name}: MEMORY_DEVICE_PRIVATE needs an owner`);
      break;
    case MEMORY_DEVICE_FS_DAX:
    case MEMORY_DEVICE_GENERIC:
    case MEMORY_DEVICE_PCI_P2PDMA:
      break;
    default:
      refuse(EINVAL, `pgmap ${pgmap.name}: invalid pgmap type ${pgmap.type}`);
  }
  const shift = pgmap.vmemmapShift;
  if (!Number.isInteger(shift) || shift < 0) refuse(EINVAL, `vmemmap_shift ${shift} must be a non-negative integer`);
  const compoundBytes = arch.pageSize * 2 ** shift;
  if (shift > 0 && !arch.devdaxAligns.includes(compoundBytes))
    refuse(EINVAL, `vmemmap_shift ${shift} (${hex(compoundBytes)} bytes) cannot be mapped on ${arch.name} (aligns: ${arch.devdaxAligns.map((a) => hex(a)).join(', ')})`);
  const subsection = pagesPerSubsection(arch) * arch.pageSize;
  const altmap = pgmapAltmap(pgmap);
  if (altmap && pgmap.ranges.length > 1) refuse(EINVAL, `pgmap ${pgmap.name}: altmap not supported for multiple ranges`);
  pgmap.ranges.forEach((r, i) => {
    const name = `range ${i} [${hex(r.start)}-${hex(r.end)}]`;
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || r.end < r.start) refuse(EINVAL, `${name}: start/end are not a range`);
    const len = rangeLen(r);
    if (r.start % subsection !== 0 || len % subsection !== 0) refuse(EINVAL, `${name}: start and size must be aligned to the subsection size ${hex(subsection)}`);
    if (r.start % compoundBytes !== 0 || len % compoundBytes !== 0)
      refuse(EINVAL, `${name}: start and size must be aligned to the compound page size ${hex(compoundBytes)} (vmemmap_shift ${shift})`);
    const dev = k.mem.rangeOf(r.start);
    if (!dev || dev.kind !== 'device' || r.end >= dev.start + dev.size) {
      const what = dev?.kind === 'ram' || (k.mem.rangeOf(r.end)?.kind ?? '') === 'ram' ? 'System RAM' : 'no device memory';
      refuse(ENXIO, `${name}: attempted on ${what} (the range must lie inside one device range)`);
    }
    for (let j = 0; j < i; j++) {
      const o = pgmap.ranges[j]!;
      if (r.start <= o.end && o.start <= r.end) refuse(EINVAL, `${name}: overlaps range ${j} of the same pgmap`);
    }
    const sp = PHYS_PFN(k, r.start);
    const ep = PHYS_PFN(k, r.end + 1);
    for (const e of k.pgmaps.entries)
      for (const s of e.spans)
        // pagemap_range(): WARN "Conflicting mapping in same section" and -ENOMEM (the kernel's errno for this)
        if (sp < s.endPfn && s.startPfn < ep)
          refuse(ENOMEM, `${name}: Conflicting mapping in same section: conflicts with pgmap ${e.pgmap.name} [${hex(s.startPfn * arch.pageSize)}-${hex(s.endPfn * arch.pageSize - 1)}]`);
  });
  if (altmap) {
    const first = PHYS_PFN(k, pgmap.ranges[0]!.start);
    const nr = PHYS_PFN(k, rangeLen(pgmap.ranges[0]!));
    if (altmap.basePfn !== first) refuse(EINVAL, `altmap base_pfn ${hex(altmap.basePfn)} is not the range's first pfn ${hex(first)}`);
    if (altmap.reserve + altmap.free > nr) refuse(EINVAL, `altmap reserve ${altmap.reserve} + free ${altmap.free} exceed the range's ${nr} pfns`);
    if ((altmap.reserve + altmap.free) % 2 ** shift !== 0 && shift > 0 && VMEMMAP[generation].compound)
      refuse(EINVAL, `altmap offset ${altmap.reserve + altmap.free} pfns is not aligned to the compound page size`);
  }
  // The seed's compound_nr_pages() only tests the altmap: where a compound page's memmap is smaller than
  // the vmemmap pages it assumes, memmap init would run past the compound page. Not modelled: refused.
  if (shift > 0 && VMEMMAP[generation].compound && compoundNrPages(arch, altmap, 2 ** shift, generation, k.vmemmapOptimizeRule, k.ppc64Mmu, k.daxVmemmapGate) > 2 ** shift)
    refuse(
      EOPNOTSUPP,
      `vmemmap_shift ${shift}: under the '${k.vmemmapOptimizeRule}' vmemmap_can_optimize rule compound_nr_pages() exceeds the ${2 ** shift} pages of a compound page on ${arch.name} (the kernel overruns; the model does not follow)`,
    );
}

// pagemap_range(): map one range; 0 or -errno with nothing of this range left behind
function pagemapRange(k: Kernel, entry: PgmapEntry, rangeId: number, nid: number): number {
  const pgmap = entry.pgmap;
  const r = pgmap.ranges[rangeId]!;
  const startPfn = PHYS_PFN(k, r.start);
  const nrPages = PHYS_PFN(k, rangeLen(r));
  const altmap = pgmapAltmap(pgmap);
  const compound = entry.shift > 0 && vmemmapCanOptimize(k.arch, altmap, 2 ** entry.shift, entry.generation, k.vmemmapOptimizeRule, k.ppc64Mmu, k.daxVmemmapGate);
  // xa_store_range(&pgmap_array, ...)
  entry.spans.push({ startPfn, endPfn: startPfn + nrPages });
  // arch_add_memory() → __add_pages() (add_pages() for DEVICE_PRIVATE: no direct map either way in the model)
  const err = addPages(k, nid, startPfn, nrPages, {
    altmap,
    pgmap: { pgmap, rangeStartPfn: startPfn, compound, pmdReuse: VMEMMAP[entry.generation].pmdReuse, sharedTail: VMEMMAP[entry.generation].sharedTail },
  });
  if (err < 0) {
    entry.spans.pop();
    return err;
  }
  // move_pfn_range_to_zone() → memmap_init_range(): the pfns that hold the memmap itself
  if (altmap && rangeId === 0) memmapInitRange(k, altmap.basePfn + altmap.reserve, altmap.basePfn + vmemAltmapOffset(altmap), nid, entry.initPath);
  const res = memmapInitZoneDevice(k, startPfn, nrPages, pgmap, nid, entry.generation, entry.initPath, k.vmemmapOptimizeRule, k.ppc64Mmu, k.daxVmemmapGate);
  entry.stats.initMs += res.ms;
  // percpu_ref_get_many(&pgmap->ref, pfn_len(pgmap, range_id)): one reference per compound page
  pgmap.ref += pfnLen(k, pgmap, rangeId);
  return 0;
}

// pageunmap_range()
function pageunmapRange(k: Kernel, pgmap: DevPagemap, rangeId: number): void {
  const r = pgmap.ranges[rangeId]!;
  removePages(k, PHYS_PFN(k, r.start), PHYS_PFN(k, rangeLen(r)), pgmapAltmap(pgmap));
}

/**
 * memremap_pages(): builds the memmap of every range of `pgmap` (sections,
 * vmemmap, struct pages) and takes one pgmap reference per compound page.
 * Throws KernelError on a refusal (nothing changed) or on -ENOMEM (everything
 * taken is given back first).
 */
export function memremapPages(k: Kernel, pgmap: DevPagemap, nid: number, opts: { generation?: VmemmapGeneration; initPath?: MemmapInitPath } = {}): void {
  const generation = opts.generation ?? DEFAULT_VMEMMAP_GENERATION;
  validate(k, pgmap, generation);
  if (nid < 0 || !k.buddy.nids.includes(nid)) nid = k.buddy.nids[0] ?? 0; // numa_mem_id()
  const b = k.buddy;
  const before = {
    data: b.framesInUse('vmemmap_data'),
    pt: b.framesInUse('vmemmap_pagetable'),
    init: k.counters.v[C.struct_pages_initialised]!,
    altmap: pgmapAltmap(pgmap)?.alloc ?? 0,
  };
  const entry: PgmapEntry = {
    pgmap,
    generation,
    shift: VMEMMAP[generation].compound ? pgmap.vmemmapShift : 0,
    nid,
    initPath: opts.initPath ?? 'fast',
    spans: [],
    stats: { vmemmapDataFrames: 0, vmemmapPagetableFrames: 0, altmapPfns: 0, structPagesInitialised: 0, sharedTailFrames: 0, initMs: 0 },
  };
  k.pgmaps.entries.push(entry);
  const deadBefore = pgmap.dead;
  pgmap.dead = false;
  const refBefore = pgmap.ref;
  for (let i = 0; i < pgmap.ranges.length; i++) {
    const err = pagemapRange(k, entry, i, nid);
    if (err < 0) {
      // memunmap_pages() of the ranges already mapped
      pgmap.ref = refBefore;
      pgmap.dead = deadBefore; // a failed call leaves no trace, even on a pgmap mapped and unmapped before
      for (let j = i - 1; j >= 0; j--) pageunmapRange(k, pgmap, j);
      k.pgmaps.entries.splice(k.pgmaps.entries.indexOf(entry), 1);
      throw new KernelError(-err, `memremap_pages: ${pgmap.name} range ${i} [${hex(pgmap.ranges[i]!.start)}-${hex(pgmap.ranges[i]!.end)}]: ${errnoName(err)} building the memmap`);
    }
  }
  entry.stats = {
    vmemmapDataFrames: b.framesInUse('vmemmap_data') - before.data,
    vmemmapPagetableFrames: b.framesInUse('vmemmap_pagetable') - before.pt,
    altmapPfns: (pgmapAltmap(pgmap)?.alloc ?? 0) - before.altmap,
    structPagesInitialised: k.counters.v[C.struct_pages_initialised]! - before.init,
    sharedTailFrames: countSharedTails(k, entry),
    initMs: entry.stats.initMs,
  };
}

// The distinct shared tail frames the vmemmap of a pgmap maps: one translation per compound page's second vmemmap page.
function countSharedTails(k: Kernel, e: PgmapEntry): number {
  if (!VMEMMAP[e.generation].sharedTail || e.shift === 0) return 0;
  const spp = k.arch.pageSize / k.arch.structPageSize;
  const nr = 2 ** e.shift;
  if (nr <= spp) return 0;
  const seen = new Set<number>();
  for (const s of e.spans) for (let h = s.startPfn; h < s.endPfn; h += nr) {
    const f = k.mmu.resolveFrame((h + spp) / spp);
    if (isSharedTail(k, f)) seen.add(f);
  }
  return seen.size;
}

/**
 * memunmap_pages(): kills the pgmap, drops the references memremap_pages()
 * took, and tears every range down. Refused with -EBUSY while references
 * beyond those are held (the kernel would wait for them forever).
 */
export function memunmapPages(k: Kernel, pgmap: DevPagemap): void {
  const e = k.pgmaps.of(pgmap);
  if (!e) throw new KernelError(EINVAL, `memunmap_pages: pgmap ${pgmap.name} is not mapped`);
  let bulk = 0;
  for (let i = 0; i < pgmap.ranges.length; i++) bulk += pfnLen(k, pgmap, i);
  if (pgmap.ref !== bulk)
    throw new KernelError(EBUSY, `memunmap_pages: pgmap ${pgmap.name} still has ${pgmap.ref - bulk} references beyond its ${bulk} page references`);
  pgmap.dead = true; // percpu_ref_kill()
  pgmap.ref -= bulk; // percpu_ref_put_many() per range; wait_for_completion(&pgmap->done)
  for (let i = 0; i < pgmap.ranges.length; i++) {
    // clear_hwpoisoned_pages() (sparse_remove_section): a release that has it takes the
    // range's PG_hwpoison pages off num_poisoned_pages (6.1 measured; 7.3 keeps them counted)
    const gone = takeHwpoisonPages(k, pfnFirst(k, pgmap, i), pfnEnd(k, pgmap, i)).length;
    if (k.release.hwpoisonDroppedAtRemove) k.counters.v[C.num_poisoned_pages]! -= gone;
    pageunmapRange(k, pgmap, i);
  }
  k.pgmaps.entries.splice(k.pgmaps.entries.indexOf(e), 1); // pgmap_array_delete()
  const altmap = pgmapAltmap(pgmap);
  if (altmap && altmap.alloc !== 0) k.log.warn(`WARNING: memunmap_pages: failed to free all reserved pages (${altmap.alloc})`);
}

/** get_dev_pagemap(): the live pgmap that covers pfn, with a reference taken; null if none. */
export function getDevPagemap(k: Kernel, pfn: number): DevPagemap | null {
  const e = k.pgmaps.find(pfn);
  if (!e || e.pgmap.dead) return null; // percpu_ref_tryget_live()
  e.pgmap.ref++;
  k.counters.v[C.pgmap_ref_get]++;
  return e.pgmap;
}

/** put_dev_pagemap() */
export function putDevPagemap(k: Kernel, pgmap: DevPagemap): void {
  if (pgmap.ref <= 0) throw new KernelError(EINVAL, `put_dev_pagemap: ${pgmap.name} reference count underflow`);
  pgmap.ref--;
  k.counters.v[C.pgmap_ref_put]++;
}

/** What memremap_pages() measured for a live pgmap. */
export function memmapStats(k: Kernel, pgmap: DevPagemap): MemmapStats {
  const e = k.pgmaps.of(pgmap);
  if (!e) throw new KernelError(EINVAL, `memmap_stats: pgmap ${pgmap.name} is not mapped`);
  return { ...e.stats };
}

/** pgmap_pfn_valid(): pfn lies in one of the pgmap's ranges, at or after pfn_first. */
export function pgmapPfnValid(k: Kernel, pgmap: DevPagemap, pfn: number): boolean {
  for (let i = 0; i < pgmap.ranges.length; i++) if (pfn >= pfnFirst(k, pgmap, i) && pfn < pfnEnd(k, pgmap, i)) return true;
  return false;
}


