import {
  C,
  type DevPagemap,
  type KernelCore,
  type Memmap,
  NODES_HI_SHIFT,
  TAIL_MAPPING_HI,
  TAIL_MAPPING_LO,
  MEMMAP_INIT,
  VMEMMAP,
  W_HEAD,
  W_MAPCOUNT,
  W_MAPPING,
  W_REFCOUNT,
  ZONES_HI_SHIFT,
  ZONE_DEVICE,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  VMEMMAP_OPTIMIZE_RULE_GATE,
  VMEMMAP_RESERVE_NR,
  archOptimizesDaxVmemmap,
  type VmemAltmap,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  compoundInfoMask,
  CACHE_LINE,
  chargeLines,
  costMark,
  costSince,
  kernelPlatform,
  pageblockNrPages,
  pgmapAltmap,
  structPagesPerPage,
} from '@daxsim/mm';
import type { ArchProfile, DaxVmemmapGate } from '@daxsim/mm';
import { prepCompoundHead, prepCompoundTail } from './compound.js';

// page->lru's next and prev (the words compound_head and, for ZONE_DEVICE pages, pgmap later overlay)
const W_LRU_NEXT = W_HEAD;
const W_LRU_PREV = W_HEAD + 2;

/** enum migratetype (include/linux/mmzone.h) */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;

/** Where pageblock flags live (the section usemap, kept by @daxsim/sparse-vmemmap). */
export interface PageblockFlags {
  // set_pageblock_migratetype()
  setPageblockMigratetype(pfn: number, migratetype: number): void;
  getPageblockMigratetype(pfn: number): number;
}

/** What memmap init needs of the kernel: the core, and optionally the pageblock flags. */
export type MemmapInitKernel = KernelCore & { pageblock?: PageblockFlags };


// __init_single_page(): mm_zero_struct_page, set_page_links, refcount 1, _mapcount -1, INIT_LIST_HEAD(lru)
export function initSinglePage(mm: Memmap, pfn: number, zone: number, nid: number): void {
  mm.zero(pfn);
  mm.setPageLinks(pfn, zone, nid);
  mm.setPageCount(pfn, 1);
  mm.setPageMapcountRaw(pfn, -1);
  mm.initListHeadLru(pfn);
  mm.counters.v[C.struct_pages_initialised]++;
}

// __init_zone_device_page() (seed patch 3)
export function initZoneDevicePage(k: MemmapInitKernel, pfn: number, zone: number, nid: number, pgmap: DevPagemap): void {
  const mm = k.memmap;
  initSinglePage(mm, pfn, zone, nid);
  mm.SetPageReserved(pfn);
  mm.setPagePgmap(pfn, pgmap);
  mm.setZoneDeviceData(pfn, 0, 0);
  if (pfn % pageblockNrPages(k.arch) === 0) k.pageblock?.setPageblockMigratetype(pfn, MIGRATE_MOVABLE);
}

/** Which MMU a ppc64 kernel runs: vmemmap_can_optimize() dedups only under radix (arch/powerpc/mm/book3s64/radix_pgtable.c). */
export type Ppc64Mmu = 'radix' | 'hash';

/**
 * vmemmap_can_optimize(): whether the compound memmap of nrPages-page
 * compound pages shares its tail vmemmap pages, under `rule`:
 * - `seed` (v5.19): pgmap_vmemmap_nr(pgmap) > 1 and no altmap;
 * - `altmap-fix` (87a7ae75d738): also a power-of-two struct page;
 * - `reserve-nr` (v6.6): also more than VMEMMAP_RESERVE_NR vmemmap pages per
 *   compound page, and on ppc64 only with the radix MMU (its override). The
 *   `shared-tail` proposal keeps one vmemmap page, so it needs more than one
 *   (the proposal's own threshold is not confirmed from its source).
 * Built under `gate` (a release's daxVmemmapGate; by default the gate of the
 * kernels that run `rule`): an architecture whose Kconfig does not select it
 * gets the `#else` stub, false (archOptimizesDaxVmemmap()).
 */
