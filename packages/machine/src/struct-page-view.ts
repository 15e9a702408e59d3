import * as mm from '@daxsim/mm';
import {
  type ArchProfile,
  NODES_SHIFT,
  PAGE_COMPOUND_HEAD_OFFSET,
  PAGE_FLAGS_OFFSET,
  PAGE_INDEX_OFFSET,
  PAGE_MAPCOUNT_OFFSET,
  PAGE_MAPPING_OFFSET,
  PAGE_PRIVATE_OFFSET,
  PAGE_REFCOUNT_OFFSET,
  type StructPageLayout,
  TAIL_MAPPING_HI,
  TAIL_MAPPING_LO,
  ZONES_SHIFT,
  isCompoundInfoMask,
} from '@daxsim/mm';

/**
 * enum pageflags by bit for a release, named as page-flags.h names them
 * (PG_head → "head"), from the layout's flag numbering: the same bit is a
 * different flag in 6.1 and 7.3.
 */
function pageFlagNames(layout: StructPageLayout): readonly string[] {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(layout.pg)) names[bit] = name;
  return names;
}

/** enum zone_type, by value, from @daxsim/mm's ZONE_ constants. */
const ZONE_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [k, v] of Object.entries(mm)) if (k.startsWith('ZONE_') && typeof v === 'number' && k !== 'ZONES_SHIFT') names[v] = k.slice(5);
  return names;
})();

// page-flags-layout.h with SPARSEMEM_VMEMMAP (no section field): the node then the zone, from the top of page->flags.
const NODES_PGSHIFT = 64 - NODES_SHIFT;
const ZONES_PGSHIFT = NODES_PGSHIFT - ZONES_SHIFT;

/** One 64-byte struct page, as bytes and as the fields mm_types.h gives them. */
export interface StructPageView {
  readonly pfn: number;
  /** The 64 bytes, read through the vmemmap. */
  readonly bytes: readonly number[];
  /** page->flags as 16 hex digits, its PG_ bits by name, its zone and node. */
  readonly flags: string;
  readonly flagNames: readonly string[];
  readonly zone: string;
  readonly node: number;
  /** compound_head (bit 0 set: a tail page): the head's pfn; null when the word is not a tail's compound_head. */
  readonly compoundHead: number | null;
  /** The word at 8 as hex (compound_head, or pgmap / lru.next), with what it points at when known. */
  readonly word8: string;
  readonly word8Object: string | null;
  readonly mapping: string;
  readonly mappingObject: string | null;
  readonly index: number;
  readonly private: number;
  /** _mapcount as stored (-1: not mapped) and _refcount. */
  readonly mapcount: number;
  readonly refcount: number;
  /**
   * The folio fields this page would hold as a head's first tail, at the
   * offsets of the release's layout (-1 for a field the release does not
   * have): compound_dtor, the order, compound_nr / _nr_pages, the entire
   * mapcount, and from 6.6/7.3 _nr_pages_mapped, _large_mapcount and the
   * _mm_id slots.
   */
  readonly asFirstTail: {
    readonly dtor: number;
    readonly order: number;
    readonly mapcount: number;
    readonly nr: number;
    readonly largeMapcount: number | null;
    readonly nrPagesMapped: number | null;
    readonly pincount: number | null;
    readonly mmIdMapcount: readonly [number, number] | null;
    readonly mmIds: string | null;
  };
  /** The pincount as the seed's second tail held it (hpage_pinned_refcount); null on releases that keep it in the first tail. */
  readonly asSecondTail: { readonly pincount: number | null };
}

