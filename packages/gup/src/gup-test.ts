import { C, EINVAL, ZONE_DEVICE, costMark, costSince, kernelPlatform, type ModelledTime, type MmStruct } from '@daxsim/mm';
import { FOLL_LONGTERM } from './foll.js';
import { getUserPagesFast, pinUserPagesFast } from './gup-fast.js';
import { getUserPages, pinUserPages } from './gup-slow.js';
import type { Gup } from './gup.js';
import { compoundRun } from './page-cursor.js';
import { putPages, unpinUserPages } from './unpin.js';

// mm/gup_test.h: _IOWR('g', N, struct gup_test) with sizeof(struct gup_test) = 80 on x86-64.
const IOWR = (nr: number): number => ((3 << 30) | (80 << 16) | (0x67 << 8) | nr) >>> 0;
export const GUP_FAST_BENCHMARK = IOWR(1);
export const PIN_FAST_BENCHMARK = IOWR(2);
export const PIN_LONGTERM_BENCHMARK = IOWR(3);
export const GUP_BASIC_TEST = IOWR(4);
export const PIN_BASIC_TEST = IOWR(5);
export const DUMP_USER_PAGES_TEST = IOWR(6);
export const GUP_TEST_MAX_PAGES_TO_DUMP = 8;
export const GUP_TEST_FLAG_DUMP_PAGES_USE_PIN = 0x1;

/** cmd_to_str() of the selftest. */
export function gupTestCmdName(cmd: number): string {
  switch (cmd) {
    case GUP_FAST_BENCHMARK:
      return 'GUP_FAST_BENCHMARK';
    case PIN_FAST_BENCHMARK:
      return 'PIN_FAST_BENCHMARK';
    case PIN_LONGTERM_BENCHMARK:
      return 'PIN_LONGTERM_BENCHMARK';
    case GUP_BASIC_TEST:
      return 'GUP_BASIC_TEST';
    case PIN_BASIC_TEST:
      return 'PIN_BASIC_TEST';
    case DUMP_USER_PAGES_TEST:
      return 'DUMP_USER_PAGES_TEST';
    default:
      return 'Unknown command';
  }
}

/** struct gup_test: what the ioctl reads and writes back. */
export interface GupTestArgs {
  /** ktime_us_delta() of the get and put loops: the modelled kernel's time (whole microseconds). */
  getDeltaUsec: number;
  putDeltaUsec: number;
  /** The same loops' host JavaScript time (whole microseconds; not part of the ABI). */
  hostGetUsec?: number;
  hostPutUsec?: number;
  addr: number;
  size: number;
  nrPagesPerCall: number;
  gupFlags: number;
  testFlags: number;
  /** 1-based page numbers to dump (0: none), up to GUP_TEST_MAX_PAGES_TO_DUMP. */
  whichPages: number[];
}

/** What the model measured on top of struct gup_test (not part of the ABI). */
export interface GupTestStats {
  /** Pages the get loop took. */
  nrPages: number;
  /** gup calls the get loop made. */
  calls: number;
  /** The modelled kernel's time of the get and put loops (@daxsim/mm cost.ts on the kernel's platform): what the Time line prints. */
  getMs: number;
  putMs: number;
  /** What bounds each modelled loop ('cpu' or a memory tier), and its parts. */
  getModel: ModelledTime | null;
  putModel: ModelledTime | null;
  /** The host's JavaScript time of the same loops (benchmarks, --host-time). */
  hostGetMs: number;
  hostPutMs: number;
  /** The untimed part between the loops, host time: the held check (verify_dma_pinned) and dump_pages_test. */
  checkMs: number;
  /** atomic_refcount_ops during the get loop and during the put loop. */
  getAtomics: number;
  putAtomics: number;
  /** pgmap references taken during the get loop. */
  getPgmapRefs: number;
  /** Folios (compound pages, or base pages) the pages taken lie in. */
  folios: number;
  /** Pages verify_dma_pinned() / the held check found wrong (it stops at the first). */
  notHeld: number;
}

