import { type MemoryHotplug } from '@daxsim/kmem';
import { SECTION_IS_ONLINE } from '@daxsim/sparse-vmemmap';
import { ZONE_MOVABLE, hex } from '@daxsim/mm';
import type { Violation } from './invariants.js';

/**
 * The memory-block invariant family (system-ram mode, @daxsim/kmem):
 * - an online block's pages (past its self-hosted memmap) are exactly one
 *   area of its node's buddy allocator, movable iff the block is in
 *   ZONE_MOVABLE, its sections online and its struct pages in its zone and
 *   node; every allocated page of it has an owner: a process's memory
 *   (AnonMemory) or, in ZONE_NORMAL only, a kernel allocation the allocator
 *   counts under its purpose;
 * - an offline block has no page in the allocator, no owner's page, and no
 *   online section;
 * - a block with its own memmap has handed its altmap exactly its
 *   memmap's pfns.
 * Allocation-free per page: the allocator's free blocks are read once.
 */
export function checkMemoryBlocks(hp: MemoryHotplug): Violation[] {
  const out: Violation[] = [];
  const add = (invariant: string, message: string) => out.push({ invariant, message });
  const k = hp.k;
  const b = k.buddy;
  const s = k.sparse;
  const areas = b.debugNodes().filter((a) => a.hotplug);
  const owned = new Map<number, boolean>(); // pfn → movable owner
  for (const o of hp.movableOwners) for (const pfn of o.pfns) owned.set(pfn, o.movable);
  let kernelInHotplug = 0;
  const seen = new Set<number>();
  for (const blk of hp.blocks.values()) {
    const name = `memory${blk.id}`;
    const first = blk.startPfn + blk.nrVmemmapPages;
    const end = blk.startPfn + blk.nrPages;
    if (blk.altmap && blk.altmap.alloc + blk.altmap.align !== blk.nrVmemmapPages)
      add('memory-block-altmap', `${name}: its altmap handed out ${blk.altmap.alloc + blk.altmap.align} pfns for a ${blk.nrVmemmapPages}-pfn memmap`);
    const overlapping = areas.filter((a) => a.startPfn < end && a.endPfn > blk.startPfn);
    let sectionsOnline = 0;
    for (let pfn = blk.startPfn; pfn < end; pfn += s.pagesPerSection) if (s.sectionFlags(s.pfnToSectionNr(pfn)) & SECTION_IS_ONLINE) sectionsOnline++;
    const sections = blk.nrPages / s.pagesPerSection;
    if (blk.state === 'offline') {
      if (overlapping.length) add('memory-block-offline', `${name} is offline but pfns ${hex(overlapping[0]!.startPfn)}-${hex(overlapping[0]!.endPfn - 1)} are in the buddy allocator`);
      if (sectionsOnline) add('memory-block-offline', `${name} is offline but ${sectionsOnline} of its sections are online`);
      for (const pfn of owned.keys()) if (pfn >= blk.startPfn && pfn < end) add('memory-block-offline', `${name} is offline but pfn ${hex(pfn)} is a process's page`);
      continue;
    }
    if (overlapping.length !== 1 || overlapping[0]!.startPfn !== first || overlapping[0]!.endPfn !== end || overlapping[0]!.nid !== blk.nid) {
      add('memory-block-online', `${name} is online but the allocator has ${overlapping.length} areas over it, not exactly pfns ${hex(first)}-${hex(end - 1)} of node ${blk.nid}`);
      continue;
    }
    const area = overlapping[0]!;
    seen.add(area.startPfn);
    const movable = blk.zone === ZONE_MOVABLE;
    if (area.movable !== movable) add('memory-block-online', `${name} is in ${movable ? 'ZONE_MOVABLE' : 'ZONE_NORMAL'} but its allocator area is ${area.movable ? '' : 'not '}movable`);
    if (sectionsOnline !== sections) add('memory-block-online', `${name} is online but ${sections - sectionsOnline} of its sections are not`);
    for (const pfn of [first, end - 1])
      if (k.memmap.pageZonenum(pfn) !== blk.zone || k.memmap.pageToNid(pfn) !== blk.nid)
        add('memory-block-struct-page', `${name}: pfn ${hex(pfn)} has zone ${k.memmap.pageZonenum(pfn)} node ${k.memmap.pageToNid(pfn)}, not ${blk.zone} ${blk.nid}`);
    // allocated = not covered by a free block; every one has an owner
    const free = area.freeBlocks.sort((x, y) => x[0] - y[0]);
    let pfn = first;
    const account = (lo: number, hi: number) => {
      for (let p = lo; p < hi; p++) {
        const o = owned.get(p);
        if (o === undefined) {
          if (movable) {
            add('memory-block-owner', `${name} (ZONE_MOVABLE): pfn ${hex(p)} is allocated and no process owns it`);
            return;
          }
          kernelInHotplug++;
        }
      }
    };
    for (const [fp, order] of free) {
      if (fp > pfn) account(pfn, fp);
      pfn = Math.max(pfn, fp + 2 ** order);
    }
    if (pfn < end) account(pfn, end);
  }
  for (const a of areas) if (!seen.has(a.startPfn)) add('memory-block-online', `allocator area pfns ${hex(a.startPfn)}-${hex(a.endPfn - 1)} belongs to no online memory block`);
  // the owners' pages are allocated frames
  for (const pfn of owned.keys()) if (b.managesPfn(pfn) && b.pageCount(pfn) === 0) add('memory-block-owner', `pfn ${hex(pfn)} is a process's page but is free`);
  let kernelCounted = 0;
  for (const p of ['vmemmap_data', 'vmemmap_pagetable', 'user_pagetable', 'other'] as const) kernelCounted += b.framesInUse(p);
  let ownedCount = 0;
  for (const o of hp.movableOwners) ownedCount += o.pfns.length;
  if (kernelInHotplug > kernelCounted - ownedCount)
    add('memory-block-owner', `${kernelInHotplug} allocated pages of ZONE_NORMAL blocks have no owner, more than the ${kernelCounted - ownedCount} kernel pages the allocator counts`);
  return out;
}
