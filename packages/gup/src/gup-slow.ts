import {
  EEXIST,
  EFAULT,
  EHWPOISON,
  EINVAL,
  ENOENT,
  ENOMEM,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_LARGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_IO,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  _PAGE_ACCESSED,
  _PAGE_DEVMAP_HI,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SPECIAL,
  entryPfn,
  type DevPagemap,
  type MmStruct,
  type Vma,
  handleMmFault,
} from '@daxsim/mm';

import {
  FOLL_ANON,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HWPOISON,
  FOLL_LONGTERM,
  FOLL_MLOCK,
  FOLL_NUMA,
  FOLL_PIN,
  FOLL_POPULATE,
  FOLL_REMOTE,
  FOLL_TOUCH,
  FOLL_WRITE,
} from './foll.js';
import { GUP_COUNTERS, type Gup } from './gup.js';

/** follow_page_mask() found nothing to take: fault it in (the kernel's NULL). */
const NO_PAGE = -0x100000;
/**
 * A guard the kernel does not have: faultin_page() reports success but the
 * entry still cannot be followed this many times for one address → -EFAULT
 * (a misbehaving stand-in fault handler would otherwise loop forever).
 */
const MAX_FAULT_RETRIES = 8;

/** The pgmap reference follow_page_mask() keeps across pages (struct follow_page_context). */
interface FollowPageContext {
  pgmap: DevPagemap | null;
  /** ctx->page_mask: follow_huge_pmd/pud() of the folio generation set it to the leaf's pages - 1. */
  pageMask: number;
}

/** get_user_pages(): the slow path with FOLL_TOUCH (mmap_lock held by the caller). */
export function getUserPages(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array | null,
  off = 0,
): number {
  if (gupFlags & FOLL_PIN) {
    g.warnOnce('get_user_pages: FOLL_PIN passed');
    return -EINVAL;
  }
  return gupLongtermLocked(g, mm, start, nrPages, pages, off, gupFlags | FOLL_TOUCH);
}

/** pin_user_pages(): the slow path with FOLL_PIN (no FOLL_TOUCH). */
export function pinUserPages(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array | null,
  off = 0,
): number {
  if (gupFlags & FOLL_GET) {
    g.warnOnce('pin_user_pages: FOLL_GET passed');
    return -EINVAL;
  }
  return gupLongtermLocked(g, mm, start, nrPages, pages, off, gupFlags | FOLL_PIN);
}

/** get_user_pages_unlocked(): FOLL_LONGTERM is refused (-EINVAL). */
export function getUserPagesUnlocked(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array | null,
  off = 0,
): number {
  if (gupFlags & FOLL_LONGTERM) {
    g.warnOnce('get_user_pages_unlocked: FOLL_LONGTERM passed');
    return -EINVAL;
  }
  return getUserPagesLocked(g, mm, start, nrPages, pages, off, gupFlags | FOLL_TOUCH);
}

/** __gup_longterm_unlocked(): gup-fast's fallback for the pages the lockless walk left. */
export function gupLongtermUnlocked(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array,
  off: number,
): number {
  if (gupFlags & FOLL_LONGTERM) return gupLongtermLocked(g, mm, start, nrPages, pages, off, gupFlags);
  return getUserPagesUnlocked(g, mm, start, nrPages, gupFlags, pages, off);
}

/**
 * __gup_longterm_locked(): FOLL_LONGTERM pins are checked (and in the kernel
 * migrated) off ZONE_MOVABLE/CMA; ZONE_DEVICE pages are pinnable as they are.
 */
export function gupLongtermLocked(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  pages: Float64Array | null,
  off: number,
  gupFlags: number,
): number {
  if (!(gupFlags & FOLL_LONGTERM)) return getUserPagesLocked(g, mm, start, nrPages, pages, off, gupFlags);
  const rc = getUserPagesLocked(g, mm, start, nrPages, pages, off, gupFlags);
  if (rc <= 0 || pages === null) return rc;
  return checkAndMigrateMovablePages(g, rc, pages, off, gupFlags);
}

/**
 * check_and_migrate_movable_pages(): every distinct head must be pinnable.
 * The model has no page migration: if one is not, everything is released and
 * -ENOMEM returned (the kernel would migrate and retry).
 */
