import {
  C,
  type Counters,
  EBUSY,
  ENOMEM,
  EINVAL,
  type FrameAllocator,
  type FramePurpose,
  KernelError,
  type PageTableAllocator,
  type PhysicalMemory,
  hex,
} from '@daxsim/mm';

/** The purposes the allocator counts, in the order of `BuddySnapshot.inUse`. */
export const FRAME_PURPOSES: readonly FramePurpose[] = ['vmemmap_data', 'vmemmap_pagetable', 'user_pagetable', 'other'];

const PURPOSE_COUNTER: Record<FramePurpose, number> = {
  vmemmap_data: C.pgalloc_vmemmap_data,
  vmemmap_pagetable: C.pgalloc_vmemmap_pagetable,
  user_pagetable: C.pgalloc_user_pagetable,
  other: C.pgalloc_other,
};
const PURPOSE_INDEX: Record<FramePurpose, number> = { vmemmap_data: 0, vmemmap_pagetable: 1, user_pagetable: 2, other: 3 };

/**
 * One node's free area (struct zone's free_area[] for the node's only zone).
 * Free blocks of order k are bits of `free[k]`, one bit per naturally aligned
 * 2^k block counted from `basePfn`; the lowest free block is handed out first,
 * so the allocator's behaviour is a function of the set of free blocks alone.
 */
class NodeFreeArea {
  readonly nid: number;
  readonly startPfn: number;
  readonly endPfn: number;
  /** startPfn rounded down to a MAX_ORDER-1 block. */
  readonly basePfn: number;
  readonly free: Uint32Array[] = [];
  /** Lowest word of free[k] that may be non-zero. */
  readonly hint: Int32Array;
  /** nr_free per order */
  readonly nrFree: Float64Array;
  /** page_count() of allocated frames (index pfn - basePfn); 0 for free frames. */
  readonly refcount: Int32Array;
  /** A hot-plugged area onlined to ZONE_MOVABLE: only movable allocations come from it. */
  movable = false;
  /** A hot-plugged area (online_pages()): its frames come and go with its memory block. */
  hotplug = false;

  constructor(nid: number, startPfn: number, nrPages: number, maxOrder: number) {
    this.nid = nid;
    this.startPfn = startPfn;
    this.endPfn = startPfn + nrPages;
    const top = 2 ** (maxOrder - 1);
    this.basePfn = startPfn - (startPfn % top);
    const span = this.endPfn - this.basePfn;
    for (let k = 0; k < maxOrder; k++) this.free.push(new Uint32Array(Math.ceil(Math.ceil(span / 2 ** k) / 32)));
    this.hint = new Int32Array(maxOrder);
    this.nrFree = new Float64Array(maxOrder);
    this.refcount = new Int32Array(span);
  }

  isFree(idx: number, order: number): boolean {
    const b = idx >>> order;
    return ((this.free[order]![b >>> 5]! >>> (b & 31)) & 1) === 1;
  }
  setFree(idx: number, order: number): void {
    const b = idx >>> order;
    const w = b >>> 5;
    this.free[order]![w] |= 1 << (b & 31);
    if (w < this.hint[order]!) this.hint[order] = w;
    this.nrFree[order]++;
  }
  clearFree(idx: number, order: number): void {
    const b = idx >>> order;
    this.free[order]![b >>> 5] &= ~(1 << (b & 31));
    this.nrFree[order]--;
  }
  /** PageBuddy() of some enclosing block: the frame at idx is free. */
  isFreeAnyOrder(idx: number, maxOrder: number): boolean {
    for (let k = 0; k < maxOrder; k++) if (this.isFree(idx, k)) return true;
    return false;
  }
  /** The index of the lowest free block of `order`, or -1. */
  first(order: number): number {
    if (this.nrFree[order] === 0) return -1;
    const words = this.free[order]!;
    for (let w = this.hint[order]!; w < words.length; w++) {
      const v = words[w]!;
      if (v !== 0) {
        this.hint[order] = w;
        return ((w << 5) + (31 - Math.clz32(v & -v))) << order;
      }
    }
    return -1;
  }
}

