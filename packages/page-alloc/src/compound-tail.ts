import {
  NODES_HI_SHIFT,
  STRUCT_PAGE_WORDS,
  TAIL_MAPPING_HI,
  TAIL_MAPPING_LO,
  W_HEAD,
  W_MAPCOUNT,
  W_MAPPING,
  ZONES_HI_SHIFT,
  ZONE_DEVICE,
  compoundInfoMask,
  structPagesPerPage,
} from '@daxsim/mm';
import type { KernelCore } from '@daxsim/mm';

/**
 * The words of one ZONE_DEVICE tail struct page of `order` on node `nid` in
 * the compound_info encoding, written into out[0..15]: what
 * __init_zone_device_page() and prep_compound_tail() leave (reserved, zone
 * and node links, refcount 0, _mapcount -1, TAIL_MAPPING) with the order's
 * mask in compound_info. Every such tail is byte-identical, whichever
 * compound page it belongs to: that is what lets one page hold them all.
 */
export function compoundTailWords(k: KernelCore, nid: number, order: number, out: Int32Array): void {
  out.fill(0, 0, STRUCT_PAGE_WORDS);
  out[0] = 1 << k.memmap.pg.reserved;
  out[1] = (nid << NODES_HI_SHIFT) | (ZONE_DEVICE << ZONES_HI_SHIFT);
  const [lo, hi] = compoundInfoMask(k.arch, order);
  out[W_HEAD] = lo;
  out[W_HEAD + 1] = hi;
  out[W_MAPPING] = TAIL_MAPPING_LO;
  out[W_MAPPING + 1] = TAIL_MAPPING_HI;
  out[W_MAPCOUNT] = -1;
}

const scratch = new Int32Array(STRUCT_PAGE_WORDS);

/**
 * init_compound_tail() over a whole page (Kiryl Shutsemau's per-zone
 * vmemmap_tails[], as the shared-tail proposal gives device-dax): fills
 * frame `pfn` with tail struct pages of `order` through the kernel's direct
 * map (the frame is not in the vmemmap yet). The zone is ZONE_DEVICE of `nid`.
 */
export function initCompoundTailFrame(k: KernelCore, pfn: number, nid: number, order: number): void {
  compoundTailWords(k, nid, order, scratch);
  const m = k.mem;
  const slot = m.materialise(pfn);
  const w = m.slabI32[slot >>> m.slabShift]!;
  const base = m.slotWord(slot);
  const spp = structPagesPerPage(k.arch);
  for (let j = 0; j < spp; j++) w.set(scratch, base + j * STRUCT_PAGE_WORDS);
}

/** Whether frame `pfn` still holds exactly what initCompoundTailFrame() wrote (an unwritten frame does not). */
export function compoundTailFrameIntact(k: KernelCore, pfn: number, nid: number, order: number): boolean {
  compoundTailWords(k, nid, order, scratch);
  const m = k.mem;
  const slot = m.frameSlot(pfn);
  if (slot < 0) return false;
  const w = m.slabI32[slot >>> m.slabShift]!;
  const base = m.slotWord(slot);
  const spp = structPagesPerPage(k.arch);
  for (let j = 0; j < spp; j++) for (let x = 0; x < STRUCT_PAGE_WORDS; x++) if (w[base + j * STRUCT_PAGE_WORDS + x] !== scratch[x]) return false;
  return true;
}
