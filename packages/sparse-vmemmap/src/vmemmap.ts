import {
  C,
  type DevPagemap,
  EEXIST,
  EINVAL,
  ENOMEM,
  KernelError,
  PAGE_KERNEL_LO,
  PAGE_KERNEL_RO_LO,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_TABLE_LO,
  type PageTable,
  type VmemAltmap,
  entryPfn,
  hex,
  mkEntryHi,
  mkEntryLo,
  pagesPerSection,
  pagesPerSubsection,
  pgmapVmemmapNr,
  pmdSize,
  pow2,
} from '@daxsim/mm';
import { type PageAllocKernel, initCompoundTailFrame } from '@daxsim/page-alloc';

/** What vmemmap population works on: the core with its buddy allocator. */
export type VmemmapKernel = PageAllocKernel;

/** The pgmap context of a hot-add (patch 9's pgmap argument, plus the model's generation choice). */
export interface VmemmapPgmapCtx {
  readonly pgmap: DevPagemap;
  /** PHYS_PFN(pgmap->ranges[pgmap->nr_range].start): the range being added. */
  readonly rangeStartPfn: number;
  /** Dedup tail vmemmap pages (vmemmap_can_optimize). */
  readonly compound: boolean;
  /** Seed patch 14: reuse PTE tables of tail entries across a compound page larger than a section. */
  readonly pmdReuse: boolean;
  /** The shared-tail proposal: tails map the zone's shared tail page read-only. */
  readonly sharedTail?: boolean;
}

// vmem_altmap_offset(), vmem_altmap_next_pfn(), vmem_altmap_nr_free()
export const vmemAltmapOffset = (a: VmemAltmap | null): number => (a === null ? 0 : a.reserve + a.free);
const vmemAltmapNextPfn = (a: VmemAltmap): number => a.basePfn + a.reserve + a.alloc + a.align;
const vmemAltmapNrFree = (a: VmemAltmap): number => Math.max(0, a.free - (a.alloc + a.align));

// Fault injection (fail_page_alloc for the altmap): per kernel, the n-th altmap allocation from now fails.
const altmapFailCountdown = new WeakMap<object, number>();

/** Arms altmap fault injection: the n-th altmap_alloc_block_buf() on this kernel from now (1 = the next) fails with -ENOMEM; 0 disarms. */
export function failNthAltmap(k: VmemmapKernel, n: number): void {
  if (n > 0) altmapFailCountdown.set(k, n);
  else altmapFailCountdown.delete(k);
}

/** Read-only: the armed altmap countdown (0 = disarmed or already fired). */
export function altmapFailPending(k: VmemmapKernel): number {
  return altmapFailCountdown.get(k) ?? 0;
}

// altmap_alloc_block_buf(): nr_pfns device pfns naturally aligned to the largest power of two dividing nr_pfns
export function altmapAllocBlockBuf(k: VmemmapKernel, nrPfns: number, altmap: VmemAltmap): number {
  const armed = altmapFailCountdown.get(k);
  if (armed !== undefined) {
    if (armed <= 1) {
      altmapFailCountdown.delete(k);
      k.counters.v[C.pgalloc_fail]++;
      return -ENOMEM;
    }
    altmapFailCountdown.set(k, armed - 1);
  }
  const pfn = vmemAltmapNextPfn(altmap);
  const alignTo = nrPfns & -nrPfns;
  const nrAlign = (alignTo - (pfn % alignTo)) % alignTo;
  if (nrPfns + nrAlign > vmemAltmapNrFree(altmap)) return -ENOMEM;
  altmap.alloc += nrPfns;
  altmap.align += nrAlign;
  k.counters.v[C.altmap_pfns_alloc] += nrPfns;
  return pfn + nrAlign;
}

// vmem_altmap_free(): gives back the last pfns; the frames' contents are dropped
export function vmemAltmapFree(k: VmemmapKernel, altmap: VmemAltmap, pfn: number, nrPfns: number): void {
  altmap.alloc -= nrPfns;
  if (altmap.alloc === 0) altmap.align = 0;
  for (let i = 0; i < nrPfns; i++) k.mem.discard(pfn + i);
  k.counters.v[C.altmap_pfns_free] += nrPfns;
}