/** A comparable picture of the allocator: free blocks, counts and frame refcounts. */
export interface BuddySnapshot {
  /** Per node: nr_free per order. */
  readonly nrFree: number[][];
  /** Frames in use per purpose (FRAME_PURPOSES order). */
  readonly inUse: number[];
  /** FNV-1a over every free bitmap and refcount array. */
  readonly digest: number;
}

/**
 * The buddy allocator (mm/page_alloc.c) over the RAM ranges of a
 * PhysicalMemory, one free area per node, orders 0..maxOrder-1. Splits on
 * allocation (expand()), merges buddies on free (__free_one_page()). No object
 * per frame: free blocks are bits, page counts an Int32Array per node.
 */
export class BuddyAllocator implements FrameAllocator {
  readonly mem: PhysicalMemory;
  readonly maxOrder: number;
  private readonly counters: Counters;
  private readonly nodes: NodeFreeArea[] = [];
  private readonly byNid = new Map<number, NodeFreeArea[]>();
  /** Frames currently allocated, per purpose. */
  readonly inUse = new Float64Array(4);
  private failCountdown = 0;
  /** The first area of the nid the last allocation asked for (allocPages' fast path). */
  private lastArea: NodeFreeArea | undefined;
  private failPageTableCountdown = 0;

  constructor(mem: PhysicalMemory, counters: Counters) {
    this.mem = mem;
    this.counters = counters;
    this.maxOrder = mem.arch.maxOrder;
    const ps = mem.pageSize;
    for (const r of mem.ranges) {
      if (r.kind !== 'ram') continue;
      const area = new NodeFreeArea(r.nid, r.start / ps, r.size / ps, this.maxOrder);
      this.nodes.push(area);
      const list = this.byNid.get(r.nid) ?? [];
      list.push(area);
      this.byNid.set(r.nid, list);
      // memblock_free_all(): hand every frame to the allocator in the largest aligned blocks
      let pfn = area.startPfn;
      while (pfn < area.endPfn) {
        let order = this.maxOrder - 1;
        while (order > 0 && ((pfn - area.basePfn) % 2 ** order !== 0 || pfn + 2 ** order > area.endPfn)) order--;
        area.setFree(pfn - area.basePfn, order);
        pfn += 2 ** order;
      }
    }
  }

  /** The node ids that have RAM. */
  get nids(): number[] {
    return [...this.byNid.keys()];
  }

  /** should_fail_alloc_page(): the n-th allocation from now (1 = the next) fails; 0 disarms. */
  failNth(n: number): void {
    this.failCountdown = n;
  }

  /** Fault injection for page-table pages only: the n-th page-table allocation from now ('vmemmap_pagetable' or 'user_pagetable'; 1 = the next) fails; 0 disarms. */
  failNthPageTable(n: number): void {
    this.failPageTableCountdown = n;
  }

  /** Read-only: the armed countdowns (0 = disarmed), so a test can tell whether an injected failure fired. */
  failPending(): { alloc: number; pageTable: number } {
    return { alloc: this.failCountdown, pageTable: this.failPageTableCountdown };
  }

  // alloc_pages_node(): from `nid`, falling back to the other nodes (the zonelist)
  allocPages(order: number, nid: number, purpose: FramePurpose): number {
    if (order < 0 || order >= this.maxOrder) {
      this.counters.v[C.pgalloc_fail]++;
      return -ENOMEM;
    }
    if (this.failCountdown > 0 && --this.failCountdown === 0) {
      this.counters.v[C.pgalloc_fail]++;
      return -ENOMEM;
    }
    if (this.failPageTableCountdown > 0 && (purpose === 'vmemmap_pagetable' || purpose === 'user_pagetable') && --this.failPageTableCountdown === 0) {
      this.counters.v[C.pgalloc_fail]++;
      return -ENOMEM;
    }
    let pfn = -1;
    // fast path: the first area of the node that served the last call (one node per nid in most machines)
    const last = this.lastArea;
    if (last !== undefined && last.nid === nid && !last.movable) pfn = this.rmqueue(last, order);
    if (pfn < 0) {
      // GFP_KERNEL: ZONE_NORMAL only, never a ZONE_MOVABLE area
      const local = this.byNid.get(nid) ?? [];
      for (const a of local) if (!a.movable && (pfn = this.rmqueue(a, order)) >= 0) break;
      if (pfn < 0) for (const a of this.nodes) if (!a.movable && !local.includes(a) && (pfn = this.rmqueue(a, order)) >= 0) break;
      this.lastArea = local.find((a) => !a.movable);
    }
    return this.charge(pfn, order, purpose);
  }