export function vmemmapCanOptimize(
  arch: ArchProfile,
  altmap: VmemAltmap | null,
  nrPages: number,
  generation: VmemmapGeneration,
  rule: VmemmapOptimizeRule = DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  ppc64Mmu: Ppc64Mmu = 'radix',
  gate: DaxVmemmapGate = VMEMMAP_OPTIMIZE_RULE_GATE[rule],
): boolean {
  const g = VMEMMAP[generation];
  if (!g.dedup || altmap !== null || nrPages <= 1) return false;
  if (!archOptimizesDaxVmemmap(gate, arch)) return false; // !CONFIG_ARCH_WANT_OPTIMIZE_(DAX_)VMEMMAP
  if (rule === 'seed') return true;
  if ((arch.structPageSize & (arch.structPageSize - 1)) !== 0) return false; // is_power_of_2(sizeof(struct page))
  if (rule === 'altmap-fix') return true;
  if (arch.name.startsWith('ppc64') && ppc64Mmu !== 'radix') return false; // radix__vmemmap_can_optimize override
  // VMEMMAP_RESERVE_NR for tail reuse; a generation that keeps fewer pages needs more than those
  const reserve = Math.min(g.ownPages, VMEMMAP_RESERVE_NR);
  return Math.floor((nrPages * arch.structPageSize) / arch.pageSize) > reserve;
}

/**
 * compound_nr_pages() (seed patch 13): the struct pages memmap init writes
 * per compound page — those in the vmemmap pages that are the compound
 * page's own (2 for tail-reuse, 1 for shared-tail) when tails are shared.
 * Under the `seed` rule it only tests the altmap (so it can exceed nrPages
 * where a compound page's memmap is smaller than two vmemmap pages);
 * 87a7ae75d738 made it follow vmemmap_can_optimize().
 */
export function compoundNrPages(
  arch: ArchProfile,
  altmap: VmemAltmap | null,
  nrPages: number,
  generation: VmemmapGeneration,
  rule: VmemmapOptimizeRule = DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  ppc64Mmu: Ppc64Mmu = 'radix',
  gate: DaxVmemmapGate = VMEMMAP_OPTIMIZE_RULE_GATE[rule],
): number {
  const g = VMEMMAP[generation];
  const own = g.ownPages;
  if (rule === 'seed') return g.dedup && altmap === null && archOptimizesDaxVmemmap(gate, arch) ? own * structPagesPerPage(arch) : nrPages;
  return vmemmapCanOptimize(arch, altmap, nrPages, generation, rule, ppc64Mmu, gate) ? own * structPagesPerPage(arch) : nrPages;
}

/**
 * memmap_init_compound() (seed patch 4), the reference path through the
 * Memmap accessors in the kernel's order. `prepHeadAfter` is the tail after
 * which prep_compound_head() runs: 2 in the seed. Any earlier point (0: before
 * the tails) is the ordering hazard: __init_zone_device_page() of tails 1 and
 * 2 then overwrites the compound order, nr and pincount.
 */
export function memmapInitCompound(
  k: MemmapInitKernel,
  headPfn: number,
  zone: number,
  nid: number,
  pgmap: DevPagemap,
  nrPages: number,
  order: number = pgmap.vmemmapShift,
  prepHeadAfter = k.memmap.layout.prepHeadAfterTail,
  maskTails = k.memmap.layout.tailEncoding === 'mask',
): void {
  const mm = k.memmap;
  mm.SetPageHead(headPfn);
  if (prepHeadAfter <= 0) prepCompoundHead(mm, headPfn, order);
  for (let pfn = headPfn + 1; pfn < headPfn + nrPages; pfn++) {
    initZoneDevicePage(k, pfn, zone, nid, pgmap);
    prepCompoundTail(mm, headPfn, pfn - headPfn, maskTails ? order : -1);
    mm.setPageCount(pfn, 0);
    if (pfn === headPfn + prepHeadAfter) prepCompoundHead(mm, headPfn, order);
  }
  // a kernel that preps the head after every tail, as prep_compound_page() does
  if (prepHeadAfter > 0 && headPfn + prepHeadAfter >= headPfn + nrPages) prepCompoundHead(mm, headPfn, order);
}

