import {
  type ArchProfile,
  EEXIST,
  EINVAL,
  hex,
  pageblockNrPages,
  pagesPerSection,
  pagesPerSubsection,
  subsectionsPerSection,
} from '@daxsim/mm';
import type { PageblockFlags } from '@daxsim/page-alloc';

// section_mem_map flag bits (include/linux/mmzone.h)
export const SECTION_MARKED_PRESENT = 1 << 0;
export const SECTION_HAS_MEM_MAP = 1 << 1;
export const SECTION_IS_ONLINE = 1 << 2;
export const SECTION_IS_EARLY = 1 << 3;
export const SECTION_TAINT_ZONE_DEVICE = 1 << 4;

/** NR_PAGEBLOCK_BITS: 3 migratetype bits and PB_migrate_skip. */
export const NR_PAGEBLOCK_BITS = 4;

// The bits of word `w` (bits 32w .. 32w+31) of a bitmap that lie in [first, last].
function subsectionMask(w: number, first: number, last: number): number {
  const lo = Math.max(first - w * 32, 0);
  const hi = Math.min(last - w * 32, 31);
  // bits lo..hi set; a shift by 32 is a shift by 0 in JS, so the full word is spelled out
  return hi - lo === 31 ? -1 : ((1 << (hi - lo + 1)) - 1) << lo;
}

/** A SPARSEMEM_EXTREME root: SECTIONS_PER_ROOT sections' fields as typed arrays. */
class SectionRoot {
  readonly flags: Int32Array;
  readonly nid: Int32Array;
  /** ms->usage allocated */
  readonly hasUsage: Uint8Array;
  /** ms->usage->subsection_map, `subWords` words per section */
  readonly subsectionMap: Uint32Array;
  /** ms->usage->pageblock_flags, `pbWords` words per section */
  readonly pageblockFlags: Uint32Array;
  constructor(n: number, subWords: number, pbWords: number) {
    this.flags = new Int32Array(n);
    this.nid = new Int32Array(n);
    this.hasUsage = new Uint8Array(n);
    this.subsectionMap = new Uint32Array(n * subWords);
    this.pageblockFlags = new Uint32Array(n * pbWords);
  }
}

/**
 * The mem_section table (mm/sparse.c, SPARSEMEM_EXTREME + VMEMMAP): per
 * section its state bits, node, and usage (subsection map and pageblock
 * flags). Roots are allocated when a section in them is first used and never
 * freed, as sparse_index_init() does.
 */
export class SparseMem implements PageblockFlags {
  readonly arch: ArchProfile;
  readonly sectionShift: number;
  readonly pagesPerSection: number;
  readonly pagesPerSubsection: number;
  readonly subsectionsPerSection: number;
  readonly sectionsPerRoot: number;
  private readonly subWords: number;
  private readonly pbWords: number;
  private readonly pbShift: number;
  private readonly roots: (SectionRoot | undefined)[] = [];

  constructor(arch: ArchProfile) {
    this.arch = arch;
    this.sectionShift = arch.sectionSizeBits - arch.pageShift;
    this.pagesPerSection = pagesPerSection(arch);
    this.pagesPerSubsection = pagesPerSubsection(arch);
    this.subsectionsPerSection = subsectionsPerSection(arch);
    // SECTIONS_PER_ROOT = PAGE_SIZE / sizeof(struct mem_section) (16 bytes)
    this.sectionsPerRoot = arch.pageSize / 16;
    this.subWords = Math.ceil(this.subsectionsPerSection / 32);
    this.pbShift = Math.log2(pageblockNrPages(arch));
    this.pbWords = Math.ceil((Math.max(1, this.pagesPerSection / pageblockNrPages(arch)) * NR_PAGEBLOCK_BITS) / 32);
  }

  /** pfn_to_section_nr() */
  pfnToSectionNr(pfn: number): number {
    return Math.floor(pfn / this.pagesPerSection);
  }
  /** section_nr_to_pfn() */
  sectionNrToPfn(nr: number): number {
    return nr * this.pagesPerSection;
  }

  private root(nr: number, create: boolean): SectionRoot | undefined {
    const ri = Math.floor(nr / this.sectionsPerRoot);
    let r = this.roots[ri];
    if (r === undefined && create) r = this.roots[ri] = new SectionRoot(this.sectionsPerRoot, this.subWords, this.pbWords);
    return r;
  }

