import { initSinglePage } from '@daxsim/page-alloc';
import type { Kernel } from '@daxsim/memremap';
import {
  type ArchProfile,
  C,
  EBUSY,
  EEXIST,
  EINVAL,
  ENOMEM,
  KernelError,
  type VmemAltmap,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  errnoName,
  hex,
  pageblockNrPages,
  pmdSize,
} from '@daxsim/mm';
import { SECTION_IS_ONLINE, addPages, removePages } from '@daxsim/sparse-vmemmap';
import { memoryBlockSizeBytes } from './block-size.js';
import { onlinePagesInit } from './online-memmap.js';

/** What a write to a memory block's `state` (or auto_online_blocks) asks for: enum mmop. */
export type OnlineType = 'offline' | 'online' | 'online_kernel' | 'online_movable';
export const ONLINE_TYPES: readonly OnlineType[] = ['offline', 'online', 'online_kernel', 'online_movable'];
export const isOnlineType = (s: string): s is OnlineType => (ONLINE_TYPES as readonly string[]).includes(s);

/** memory_block_memmap_on_memory_pages(): pfns of one block's own memmap, its vmemmap rounded up to whole pages. */
export function memoryBlockMemmapPages(arch: ArchProfile, blockSize: number): number {
  return Math.ceil(((blockSize / arch.pageSize) * arch.structPageSize) / arch.pageSize);
}

/**
 * mhp_supports_memmap_on_memory() as of 6.8 (one altmap per memory block),
 * given that the parameter is on: the block's memmap fills whole pages and
 * whole pageblocks and leaves memory over, and (x86-64, arm64:
 * arch_supports_memmap_on_memory()) it fills whole PMDs, so that it maps
 * with PMD leaves.
 */
export function mhpSupportsMemmapOnMemory(arch: ArchProfile, blockSize: number): boolean {
  const vmemmapSize = (blockSize / arch.pageSize) * arch.structPageSize;
  const memmapPages = memoryBlockMemmapPages(arch, blockSize);
  if (vmemmapSize % arch.pageSize !== 0) return false;
  if (memmapPages % pageblockNrPages(arch) !== 0) return false;
  if (memmapPages === blockSize / arch.pageSize) return false;
  return vmemmapSize % pmdSize(arch) === 0;
}

/** struct memory_block (drivers/base/memory.c): one memoryN device. */
export interface MemoryBlock {
  /** N of memoryN: the first section's number / sections per block. */
  readonly id: number;
  readonly startPfn: number;
  readonly nrPages: number;
  readonly nid: number;
  state: 'online' | 'offline';
  /** ZONE_NORMAL or ZONE_MOVABLE while online; -1 offline. */
  zone: number;
  /** nr_vmemmap_pages: the block's first pfns hold its own memmap (memmap_on_memory). */
  readonly nrVmemmapPages: number;
  /** The block's altmap (memmap_on_memory), or null. */
  readonly altmap: VmemAltmap | null;
  /** The resource that added it ("dax0.0"). */
  readonly owner: string;
  /** struct pages the last onlining wrote (__init_single_page calls, measured). */
  pagesInitialised: number;
}

/** What the memmap of one add_memory_driver_managed() took, measured when it was built. */
export interface HotplugMemmapStats {
  vmemmapDataFrames: number;
  vmemmapPagetableFrames: number;
  altmapPfns: number;
}

export interface MemoryHotplugOptions {
  /** /sys/devices/system/memory/auto_online_blocks (memhp_default_state=): default 'offline'. */
  readonly autoOnline?: OnlineType;
  /** The memory_hotplug.memmap_on_memory module parameter: default false. */
  readonly memmapOnMemory?: boolean;
  /** End of boot RAM in bytes (max_pfn << PAGE_SHIFT), which sets x86's block size. */
  readonly bootMemEnd: number;
  /** Boot RAM per node, whose ZONE_NORMAL span hot-plugged blocks are tested against. */
  readonly ram: readonly { readonly nid: number; readonly start: number; readonly size: number }[];
}