  /** Counts an allocation (or its failure, pfn < 0) for its purpose; returns pfn or -ENOMEM. */
  private charge(pfn: number, order: number, purpose: FramePurpose): number {
    if (pfn < 0) {
      this.counters.v[C.pgalloc_fail]++;
      return -ENOMEM;
    }
    const n = 1 << order;
    this.counters.v[PURPOSE_COUNTER[purpose]] += n;
    this.inUse[PURPOSE_INDEX[purpose]] += n;
    return pfn;
  }

  // __rmqueue_smallest() + expand(): lowest block of the smallest order that fits, split down to `order`
  private rmqueue(a: NodeFreeArea, order: number): number {
    for (let cur = order; cur < this.maxOrder; cur++) {
      const idx = a.first(cur);
      if (idx < 0) continue;
      a.clearFree(idx, cur);
      // expand(): give back the upper halves
      for (let k = cur; k > order; k--) a.setFree(idx + (1 << (k - 1)), k - 1);
      a.refcount[idx] = 1; // set_page_refcounted()
      return a.basePfn + idx;
    }
    return -1;
  }

  private areaOf(pfn: number): NodeFreeArea {
    for (const a of this.nodes) if (pfn >= a.startPfn && pfn < a.endPfn) return a;
    throw new KernelError(EINVAL, `BUG: Bad page state: pfn ${hex(pfn)} is not RAM the page allocator manages`);
  }

  // __free_pages() → __free_one_page(): merge with free buddies while possible
  freePages(pfn: number, order: number, purpose: FramePurpose, zeroed = false): void {
    const a = this.areaOf(pfn);
    let idx = pfn - a.basePfn;
    const n = 1 << order;
    if (idx % n !== 0 || pfn + n > a.endPfn)
      throw new KernelError(EINVAL, `BUG: Bad page state: free of pfn ${hex(pfn)} order ${order} is not an allocated block`);
    if (a.isFreeAnyOrder(idx, this.maxOrder) || a.refcount[idx]! > 1)
      throw new KernelError(EINVAL, `BUG: Bad page state: free of pfn ${hex(pfn)} (free already, or count ${a.refcount[idx]})`);
    a.refcount[idx] = 0;
    for (let i = 0; i < n; i++) this.mem.discard(pfn + i, zeroed);
    let k = order;
    while (k < this.maxOrder - 1) {
      const buddy = idx ^ (1 << k);
      const bpfn = a.basePfn + buddy;
      if (bpfn < a.startPfn || bpfn + (1 << k) > a.endPfn || !a.isFree(buddy, k)) break;
      a.clearFree(buddy, k);
      idx = Math.min(idx, buddy);
      k++;
    }
    a.setFree(idx, k);
    this.counters.v[C.pgfree] += n;
    this.inUse[PURPOSE_INDEX[purpose]] -= n;
  }