// vmemmap_alloc_block_buf(): from the altmap when there is one, else from the page allocator
export function vmemmapAllocBlockBuf(k: VmemmapKernel, order: number, nid: number, altmap: VmemAltmap | null): number {
  if (altmap !== null) return altmapAllocBlockBuf(k, pow2(order), altmap);
  return k.buddy.allocPages(order, nid, 'vmemmap_data');
}

// pte_pfn() for the hot loops: the pfn of an entry's [lo, hi] words (same result as mm's entryPfn)
const ptePfn = (lo: number, hi: number, shift: number): number => entryPfn(lo, hi, shift);

const ptOf = (k: VmemmapKernel): PageTable => k.mmu.pgtable;

// One page-table entry as two 32-bit halves and as the 64-bit word they make (same bytes).
const pteWords = new Int32Array(2);
const pteWord = new BigInt64Array(pteWords.buffer);

/** The window address of pfn's struct page (pfn_to_page). */
export const pfnToVmemmap = (k: VmemmapKernel, pfn: number): number => k.mmu.vmemmapVa(pfn);

/**
 * The PTE table the last PTE run of one populate call found, and the PMD span
 * (addr / PMD_SIZE) it maps. Within one vmemmap_populate_*() call only PTEs
 * change between runs, so a run in the same span skips the walk from the pgd
 * (the walk, and any table it allocates, happens once per PTE table).
 */
interface PteCursor {
  span: number;
  table: number;
  /** In a table this call allocated: the first index from which every entry is still none (-1: not known). */
  noneFrom: number;
}
const newPteCursor = (): PteCursor => ({ span: -1, table: 0, noneFrom: -1 });

/**
 * vmemmap_pte_populate() for a run of PTEs inside one PTE table: every none
 * PTE of [addr, end) maps a fresh page (reuse < 0) or `reuse` (get_page). The
 * run must not cross a PMD. Returns the pfn the first PTE maps, or -ENOMEM.
 */
function vmemmapPteRun(
  k: VmemmapKernel,
  addr: number,
  end: number,
  nid: number,
  altmap: VmemAltmap | null,
  reuse: number,
  cur: PteCursor | null = null,
  prot: number = PAGE_KERNEL_LO,
): number {
  const pt = ptOf(k);
  const pteLevel = k.arch.pteLevel;
  const span = Math.floor(addr / pt.levelSize(k.arch.pmdLevel));
  const idx0 = pt.index(addr, pteLevel);
  const ps = k.arch.pageSize;
  const n = Math.ceil((end - addr) / ps); // the kernel loops addr += PAGE_SIZE while addr < end: a range inside one page is one PTE
  let table: number;
  let fresh = false; // every entry of [idx0, idx0 + n) is none: a PTE table this call allocated, not yet written there
  if (cur !== null && cur.span === span) {
    table = cur.table;
    fresh = cur.noneFrom >= 0 && idx0 >= cur.noneFrom;
  } else {
    k.ptNid = nid;
    table = pt.populate(addr, pteLevel); // vmemmap_pgd/p4d/pud/pmd_populate
    if (table < 0) return table === -EEXIST ? -EINVAL : -ENOMEM;
    fresh = pt.wMade > 0;
    if (cur !== null) {
      cur.span = span;
      cur.table = table;
      cur.noneFrom = fresh ? 0 : -1;
    }
  }
  // runs go up the table: what this one writes is no longer none
  if (cur !== null && cur.noneFrom >= 0 && idx0 + n > cur.noneFrom) cur.noneFrom = idx0 + n;
  const shift = k.arch.pageShift;
  let first = -1;
  let shared = 0;
  const lo = reuse >= 0 ? mkEntryLo(reuse, shift, prot) : 0;
  const hi = reuse >= 0 ? mkEntryHi(reuse, shift, 0) : 0;
  const m = k.mem;
  const slot = m.frameSlot(table);
  const w = m.slabI32[slot >>> m.slabShift]!;
  const base = m.slotWord(slot);
  if (reuse >= 0 && n > 1) {
    // a run of shared PTEs with none present yet: one entry, then copied over the run
    const w0 = base + idx0 * 2;
    let none = true;
    if (!fresh) for (let j = 0; j < n; j++) if (w[w0 + j * 2]! & _PAGE_PRESENT) { none = false; break; }
    if (none) {
      // the entry as one 64-bit word (its two halves laid out as the table holds them), stored n times
      pteWords[0] = lo;
      pteWords[1] = hi;
      m.slabI64[slot >>> m.slabShift]!.fill(pteWord[0]!, w0 >>> 1, (w0 >>> 1) + n);
      k.buddy.getPages(reuse, n); // get_page(reuse) per PTE: the shared frame is freed with its last PTE
      k.counters.v[C.vmemmap_ptes_shared] += n;
      return reuse;
    }
  }
  for (let j = 0; j < n; j++) {
    const wi = base + (idx0 + j) * 2;
    const cur = w[wi]!;
    if (cur & _PAGE_PRESENT) {
      if (first < 0) first = entryPfn(cur, w[wi + 1]!, shift);
      continue;
    }
    if (reuse >= 0) {
      // get_page(reuse): the shared frame is freed with its last PTE
      w[wi] = lo;
      w[wi + 1] = hi;
      shared++;
      if (first < 0) first = reuse;
      continue;
    }
    const p = vmemmapAllocBlockBuf(k, 0, nid, altmap);
    if (p < 0) return -ENOMEM;
    w[wi] = mkEntryLo(p, shift, PAGE_KERNEL_LO);
    w[wi + 1] = mkEntryHi(p, shift, 0);
    if (first < 0) first = p;
  }
  if (shared > 0) {
    k.buddy.getPages(reuse, shared);
    k.counters.v[C.vmemmap_ptes_shared] += shared;
  }
  return first;
}