/** Which implementation of the memmap init loops to run. */
export type MemmapInitPath = 'fast' | 'reference';

export interface MemmapInitResult {
  /** nr_pages as the kernel logs it (the pfns the call covers). */
  nrPages: number;
  /** __init_zone_device_page calls made (struct pages written). */
  initialised: number;
  /** The modelled kernel's time (cost.ts on the kernel's platform), what the log line prints. */
  ms: number;
  /** The host's JavaScript time for the same call (benchmarks; dmesg --host-time). */
  hostMs: number;
}

/**
 * memmap_init_zone_device() (seed patches 3, 4, 13): initialises the struct
 * pages of [startPfn, startPfn + nrPages) as ZONE_DEVICE pages of `pgmap`,
 * one compound page at a time. With the 'pre-series' generation the memmap is
 * made of base pages whatever the pgmap's vmemmap_shift.
 *
 * The default 'fast' path writes each struct page's words in place through
 * Memmap.locate() (one translation per vmemmap page) with the same result,
 * word for word, as the 'reference' path through the accessors; both count
 * one __init_single_page per struct page and call prep_compound_head() after
 * the second tail.
 */
export function memmapInitZoneDevice(
  k: MemmapInitKernel,
  startPfn: number,
  nrPages: number,
  pgmap: DevPagemap,
  nid: number,
  generation: VmemmapGeneration,
  path: MemmapInitPath = 'fast',
  rule: VmemmapOptimizeRule = DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  ppc64Mmu: Ppc64Mmu = 'radix',
  gate: DaxVmemmapGate = VMEMMAP_OPTIMIZE_RULE_GATE[rule],
): MemmapInitResult {
  const t0 = performance.now();
  const mark = costMark(k.counters);
  const touched0 = k.mem.firstTouches;
  const before = k.counters.v[C.struct_pages_initialised]!;
  const shift = VMEMMAP[generation].compound ? pgmap.vmemmapShift : 0;
  const pfnsPerCompound = 2 ** shift;
  const altmap = pgmapAltmap(pgmap);
  const endPfn = startPfn + nrPages;
  // the pfns that hold the memmap itself were initialised by memmap_init_range()
  if (altmap !== null) {
    startPfn = altmap.basePfn + altmap.reserve + altmap.free;
    nrPages = endPfn - startPfn;
  }
  const nrInit = compoundNrPages(k.arch, altmap, pfnsPerCompound, generation, rule, ppc64Mmu, gate);
  // tails written in the compound_info mask encoding: the kernel's (v7.1 on), or the generation's (built on that series)
  const mask = pfnsPerCompound > 1 && (k.memmap.layout.tailEncoding === 'mask' || VMEMMAP[generation].needsCompoundInfoMask);
  if (path === 'reference' || (pfnsPerCompound > 1 && nrInit < 3)) {
    for (let pfn = startPfn; pfn < endPfn; pfn += pfnsPerCompound) {
      initZoneDevicePage(k, pfn, ZONE_DEVICE, nid, pgmap);
      if (pfnsPerCompound === 1) continue;
      memmapInitCompound(k, pfn, ZONE_DEVICE, nid, pgmap, nrInit, shift, k.memmap.layout.prepHeadAfterTail, mask);
    }
  } else {
    fastInit(k, startPfn, endPfn, pgmap, nid, shift, nrInit, mask);
  }
  k.memmap.refcountEpoch++; // every page's _refcount was (re)written
  const initialised = k.counters.v[C.struct_pages_initialised]! - before;
  chargeMemmapInit(k, startPfn, endPfn, pfnsPerCompound, nrInit, initialised, touched0);
  const hostMs = performance.now() - t0;
  // the kernel prints jiffies_to_msecs(jiffies - start): whole milliseconds
  const ms = costSince(kernelPlatform(k), k.counters, mark).ns / 1e6;
  k.log.info(`memmap_init_zone_device initialised ${nrPages} pages in ${Math.trunc(ms)}ms`, `memmap_init_zone_device initialised ${nrPages} pages in ${Math.round(hostMs)}ms`);
  return { nrPages, initialised, ms, hostMs };
}