function checkAndMigrateMovablePages(g: Gup, nr: number, pages: Float64Array, off: number, gupFlags: number): number {
  const m = g.memmap;
  let prevHead = -1;
  let bad = false;
  for (let i = 0; i < nr; i++) {
    const head = m.compoundHead(pages[off + i]!);
    if (head === prevHead) continue;
    prevHead = head;
    if (!g.isPinnablePage(head)) {
      bad = true;
      break;
    }
  }
  if (!bad) return nr;
  for (let i = 0; i < nr; i++) {
    const page = pages[off + i]!;
    if (gupFlags & FOLL_PIN) g.putCompoundHead(m.compoundHead(page), 1, FOLL_PIN);
    else g.putPage(page);
  }
  return -ENOMEM;
}

/** __get_user_pages_locked(): the locked loop (VM_FAULT_RETRY is not modelled, so one pass). */
function getUserPagesLocked(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  pages: Float64Array | null,
  off: number,
  flags: number,
): number {
  if (flags & FOLL_PIN) g.setHasPinned(mm);
  if (pages !== null && !(flags & FOLL_PIN)) flags |= FOLL_GET;
  return getUserPagesInner(g, mm, start, nrPages, flags, pages, off);
}

/**
 * __get_user_pages(): one base page per iteration (page_mask is reset when
 * pages[] is passed), each walked from the pgd; a missing or insufficient
 * entry is faulted in through the vma's fault handler and the walk retried.
 * Returns the pages taken, or the error if none was.
 */
export function getUserPagesInner(
  g: Gup,
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Float64Array | null,
  off: number,
): number {
  if (nrPages === 0) return 0;
  const ps = g.pageSize;
  if (!(gupFlags & FOLL_FORCE)) gupFlags |= FOLL_NUMA;
  const ctx: FollowPageContext = { pgmap: null, pageMask: 0 };
  let vma: Vma | undefined;
  let i = 0;
  let ret = 0;
  out: do {
    if (vma === undefined || start >= vma.end) {
      vma = mm.findVma(start); // find_extend_vma() (no stack to extend)
      if (vma === undefined) {
        ret = -EFAULT;
        break;
      }
      ret = checkVmaFlags(vma, gupFlags);
      if (ret) break;
    }
    let page = NO_PAGE;
    for (let tries = 0; ; tries++) {
      page = followPageMask(g, vma, start, gupFlags, ctx);
      if (page !== NO_PAGE) break;
      if (tries === MAX_FAULT_RETRIES) {
        ret = -EFAULT;
        break out;
      }
      ret = faultinPage(vma, start, gupFlags);
      if (ret === 0) continue;
      if (ret === -ENOENT) break;
      break out; // -EFAULT, -ENOMEM, -EHWPOISON
    }
    // next_page: a huge leaf followed as a folio (7.3) steps over the rest of it at once,
    // its further subpages grabbed in one try_grab_folio(folio, page_increm - 1)
    let increm = 1;
    if (ctx.pageMask > 0 && page >= 0) {
      increm = Math.min(1 + (ctx.pageMask - (Math.floor(start / ps) % (ctx.pageMask + 1))), nrPages);
      ctx.pageMask = 0;
      if (pages !== null && increm > 1 && gupFlags & (FOLL_GET | FOLL_PIN) && !g.grabCompoundHead(g.memmap.compoundHead(page), increm - 1, gupFlags)) {
        g.putCompoundHead(g.memmap.compoundHead(page), 1, gupFlags);
        ret = -EFAULT;
        break;
      }
    }
    if (page >= 0) {
      if (pages !== null) for (let j = 0; j < increm; j++) pages[off + i + j] = page + j;
    } else if (page !== NO_PAGE && page !== -EEXIST) {
      ret = page;
      break;
    }
    ret = 0;
    i += increm;
    start += increm * ps;
    nrPages -= increm;
  } while (nrPages > 0);
  if (ctx.pgmap !== null) g.putDevPagemap(ctx.pgmap);
  if (gupFlags & (FOLL_GET | FOLL_PIN)) g.counters.v[GUP_COUNTERS.slow] += i;
  return i ? i : ret;
}

/**
 * check_vma_flags() (v5.15). FOLL_LONGTERM on an fsdax vma would be
 * -EOPNOTSUPP; device-dax is a character device, never fsdax, and the model
 * has no fsdax files.
 */