  // sparse_index_init(): make sure the section's root exists
  sparseIndexInit(nr: number): void {
    this.root(nr, true);
  }

  /** section_mem_map flag bits of section `nr` (0 when absent). */
  sectionFlags(nr: number): number {
    const r = this.root(nr, false);
    return r === undefined ? 0 : r.flags[nr % this.sectionsPerRoot]!;
  }
  setSectionFlags(nr: number, flags: number): void {
    this.root(nr, true)!.flags[nr % this.sectionsPerRoot] = flags;
  }
  /** valid_section() */
  validSection(nr: number): boolean {
    return (this.sectionFlags(nr) & SECTION_HAS_MEM_MAP) !== 0;
  }
  /** present_section() */
  presentSection(nr: number): boolean {
    return (this.sectionFlags(nr) & SECTION_MARKED_PRESENT) !== 0;
  }
  /** early_section() */
  earlySection(nr: number): boolean {
    return (this.sectionFlags(nr) & SECTION_IS_EARLY) !== 0;
  }
  sectionNid(nr: number): number {
    const r = this.root(nr, false);
    return r === undefined ? 0 : r.nid[nr % this.sectionsPerRoot]!;
  }
  // set_section_nid()
  setSectionNid(nr: number, nid: number): void {
    this.root(nr, true)!.nid[nr % this.sectionsPerRoot] = nid;
  }
  hasUsage(nr: number): boolean {
    const r = this.root(nr, false);
    return r !== undefined && r.hasUsage[nr % this.sectionsPerRoot] === 1;
  }
  /** kzalloc(mem_section_usage_size()): a zeroed usage for the section. */
  allocUsage(nr: number): void {
    const r = this.root(nr, true)!;
    const i = nr % this.sectionsPerRoot;
    r.hasUsage[i] = 1;
    r.subsectionMap.fill(0, i * this.subWords, (i + 1) * this.subWords);
    r.pageblockFlags.fill(0, i * this.pbWords, (i + 1) * this.pbWords);
  }
  /** kfree(ms->usage) */
  freeUsage(nr: number): void {
    const r = this.root(nr, true)!;
    const i = nr % this.sectionsPerRoot;
    r.hasUsage[i] = 0;
    r.subsectionMap.fill(0, i * this.subWords, (i + 1) * this.subWords);
    r.pageblockFlags.fill(0, i * this.pbWords, (i + 1) * this.pbWords);
  }

  /** subsection_map_index() */
  subsectionMapIndex(pfn: number): number {
    return Math.floor((pfn % this.pagesPerSection) / this.pagesPerSubsection);
  }

  // fill_subsection_map(): 0, -EINVAL for an empty mask, -EEXIST if any subsection is already active
  // (bitmap_intersects() then bitmap_or() on the section's map, a word at a time)
  fillSubsectionMap(pfn: number, nr: number): number {
    const sec = this.pfnToSectionNr(pfn);
    const r = this.root(sec, true)!;
    const base = (sec % this.sectionsPerRoot) * this.subWords;
    const first = this.subsectionMapIndex(pfn);
    const last = nr > 0 ? this.subsectionMapIndex(pfn + nr - 1) : first - 1;
    if (last < first) return -EINVAL;
    const map = r.subsectionMap;
    const w0 = base + (first >>> 5);
    const w1 = base + (last >>> 5);
    for (let wi = w0; wi <= w1; wi++) if (map[wi]! & subsectionMask(wi - base, first, last)) return -EEXIST;
    for (let wi = w0; wi <= w1; wi++) map[wi] = map[wi]! | subsectionMask(wi - base, first, last);
    return 0;
  }

  // clear_subsection_map(): -EINVAL (and nothing changes) unless every subsection is active
  // (bitmap_andnot() after checking the mask is a subset of the map)
  clearSubsectionMap(pfn: number, nr: number): number {
    const sec = this.pfnToSectionNr(pfn);
    const r = this.root(sec, false);
    if (r === undefined || !this.hasUsage(sec)) return -EINVAL;
    const base = (sec % this.sectionsPerRoot) * this.subWords;
    const first = this.subsectionMapIndex(pfn);
    const last = this.subsectionMapIndex(pfn + nr - 1);
    const map = r.subsectionMap;
    const w0 = base + (first >>> 5);
    const w1 = base + (last >>> 5);
    for (let wi = w0; wi <= w1; wi++) {
      const m = subsectionMask(wi - base, first, last);
      if ((map[wi]! & m) !== m) return -EINVAL;
    }
    for (let wi = w0; wi <= w1; wi++) map[wi] = map[wi]! & ~subsectionMask(wi - base, first, last);
    return 0;
  }