/**
 * The memory traffic of the struct pages memmap init wrote, for the cost
 * model, once per call: each struct page is its own 64 B line(s) in the
 * tier of the frame that holds it. The per-page loop stores into them with
 * ordinary stores (each line read for ownership in a sequential stream,
 * dirtied, written back later); Li Zhe's template-nt copies them with
 * streaming stores (no read, written whole), except the pageblock-aligned
 * pfns, which keep a regular memcpy(). Frames of the memmap written for the
 * first time since boot are counted for a VM's host.
 */
function chargeMemmapInit(k: MemmapInitKernel, startPfn: number, endPfn: number, perCompound: number, nrInit: number, written: number, touched0: number): void {
  const v = k.counters.v;
  v[C.frames_first_touched] += k.mem.firstTouches - touched0;
  if (written === 0) return;
  const linesPer = Math.ceil(k.arch.structPageSize / CACHE_LINE);
  const tier = k.memmap.structPageTier(startPfn);
  let regular = written;
  if (MEMMAP_INIT[k.memmapInit ?? k.release.memmapInit].stores === 'streaming') {
    // the pageblock-aligned pfns among those written: per compound page, those in [h, h + nrInit)
    const pb = pageblockNrPages(k.arch);
    const n = perCompound === 1 ? 1 : Math.min(nrInit, perCompound);
    let aligned = 0;
    for (let h = startPfn; h < endPfn; h += perCompound) {
      const last = Math.min(h + n, endPfn) - 1;
      aligned += Math.floor(last / pb) - Math.floor((h - 1) / pb);
      if (perCompound === 1) {
        aligned = Math.floor((endPfn - 1) / pb) - Math.floor((startPfn - 1) / pb);
        break;
      }
    }
    regular = Math.min(aligned, written);
    v[C.struct_pages_template] += written - regular;
    v[C.line_nt_dram + tier] += (written - regular) * linesPer;
  }
  chargeLines(k.counters, tier, regular * linesPer, 0, regular * linesPer);
}

/**
 * Writes the struct page at word i of w with the 16 words of `t`, then
 * replicates it over the next `count - 1` struct pages of the same vmemmap
 * page (copyWithin doubling: every struct page is still written in full).
 */
function writeRun(w: Int32Array, i: number, t: Int32Array, count: number): void {
  for (let j = 0; j < 16; j++) w[i + j] = t[j]!;
  let done = 1;
  while (done < count) {
    const n = Math.min(done, count - done);
    w.copyWithin(i + done * 16, i, i + n * 16);
    done += n;
  }
}