export function checkVmaFlags(vma: Vma, gupFlags: number): number {
  const vm = vma.flags;
  if (vm & (VM_IO | VM_PFNMAP)) return -EFAULT;
  if (gupFlags & FOLL_ANON && vma.ops !== null) return -EFAULT; // !vma_is_anonymous()
  if (gupFlags & FOLL_WRITE) {
    if (!(vm & VM_WRITE)) {
      if (!(gupFlags & FOLL_FORCE)) return -EFAULT;
      if ((vm & (VM_SHARED | VM_MAYWRITE)) !== VM_MAYWRITE) return -EFAULT; // !is_cow_mapping()
    }
  } else if (!(vm & VM_READ)) {
    if (!(gupFlags & FOLL_FORCE)) return -EFAULT;
    if (!(vm & VM_MAYREAD)) return -EFAULT;
  }
  return 0;
}

/** vm_fault_to_errno() */
export function vmFaultToErrno(vmFault: number, gupFlags: number): number {
  if (vmFault & VM_FAULT_OOM) return -ENOMEM;
  if (vmFault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)) return gupFlags & FOLL_HWPOISON ? -EHWPOISON : -EFAULT;
  if (vmFault & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) return -EFAULT;
  return 0;
}

/** faultin_page(): handle_mm_fault() for one address; 0 when the walk should be retried. */
function faultinPage(vma: Vma, address: number, gupFlags: number): number {
  if ((gupFlags & (FOLL_POPULATE | FOLL_MLOCK)) === FOLL_MLOCK) return -ENOENT;
  let faultFlags = 0;
  if (gupFlags & FOLL_WRITE) faultFlags |= FAULT_FLAG_WRITE;
  if (gupFlags & FOLL_REMOTE) faultFlags |= FAULT_FLAG_REMOTE;
  const ret = handleMmFault(vma, address, faultFlags);
  if (ret & VM_FAULT_ERROR) {
    const err = vmFaultToErrno(ret, gupFlags);
    if (err) return err;
    throw new Error(`BUG: faultin_page: unexpected vm_fault_t 0x${ret.toString(16)}`);
  }
  return 0;
}

/** no_page_table(): a hole is -EFAULT for FOLL_DUMP when nothing could fill it, else "fault it in". */
function noPageTable(vma: Vma, flags: number): number {
  if (flags & FOLL_DUMP && (vma.ops === null || (!vma.ops.fault && !vma.ops.hugeFault))) return -EFAULT;
  return NO_PAGE;
}

/**
 * follow_page_mask(): walks to `address` and, for a devmap leaf or pte that
 * satisfies the flags, takes the reference (follow_devmap_pud,
 * follow_devmap_pmd, follow_page_pte). Returns the base page's pfn, NO_PAGE,
 * -EEXIST (no reference wanted) or a negative errno.
 */
export function followPageMask(g: Gup, vma: Vma, address: number, flags: number, ctx: FollowPageContext): number {
  const pt = vma.mm.pgd;
  const arch = g.arch;
  const level = pt.walk(address);
  const lo = pt.wLo;
  const hi = pt.wHi;
  if (!(lo & _PAGE_PRESENT)) return noPageTable(vma, flags);
  if (level === arch.pudLevel || level === arch.pmdLevel) {
    if (!(lo & _PAGE_PSE)) return noPageTable(vma, flags); // cannot happen: walk() stops at leaves only
    // follow_huge_pud / follow_huge_pmd of a folio leaf (fd2825b0760a, v6.17: device-dax leaves are folios)
    if (!g.devmapPath) return followHugeFolio(g, vma, level, address, flags, ctx);
    // follow_devmap_pud / follow_devmap_pmd; a NULL from them falls to pud_bad/pmd_bad → no_page_table
    if (!(hi & _PAGE_DEVMAP_HI)) return noPageTable(vma, flags); // hugetlb / THP leaves are not modelled
    return followDevmapHuge(g, vma, level, address, flags, ctx);
  }
  if (level !== arch.pteLevel) return noPageTable(vma, flags);
  // follow_page_pte()
  if (flags & FOLL_WRITE && !(lo & _PAGE_RW)) return NO_PAGE; // can_follow_write_pte()
  const pfn = entryPfn(lo, hi, g.pageShift);
  if (lo & _PAGE_SPECIAL || (g.devmapPath && !(hi & _PAGE_DEVMAP_HI))) {
    // vm_normal_page() is NULL (user space maps only device pages in the model): follow_pfn_pte()
    if (flags & (FOLL_DUMP | FOLL_GET | FOLL_PIN)) return -EFAULT;
    return -EEXIST;
  }
  if (!g.devmapPath) {
    // 7.3: the pte maps a refcounted folio (vm_normal_page): try_grab_folio(folio, 1), no pgmap
    if (flags & (FOLL_GET | FOLL_PIN) && g.tryGrabCompoundHead(pfn, 1, flags) < 0) return -ENOMEM;
  } else if (flags & (FOLL_GET | FOLL_PIN)) {
    ctx.pgmap = g.getDevPagemapCached(pfn, ctx.pgmap);
    if (ctx.pgmap === null) return NO_PAGE;
    if (!g.tryGrabPage(pfn, flags)) return -ENOMEM;
  }
  if (flags & FOLL_TOUCH) {
    if (flags & FOLL_WRITE && !(lo & _PAGE_DIRTY)) g.memmap.SetPageDirty(g.memmap.compoundHead(pfn)); // set_page_dirty
    g.memmap.SetPageReferenced(g.memmap.compoundHead(pfn)); // mark_page_accessed
  }
  return pfn;
}

