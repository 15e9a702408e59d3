import { type DevPagemap, MEMORY_DEVICE_FS_DAX, MEMORY_DEVICE_PRIVATE, ZONE_DEVICE } from '@daxsim/mm';
import { type Kernel, putDevPagemap } from './memremap.js';

/**
 * The devmap_managed_key static branch: on while some fsdax or device-private
 * pgmap is mapped, so put_page() of every other page skips the
 * page_is_devmap_managed() test.
 */
export function devmapManagedKey(k: Kernel): boolean {
  const entries = k.pgmaps.entries;
  for (let i = 0; i < entries.length; i++) {
    const t = entries[i]!.pgmap.type;
    if (t === MEMORY_DEVICE_FS_DAX || t === MEMORY_DEVICE_PRIVATE) return true;
  }
  return false;
}

/** __put_page(): a ZONE_DEVICE page at refcount 0 gives its pgmap reference back and stays put. */
export function putPageFinal(k: Kernel, head: number): void {
  const m = k.memmap;
  if (m.pageZonenum(head) === ZONE_DEVICE) {
    const pgmap = m.pagePgmap<DevPagemap>(head);
    if (pgmap !== undefined) putDevPagemap(k, pgmap);
  }
  // Ordinary pages are never referenced from user space in this model (only device memory is mapped).
}

/**
 * put_page() (v5.15): drops a reference on compound_head(pfn). A
 * devmap-managed page (fsdax, device-private) is idle at refcount 1 and calls
 * its pgmap's page_free; any other ZONE_DEVICE page that reaches 0 drops its
 * pgmap reference (__put_page). Device-dax pages are not devmap-managed.
 */
export function putPage(k: Kernel, pfn: number): void {
  const m = k.memmap;
  const head = m.compoundHead(pfn);
  if (devmapManagedKey(k) && m.pageZonenum(head) === ZONE_DEVICE) {
    const pgmap = m.pagePgmap<DevPagemap>(head);
    if (pgmap !== undefined && (pgmap.type === MEMORY_DEVICE_FS_DAX || pgmap.type === MEMORY_DEVICE_PRIVATE)) {
      // put_devmap_managed_page()
      const count = m.pageRefAdd(head, -1);
      if (count === 1) pgmap.ops?.pageFree?.(head);
      else if (count === 0) putPageFinal(k, head);
      return;
    }
  }
  if (m.pageRefAdd(head, -1) === 0) putPageFinal(k, head);
}
