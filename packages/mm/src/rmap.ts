import type { KernelCore } from './kernel.js';
import type { MmStruct } from './mm-types.js';
import type { Memmap } from './struct-page.js';

/**
 * The file rmap of a folio as 7.3 keeps it (mm/rmap.c __folio_add_rmap /
 * __folio_remove_rmap, include/linux/rmap.h folio_add_large_mapcount), for
 * the releases whose device-dax faults map folios (aed877c2b425, v6.15):
 *
 * - a PMD or PUD mapping of a large folio ("entire"): _entire_mapcount + 1
 *   (it starts at -1), _nr_pages_mapped + ENTIRELY_MAPPED on the first such
 *   mapping, _large_mapcount + 1 and the mapping mm's _mm_id_mapcount slot;
 * - a PTE mapping of an order-0 folio: page->_mapcount + 1.
 *
 * The 7.3 measurements (shared/real-kernel/gup-ref) of a 2 MiB folio mapped
 * 1 then 4 times by one process: _large_mapcount 0 → 3, _entire_mapcount
 * 0 → 3, _nr_pages_mapped 0x800000, _mm_id_mapcount[0] 0 → 3, _mm_ids
 * slot 0 = the mm's id; all back to -1 / 0 / -1 after the last munmap.
 * The per-page _mapcount of head and tails stays -1.
 *
 * Not modelled: the NR_FILE_MAPPED / NR_FILE_PMDMAPPED node statistics
 * __folio_mod_stat() adjusts, and the large-mapcount lock bit (the model is
 * single-threaded).
 */

/** ENTIRELY_MAPPED (mm/internal.h): the bit _nr_pages_mapped carries while a PMD/PUD maps the whole folio. */
export const ENTIRELY_MAPPED = 0x800000;
/** MM_ID_DUMMY: an empty _mm_ids slot. */
export const MM_ID_DUMMY = 0;
/** MM_ID_MIN / MM_ID_MAX: the ids mm_alloc_id() hands out (ida_alloc_range). */
export const MM_ID_MIN = 1;
export const MM_ID_BITS = 31;
export const MM_ID_MAX = 2 ** MM_ID_BITS - 1;

/**
 * folio->_mm_ids, two 31-bit ids packed into one unsigned long: slot 0 in
 * bits 0..30, slot 1 in bits 31..61, FOLIO_MM_IDS_SHARED_BIT at bit 63
 * (include/linux/mm_types.h). Slot 0 at bits 0..30 is measured (7.3:
 * @40 = 4, @44 = 0); where slot 1 and the shared bit sit is read from the
 * header, not measured.
 */
function mmIdGet(m: Memmap, head: number, slot: 0 | 1): number {
  const [lo, hi] = m.folioMmIds(head)!;
  return slot === 0 ? lo & MM_ID_MAX : ((lo >>> 31) | ((hi & 0x3fffffff) << 1)) >>> 0;
}
function mmIdSet(m: Memmap, head: number, slot: 0 | 1, id: number): void {
  const [lo, hi] = m.folioMmIds(head)!;
  if (slot === 0) m.setFolioMmIds(head, [(lo & ~MM_ID_MAX) | id, hi]);
  else m.setFolioMmIds(head, [(lo & MM_ID_MAX) | ((id & 1) << 31), (hi & ~0x3fffffff) | (id >>> 1)]);
}
function mmIdsSetShared(m: Memmap, head: number, shared: boolean): void {
  const [lo, hi] = m.folioMmIds(head)!;
  m.setFolioMmIds(head, [lo, shared ? hi | (1 << 31) : hi & 0x7fffffff]);
}

/** folio_add_return_large_mapcount(): _large_mapcount and the mm's _mm_id_mapcount slot, + diff. */
function folioAddLargeMapcount(m: Memmap, head: number, diff: number, mm: MmStruct): void {
  const raw = m.folioLargeMapcountRaw(head);
  if (raw === undefined) return;
  const val = raw + diff;
  m.setFolioLargeMapcountRaw(head, val);
  if (m.folioMmIds(head) === undefined) return;
  const id = mm.mmId;
  if (mmIdGet(m, head, 0) === id) m.setFolioMmIdMapcount(head, 0, m.folioMmIdMapcount(head, 0)! + diff);
  else if (mmIdGet(m, head, 1) === id) m.setFolioMmIdMapcount(head, 1, m.folioMmIdMapcount(head, 1)! + diff);
  else if (mmIdGet(m, head, 0) === MM_ID_DUMMY) {
    mmIdSet(m, head, 0, id);
    m.setFolioMmIdMapcount(head, 0, diff - 1);
    if (val !== diff - 1) mmIdsSetShared(m, head, true); // other mappings already
  } else if (mmIdGet(m, head, 1) === MM_ID_DUMMY) {
    mmIdSet(m, head, 1, id);
    m.setFolioMmIdMapcount(head, 1, diff - 1);
    mmIdsSetShared(m, head, true); // slot 0 certainly maps it as well
  } else mmIdsSetShared(m, head, true); // a third mm: shared, untracked
}