export function newGupTestArgs(init: Partial<GupTestArgs> = {}): GupTestArgs {
  return { getDeltaUsec: 0, putDeltaUsec: 0, addr: 0, size: 0, nrPagesPerCall: 1, gupFlags: 0, testFlags: 0, whichPages: [], ...init };
}

const nowMs = (): number => performance.now();
/** ktime_us_delta(): whole microseconds. */
const usDelta = (t0: number, t1: number): number => Math.trunc((t1 - t0) * 1000);

/**
 * gup_test_ioctl() → __gup_test_ioctl() (mm/gup_test.c): one timed loop of
 * gup calls of nrPagesPerCall pages over [addr, addr + size), the untimed
 * check that every page is held (pinned, for the PIN commands), then the
 * timed release loop. Fills getDeltaUsec/putDeltaUsec and `size` (the
 * truncation report) of `args`. Returns 0 or a negative errno.
 */
export function gupTestIoctl(g: Gup, mm: MmStruct, cmd: number, args: GupTestArgs, stats?: GupTestStats): number {
  switch (cmd) {
    case GUP_FAST_BENCHMARK:
    case PIN_FAST_BENCHMARK:
    case PIN_LONGTERM_BENCHMARK:
    case GUP_BASIC_TEST:
    case PIN_BASIC_TEST:
    case DUMP_USER_PAGES_TEST:
      break;
    default:
      return -EINVAL;
  }
  const ps = g.pageSize;
  if (!Number.isSafeInteger(args.size) || args.size < 0 || !Number.isSafeInteger(args.addr + args.size)) return -EINVAL;
  let nrPages = Math.floor(args.size / ps);
  const pages = g.pageBuffer(nrPages); // kvcalloc()
  const perCall = args.nrPagesPerCall >>> 0;
  const v = g.counters.v;

  let i = 0;
  let calls = 0;
  let nr = perCall;
  const end = args.addr + args.size;
  const atomics0 = v[C.atomic_refcount_ops]!;
  const pgmap0 = v[C.pgmap_ref_get]!;
  const platform = kernelPlatform(g.k);
  const getMark = costMark(g.counters);
  const t0 = nowMs();
  let addr = args.addr;
  let next = addr;
  for (; addr < end; addr = next) {
    if (nr !== perCall) break;
    next = addr + nr * ps;
    if (next > end) {
      next = end;
      nr = (next - addr) / ps;
    }
    calls++;
    switch (cmd) {
      case GUP_FAST_BENCHMARK:
        nr = getUserPagesFast(g, mm, addr, nr, args.gupFlags, pages, i);
        break;
      case GUP_BASIC_TEST:
        nr = getUserPages(g, mm, addr, nr, args.gupFlags, pages, i);
        break;
      case PIN_FAST_BENCHMARK:
        nr = pinUserPagesFast(g, mm, addr, nr, args.gupFlags, pages, i);
        break;
      case PIN_BASIC_TEST:
        nr = pinUserPages(g, mm, addr, nr, args.gupFlags, pages, i);
        break;
      case PIN_LONGTERM_BENCHMARK:
        nr = pinUserPages(g, mm, addr, nr, args.gupFlags | FOLL_LONGTERM, pages, i);
        break;
      case DUMP_USER_PAGES_TEST:
        nr =
          args.testFlags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN
            ? pinUserPages(g, mm, addr, nr, args.gupFlags, pages, i)
            : getUserPages(g, mm, addr, nr, args.gupFlags, pages, i);
        break;
    }
    if (nr <= 0) break;
    i += nr;
  }
  const t1 = nowMs();
  const getModel = costSince(platform, g.counters, getMark);
  const getAtomics = v[C.atomic_refcount_ops]! - atomics0;
  const getPgmapRefs = v[C.pgmap_ref_get]! - pgmap0;

  nrPages = i;
  args.getDeltaUsec = Math.trunc(getModel.ns / 1000);
  args.hostGetUsec = usDelta(t0, t1);
  args.size = addr - args.addr; // the truncation report: how far the loop got

  const notHeld = verifyHeld(g, cmd, pages, nrPages);
  const folios = stats !== undefined ? countFolios(g, pages, nrPages) : 0;
  if (cmd === DUMP_USER_PAGES_TEST) dumpPagesTest(g, args, pages, nrPages);

  // put_back_pages()
  const pinned = gupTestPins(cmd, args.testFlags);
  const atomics1 = v[C.atomic_refcount_ops]!;
  const putMark = costMark(g.counters);
  const t2 = nowMs();
  if (pinned) unpinUserPages(g, pages, nrPages);
  else putPages(g, pages, nrPages);
  const t3 = nowMs();
  const putModel = costSince(platform, g.counters, putMark);
  args.putDeltaUsec = Math.trunc(putModel.ns / 1000);
  args.hostPutUsec = usDelta(t2, t3);

  if (stats !== undefined) {
    stats.nrPages = nrPages;
    stats.calls = calls;
    stats.getMs = getModel.ns / 1e6;
    stats.putMs = putModel.ns / 1e6;
    stats.getModel = getModel;
    stats.putModel = putModel;
    stats.hostGetMs = t1 - t0;
    stats.hostPutMs = t3 - t2;
    stats.checkMs = t2 - t1;
    stats.getAtomics = getAtomics;
    stats.putAtomics = v[C.atomic_refcount_ops]! - atomics1;
    stats.getPgmapRefs = getPgmapRefs;
    stats.folios = folios;
    stats.notHeld = notHeld;
  }
  return 0;
}