// vmemmap_populate_address() (seed patch 10): one PTE; returns the pfn it maps (pte_page) or -ENOMEM
export function vmemmapPopulateAddress(k: VmemmapKernel, addr: number, nid: number, altmap: VmemAltmap | null, reuse = -1): number {
  return vmemmapPteRun(k, addr, addr + k.arch.pageSize, nid, altmap, reuse);
}

// vmemmap_populate_range() (seed patch 12): every PTE of [start, end) maps `reuse` (or a fresh page when reuse < 0)
export function vmemmapPopulateRange(k: VmemmapKernel, start: number, end: number, nid: number, altmap: VmemAltmap | null, reuse: number): number {
  return populateRange(k, start, end, nid, altmap, reuse, null);
}

function populateRange(
  k: VmemmapKernel,
  start: number,
  end: number,
  nid: number,
  altmap: VmemAltmap | null,
  reuse: number,
  cur: PteCursor | null,
  prot: number = PAGE_KERNEL_LO,
): number {
  const pmd = ptOf(k).levelSize(k.arch.pmdLevel);
  for (let addr = start; addr < end; ) {
    const next = Math.min(end, addr - (addr % pmd) + pmd);
    const r = vmemmapPteRun(k, addr, next, nid, altmap, reuse, cur, prot);
    if (r < 0) return r;
    addr = next;
  }
  return 0;
}

// vmemmap_populate_basepages()
export function vmemmapPopulateBasepages(k: VmemmapKernel, start: number, end: number, nid: number, altmap: VmemAltmap | null): number {
  return vmemmapPopulateRange(k, start, end, nid, altmap, -1);
}

/** How a PMD-mapped profile's vmemmap_populate() treats a PMD (its kernel source, Linux 5.15). */
type HugepagesFlavour = 'x86' | 'arm64' | 'ppc64';

function hugepagesFlavour(k: VmemmapKernel): HugepagesFlavour {
  const name = k.arch.name;
  if (name.startsWith('arm64')) return 'arm64';
  if (name.startsWith('ppc64')) return 'ppc64';
  return 'x86';
}

// altmap_cross_boundary() (arch/powerpc/mm/init_64.c): the pfns whose struct
// pages the block at `addr` holds are not all inside the altmap's range.
function altmapCrossBoundary(k: VmemmapKernel, altmap: VmemAltmap, addr: number, size: number): boolean {
  const startPfn = (addr - k.mmu.vmemmapOffset) / k.arch.structPageSize;
  const nrPfn = size / k.arch.structPageSize;
  return startPfn + nrPfn > altmap.endPfn || startPfn < altmap.basePfn;
}