  /**
   * A movable allocation (GFP_HIGHUSER_MOVABLE, a process's anonymous page):
   * the zonelist of `nid` from the highest zone down (ZONE_MOVABLE areas,
   * then ZONE_NORMAL), then the other nodes in the same order. `exclude`
   * keeps a pfn range out (the range offline_pages() is migrating away
   * from). Returns the pfn or -ENOMEM.
   */
  allocMovablePages(order: number, nid: number, purpose: FramePurpose, exclude?: { start: number; end: number }): number {
    if (order < 0 || order >= this.maxOrder) {
      this.counters.v[C.pgalloc_fail]++;
      return -ENOMEM;
    }
    const local = this.byNid.get(nid) ?? [];
    const remote = this.nodes.filter((a) => a.nid !== nid);
    const usable = (a: NodeFreeArea) => exclude === undefined || a.endPfn <= exclude.start || a.startPfn >= exclude.end;
    let pfn = -1;
    for (const list of [local, remote]) {
      for (const movable of [true, false]) {
        for (const a of list) if (a.movable === movable && usable(a) && (pfn = this.rmqueue(a, order)) >= 0) break;
        if (pfn >= 0) break;
      }
      if (pfn >= 0) break;
    }
    return this.charge(pfn, order, purpose);
  }

  /**
   * online_pages() → generic_online_page() → __free_pages_core() for a
   * memory block: a new area of `nid` over [startPfn, startPfn + nrPages),
   * every frame handed to it in the largest aligned blocks (the kernel
   * frees them to the tail of the free lists, so boot RAM is still used
   * first). EINVAL when the range overlaps an area the allocator has.
   */
  onlinePageRange(nid: number, startPfn: number, nrPages: number, movable: boolean): void {
    const end = startPfn + nrPages;
    if (!Number.isSafeInteger(startPfn) || !Number.isSafeInteger(nrPages) || nrPages <= 0)
      throw new KernelError(EINVAL, `online_pages: pfn ${startPfn} nr_pages ${nrPages} is not a range`);
    for (const a of this.nodes)
      if (startPfn < a.endPfn && a.startPfn < end) throw new KernelError(EINVAL, `online_pages: pfns ${hex(startPfn)}-${hex(end - 1)} overlap pfns the allocator has`);
    const area = new NodeFreeArea(nid, startPfn, nrPages, this.maxOrder);
    area.movable = movable;
    area.hotplug = true;
    let pfn = startPfn;
    while (pfn < end) {
      let order = this.maxOrder - 1;
      while (order > 0 && ((pfn - area.basePfn) % 2 ** order !== 0 || pfn + 2 ** order > end)) order--;
      area.setFree(pfn - area.basePfn, order);
      pfn += 2 ** order;
    }
    this.nodes.push(area);
    const list = this.byNid.get(nid) ?? [];
    list.push(area);
    this.byNid.set(nid, list);
  }

  /**
   * The allocated blocks of the hot-plugged area that starts at startPfn, as
   * [pfn, order] (what scan_movable_pages() would find). EINVAL when no
   * hot-plugged area starts there.
   */
  hotplugAreaAllocated(startPfn: number): [pfn: number, order: number][] {
    const a = this.hotplugArea(startPfn);
    const out: [number, number][] = [];
    for (let idx = a.startPfn - a.basePfn; idx < a.endPfn - a.basePfn; ) {
      let freeOrder = -1;
      for (let k = this.maxOrder - 1; k >= 0; k--)
        if (a.isFree(idx, k)) {
          freeOrder = k;
          break;
        }
      if (freeOrder >= 0) {
        idx = ((idx >>> freeOrder) + 1) << freeOrder;
        continue;
      }
      // an allocated block: its head has the count; its order is the span up to the next head or free frame
      let n = 1;
      while (idx + n < a.endPfn - a.basePfn && a.refcount[idx + n] === 0 && !a.isFreeAnyOrder(idx + n, this.maxOrder)) n++;
      out.push([a.basePfn + idx, 31 - Math.clz32(n)]);
      idx += n;
    }
    return out;
  }