/** folio_sub_return_large_mapcount(): the reverse; a slot that drops to -1 is emptied, and a folio left to one mm is exclusive again. */
function folioSubLargeMapcount(m: Memmap, head: number, diff: number, mm: MmStruct): void {
  const raw = m.folioLargeMapcountRaw(head);
  if (raw === undefined) return;
  const val = raw - diff;
  m.setFolioLargeMapcountRaw(head, val);
  if (m.folioMmIds(head) === undefined) return;
  const id = mm.mmId;
  for (const slot of [0, 1] as const) {
    if (mmIdGet(m, head, slot) !== id) continue;
    const c = m.folioMmIdMapcount(head, slot)! - diff;
    if (c >= 0) {
      m.setFolioMmIdMapcount(head, slot, c);
      return;
    }
    m.setFolioMmIdMapcount(head, slot, -1);
    mmIdSet(m, head, slot, MM_ID_DUMMY);
    break;
  }
  // after dropping a slot the folio may be exclusive to the other one's mm
  if (val === -1) mmIdsSetShared(m, head, false);
  else if (m.folioMmIdMapcount(head, 0) === val || m.folioMmIdMapcount(head, 1) === val) mmIdsSetShared(m, head, false);
}

/**
 * folio_add_file_rmap_pmd() / folio_add_file_rmap_pud(): one more mapping
 * of the whole large folio `head` by `mm`.
 */
export function folioAddFileRmapEntire(m: Memmap, head: number, mm: MmStruct): void {
  const entire = m.compoundMapcount(head) + 1;
  m.setCompoundMapcount(head, entire);
  const mapped = m.folioNrPagesMapped(head);
  if (entire === 0 && mapped !== undefined) m.setFolioNrPagesMapped(head, mapped + ENTIRELY_MAPPED);
  folioAddLargeMapcount(m, head, 1, mm);
}

/** folio_remove_rmap_pmd() / folio_remove_rmap_pud(). */
export function folioRemoveRmapEntire(m: Memmap, head: number, mm: MmStruct): void {
  const entire = m.compoundMapcount(head) - 1;
  if (entire < -1) throw new Error(`BUG: folio_remove_rmap_pmd: pfn ${head} is not mapped whole`);
  m.setCompoundMapcount(head, entire);
  const mapped = m.folioNrPagesMapped(head);
  if (entire === -1 && mapped !== undefined) m.setFolioNrPagesMapped(head, mapped - ENTIRELY_MAPPED);
  folioSubLargeMapcount(m, head, 1, mm);
}

/** folio_add_file_rmap_pte() of an order-0 folio: page->_mapcount + 1. */
export function folioAddFileRmapPte(m: Memmap, pfn: number): void {
  m.setPageMapcountRaw(pfn, m.pageMapcountRaw(pfn) + 1);
}

/** folio_remove_rmap_pte() of an order-0 folio. */
export function folioRemoveRmapPte(m: Memmap, pfn: number): void {
  const v = m.pageMapcountRaw(pfn) - 1;
  if (v < -1) throw new Error(`BUG: folio_remove_rmap_pte: pfn ${pfn} is not mapped`);
  m.setPageMapcountRaw(pfn, v);
}

/**
 * folio_mapcount(): how many page-table entries map the folio (PMD/PUD
 * mappings of a large folio, PTE mappings of an order-0 one).
 */
export function folioMapcount(m: Memmap, head: number): number {
  if (!m.PageHead(head)) return m.pageMapcountRaw(head) + 1;
  const large = m.folioLargeMapcountRaw(head);
  return (large ?? m.compoundMapcount(head)) + 1;
}

/** mm_alloc_id() / mm_free_id(): the per-kernel IDA of mm ids (CONFIG_MM_ID), lowest free first. */
const mmIdIda = new WeakMap<KernelCore, Set<number>>();
export function mmAllocId(k: KernelCore): number {
  let used = mmIdIda.get(k);
  if (!used) mmIdIda.set(k, (used = new Set()));
  let id = MM_ID_MIN;
  while (used.has(id)) id++;
  used.add(id);
  return id;
}
export function mmFreeId(k: KernelCore, id: number): void {
  mmIdIda.get(k)?.delete(id);
}