/**
 * The PMD-block form of vmemmap_populate(), per profile (Linux 5.15):
 * - x86-64, vmemmap_populate_hugepages() (arch/x86/mm/init_64.c): an empty
 *   PMD gets a PMD block (from the altmap if any); when that fails, -ENOMEM
 *   with an altmap, else base pages without the altmap; a PMD that already
 *   holds a PTE table gets base pages without the altmap
 *   (vmemmap_populate_basepages(addr, next, node, NULL)); a PMD block is
 *   verified and kept.
 * - arm64 4K, vmemmap_populate() under ARM64_KERNEL_USES_PMD_MAPS
 *   (arch/arm64/mm/mmu.c): an empty PMD gets a PMD block; when that fails,
 *   base pages *with* the altmap; any present PMD is only verified.
 * - ppc64 radix, vmemmap_populate() (arch/powerpc/mm/init_64.c): one
 *   mmu_vmemmap_psize (2 MiB) block per PMD not yet populated; from the
 *   altmap unless the block would describe pfns outside it
 *   (altmap_cross_boundary), falling back to system memory when the altmap
 *   allocation fails; no base-page fallback. The kernel's
 *   vmemmap_populated() looks at the subsection map; the model looks at the
 *   PMD (the same thing here: nothing else maps the vmemmap on ppc64).
 */
export function vmemmapPopulateHugepages(k: VmemmapKernel, start: number, end: number, nid: number, altmap: VmemAltmap | null): number {
  const flavour = hugepagesFlavour(k);
  const pt = ptOf(k);
  const pmdLevel = k.arch.pmdLevel;
  const pmd = pmdSize(k.arch);
  const order = k.arch.pmdShift - k.arch.pageShift;
  const shift = k.arch.pageShift;
  for (let addr = start; addr < end; ) {
    const blockStart = addr - (addr % pmd);
    const next = Math.min(end, blockStart + pmd);
    k.ptNid = nid;
    const table = pt.populate(addr, pmdLevel);
    if (table < 0) return -ENOMEM;
    const idx = pt.wIndex;
    const lo = pt.lo(table, idx);
    if (!(lo & _PAGE_PRESENT)) {
      let p = -ENOMEM;
      if (flavour === 'ppc64') {
        if (altmap !== null && !altmapCrossBoundary(k, altmap, blockStart, pmd)) p = vmemmapAllocBlockBuf(k, order, nid, altmap);
        if (p < 0) p = vmemmapAllocBlockBuf(k, order, nid, null); // "falling back to system memory"
        if (p < 0) return -ENOMEM;
      } else {
        p = vmemmapAllocBlockBuf(k, order, nid, altmap);
      }
      if (p >= 0) {
        pt.setEntry(table, idx, mkEntryLo(p, shift, PAGE_KERNEL_LO | _PAGE_PSE), mkEntryHi(p, shift, 0), addr, pmdLevel);
        addr = next;
        continue;
      }
      if (flavour === 'arm64') {
        const r = vmemmapPopulateBasepages(k, addr, next, nid, altmap);
        if (r < 0) return r;
      } else {
        if (altmap !== null) return -ENOMEM; // x86: no fallback from an altmap
        const r = vmemmapPopulateBasepages(k, addr, next, nid, null);
        if (r < 0) return r;
      }
    } else if (!(lo & _PAGE_PSE) && flavour === 'x86') {
      // x86 only: a PTE table already there gets base pages, without the altmap.
      const r = vmemmapPopulateBasepages(k, addr, next, nid, null);
      if (r < 0) return r;
    }
    addr = next;
  }
  return 0;
}

// vmemmap_populate() (arch/x86/mm/init_64.c): base pages (and no altmap) below a section's worth of memmap, else PMDs
export function vmemmapPopulate(k: VmemmapKernel, start: number, end: number, nid: number, altmap: VmemAltmap | null): number {
  const x86 = k.arch.name.startsWith('x86_64');
  if (x86 && end - start < pagesPerSection(k.arch) * k.arch.structPageSize) return vmemmapPopulateBasepages(k, start, end, nid, null);
  if (k.arch.vmemmapPmdMapped) return vmemmapPopulateHugepages(k, start, end, nid, altmap);
  return vmemmapPopulateBasepages(k, start, end, nid, altmap);
}

// reuse_compound_section(): a section inside a compound page that began in an earlier section
export function reuseCompoundSection(k: VmemmapKernel, startPfn: number, ctx: VmemmapPgmapCtx): boolean {
  const nr = pgmapVmemmapNr(ctx.pgmap);
  const offset = startPfn - ctx.rangeStartPfn;
  return offset % nr !== 0 && nr > pagesPerSubsection(k.arch);
}