/**
 * Memory hot(un)plug of one kernel (mm/memory_hotplug.c with the memory
 * block devices of drivers/base/memory.c): add_memory_driver_managed() /
 * remove_memory(), memory blocks and their state, online_pages() /
 * offline_pages() with the zone each block goes to, the auto-online
 * policy and memmap_on_memory.
 */
export class MemoryHotplug {
  readonly k: Kernel;
  readonly blockSize: number;
  readonly pagesPerBlock: number;
  autoOnline: OnlineType;
  memmapOnMemory: boolean;
  /** memoryN by N. */
  readonly blocks = new Map<number, MemoryBlock>();
  /** The altmaps of the blocks that hold their own memmap (also as k.hotplugAltmaps, for invariant sweeps). */
  readonly altmaps = new Set<VmemAltmap>();
  /** Movable pages that live in the buddy allocator and migrate on offline (see AnonMemory). */
  readonly movableOwners = new Set<{ pfns: number[]; readonly nid: number; readonly movable: boolean }>();
  private readonly ram: MemoryHotplugOptions['ram'];

  constructor(k: Kernel, opts: MemoryHotplugOptions) {
    this.k = k;
    this.blockSize = memoryBlockSizeBytes(k.arch, opts.bootMemEnd);
    this.pagesPerBlock = this.blockSize / k.arch.pageSize;
    this.autoOnline = opts.autoOnline ?? 'offline';
    this.memmapOnMemory = opts.memmapOnMemory ?? false;
    this.ram = opts.ram;
    (k as Kernel & { hotplugAltmaps?: Set<VmemAltmap> }).hotplugAltmaps = this.altmaps;
  }

  /** The blocks whose start lies in [start, end) bytes, by id. */
  blocksIn(start: number, end: number): MemoryBlock[] {
    const ps = this.k.arch.pageSize;
    return [...this.blocks.values()].filter((b) => b.startPfn * ps >= start && b.startPfn * ps < end).sort((a, b) => a.id - b.id);
  }

  /** memory_block_memmap_on_memory_pages() */
  memmapPagesPerBlock(): number {
    return memoryBlockMemmapPages(this.k.arch, this.blockSize);
  }

  /** mhp_supports_memmap_on_memory() (see mhpSupportsMemmapOnMemory) */
  mhpSupportsMemmapOnMemory(): boolean {
    return this.memmapOnMemory && mhpSupportsMemmapOnMemory(this.k.arch, this.blockSize);
  }