const hex64 = (hi: number, lo: number) => `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;

/**
 * Decodes a struct page from its bytes, at the byte offsets and flag numbers
 * of the release's layout (mm_types.h, page-flags.h of that release).
 * `name` names what a kernel pointer points at (the model's object
 * registry), or returns null.
 */
export function decodeStructPage(
  arch: ArchProfile,
  layout: StructPageLayout,
  pfn: number,
  bytes: Uint8Array,
  name: (lo: number, hi: number) => string | null,
): StructPageView {
  if (bytes.length !== arch.structPageSize) throw new mm.KernelError(mm.EINVAL, `struct page of pfn ${pfn}: ${bytes.length} bytes, not ${arch.structPageSize}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (off: number) => dv.getUint32(off, true);
  const i32 = (off: number) => dv.getInt32(off, true);
  const at = (off: number) => (off >= 0 ? i32(off) : null);
  const flagsLo = u32(PAGE_FLAGS_OFFSET);
  const flagsHi = u32(PAGE_FLAGS_OFFSET + 4);
  const names = pageFlagNames(layout);
  const flagNames: string[] = [];
  for (let b = 0; b < 32; b++) if ((flagsLo >>> b) & 1) flagNames.push(names[b] ?? `bit${b}`);
  const zone = (flagsHi >>> (ZONES_PGSHIFT - 32)) & ((1 << ZONES_SHIFT) - 1);
  const node = (flagsHi >>> (NODES_PGSHIFT - 32)) & ((1 << NODES_SHIFT) - 1);
  const w8lo = u32(PAGE_COMPOUND_HEAD_OFFSET);
  const w8hi = u32(PAGE_COMPOUND_HEAD_OFFSET + 4);
  let compoundHead: number | null = null;
  if (w8lo & 1) {
    // compound_head(): head's vmemmap address + 1, or (compound_info_has_mask()) a
    // mask applied to this page's own vmemmap address; back to a pfn through VMEMMAP_START
    const own = arch.vmemmapStart + BigInt(pfn) * BigInt(arch.structPageSize);
    const word = (BigInt(w8hi) << 32n) | BigInt((w8lo & ~1) >>> 0);
    const va = isCompoundInfoMask(w8lo | 0, w8hi | 0) ? own & word : word;
    compoundHead = Number((va - arch.vmemmapStart) / BigInt(arch.structPageSize));
  }
  const mlo = u32(PAGE_MAPPING_OFFSET);
  const mhi = u32(PAGE_MAPPING_OFFSET + 4);
  const tail = mlo === TAIL_MAPPING_LO && mhi === TAIL_MAPPING_HI >>> 0;
  const pincountHere = (page: 1 | 2) => (layout.pincountPage === page ? i32(layout.pincount) : null);
  return {
    pfn,
    bytes: [...bytes],
    flags: hex64(flagsHi, flagsLo),
    flagNames,
    zone: ZONE_NAMES[zone] ?? String(zone),
    node,
    compoundHead,
    word8: hex64(w8hi, w8lo),
    word8Object: compoundHead === null ? name(w8lo | 0, w8hi | 0) : null,
    mapping: tail ? 'TAIL_MAPPING' : hex64(mhi, mlo),
    mappingObject: tail ? null : name(mlo | 0, mhi | 0),
    index: u32(PAGE_INDEX_OFFSET + 4) * 0x100000000 + u32(PAGE_INDEX_OFFSET),
    private: u32(PAGE_PRIVATE_OFFSET),
    mapcount: i32(PAGE_MAPCOUNT_OFFSET),
    refcount: i32(PAGE_REFCOUNT_OFFSET),
    asFirstTail: {
      dtor: layout.dtor >= 0 ? dv.getUint8(layout.dtor) : -1,
      order: dv.getUint8(layout.order),
      mapcount: i32(layout.entireMapcount),
      nr: u32(layout.nr),
      largeMapcount: at(layout.largeMapcount),
      nrPagesMapped: at(layout.nrPagesMapped),
      pincount: pincountHere(1),
      mmIdMapcount: layout.mmIdMapcount >= 0 ? [i32(layout.mmIdMapcount), i32(layout.mmIdMapcount + 4)] : null,
      mmIds: layout.mmIds >= 0 ? hex64(u32(layout.mmIds + 4), u32(layout.mmIds)) : null,
    },
    asSecondTail: { pincount: pincountHere(2) },
  };
}