// compound_section_tail_page(): the page the PTE before `addr` maps (the previous section's tail vmemmap page)
export function compoundSectionTailPage(k: VmemmapKernel, addr: number): number {
  const pt = ptOf(k);
  const level = pt.walk(addr - k.arch.pageSize);
  if (level !== k.arch.pteLevel || !(pt.wLo & _PAGE_PRESENT)) return -ENOMEM;
  return entryPfn(pt.wLo, pt.wHi, k.arch.pageShift);
}

// compound_section_tail_huge_page() (seed patch 14): the PTE table of the previous section, once it holds only tails
export function compoundSectionTailHugePage(k: VmemmapKernel, addr: number, offset: number, ctx: VmemmapPgmapCtx): number {
  const pt = ptOf(k);
  const level = pt.walk(addr - k.arch.pageSize);
  if (level < k.arch.pmdLevel) return -ENOMEM;
  if (offset % pgmapVmemmapNr(ctx.pgmap) > pagesPerSection(k.arch)) {
    const pmdTable = pt.pathTable[k.arch.pmdLevel]!;
    const idx = pt.index(addr - k.arch.pageSize, k.arch.pmdLevel);
    const lo = pt.lo(pmdTable, idx);
    if (!(lo & _PAGE_PRESENT) || lo & _PAGE_PSE) return -ENOMEM;
    return entryPfn(lo, pt.hi(pmdTable, idx), k.arch.pageShift);
  }
  return -1; // no reusable PMD: fall back to the PTE tail page
}

// vmemmap_populate_pmd_range() (seed patch 14): every PMD of [start, end) points at the PTE table `table` (get_page)
export function vmemmapPopulatePmdRange(k: VmemmapKernel, start: number, end: number, nid: number, table: number): number {
  const pt = ptOf(k);
  const pmdLevel = k.arch.pmdLevel;
  const shift = k.arch.pageShift;
  for (let addr = start; addr < end; addr += pmdSize(k.arch)) {
    k.ptNid = nid;
    const t = pt.populate(addr, pmdLevel);
    if (t < 0) return -ENOMEM;
    const idx = pt.wIndex;
    if (pt.lo(t, idx) & _PAGE_PRESENT) continue;
    k.buddy.getPage(table);
    pt.setEntry(t, idx, mkEntryLo(table, shift, _PAGE_TABLE_LO), mkEntryHi(table, shift, 0), addr, pmdLevel);
  }
  return 0;
}

// vmemmap_populate_compound_pages() (seed patches 12 and 14)
export function vmemmapPopulateCompoundPages(k: VmemmapKernel, startPfn: number, start: number, end: number, nid: number, ctx: VmemmapPgmapCtx): number {
  const ps = k.arch.pageSize;
  const sectionMemmap = pagesPerSection(k.arch) * k.arch.structPageSize;
  if (reuseCompoundSection(k, startPfn, ctx)) {
    const offset = startPfn - ctx.rangeStartPfn;
    // PMD reuse needs whole PMDs of vmemmap per section
    if (ctx.pmdReuse && sectionMemmap % pmdSize(k.arch) === 0 && start % pmdSize(k.arch) === 0 && (end - start) % pmdSize(k.arch) === 0) {
      const hpage = compoundSectionTailHugePage(k, start, offset, ctx);
      if (hpage === -ENOMEM) return -ENOMEM;
      if (hpage >= 0) return vmemmapPopulatePmdRange(k, start, end, nid, hpage);
    }
    const page = compoundSectionTailPage(k, start);
    if (page < 0) return -ENOMEM;
    // reuse the page populated in the previous section, which holds only tail struct pages
    return vmemmapPopulateRange(k, start, end, nid, null, page);
  }
  const size = Math.min(end - start, pgmapVmemmapNr(ctx.pgmap) * k.arch.structPageSize);
  const cur = newPteCursor(); // one walk per PTE table, not per compound page
  for (let addr = start; addr < end; addr += size) {
    // the head vmemmap page: the head and the first tails
    let r = vmemmapPteRun(k, addr, addr + ps, nid, null, -1, cur);
    if (r < 0) return r;
    // the tail vmemmap page, reused for the rest of the compound page
    const block = vmemmapPteRun(k, addr + ps, addr + 2 * ps, nid, null, -1, cur);
    if (block < 0) return block;
    r = populateRange(k, addr + 2 * ps, addr + size, nid, null, block, cur);
    if (r < 0) return r;
  }
  return 0;
}