  /**
   * add_memory_driver_managed() → add_memory_resource(): the range must be
   * memory-block aligned and free of other memory blocks; arch_add_memory()
   * (__add_pages) builds its memmap (from RAM of `nid` or a fallback node;
   * with memmap_on_memory, from each block's own first pfns, one altmap per
   * block); then a memory block device per block, offline, and the
   * auto-online policy onlines them. Throws KernelError, changing nothing.
   */
  addMemoryDriverManaged(nid: number, start: number, size: number, owner: string, memmapOnMemory: boolean): HotplugMemmapStats {
    const k = this.k;
    const ps = k.arch.pageSize;
    const bs = this.blockSize;
    // check_hotplug_memory_range()
    if (!size || start % bs !== 0 || size % bs !== 0)
      throw new KernelError(EINVAL, `add_memory: Block size [${hex(bs)}] unaligned hotplug range: start ${hex(start)}, size ${hex(size)}`);
    // register_memory_resource(): the range must lie in device memory nothing else claimed
    const r = k.mem.rangeOf(start);
    if (!r || r.kind !== 'device' || start + size > r.start + r.size)
      throw new KernelError(EINVAL, `add_memory: range ${hex(start)}-${hex(start + size - 1)} is not inside one device range`);
    if (this.blocksIn(start, start + size).length || k.pgmaps.find(start / ps) || k.pgmaps.find((start + size) / ps - 1))
      throw new KernelError(EEXIST, `add_memory: Unable to reserve System RAM region: ${hex(start)}-${hex(start + size - 1)}`);
    const b = k.buddy;
    const before = { data: b.framesInUse('vmemmap_data'), pt: b.framesInUse('vmemmap_pagetable') };
    const startPfn = start / ps;
    const nrPages = size / ps;
    const ppb = this.pagesPerBlock;
    const useAltmap = memmapOnMemory && this.mhpSupportsMemmapOnMemory();
    const altmaps: VmemAltmap[] = [];
    if (useAltmap) {
      // create_altmaps_and_memory_blocks(): arch_add_memory() block by block, each with its own altmap
      for (let pfn = startPfn; pfn < startPfn + nrPages; pfn += ppb) {
        const altmap: VmemAltmap = { basePfn: pfn, endPfn: pfn + ppb - 1, reserve: 0, free: this.memmapPagesPerBlock(), align: 0, alloc: 0 };
        const rc = addPages(k, nid, pfn, ppb, { altmap, pgmap: null });
        if (rc < 0) {
          for (const a of altmaps) removePages(k, a.basePfn, ppb, a);
          throw new KernelError(-rc, `add_memory: arch_add_memory of ${hex(pfn * ps)}-${hex((pfn + ppb) * ps - 1)}: ${errnoName(rc)}`);
        }
        altmaps.push(altmap);
      }
    } else {
      const rc = addPages(k, nid, startPfn, nrPages, { altmap: null, pgmap: null });
      if (rc < 0) throw new KernelError(-rc, `add_memory: arch_add_memory of ${hex(start)}-${hex(start + size - 1)}: ${errnoName(rc)}`);
    }
    // create_memory_block_devices()
    const sectionsPerBlock = bs / 2 ** k.arch.sectionSizeBits;
    for (let i = 0; i * ppb < nrPages; i++) {
      const pfn = startPfn + i * ppb;
      const id = k.sparse.pfnToSectionNr(pfn) / sectionsPerBlock;
      const altmap = altmaps[i] ?? null;
      if (altmap) this.altmaps.add(altmap);
      this.blocks.set(id, { id, startPfn: pfn, nrPages: ppb, nid, state: 'offline', zone: -1, nrVmemmapPages: altmap ? altmap.free : 0, altmap, owner, pagesInitialised: 0 });
    }
    const stats: HotplugMemmapStats = {
      vmemmapDataFrames: b.framesInUse('vmemmap_data') - before.data,
      vmemmapPagetableFrames: b.framesInUse('vmemmap_pagetable') - before.pt,
      altmapPfns: altmaps.reduce((n, a) => n + a.alloc, 0),
    };
    // if (mhp_default_online_type() != MMOP_OFFLINE) walk_memory_blocks(online_memory_block): failures are ignored
    if (this.autoOnline !== 'offline')
      for (const blk of this.blocksIn(start, start + size))
        try {
          this.onlineBlock(blk.id, this.autoOnline);
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          k.log.warn(`online_memory_block: memory${blk.id}: ${e.message}`);
        }
    return stats;
  }

  /**
   * try_remove_memory(): every block of the range must be offline (EBUSY
   * otherwise, changing nothing); the block devices go, then
   * arch_remove_memory() tears the memmap down (block by block when each
   * has its own altmap).
   */
  removeMemory(start: number, size: number): void {
    const k = this.k;
    const ps = k.arch.pageSize;
    const blocks = this.blocksIn(start, start + size);
    for (const blk of blocks)
      if (blk.state === 'online')
        throw new KernelError(EBUSY, `remove_memory: memory${blk.id} [${hex(blk.startPfn * ps)}-${hex((blk.startPfn + blk.nrPages) * ps - 1)}] is online`);
    for (const blk of blocks) {
      this.blocks.delete(blk.id);
      if (blk.altmap) this.altmaps.delete(blk.altmap);
    }
    if (blocks.some((blk) => blk.altmap)) for (const blk of blocks) removePages(k, blk.startPfn, blk.nrPages, blk.altmap);
    else removePages(k, start / ps, size / ps, null);
  }

