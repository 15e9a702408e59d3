import { type DevPagemap, EBUSY, KernelError, MEMORY_DEVICE_GENERIC, type PhysAddrRange, W_REFCOUNT, folioMapcount } from '@daxsim/mm';
import {
  memremapPages as mmMemremapPages,
  memunmapPages as mmMemunmapPages,
  newDevPagemap,
  pfnEnd,
  pfnFirst,
  pfnLen,
  pgmapVmemmapShift,
} from '@daxsim/memremap';
import type { DaxBus } from './dax-region.js';

// The one place device-dax reaches @daxsim/memremap.

/** A fresh dev_pagemap of type MEMORY_DEVICE_GENERIC over `ranges` (the devm_kzalloc'd pgmap of dev_dax_probe). */
export function makeDevPagemap(_bus: DaxBus, init: { ranges: PhysAddrRange[]; name: string }): DevPagemap {
  return newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: init.ranges.map((r) => ({ ...r })), name: init.name });
}

// Per pgmap: the memmap's refcountEpoch right after memremap_pages() initialised its struct pages.
const initEpoch = new WeakMap<DevPagemap, number>();

/** devm_memremap_pages() with the bus's vmemmap generation. */
export function memremapPages(bus: DaxBus, pgmap: DevPagemap, nid: number): void {
  mmMemremapPages(bus.k, pgmap, nid, bus.generation === undefined ? {} : { generation: bus.generation });
  initEpoch.set(pgmap, bus.k.memmap.refcountEpoch);
}

/**
 * Refuses (-EBUSY) before anything is torn down when references beyond the
 * per-page ones are held (pins): the kernel would wait for them forever in
 * memunmap_pages(); the model says so instead.
 */
export function checkPgmapIdle(bus: DaxBus, pgmap: DevPagemap, who: string): void {
  let bulk = 0;
  for (let i = 0; i < pgmap.ranges.length; i++) bulk += pfnLen(bus.k, pgmap, i);
  if (pgmap.ref !== bulk)
    throw new KernelError(EBUSY, `${who}: ${pgmap.ref - bulk} references to the device's pages are still held (unpin them first)`);
  // GUP holds page references (and pins), not pgmap references: a head above
  // its idle count of 1 is a page someone still holds.
  // page_ref_count() of every head, reading the struct pages of one vmemmap page through one translation
  // (a 128 GiB base-page device has 33 million heads: one translation each cost a second per unbind)
  const m = bus.k.memmap;
  // no _refcount anywhere has changed since memmap init left every head at 1: nothing to read
  if (initEpoch.get(pgmap) === m.refcountEpoch) return;
  const sppMask = (1 << m.mmu.sppShift) - 1;
  const spWords = bus.k.arch.structPageSize >>> 2;
  const step = 2 ** pgmapVmemmapShift(bus.k, pgmap);
  let held = 0;
  let vmi = -1;
  let base = 0;
  let w = m.w;
  for (let r = 0; r < pgmap.ranges.length; r++) {
    const end = pfnEnd(bus.k, pgmap, r);
    for (let pfn = pfnFirst(bus.k, pgmap, r); pfn < end; pfn += step) {
      const within = (pfn & sppMask) * spWords;
      const pv = m.vmemmapPage(pfn);
      if (pv !== vmi) {
        base = m.locate(pfn) - within;
        w = m.w;
        vmi = pv;
      }
      // a folio's mappings hold references too (the folio fault model, v6.15): kill_dev_dax() zaps them before memunmap_pages()
      const rc = w[base + within + W_REFCOUNT]!;
      if (rc !== 1 && rc !== 1 + folioMapcount(m, pfn)) held++;
    }
  }
  if (held > 0) throw new KernelError(EBUSY, `${who}: ${held} of the device's pages are still pinned or referenced (unpin them first)`);
}

/** The devm release of memremap_pages(): memunmap_pages(). */
export function memunmapPages(bus: DaxBus, pgmap: DevPagemap): void {
  mmMemunmapPages(bus.k, pgmap);
}

/** The vmemmap shift the memmap was actually built with (0 under the 'pre-series' generation). */
export function memmapShift(bus: DaxBus, pgmap: DevPagemap): number {
  return pgmapVmemmapShift(bus.k, pgmap);
}