// The memmap_init_zone_device() loop with __init_zone_device_page() and prep_compound_tail() inlined as word stores.
function fastInit(k: MemmapInitKernel, startPfn: number, endPfn: number, pgmap: DevPagemap, nid: number, shift: number, nrInit: number, mask: boolean): void {
  const mm = k.memmap;
  const pfnsPerCompound = 2 ** shift;
  const linksHi = (nid << NODES_HI_SHIFT) | (ZONE_DEVICE << ZONES_HI_SHIFT);
  const [pgLo, pgHi] = k.objects.pointer(pgmap);
  const pbNr = pageblockNrPages(k.arch);
  const pb = k.pageblock;
  const spp = structPagesPerPage(k.arch);
  // the words __init_zone_device_page leaves in a base (or head) page, and in a tail after prep_compound_tail
  const base = new Int32Array(16);
  base[0] = 1 << mm.pg.reserved;
  base[1] = linksHi;
  base[W_HEAD] = pgLo;
  base[W_HEAD + 1] = pgHi;
  base[W_MAPCOUNT] = -1;
  base[W_REFCOUNT] = 1;
  const tail = base.slice();
  tail[W_MAPPING] = TAIL_MAPPING_LO;
  tail[W_MAPPING + 1] = TAIL_MAPPING_HI;
  tail[W_REFCOUNT] = 0;
  // struct pages written, counted as they are written (not from the loop bounds)
  let written = 0;
  if (pfnsPerCompound === 1) {
    // base pages: every struct page alike, so every whole vmemmap page holds the same bytes: stored as
    // one template page (PhysicalMemory.storeTemplate: the frame takes those bytes, and shares one
    // host copy of them until its first store), a partial page word by word
    const page = new Int32Array(spp * 16);
    for (let j = 0; j < spp; j++) page.set(base, j * 16);
    const t = k.mem.internTemplate(page);
    try {
      for (let pfn = startPfn; pfn < endPfn; ) {
        const n = Math.min(endPfn - pfn, spp - (pfn % spp));
        if (n === spp) {
          mm.mmu.storeTemplate(mm.vmemmapPage(pfn), t);
        } else {
          const i = mm.locateW(pfn); // locate before reading mm.w: it sets it
          writeRun(mm.w, i, base, n);
        }
        written += n;
        pfn += n;
      }
    } finally {
      k.mem.dropTemplate(t);
    }
    k.counters.v[C.struct_pages_initialised] += written;
    if (pb !== undefined) for (let pfn = startPfn + ((pbNr - (startPfn % pbNr)) % pbNr); pfn < endPfn; pfn += pbNr) pb.setPageblockMigratetype(pfn, MIGRATE_MOVABLE);
    return;
  }
  const head = base.slice();
  head[0] = (1 << mm.pg.reserved) | (1 << mm.pg.head); // __SetPageHead folded into the head's flags store
  // a vmemmap page of tails, and its last spp - 3 (the head's vmemmap page after tails 1 and 2)
  const page = new Int32Array(spp * 16);
  const rest = page.subarray(0, (spp - 3) * 16);
  const [maskLo, maskHi] = mask ? compoundInfoMask(k.arch, shift) : [0, 0];
  // with the compound_info mask a tail holds no address of its own head: a whole vmemmap page of tails
  // holds the same bytes in every compound page of the device, stored as one template (as base pages'
  // are); with compound_head pointers each compound page's tails differ, and are stored word by word
  let tpl = -1;
  if (mask) {
    tail[W_HEAD] = maskLo;
    tail[W_HEAD + 1] = maskHi;
    writeRun(page, 0, tail, spp);
    tpl = k.mem.internTemplate(page);
  }
  try {
    for (let h = startPfn; h < endPfn; h += pfnsPerCompound) {
      const lo = mask ? maskLo : mm.pageVirtLo(h) | 1; // compound_info mask, or compound_head = head + 1
      const hi = mask ? maskHi : mm.pageVirtHi(h);
      tail[W_HEAD] = lo;
      tail[W_HEAD + 1] = hi;
      writeRun(page, 0, tail, spp); // the template vmemmap page of this compound page's tails
      let i = mm.locateW(h);
      let w = mm.w;
      writeRun(w, i, head, 1);
      if (pb !== undefined && h % pbNr === 0) pb.setPageblockMigratetype(h, MIGRATE_MOVABLE);
      // tails 1 and 2, then prep_compound_head (after tail 2, 1 or every tail: the words it stores, in
      // tails 1 and 2 only, are the same), then the rest
      writeRun(w, i + 16, tail, 2);
      written += 3;
      prepCompoundHead(mm, h, shift);
      const last = h + nrInit;
      for (let pfn = h + 3; pfn < last; ) {
        const n = Math.min(last - pfn, spp - (pfn % spp));
        if (n === spp && tpl >= 0) {
          mm.mmu.storeTemplate(mm.vmemmapPage(pfn), tpl);
          if (pb !== undefined) for (let p = pfn + ((pbNr - (pfn % pbNr)) % pbNr); p < pfn + n; p += pbNr) pb.setPageblockMigratetype(p, MIGRATE_MOVABLE);
          written += n;
          pfn += n;
          continue;
        }
        i = n === spp ? mm.locateWhole(pfn) : mm.locateW(pfn); // a whole vmemmap page of tails is stored next
        w = mm.w;
        if (n === spp) w.set(page, i);
        else if (n === spp - 3) w.set(rest, i);
        else writeRun(w, i, tail, n);
        if (pb !== undefined) for (let p = pfn + ((pbNr - (pfn % pbNr)) % pbNr); p < pfn + n; p += pbNr) pb.setPageblockMigratetype(p, MIGRATE_MOVABLE);
        written += n;
        pfn += n;
      }
    }
  } finally {
    if (tpl >= 0) k.mem.dropTemplate(tpl);
  }
  k.counters.v[C.struct_pages_initialised] += written;
}