  /** A block by id; EINVAL naming it when there is none. */
  block(id: number): MemoryBlock {
    const blk = this.blocks.get(id);
    if (!blk) throw new KernelError(EINVAL, `memory${id}: no such memory block`);
    return blk;
  }

  /** The span [start, end) of pfns of a node's zone: boot RAM for ZONE_NORMAL, plus its online blocks (resize_zone_range / shrink_zone_span). */
  zoneSpan(nid: number, zone: number): { start: number; end: number } | null {
    const ps = this.k.arch.pageSize;
    let start = Infinity;
    let end = -Infinity;
    if (zone === ZONE_NORMAL)
      for (const r of this.ram)
        if (r.nid === nid) {
          start = Math.min(start, r.start / ps);
          end = Math.max(end, (r.start + r.size) / ps);
        }
    for (const blk of this.blocks.values())
      if (blk.nid === nid && blk.state === 'online' && blk.zone === zone) {
        start = Math.min(start, blk.startPfn);
        end = Math.max(end, blk.startPfn + blk.nrPages);
      }
    return end > start ? { start, end } : null;
  }

  // zone_intersects()
  private zoneIntersects(nid: number, zone: number, pfn: number, nr: number): boolean {
    const s = this.zoneSpan(nid, zone);
    return s !== null && pfn < s.end && pfn + nr > s.start;
  }

  /**
   * zone_for_pfn_range() with the default contig-zones policy: online_kernel
   * → ZONE_NORMAL, online_movable → ZONE_MOVABLE, online → the zone the
   * block already lies in when exactly one of them spans it, else
   * ZONE_NORMAL (default_zone_for_pfn() without movable_node).
   */
  zoneForPfnRange(type: OnlineType, nid: number, pfn: number, nr: number): number {
    if (type === 'online_kernel') return ZONE_NORMAL;
    if (type === 'online_movable') return ZONE_MOVABLE;
    const inKernel = this.zoneIntersects(nid, ZONE_NORMAL, pfn, nr);
    const inMovable = this.zoneIntersects(nid, ZONE_MOVABLE, pfn, nr);
    if (inKernel !== inMovable) return inKernel ? ZONE_NORMAL : ZONE_MOVABLE;
    return ZONE_NORMAL;
  }

  /**
   * A write of `type` to memoryN/state: memory_block_online() (zone choice;
   * mhp_init_memmap_on_memory() for a self-hosted memmap; online_pages():
   * move_pfn_range_to_zone() writes the struct pages, generic_online_page()
   * gives the pages to the buddy allocator of the block's node; the
   * sections go online), or memory_block_offline() for 'offline'. Writing
   * the state a block is in already is -EINVAL (device_online() returns 1).
   */
  setBlockState(id: number, type: OnlineType): void {
    if (type === 'offline') this.offlineBlock(id);
    else this.onlineBlock(id, type);
  }

  private onlineBlock(id: number, type: Exclude<OnlineType, 'offline'>): void {
    const k = this.k;
    const blk = this.block(id);
    if (blk.state === 'online') throw new KernelError(EINVAL, `memory${id}: state: ${type}: the block is online already`);
    const zone = this.zoneForPfnRange(type, blk.nid, blk.startPfn, blk.nrPages);
    const mm = k.memmap;
    const written = k.counters.v[C.struct_pages_initialised]!;
    const first = blk.startPfn + blk.nrVmemmapPages;
    const end = blk.startPfn + blk.nrPages;
    // mhp_init_memmap_on_memory(): the memmap's own pfns are initialised and stay reserved (never freed)
    for (let pfn = blk.startPfn; pfn < first; pfn++) {
      initSinglePage(mm, pfn, zone, blk.nid);
      mm.SetPageReserved(pfn);
    }
    k.buddy.onlinePageRange(blk.nid, first, end - first, zone === ZONE_MOVABLE);
    // move_pfn_range_to_zone() → memmap_init_range(); generic_online_page() → __free_pages_core(): count 0
    onlinePagesInit(k, first, end, zone, blk.nid);
    this.setSectionsOnline(blk, true);
    blk.pagesInitialised = k.counters.v[C.struct_pages_initialised]! - written;
    blk.state = 'online';
    blk.zone = zone;
  }