  /**
   * offline_pages() after migration: the hot-plugged area that starts at
   * startPfn leaves the allocator (its free blocks taken off the lists).
   * EBUSY, changing nothing, while any of its frames is allocated.
   */
  offlinePageRange(startPfn: number): void {
    const a = this.hotplugArea(startPfn);
    let free = 0;
    for (let k = 0; k < this.maxOrder; k++) free += a.nrFree[k]! * 2 ** k;
    if (free !== a.endPfn - a.startPfn)
      throw new KernelError(EBUSY, `offline_pages: ${a.endPfn - a.startPfn - free} pages of pfns ${hex(a.startPfn)}-${hex(a.endPfn - 1)} are still allocated`);
    this.nodes.splice(this.nodes.indexOf(a), 1);
    const list = this.byNid.get(a.nid)!;
    list.splice(list.indexOf(a), 1);
    if (!list.length) this.byNid.delete(a.nid);
    if (this.lastArea === a) this.lastArea = undefined;
  }

  /** Free frames of the hot-plugged area that starts at startPfn. */
  hotplugAreaFree(startPfn: number): number {
    const a = this.hotplugArea(startPfn);
    let free = 0;
    for (let k = 0; k < this.maxOrder; k++) free += a.nrFree[k]! * 2 ** k;
    return free;
  }

  private hotplugArea(startPfn: number): NodeFreeArea {
    const a = this.nodes.find((x) => x.hotplug && x.startPfn === startPfn);
    if (!a) throw new KernelError(EINVAL, `offline_pages: no onlined range starts at pfn ${hex(startPfn)}`);
    return a;
  }