// memmap_init_range() for the pfns that hold a device's own memmap (altmap): reserved ZONE_DEVICE pages.
// 'fast' writes each vmemmap page's struct pages as words through one translation; 'reference' goes
// through the accessors, page by page, in the kernel's order. Both write the same words.
export function memmapInitRange(k: MemmapInitKernel, startPfn: number, endPfn: number, nid: number, path: MemmapInitPath = 'fast'): number {
  const mm = k.memmap;
  if (path === 'reference') {
    let n = 0;
    for (let pfn = startPfn; pfn < endPfn; pfn++) {
      initSinglePage(mm, pfn, ZONE_DEVICE, nid);
      mm.SetPageReserved(pfn);
      if (pfn % pageblockNrPages(k.arch) === 0) k.pageblock?.setPageblockMigratetype(pfn, MIGRATE_MOVABLE);
      n++;
    }
    return n;
  }
  const spp = structPagesPerPage(k.arch);
  const pbNr = pageblockNrPages(k.arch);
  // what __init_single_page() and SetPageReserved() leave, but for the lru list head (the page's own address)
  const t = new Int32Array(16);
  t[0] = 1 << mm.pg.reserved;
  t[1] = (nid << NODES_HI_SHIFT) | (ZONE_DEVICE << ZONES_HI_SHIFT);
  t[W_MAPCOUNT] = -1;
  t[W_REFCOUNT] = 1;
  let written = 0;
  for (let pfn = startPfn; pfn < endPfn; ) {
    const n = Math.min(endPfn - pfn, spp - (pfn % spp));
    const i0 = n === spp ? mm.locateWhole(pfn) : mm.locateW(pfn);
    const w = mm.w;
    writeRun(w, i0, t, n);
    for (let j = 0; j < n; j++) {
      // INIT_LIST_HEAD(&page->lru): next and prev point at the list head itself
      const lo = mm.pageVirtLo(pfn + j) + 8;
      const hi = mm.pageVirtHi(pfn + j);
      const i = i0 + j * 16;
      w[i + W_LRU_NEXT] = lo;
      w[i + W_LRU_NEXT + 1] = hi;
      w[i + W_LRU_PREV] = lo;
      w[i + W_LRU_PREV + 1] = hi;
    }
    if (k.pageblock !== undefined) for (let p = pfn + ((pbNr - (pfn % pbNr)) % pbNr); p < pfn + n; p += pbNr) k.pageblock.setPageblockMigratetype(p, MIGRATE_MOVABLE);
    written += n;
    pfn += n;
  }
  k.counters.v[C.struct_pages_initialised] += written;
  mm.refcountEpoch++;
  return written;
}