  /**
   * memory_block_offline() → offline_pages(): in ZONE_NORMAL an allocated
   * page that is not movable (a kernel allocation) fails the isolation:
   * -EBUSY, "failure to isolate range"; movable pages (a process's
   * anonymous pages) migrate to free memory outside the block (-ENOMEM,
   * nothing changed, when there is not enough: the kernel would retry until
   * a signal); then the block leaves the buddy allocator and its sections go
   * offline.
   */
  private offlineBlock(id: number): void {
    const k = this.k;
    const ps = k.arch.pageSize;
    const blk = this.block(id);
    if (blk.state === 'offline') throw new KernelError(EINVAL, `memory${id}: state: offline: the block is offline already`);
    const first = blk.startPfn + blk.nrVmemmapPages;
    const end = blk.startPfn + blk.nrPages;
    const range = `[mem ${hex(first * ps)}-${hex(end * ps - 1)}]`;
    const movable = new Map<number, { pfns: number[]; nid: number; i: number }>();
    for (const o of this.movableOwners) {
      if (!o.movable) continue;
      for (let i = 0; i < o.pfns.length; i++) if (o.pfns[i]! >= first && o.pfns[i]! < end) movable.set(o.pfns[i]!, { pfns: o.pfns, nid: o.nid, i });
    }
    const allocated = k.buddy.hotplugAreaAllocated(first);
    // start_isolate_page_range() → has_unmovable_pages(): ZONE_MOVABLE holds no unmovable pages by construction
    for (const [pfn] of allocated)
      if (!movable.has(pfn)) throw new KernelError(EBUSY, `offline_pages: ${range} offline failed due to failure to isolate range (pfn ${hex(pfn)} is not movable)`);
    // do_migrate_range(): is there room for every movable page outside the block?
    const freeOutside = k.buddy.nrFreePages() - k.buddy.hotplugAreaFree(first);
    if (movable.size > freeOutside)
      throw new KernelError(ENOMEM, `offline_pages: ${range}: ${movable.size} pages to migrate and ${freeOutside} free pages outside the block (the kernel retries until a signal)`);
    for (const [pfn, o] of movable) {
      const dst = k.buddy.allocMovablePages(0, o.nid, 'other', { start: first, end });
      if (dst < 0) throw new KernelError(ENOMEM, `offline_pages: ${range}: migration of pfn ${hex(pfn)} found no page`);
      const data = k.mem.frameSlot(pfn) >= 0 ? k.mem.read(pfn * ps, ps) : null;
      if (data) k.mem.write(dst * ps, data);
      k.buddy.freePages(pfn, 0, 'other');
      o.pfns[o.i] = dst;
    }
    k.buddy.offlinePageRange(first);
    this.setSectionsOnline(blk, false);
    blk.state = 'offline';
    blk.zone = -1;
  }

  private setSectionsOnline(blk: MemoryBlock, online: boolean): void {
    const s = this.k.sparse;
    for (let pfn = blk.startPfn; pfn < blk.startPfn + blk.nrPages; pfn += s.pagesPerSection) {
      const sec = s.pfnToSectionNr(pfn);
      s.setSectionFlags(sec, online ? s.sectionFlags(sec) | SECTION_IS_ONLINE : s.sectionFlags(sec) & ~SECTION_IS_ONLINE);
    }
  }

  /** Pages of the machine's memory blocks that are online and managed by the buddy allocator (MemTotal's hot-plugged part). */
  onlinePages(): number {
    let n = 0;
    for (const b of this.blocks.values()) if (b.state === 'online') n += b.nrPages - b.nrVmemmapPages;
    return n;
  }
}