export function newGupTestStats(): GupTestStats {
  return {
    nrPages: 0,
    calls: 0,
    getMs: 0,
    putMs: 0,
    getModel: null,
    putModel: null,
    hostGetMs: 0,
    hostPutMs: 0,
    checkMs: 0,
    getAtomics: 0,
    putAtomics: 0,
    getPgmapRefs: 0,
    folios: 0,
    notHeld: 0,
  };
}

/** How many folios the first `n` pfns of `pages` lie in: a run of consecutive pfns inside one compound page is one folio. */
function countFolios(g: Gup, pages: Float64Array, n: number): number {
  const m = g.memmap;
  let folios = 0;
  let i = 0;
  while (i < n) {
    const pfn = pages[i]!;
    const head = m.compoundHead(pfn);
    let j = Math.min(n, i + head + m.compoundNr(head) - pfn);
    while (j > i + 1 && pages[j - 1] !== pfn + (j - 1 - i)) j--; // the run ends where the pfns stop being consecutive
    folios++;
    i = j;
  }
  return folios;
}

/**
 * verify_dma_pinned(): for the PIN commands every page must read as
 * dma-pinned (and pinnable for PIN_LONGTERM); the first that does not is
 * WARNed about. The model also checks the GET commands: every page's head
 * must hold more than its idle reference. Pages sharing a head are checked
 * once (the answer depends only on the head). Returns 0 or 1 (it stops at the
 * first failure, as the kernel does).
 *
 * The entries are walked a compound run at a time (page-cursor.ts
 * compoundRun(): consecutive pfns inside one compound page share its head),
 * so compound_head() is decoded at the start and end of each run rather than
 * for every entry; under Gup.referenceLoops, for every entry.
 */
function verifyHeld(g: Gup, cmd: number, pages: Float64Array, nrPages: number): number {
  const m = g.memmap;
  const pin = cmd === PIN_FAST_BENCHMARK || cmd === PIN_BASIC_TEST || cmd === PIN_LONGTERM_BENCHMARK;
  if (!pin && cmd !== GUP_FAST_BENCHMARK && cmd !== GUP_BASIC_TEST) return 0;
  let lastHead = -1;
  const ref = g.referenceLoops;
  const scan = g.runScan(pages);
  const pc = g.pageCur; // compound_head() of each run, one vmemmap translation per vmemmap page
  const hc = g.headCur;
  pc.reset();
  hc.reset();
  for (let i = 0; i < nrPages; ) {
    const page = pages[i]!;
    const head = ref ? m.compoundHead(page) : pc.compoundHead(page);
    const k = ref ? 1 : compoundRun(pc, hc, pages, i, nrPages - i, page, head, scan);
    if (head !== lastHead) {
      lastHead = head;
      if (!headHeld(g, cmd, pin, head, page, i)) return 1;
    }
    i += k;
  }
  return 0;
}