  /** subsection_map of a section empty? */
  subsectionMapEmpty(sec: number): boolean {
    const r = this.root(sec, false);
    if (r === undefined) return true;
    const base = (sec % this.sectionsPerRoot) * this.subWords;
    for (let i = 0; i < this.subWords; i++) if (r.subsectionMap[base + i] !== 0) return false;
    return true;
  }
  /** pfn_section_valid(): the pfn's subsection is active. */
  pfnSectionValid(pfn: number): boolean {
    const sec = this.pfnToSectionNr(pfn);
    const r = this.root(sec, false);
    if (r === undefined || !this.hasUsage(sec)) return false;
    const b = this.subsectionMapIndex(pfn);
    return ((r.subsectionMap[(sec % this.sectionsPerRoot) * this.subWords + (b >>> 5)]! >>> (b & 31)) & 1) === 1;
  }
  /** The subsection map of a section as a bit string, subsection 0 first (for display and tests). */
  subsectionMapString(sec: number): string {
    let s = '';
    for (let b = 0; b < this.subsectionsPerSection; b++) s += this.pfnSectionValid(this.sectionNrToPfn(sec) + b * this.pagesPerSubsection) ? '1' : '0';
    return s;
  }

  // set_pageblock_migratetype() → set_pfnblock_flags_mask() on the section usemap
  setPageblockMigratetype(pfn: number, migratetype: number): void {
    const sec = this.pfnToSectionNr(pfn);
    if (!this.hasUsage(sec)) throw new Error(`BUG: pageblock flags of pfn ${hex(pfn)}: section ${sec} has no usage`);
    const r = this.root(sec, false)!;
    const bit = Math.floor((pfn % this.pagesPerSection) / 2 ** this.pbShift) * NR_PAGEBLOCK_BITS;
    const wi = (sec % this.sectionsPerRoot) * this.pbWords + (bit >>> 5);
    const sh = bit & 31;
    r.pageblockFlags[wi] = (r.pageblockFlags[wi]! & ~(0x7 << sh)) | ((migratetype & 0x7) << sh);
  }
  // get_pageblock_migratetype()
  getPageblockMigratetype(pfn: number): number {
    const sec = this.pfnToSectionNr(pfn);
    if (!this.hasUsage(sec)) return 0;
    const r = this.root(sec, false)!;
    const bit = Math.floor((pfn % this.pagesPerSection) / 2 ** this.pbShift) * NR_PAGEBLOCK_BITS;
    return (r.pageblockFlags[(sec % this.sectionsPerRoot) * this.pbWords + (bit >>> 5)]! >>> (bit & 31)) & 0x7;
  }

  /** A digest of every non-empty section: two tables with equal digests hold the same state. */
  digest(withPageblocks = true): number {
    let h = 0x811c9dc5;
    const mix = (v: number) => {
      h ^= v;
      h = Math.imul(h, 0x01000193);
    };
    this.roots.forEach((r, ri) => {
      if (r === undefined) return;
      for (let i = 0; i < this.sectionsPerRoot; i++) {
        let any = r.flags[i]! | r.hasUsage[i]!;
        for (let j = 0; j < this.subWords; j++) any |= r.subsectionMap[i * this.subWords + j]!;
        for (let j = 0; j < this.pbWords; j++) any |= r.pageblockFlags[i * this.pbWords + j]!;
        if (any === 0) continue;
        mix(ri * this.sectionsPerRoot + i);
        mix(r.flags[i]!);
        mix(r.nid[i]!);
        mix(r.hasUsage[i]!);
        for (let j = 0; j < this.subWords; j++) mix(r.subsectionMap[i * this.subWords + j]!);
        if (withPageblocks) for (let j = 0; j < this.pbWords; j++) mix(r.pageblockFlags[i * this.pbWords + j]!);
      }
    });
    return h >>> 0;
  }

  /** Section numbers with SECTION_MARKED_PRESENT. */
  presentSections(): number[] {
    const out: number[] = [];
    this.roots.forEach((r, ri) => {
      if (r === undefined) return;
      for (let i = 0; i < this.sectionsPerRoot; i++) if (r.flags[i]! & SECTION_MARKED_PRESENT) out.push(ri * this.sectionsPerRoot + i);
    });
    return out;
  }
}