/** One shared tail page: the zone (ZONE_DEVICE of `nid`) and order it serves, and its frame. */
export interface SharedTail {
  readonly nid: number;
  readonly order: number;
  readonly pfn: number;
}

// zone->vmemmap_tails[order] per kernel, keyed nid * 64 + order, and the reverse map frame -> key
const sharedTailsOf = new WeakMap<object, { byKey: Map<number, number>; byPfn: Map<number, number> }>();
const tailsOf = (k: VmemmapKernel) => {
  let t = sharedTailsOf.get(k);
  if (t === undefined) sharedTailsOf.set(k, (t = { byKey: new Map(), byPfn: new Map() }));
  return t;
};

/** The shared tail pages in use (for sweeps and drawings). */
export function sharedTails(k: VmemmapKernel): SharedTail[] {
  const out: SharedTail[] = [];
  for (const [key, pfn] of tailsOf(k).byKey) out.push({ nid: Math.floor(key / 64), order: key % 64, pfn });
  return out;
}

/** Whether frame `pfn` is a shared tail page. */
export function isSharedTail(k: VmemmapKernel, pfn: number): boolean {
  return sharedTailsOf.get(k)?.byPfn.has(pfn) ?? false;
}

// A frame the vmemmap stops mapping is freed: if it was a shared tail, the zone forgets it.
function forgetSharedTail(k: VmemmapKernel, pfn: number): void {
  const t = sharedTailsOf.get(k);
  const key = t?.byPfn.get(pfn);
  if (t === undefined || key === undefined) return;
  t.byPfn.delete(pfn);
  t.byKey.delete(key);
  k.counters.v[C.vmemmap_shared_tails_free]++;
}

/**
 * vmemmap_get_tail() (the shared-tail proposal; zone->vmemmap_tails[] of
 * Kiryl Shutsemau's series): the zone's shared tail page for `order`,
 * allocated and filled by init_compound_tail() on first use. Returns its
 * pfn or -ENOMEM; `tailFresh` says whether this call allocated it (a fresh
 * page carries the allocation's reference, which the caller drops once the
 * page is mapped: the PTEs hold it from then on).
 */
let tailFresh = false;
function vmemmapGetTail(k: VmemmapKernel, nid: number, order: number): number {
  const t = tailsOf(k);
  const key = nid * 64 + order;
  const have = t.byKey.get(key);
  tailFresh = false;
  if (have !== undefined) return have;
  const pfn = k.buddy.allocPages(0, nid, 'vmemmap_data');
  if (pfn < 0) return -ENOMEM;
  initCompoundTailFrame(k, pfn, nid, order);
  t.byKey.set(key, pfn);
  t.byPfn.set(pfn, key);
  k.counters.v[C.vmemmap_shared_tails_alloc]++;
  tailFresh = true;
  return pfn;
}

/**
 * vmemmap_populate_compound_pages() of the shared-tail proposal: per
 * compound page, the head vmemmap page (the head and its first tails) is its
 * own, writable; every other vmemmap page of the compound page maps the
 * zone's shared tail for the order, read-only (PAGE_KERNEL_RO). A section
 * inside a compound page that began earlier maps only the shared tail.
 */
export function vmemmapPopulateSharedTail(k: VmemmapKernel, startPfn: number, start: number, end: number, nid: number, ctx: VmemmapPgmapCtx): number {
  const nr = pgmapVmemmapNr(ctx.pgmap);
  const order = Math.log2(nr);
  const tail = vmemmapGetTail(k, nid, order);
  if (tail < 0) return -ENOMEM;
  const fresh = tailFresh;
  const ps = k.arch.pageSize;
  const size = nr * k.arch.structPageSize;
  const cur = newPteCursor();
  let r = 0;
  // the compound page that holds startPfn, counted from the range's start
  let head = startPfn - ((startPfn - ctx.rangeStartPfn) % nr);
  for (let va = pfnToVmemmap(k, head); va < end && r >= 0; va += size) {
    if (va >= start) r = vmemmapPteRun(k, va, va + ps, nid, null, -1, cur); // the head vmemmap page
    if (r >= 0) r = populateRange(k, Math.max(start, va + ps), Math.min(end, va + size), nid, null, tail, cur, PAGE_KERNEL_RO_LO);
    head += nr;
  }
  if (fresh && k.buddy.putPageTestzero(tail)) {
    // nothing maps it (the populate failed before its first PTE)
    forgetSharedTail(k, tail);
    k.buddy.freePages(tail, 0, 'vmemmap_data');
  }
  return r < 0 ? r : 0;
}