/** verifyHeld()'s check of one head (pages[i] = page is its first entry); false after the WARN. */
function headHeld(g: Gup, cmd: number, pin: boolean, head: number, page: number, i: number): boolean {
  const m = g.memmap;
  if (pin) {
    if (!g.pageMaybeDmaPinned(head)) {
      g.k.log.warn(`WARNING: pages[${i}] is NOT dma-pinned`);
      dumpPage(g, page, 'gup_test failure');
      return false;
    }
    if (cmd === PIN_LONGTERM_BENCHMARK && !g.isPinnablePage(head)) {
      g.k.log.warn(`WARNING: pages[${i}] is NOT pinnable but pinned`);
      dumpPage(g, page, 'gup_test failure');
      return false;
    }
  } else {
    // Model check: a ZONE_DEVICE page idles at refcount 1 (v5.15); a held one is above it.
    const idle = m.pageZonenum(head) === ZONE_DEVICE ? 1 : 0;
    if (m.pageRefCount(head) <= idle) {
      g.k.log.warn(`WARNING: pages[${i}] is NOT held (gup_test model check)`);
      dumpPage(g, page, 'gup_test failure');
      return false;
    }
  }
  return true;
}

/** dump_pages_test() */
function dumpPagesTest(g: Gup, args: GupTestArgs, pages: Float64Array, nrPages: number): void {
  const which = args.whichPages;
  for (let i = 0; i < Math.min(which.length, GUP_TEST_MAX_PAGES_TO_DUMP); i++) {
    if (which[i]! > nrPages) {
      g.k.log.warn(`ZEROING due to out of range: .which_pages[${i}]: ${which[i]}`);
      which[i] = 0;
    }
  }
  for (let i = 0; i < Math.min(which.length, GUP_TEST_MAX_PAGES_TO_DUMP); i++) {
    const idx = which[i]!;
    if (idx === 0) continue;
    g.k.log.info(`---- page #${idx}, starting from user virt addr: 0x${args.addr.toString(16)}`);
    dumpPage(g, pages[idx - 1]!, 'gup_test: dump_pages() test');
  }
}

/** dump_page(), in the shape of v5.15's __dump_page() first lines. */
export function dumpPage(g: Gup, pfn: number, reason: string): void {
  const m = g.memmap;
  const head = m.compoundHead(pfn);
  const kva = (p: number): string => g.k.mmu.kernelVa(g.k.mmu.vmemmapVa(p)).toString(16).padStart(16, '0');
  g.k.log.warn(
    `page:${kva(pfn)} refcount:${m.pageRefCount(head)} mapcount:0 mapping:0000000000000000 index:0x${m.pageIndex(pfn).toString(16)} pfn:0x${pfn.toString(16)}`,
  );
  if (head !== pfn || m.PageHead(pfn))
    g.k.log.warn(`head:${kva(head)} order:${m.compoundOrder(head)} compound_mapcount:0 compound_pincount:${m.compoundOrder(head) > 1 ? m.compoundPincount(head) : 0}`);
  g.k.log.warn(`flags: 0x${m.flags(head).toString(16)}`);
  g.k.log.warn(`page dumped because: ${reason}`);
}

/** FOLL_PIN commands release with unpin_user_pages(); the others with put_page(). */
export function gupTestPins(cmd: number, testFlags: number): boolean {
  return (
    cmd === PIN_FAST_BENCHMARK ||
    cmd === PIN_BASIC_TEST ||
    cmd === PIN_LONGTERM_BENCHMARK ||
    (cmd === DUMP_USER_PAGES_TEST && (testFlags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN) !== 0)
  );
}