  /** get_page() on an allocated frame (the head of its block). */
  getPage(pfn: number): number {
    const a = this.areaOf(pfn);
    const i = pfn - a.basePfn;
    if (a.refcount[i]! <= 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: get_page on free pfn ${hex(pfn)}`);
    return ++a.refcount[i]!;
  }
  /** get_page() n times over (one per PTE that maps the frame). */
  getPages(pfn: number, n: number): number {
    const a = this.areaOf(pfn);
    const i = pfn - a.basePfn;
    if (a.refcount[i]! <= 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: get_page on free pfn ${hex(pfn)}`);
    return (a.refcount[i]! += n);
  }
  /** put_page_testzero(): drops a reference, true when it was the last. */
  putPageTestzero(pfn: number): boolean {
    const a = this.areaOf(pfn);
    const i = pfn - a.basePfn;
    if (a.refcount[i]! <= 0) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: put_page on free pfn ${hex(pfn)}`);
    return --a.refcount[i]! === 0;
  }
  /** put_page_testzero() n times over (one per PTE that mapped the frame): true when the last reference went. */
  putPagesTestzero(pfn: number, n: number): boolean {
    const a = this.areaOf(pfn);
    const i = pfn - a.basePfn;
    if (a.refcount[i]! < n) throw new KernelError(EINVAL, `VM_BUG_ON_PAGE: put_page on free pfn ${hex(pfn)} (count ${a.refcount[i]}, ${n} puts)`);
    return (a.refcount[i]! -= n) === 0;
  }
  /** page_count() of an allocated frame (0 when free). */
  pageCount(pfn: number): number {
    const a = this.areaOf(pfn);
    return a.refcount[pfn - a.basePfn]!;
  }
  /** Whether the allocator manages pfn (RAM). */
  managesPfn(pfn: number): boolean {
    for (const a of this.nodes) if (pfn >= a.startPfn && pfn < a.endPfn) return true;
    return false;
  }

  /** nr_free_pages(), for one node or all. */
  nrFreePages(nid?: number): number {
    let n = 0;
    for (const a of this.nodes) {
      if (nid !== undefined && a.nid !== nid) continue;
      for (let k = 0; k < this.maxOrder; k++) n += a.nrFree[k]! * 2 ** k;
    }
    return n;
  }
  /**
   * Free frames with a pfn in [startPfn, endPfn): a zone's NR_FREE_PAGES when
   * the range is the zone's span (a free block that straddles an end counts
   * its frames inside). Reads each order's bitmap a word at a time.
   */
  nrFreePagesIn(startPfn: number, endPfn: number): number {
    let n = 0;
    for (const a of this.nodes) {
      const lo = Math.max(startPfn, a.startPfn) - a.basePfn;
      const hi = Math.min(endPfn, a.endPfn) - a.basePfn;
      if (lo >= hi) continue;
      for (let k = 0; k < this.maxOrder; k++) {
        if (a.nrFree[k] === 0) continue;
        const size = 2 ** k;
        const first = Math.floor(lo / size);
        const last = Math.floor((hi - 1) / size);
        // a block straddling an end counts only its frames inside [lo, hi)
        const part = (b: number) => (a.isFree(b * size, k) ? Math.min(hi, (b + 1) * size) - Math.max(lo, b * size) : 0);
        n += part(first);
        if (last === first) continue;
        n += part(last);
        // whole blocks first+1 .. last-1: bit runs, a word at a time
        const words = a.free[k]!;
        let b = first + 1;
        for (; b < last && b & 31; b++) n += ((words[b >>> 5]! >>> (b & 31)) & 1) * size;
        for (; b + 32 <= last; b += 32) {
          let v = words[b >>> 5]!;
          v -= (v >>> 1) & 0x55555555;
          v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
          n += ((Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) * size);
        }
        for (; b < last; b++) n += ((words[b >>> 5]! >>> (b & 31)) & 1) * size;
      }
    }
    return n;
  }

  /** free_area[order].nr_free of a node. */
  freeCount(order: number, nid = 0): number {
    let n = 0;
    for (const a of this.byNid.get(nid) ?? []) n += a.nrFree[order]!;
    return n;
  }
  /** Frames allocated for `purpose` and not yet freed. */
  framesInUse(purpose: FramePurpose): number {
    return this.inUse[PURPOSE_INDEX[purpose]]!;
  }

  /**
   * Read-only, for invariant sweeps (@daxsim/debug-vm): each node's span and
   * every free block (pfn, order) in its bitmaps, with nr_free per order as
   * the allocator counts it. Not for hot paths.
   */
  debugNodes(): { nid: number; startPfn: number; endPfn: number; nrFree: number[]; freeBlocks: [pfn: number, order: number][]; hotplug: boolean; movable: boolean }[] {
    return this.nodes.map((a) => {
      const freeBlocks: [number, number][] = [];
      a.free.forEach((bm, k) => {
        for (let w = 0; w < bm.length; w++) {
          let v = bm[w]!;
          while (v !== 0) {
            const bit = 31 - Math.clz32(v & -v);
            v &= v - 1;
            freeBlocks.push([a.basePfn + (((w << 5) + bit) << k), k]);
          }
        }
      });
      return { nid: a.nid, startPfn: a.startPfn, endPfn: a.endPfn, nrFree: Array.from(a.nrFree), freeBlocks, hotplug: a.hotplug, movable: a.movable };
    });
  }

  snapshot(): BuddySnapshot {
    let h = 0x811c9dc5;
    const mix = (v: number) => {
      h ^= v;
      h = Math.imul(h, 0x01000193);
    };
    for (const a of this.nodes) {
      for (const bm of a.free) for (let i = 0; i < bm.length; i++) if (bm[i] !== 0) (mix(i), mix(bm[i]!));
      for (let i = 0; i < a.refcount.length; i++) if (a.refcount[i] !== 0) (mix(i), mix(a.refcount[i]!));
    }
    return {
      nrFree: this.nodes.map((a) => Array.from(a.nrFree)),
      inUse: Array.from(this.inUse),
      digest: h >>> 0,
    };
  }

  /** The allocator as init_mm's page-table allocator: tables are vmemmap_pagetable frames, freed with their last reference. */
  pageTableAllocator(nid: () => number): PageTableAllocator {
    return {
      allocPageTable: () => this.allocPages(0, nid(), 'vmemmap_pagetable'),
      freePageTable: (pfn: number, zeroed?: boolean) => {
        if (this.putPageTestzero(pfn)) this.freePages(pfn, 0, 'vmemmap_pagetable', zeroed);
      },
    };
  }
}

