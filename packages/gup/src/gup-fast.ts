import {
  C,
  TIER_DRAM,
  chargeLines,
  pageArrayLines,
  EFAULT,
  EINVAL,
  _PAGE_DEVMAP_HI,
  _PAGE_GLOBAL,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SPECIAL,
  _PAGE_USER,
  PTE_ADDR_HI_MASK,
  type DevPagemap,
  type MmStruct,
} from '@daxsim/mm';
import { gupDeviceHuge, recordSubpages, undoDevPagemap } from './device-huge.js';
import { FOLL_FAST_ONLY, FOLL_FAST_VALID, FOLL_GET, FOLL_LONGTERM, FOLL_PIN, FOLL_WRITE } from './foll.js';
import { gupLongtermUnlocked } from './gup-slow.js';
import { GUP_COUNTERS, type Gup } from './gup.js';

// _PAGE_PROTNONE is _PAGE_GLOBAL on a non-present entry (arch/x86/include/asm/pgtable_types.h).
const _PAGE_PROTNONE = _PAGE_GLOBAL;

/** pte_protnone() / pmd_protnone(): a NUMA-hinting entry (not present, PROTNONE set). */
const protnone = (lo: number): boolean => (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === _PAGE_PROTNONE;

/** pte_access_permitted() / pmd_access_permitted() / pud_access_permitted() (x86 __pte_access_permitted). */
function accessPermitted(lo: number, flags: number): boolean {
  const need = flags & FOLL_WRITE ? _PAGE_PRESENT | _PAGE_USER | _PAGE_RW : _PAGE_PRESENT | _PAGE_USER;
  return (lo & need) === need;
}

/**
 * get_user_pages_fast(): references (FOLL_GET) on the pages mapping
 * [start, start + nrPages pages), their pfns written to pages[off..]. Falls
 * back to the slow path for what the lockless walk could not take. Returns
 * the number of pages taken, or a negative errno when none was.
 */
export function getUserPagesFast(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array,
  off = 0,
): number {
  // is_valid_gup_flags()
  if (gupFlags & (FOLL_PIN | FOLL_LONGTERM)) {
    g.warnOnce('get_user_pages_fast: FOLL_PIN / FOLL_LONGTERM passed');
    return -EINVAL;
  }
  return internalGetUserPagesFast(g, mm, start, nrPages, gupFlags | FOLL_GET, pages, off);
}

/** pin_user_pages_fast(): as get_user_pages_fast() with FOLL_PIN; release with unpin_user_page(s). */
export function pinUserPagesFast(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array,
  off = 0,
): number {
  if (gupFlags & FOLL_GET) {
    g.warnOnce('pin_user_pages_fast: FOLL_GET passed');
    return -EINVAL;
  }
  return internalGetUserPagesFast(g, mm, start, nrPages, gupFlags | FOLL_PIN, pages, off);
}

/** get_user_pages_fast_only(): the lockless walk only; never an errno (0 instead). */
export function getUserPagesFastOnly(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array,
  off = 0,
): number {
  const ret = internalGetUserPagesFast(g, mm, start, nrPages, gupFlags | FOLL_GET | FOLL_FAST_ONLY, pages, off);
  return ret < 0 ? 0 : ret;
}

/** pin_user_pages_fast_only() */
export function pinUserPagesFastOnly(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array,
  off = 0,
): number {
  if (gupFlags & FOLL_GET) return 0;
  const ret = internalGetUserPagesFast(g, mm, start, nrPages, gupFlags | FOLL_PIN | FOLL_FAST_ONLY, pages, off);
  return ret < 0 ? 0 : ret;
}

/** internal_get_user_pages_fast() */
export function internalGetUserPagesFast(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array,
  off: number,
): number {
  if (gupFlags & ~FOLL_FAST_VALID) {
    g.warnOnce(`internal_get_user_pages_fast: invalid gup_flags 0x${gupFlags.toString(16)}`);
    return -EINVAL;
  }
  if (gupFlags & FOLL_PIN) g.setHasPinned(mm); // mm_set_has_pinned_flag()
  const ps = g.pageSize;
  // untagged_addr(start) & PAGE_MASK (by floor, not %: a double % is a libm call)
  if (start >= 0) start = Math.floor(start / ps) * ps;
  else start -= start % ps;
  if (nrPages <= 0) return 0;
  const len = nrPages * ps;
  const end = start + len;
  if (!Number.isSafeInteger(end)) return 0; // check_add_overflow()
  if (end > mm.taskSize || start < 0) return -EFAULT; // access_ok()

  const nrPinned = locklessPagesFromMm(g, mm, start, end, gupFlags, pages, off);
  g.counters.v[GUP_COUNTERS.fast] += nrPinned;
  // the cost model: one call, and the caller's array of page pointers written (kernel memory: DRAM)
  g.counters.v[C.gup_fast_calls]++;
  chargeLines(g.counters, TIER_DRAM, pageArrayLines(nrPinned), 0, pageArrayLines(nrPinned));
  if (nrPinned === nrPages || gupFlags & FOLL_FAST_ONLY) return nrPinned;

  // Slow path for the remainder only.
  g.counters.v[GUP_COUNTERS.fallback]++;
  const ret = gupLongtermUnlocked(g, mm, start + nrPinned * ps, nrPages - nrPinned, gupFlags, pages, off + nrPinned);
  if (ret < 0) return nrPinned > 0 ? nrPinned : ret; // the caller releases what was taken
  return ret + nrPinned;
}

/**
 * lockless_pages_from_mm(): the interrupts-off walk. (The model has no fork,
 * so write_protect_seq never changes and the FOLL_PIN retry never fires.)
 */
function locklessPagesFromMm(
  g: Gup,
  mm: MmStruct,
  start: number,
  end: number,
  flags: number,
  pages: Float64Array,
  off: number,
): number {
  g.bindPages(pages, off);
  const pt = mm.pgd;
  gupLevelRange(g, pt.root, 0, start, end, flags);
  const n = g.nr - off;
  g.pages = EMPTY;
  g.seq = null;
  return n;
}

const EMPTY = new Float64Array(0);

/**
 * gup_pgd_range() / gup_p4d_range() / gup_pud_range() / gup_pmd_range(): one
 * function for every non-pte level. Returns false to stop the walk.
 */
function gupLevelRange(g: Gup, table: number, level: number, addr: number, end: number, flags: number): boolean {
  const arch = g.arch;
  if (level === arch.pteLevel) return gupPteRange(g, table, addr, end, flags);
  const m = g.mem;
  const slot = m.frameSlot(table);
  if (slot < 0) return false;
  const w = m.slabI32[slot >>> m.slabShift]!;
  const base = m.slotWord(slot);
  const size = g.levelSize[level]!;
  // entries is a power of two below 2^32: q & (entries - 1) is q % entries for any q < 2^53 (ToInt32 keeps q mod 2^32)
  const mask = g.levelEntries[level]! - 1;
  const leafLevel = level === arch.pmdLevel || level === arch.pudLevel;
  do {
    const q = Math.floor(addr / size);
    const next = Math.min((q + 1) * size, end);
    const word = base + (q & mask) * 2;
    const lo = w[word]!;
    const hi = w[word + 1]!;
    if (leafLevel && protnone(lo)) return false; // pmd_protnone(): NUMA hinting goes slow
    if (!(lo & _PAGE_PRESENT)) return false; // pgd_none / p4d_none / !pud_present / !pmd_present
    if (lo & _PAGE_PSE || hi & _PAGE_DEVMAP_HI) {
      // pud_huge || pud_devmap, pmd_trans_huge || pmd_huge || pmd_devmap; x86 has no pgd_huge.
      if (!leafLevel) return false;
      if (!gupHugeLeaf(g, level, size, w, word, lo, hi, addr, next, flags)) return false;
    } else if (!gupLevelRange(g, (hi & PTE_ADDR_HI_MASK) * g.pfnHiMul + (lo >>> g.pageShift), level + 1, addr, next, flags)) {
      return false;
    }
    addr = next;
  } while (addr !== end);
  return true;
}

/**
 * gup_huge_pmd() / gup_huge_pud(), with __gup_device_huge_pmd/pud for devmap
 * leaves: the leaf (lo, hi) read from w[word] maps [addr, end).
 */
function gupHugeLeaf(
  g: Gup,
  level: number,
  size: number,
  w: Int32Array,
  word: number,
  lo: number,
  hi: number,
  addr: number,
  end: number,
  flags: number,
): boolean {
  if (!accessPermitted(lo, flags)) return false;
  const ps = g.pageSize;
  const leafPfn = (hi & PTE_ADDR_HI_MASK) * g.pfnHiMul + (lo >>> g.pageShift); // pmd_pfn() / pud_pfn()
  const page = leafPfn + (addr - Math.floor(addr / size) * size) / ps; // addr % size, without a libm fmod
  if (hi & _PAGE_DEVMAP_HI && g.devmapPath) {
    if (flags & FOLL_LONGTERM) return false;
    // __gup_device_huge_pmd() / __gup_device_huge_pud()
    const nrStart = g.nr;
    if (!gupDeviceHuge(g, page, addr, end, flags)) return false;
    if (g.raceHook !== null) g.raceHook(addr, level);
    if (w[word] !== lo || w[word + 1] !== hi) {
      undoDevPagemap(g, nrStart, flags);
      return false;
    }
    return true;
  }
  // THP / hugetlb, and since fd2825b0760a (v6.17) device-dax too: gup_fast_pmd_leaf() / gup_fast_pud_leaf().
  // A special leaf (a pfn map) has no folio behind it.
  if (!g.devmapPath && lo & _PAGE_SPECIAL) return false;
  // Record the subpages, one try_grab_folio_fast() on the entry's folio.
  const refs = recordSubpages(g, page, (end - addr) / ps);
  const head = g.tryGrabCompoundHead(leafPfn, refs, flags);
  if (head < 0) return false;
  if (g.raceHook !== null) g.raceHook(addr, level);
  if (w[word] !== lo || w[word + 1] !== hi) {
    g.putCompoundHead(head, refs, flags);
    return false;
  }
  if (!g.devmapPath && !gupFastFolioAllowed(flags)) {
    g.putCompoundHead(head, refs, flags);
    return false;
  }
  g.nr += refs;
  g.memmap.SetPageReferenced(head);
  // the cost model: the head's line read (no stream leads to it) and dirtied; a pin with a pincount reads
  // the tails next to it and dirties the pincount's
  const tails = flags & FOLL_PIN && g.hpagePincountAvailable(head) ? 2 : 0;
  g.chargeStructPageLines(head, tails, 1, 1 + tails / 2);
  return true;
}

/**
 * gup_fast_folio_allowed() for a device-dax folio: it is file-backed (its
 * mapping is the dax inode's) and not shmem, so a writable FOLL_LONGTERM pin
 * is refused here and left to the slow path, which may take it (GUP-fast
 * cannot tell a dirty-tracking filesystem from a device).
 */
function gupFastFolioAllowed(flags: number): boolean {
  return (flags & (FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE)) !== (FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE);
}

/** gup_pte_range() (CONFIG_ARCH_HAS_PTE_SPECIAL): one pte at a time, one pgmap reference per call. */
function gupPteRange(g: Gup, table: number, addr: number, end: number, flags: number): boolean {
  const m = g.mem;
  const slot = m.frameSlot(table);
  if (slot < 0) return false;
  const w = m.slabI32[slot >>> m.slabShift]!;
  const base = m.slotWord(slot);
  const arch = g.arch;
  const mask = g.levelEntries[arch.pteLevel]! - 1; // as in gupLevelRange
  const ps = g.pageSize;
  const nrStart = g.nr;
  const pages = g.pages;
  let pgmap: DevPagemap | null = null;
  let ret = false;
  do {
    const word = base + (Math.floor(addr / ps) & mask) * 2;
    const lo = w[word]!;
    const hi = w[word + 1]!;
    if (protnone(lo)) break;
    if (!accessPermitted(lo, flags)) break;
    const pfn = (hi & PTE_ADDR_HI_MASK) * g.pfnHiMul + (lo >>> g.pageShift); // pte_pfn()
    if (hi & _PAGE_DEVMAP_HI && g.devmapPath) {
      if (flags & FOLL_LONGTERM) break;
      pgmap = g.getDevPagemapCached(pfn, pgmap);
      if (pgmap === null) {
        undoDevPagemap(g, nrStart, flags);
        break;
      }
    } else if (lo & _PAGE_SPECIAL) {
      break;
    }
    const head = g.tryGrabCompoundHead(pfn, 1, flags);
    if (head < 0) break;
    if (g.raceHook !== null) g.raceHook(addr, arch.pteLevel);
    if ((w[word] !== lo || w[word + 1] !== hi) || (!g.devmapPath && !gupFastFolioAllowed(flags))) {
      g.putCompoundHead(head, 1, flags);
      break;
    }
    g.memmap.SetPageReferenced(head);
    pages[g.nr++] = pfn;
    addr += ps;
    if (addr === end) ret = true;
  } while (addr !== end);
  // the cost model: each pte's page had its own struct page read and dirtied (a base page is its own head)
  if (g.nr > nrStart) g.chargeStructPageLines(pages[nrStart]!, g.nr - nrStart, 0, g.nr - nrStart);
  if (pgmap !== null) g.putDevPagemap(pgmap);
  return ret;
}