// __populate_section_memmap() (seed patches 9, 12): returns 0 or -ENOMEM
export function populateSectionMemmap(
  k: VmemmapKernel,
  pfn: number,
  nrPages: number,
  nid: number,
  altmap: VmemAltmap | null,
  ctx: VmemmapPgmapCtx | null,
): number {
  const pps = pagesPerSubsection(k.arch);
  if (pfn % pps !== 0 || nrPages % pps !== 0) {
    k.log.warn(`WARNING: __populate_section_memmap: pfn ${hex(pfn)} / nr_pages ${nrPages} not subsection aligned`);
    return -ENOMEM;
  }
  const start = pfnToVmemmap(k, pfn);
  const end = pfnToVmemmap(k, pfn + nrPages);
  if (ctx !== null && ctx.compound && altmap === null)
    return ctx.sharedTail === true ? vmemmapPopulateSharedTail(k, pfn, start, end, nid, ctx) : vmemmapPopulateCompoundPages(k, pfn, start, end, nid, ctx);
  return vmemmapPopulate(k, start, end, nid, altmap);
}

// The entries of a PTE run being removed (vmemmapFree), kept between clearing them and freeing their frames.
let pteScratch = new Int32Array(1024);

// freeVmemmapFrame() for `nrPtes` PTEs that all map base page `pfn`: one put of nrPtes references.
function freeVmemmapFrames(k: VmemmapKernel, pfn: number, nrPtes: number, altmap: VmemAltmap | null): void {
  if (nrPtes > 1 && k.buddy.managesPfn(pfn)) {
    if (k.buddy.putPagesTestzero(pfn, nrPtes)) {
      forgetSharedTail(k, pfn);
      k.buddy.freePages(pfn, 0, 'vmemmap_data');
    }
    return;
  }
  for (let i = 0; i < nrPtes; i++) freeVmemmapFrame(k, pfn, 0, altmap);
}

// Frees a frame the vmemmap mapped: RAM back to the buddy allocator with its last reference, device pfns to the altmap.
function freeVmemmapFrame(k: VmemmapKernel, pfn: number, order: number, altmap: VmemAltmap | null): void {
  if (k.buddy.managesPfn(pfn)) {
    if (k.buddy.putPageTestzero(pfn)) {
      if (order === 0) forgetSharedTail(k, pfn);
      k.buddy.freePages(pfn, order, 'vmemmap_data');
    }
    return;
  }
  if (altmap === null) throw new KernelError(EINVAL, `BUG: vmemmap frame ${hex(pfn)} is device memory but no altmap was given`);
  vmemAltmapFree(k, altmap, pfn, 2 ** order);
}

/**
 * vmemmap_free() → remove_pagetable() (arch/x86/mm/init_64.c): clears every
 * entry mapping [start, end), drops the reference each held on its frame
 * (freeing it with the last one), and frees page tables left empty. A PTE
 * table that several PMDs share (seed patch 14) is only unhooked until its
 * last user, who then tears its PTEs down.
 */
/**
 * What ppc64's vmemmap_populated() (arch/powerpc/mm/init_64.c) asks of the
 * section table: whether a subsection is active. sectionDeactivate passes its
 * SparseMem.
 */
export interface VmemmapPopulated {
  readonly pagesPerSubsection: number;
  pfnSectionValid(pfn: number): boolean;
}

/** vmemmap_populated(): some subsection among the `nrPfns` pfns from `pfn` is still active. */
function vmemmapPopulated(s: VmemmapPopulated, pfn: number, nrPfns: number): boolean {
  const pps = s.pagesPerSubsection;
  for (let p = pfn - (pfn % pps); p < pfn + nrPfns; p += pps) if (s.pfnSectionValid(p)) return true;
  return false;
}