/**
 * follow_huge_pmd() / follow_huge_pud() (7.3, mm/gup.c) of a device-dax
 * folio leaf: a write needs a writable leaf; try_grab_folio(folio, 1);
 * FOLL_TOUCH marks it young (and dirty for a write); ctx->page_mask says
 * the caller may take the rest of the leaf's pages at once.
 */
function followHugeFolio(g: Gup, vma: Vma, level: number, address: number, flags: number, ctx: FollowPageContext): number {
  const pt = vma.mm.pgd;
  const lo = pt.wLo;
  const hi = pt.wHi;
  if (flags & FOLL_WRITE && !(lo & _PAGE_RW)) return NO_PAGE;
  if (lo & _PAGE_SPECIAL) return noPageTable(vma, flags); // a pfn map: vm_normal_page_pmd() is NULL
  const size = pt.levelSize(level);
  const pfn = entryPfn(lo, hi, g.pageShift) + Math.floor((address % size) / g.pageSize);
  if (flags & (FOLL_GET | FOLL_PIN) && g.tryGrabCompoundHead(pfn, 1, flags) < 0) return -ENOMEM;
  if (flags & FOLL_TOUCH) {
    const nlo = lo | _PAGE_ACCESSED | (flags & FOLL_WRITE ? _PAGE_DIRTY : 0);
    if (nlo !== lo) pt.setEntry(pt.wTable, pt.wIndex, nlo, hi, address, level);
  }
  ctx.pageMask = size / g.pageSize - 1;
  return pfn;
}

/** follow_devmap_pmd() / follow_devmap_pud() (mm/huge_memory.c). */
function followDevmapHuge(g: Gup, vma: Vma, level: number, address: number, flags: number, ctx: FollowPageContext): number {
  const pt = vma.mm.pgd;
  const lo = pt.wLo;
  const hi = pt.wHi;
  if (flags & FOLL_WRITE && !(lo & _PAGE_RW)) return NO_PAGE;
  if (flags & FOLL_PIN && flags & FOLL_GET) {
    g.warnOnce('follow_devmap_pmd: both FOLL_PIN and FOLL_GET');
    return NO_PAGE;
  }
  if (flags & FOLL_TOUCH) {
    // touch_pmd / touch_pud: mkyoung, and mkdirty for a write
    const nlo = lo | _PAGE_ACCESSED | (flags & FOLL_WRITE ? _PAGE_DIRTY : 0);
    if (nlo !== lo) pt.setEntry(pt.wTable, pt.wIndex, nlo, hi, address, level);
  }
  if (!(flags & (FOLL_GET | FOLL_PIN))) return -EEXIST; // the caller manages the refcount
  const size = pt.levelSize(level);
  const pfn = entryPfn(lo, hi, g.pageShift) + Math.floor((address % size) / g.pageSize);
  ctx.pgmap = g.getDevPagemapCached(pfn, ctx.pgmap);
  if (ctx.pgmap === null) return -EFAULT;
  if (!g.tryGrabPage(pfn, flags)) return -ENOMEM;
  return pfn;
}