export function vmemmapFree(k: VmemmapKernel, start: number, end: number, altmap: VmemAltmap | null, populated: VmemmapPopulated | null = null): void {
  const pt = ptOf(k);
  const pmdLevel = k.arch.pmdLevel;
  const pteLevel = k.arch.pteLevel;
  const pmd = pt.levelSize(pmdLevel);
  const ps = k.arch.pageSize;
  const shift = k.arch.pageShift;
  for (let addr = start; addr < end; ) {
    const next = Math.min(end, addr - (addr % pmd) + pmd);
    const level = pt.walk(addr);
    if (level >= pmdLevel) {
      const pmdTable = pt.pathTable[pmdLevel]!;
      const pmdIdx = pt.index(addr, pmdLevel);
      const lo = pt.lo(pmdTable, pmdIdx);
      if (lo & _PAGE_PRESENT) {
        const target = entryPfn(lo, pt.hi(pmdTable, pmdIdx), shift);
        const whole = addr % pmd === 0 && next - addr === pmd;
        if (lo & _PAGE_PSE) {
          if (!whole && hugepagesFlavour(k) !== 'x86' && populated !== null) {
            // ppc64 vmemmap_free(): a 2 MiB block serves many sections; it goes only when
            // no subsection it describes is still active (the caller cleared its own first).
            // arm64 4K maps a block for a subsection too; its 5.15 unmap_hotplug_pmd_range()
            // would free the block under the other subsections' struct pages: the model keeps
            // it as ppc64 does (x86 maps blocks only for whole sections)
            const blockPfn = (addr - (addr % pmd) - k.mmu.vmemmapOffset) / k.arch.structPageSize;
            if (vmemmapPopulated(populated, blockPfn, pmd / k.arch.structPageSize)) {
              addr = next;
              continue;
            }
          } else if (!whole) throw new KernelError(EINVAL, `BUG: partial removal of a PMD-mapped vmemmap block at ${hex(addr)}`);
          pt.clearEntry(pmdTable, pmdIdx, addr, pmdLevel);
          freeVmemmapFrame(k, target, k.arch.pmdShift - shift, altmap);
        } else if (k.buddy.pageCount(target) > 1) {
          // a shared PTE table (seed patch 14): unhook it, its last user frees its PTEs
          if (!whole) throw new KernelError(EINVAL, `BUG: partial removal of a shared vmemmap PTE table at ${hex(addr)}`);
          pt.clearEntry(pmdTable, pmdIdx, addr, pmdLevel);
          k.buddy.putPageTestzero(target);
        } else {
          // remove_pte_table(): the table's entries for [addr, next), cleared
          // with one TLB flush for the run, then the frames they mapped are
          // put, a run of PTEs sharing one frame with one put of that many
          let idx0 = pt.index(addr, pteLevel);
          let n = Math.ceil((next - addr) / ps);
          let va0 = addr;
          // a vmemmap page only partly in the range (a page of struct pages holds more than a
          // subsection's on 16K/64K profiles) stays while a subsection it describes is active, as
          // x86's remove_pte_table() keeps a page not all PAGE_UNUSED
          if (populated !== null) {
            const spp = ps / k.arch.structPageSize;
            const pagePfn = (va: number): number => (va - (va % ps) - k.mmu.vmemmapOffset) / k.arch.structPageSize;
            if (addr % ps !== 0 && vmemmapPopulated(populated, pagePfn(addr), spp)) {
              idx0++;
              n--;
              va0 = addr - (addr % ps) + ps;
            }
            if (n > 0 && next % ps !== 0 && vmemmapPopulated(populated, pagePfn(next), spp)) n--;
          }
          if (pteScratch.length < n * 2) pteScratch = new Int32Array(n * 2);
          const e = pteScratch;
          const tslot = k.mem.frameSlot(target);
          const tw = k.mem.slabI32[tslot >>> k.mem.slabShift]!;
          const tb = k.mem.slotWord(tslot) + idx0 * 2;
          for (let j = 0; j < n * 2; j++) e[j] = tw[tb + j]!;
          pt.clearEntries(target, idx0, n, va0, pteLevel);
          for (let j = 0; j < n; ) {
            const plo = e[j * 2]!;
            const phi = e[j * 2 + 1]!;
            let run = 1;
            if (!(plo & _PAGE_PRESENT)) {
              j++;
              continue;
            }
            while (j + run < n && e[(j + run) * 2] === plo && e[(j + run) * 2 + 1] === phi) run++;
            freeVmemmapFrames(k, ptePfn(plo, phi, shift), run, altmap);
            j += run;
          }
        }
      }
    }
    pt.prune(addr); // free_pte_table / free_pmd_table / free_pud_table
    addr = next;
  }
}
