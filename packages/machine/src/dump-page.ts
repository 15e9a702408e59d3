import { daxPgoffToPhys } from '@daxsim/device-dax';
import { EINVAL, ENXIO, EOPNOTSUPP, KernelError, type StructPageLayout, hex } from '@daxsim/mm';
import type { Machine } from './machine.js';
import { type StructPageView, decodeStructPage } from './struct-page-view.js';

/**
 * dump_page() of the machine's release (mm/debug.c): a struct page read raw
 * through the vmemmap, decoded with the release's layout (decodeStructPage())
 * and printed in the release's format, as text lines and as an object.
 */

/** What `page` names: a pfn, or `daxX.Y:index` (the index-th base page of the device's data, dax_pgoff_to_phys()). */
export interface PageSpec {
  readonly pfn: number;
  /** The text given, for messages. */
  readonly arg: string;
  readonly dev?: string;
  readonly index?: number;
}

/**
 * Resolves `pfn` (decimal or 0x hex) or `daxX.Y:index` to a pfn, as
 * dev_dax's fault path does for a file offset (dax_pgoff_to_phys()).
 * -EINVAL for text that is neither, -ENXIO for an unknown device or an
 * index past its end; nothing on the machine changes.
 */
export function resolvePageSpec(m: Machine, arg: string): PageSpec {
  const ps = m.arch.pageSize;
  const colon = arg.indexOf(':');
  if (colon < 0) {
    const pfn = /^(0x[0-9a-f]+|[0-9]+)$/i.test(arg) ? Number(arg) : NaN;
    if (!Number.isSafeInteger(pfn)) throw new KernelError(EINVAL, `page '${arg}': not a pfn (decimal or 0x hex) or daxX.Y:index`);
    return { pfn, arg };
  }
  const dev = arg.slice(0, colon);
  const text = arg.slice(colon + 1);
  if (!/^dax\d+\.\d+$/.test(dev)) throw new KernelError(EINVAL, `page '${arg}': '${dev}' is not a device-dax name (daxX.Y)`);
  const index = /^(0x[0-9a-f]+|[0-9]+)$/i.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(index)) throw new KernelError(EINVAL, `page '${arg}': index '${text}' is not a page number`);
  const d = m.daxDevice(dev);
  const phys = daxPgoffToPhys(d, index, ps);
  if (phys < 0) throw new KernelError(ENXIO, `page '${arg}': index ${index} is past the end of ${dev} (${d.size / ps} pages of ${ps} bytes)`);
  return { pfn: phys / ps, arg, dev, index };
}

/**
 * pfn_valid() with SPARSEMEM_VMEMMAP: the section has a memmap, and the
 * pfn's subsection is active (early sections: the whole section).
 */
export function pfnValid(m: Machine, pfn: number): boolean {
  const s = m.k.sparse;
  if (!Number.isSafeInteger(pfn) || pfn < 0) return false;
  const sec = s.pfnToSectionNr(pfn);
  if (!s.validSection(sec)) return false;
  return s.earlySection(sec) || s.pfnSectionValid(pfn);
}

/** The folio fields of a head page (a tail's, of its head), as dump_page() reads them. */
export interface FolioDump {
  readonly pfn: number;
  readonly refcount: number;
  readonly order: number;
  readonly nr_pages: number;
  /** folio_mapcount(): _large_mapcount + 1 (7.3); null on releases without it. */
  readonly folio_mapcount: number | null;
  /** compound_mapcount / folio_entire_mapcount(): the raw field + 1. */
  readonly entire_mapcount: number;
  /** folio_nr_pages_mapped() (6.6 on); null before. */
  readonly nr_pages_mapped: number | null;
  /** The compound pincount, where the release has one for this order (5.15: order > 1); null otherwise. */
  readonly pincount: number | null;
  /** compound_dtor (5.15, 6.1); null once folios dropped it. */
  readonly compound_dtor: number | null;
  /** page->pgmap of the head: the pointer, and the dev_pagemap it points at. */
  readonly pgmap: string;
  readonly pgmap_name: string | null;
  readonly flags: string;
  readonly flag_names: readonly string[];
}

/** One struct page as `daxsim page --json` prints it: the page's own fields first, its folio's after. */
export interface PageDump {
  readonly pfn: number;
  /** The struct page's vmemmap address. */
  readonly page: string;
  readonly kernel: string;
  /** The page's own _refcount (a tail's is 0; dump_page() prints the folio's). */
  readonly refcount: number;
  /** The mapcount dump_page() prints for the page. */
  readonly mapcount: number;
  readonly mapping: string;
  readonly index: number;
  readonly flags: string;
  readonly flag_names: readonly string[];
  readonly zone: string;
  readonly node: number;
  /** What the page is: small (order 0), a head, or a tail. */
  readonly kind: 'small' | 'head' | 'tail';
  /** A tail: the word at 8 (compound_head, or compound_info from 7.1) and the head it designates. */
  readonly compound_head?: string;
  readonly compound_info?: string;
  readonly head_pfn?: number;
  /** The 64 bytes as the eight words print_hex_dump() prints. */
  readonly raw: readonly string[];
  /** The text dump_page() prints. */
  readonly text: readonly string[];
}

// page-flags-layout.h, x86-64 as Debian builds it (NR_CPUS 8192: LAST_CPUPID_SHIFT 8 + 13), below ZONES_PGSHIFT 51;
// measured on 7.3: flags 0x57ffffc0000240 = node 1, zone 2, lastcpupid 0x1fffff
const LAST_CPUPID_PGSHIFT = 30;
const LAST_CPUPID_WIDTH = 21;

/**
 * The page flag names in __def_pageflag_names order (include/trace/events/mmflags.h),
 * the order %pGp prints them in; only the flags the model's PageFlagBits name.
 */
const PAGEFLAG_NAME_ORDER = [
  'locked', 'waiters', 'referenced', 'uptodate', 'dirty', 'lru', 'active', 'workingset', 'reserved', 'private',
  'writeback', 'head', 'reclaim', 'swapbacked', 'unevictable', 'mlocked', 'hwpoison',
] as const;

/** How mm/debug.c prints a page, by the struct page layout of the release (the layout and the dump changed together). */
type DumpFormat = 'compound-v5.15' | 'compound-v6.1' | 'folio-v6.6' | 'dump-folio-v7.3';
const DUMP_FORMAT: Readonly<Record<StructPageLayout['name'], DumpFormat>> = {
  // __dump_page(): compound_pincount only when hpage_pincount_available() (order > 1)
  'v5.15': 'compound-v5.15',
  // 5232c63f46fd (v5.18): compound_pincount always there; 5.19 and 6.1 print it on every compound page
  'v6.1': 'compound-v6.1',
  // v6.3 to v6.8: entire_mapcount, nr_pages_mapped, pincount; page_type with %pGt
  'v6.6': 'folio-v6.6',
  // __dump_folio() (v6.9 on): the folio's refcount, a "head:" line without a pointer, two struct pages of the folio in hex
  'v7.3': 'dump-folio-v7.3',
};

const word64 = (lo: number, hi: number): string => `${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;

/** print_hex_dump(KERN_WARNING, prefix, DUMP_PREFIX_NONE, 32, 8, buf, len): four little-endian words a line. */
function hexDump(prefix: string, bytes: Uint8Array): string[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  for (let off = 0; off < bytes.length; off += 32) {
    const words: string[] = [];
    for (let w = off; w < Math.min(off + 32, bytes.length); w += 8) words.push(word64(dv.getUint32(w, true), dv.getUint32(w + 4, true)));
    out.push(`${prefix}${words.join(' ')}`);
  }
  return out;
}

/** %pGp (format_page_flags()): the value, then the flag names, node, zone and lastcpupid fields. */
function formatPageFlags(layout: StructPageLayout, lo: number, hi: number): string {
  const value = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const names: string[] = [];
  let rest = lo >>> 0;
  const pg = layout.pg as unknown as Record<string, number>;
  for (const n of PAGEFLAG_NAME_ORDER) {
    const bit = pg[n]!;
    if ((rest >>> bit) & 1) {
      names.push(n);
      rest = (rest & ~(1 << bit)) >>> 0;
    }
  }
  if (rest) names.push(`0x${rest.toString(16)}`);
  const node = Number((value >> 54n) & 0x3ffn);
  const zone = Number((value >> 51n) & 0x7n);
  const cpupid = Number((value >> BigInt(LAST_CPUPID_PGSHIFT)) & ((1n << BigInt(LAST_CPUPID_WIDTH)) - 1n));
  names.push(`node=${node}`, `zone=${zone}`, `lastcpupid=0x${cpupid.toString(16)}`);
  return `0x${value.toString(16)}(${names.join('|')})`;
}

const ptr = (v: bigint): string => v.toString(16).padStart(16, '0');

/**
 * dump_page(page, NULL) on the machine's release: reads pfn's struct page
 * (and its head's, and the head's first tails) through the vmemmap, as the
 * kernel does, and returns what it would print and the decoded fields.
 * -ENXIO when pfn has no struct page (pfn_valid() fails). Reads only.
 */
export function dumpPage(m: Machine, pfn: number, arg = hex(pfn)): PageDump {
  // an observer: looking at a struct page gives no vmemmap frame a copy of its own
  return m.k.memmap.peek(() => readPage(m, pfn, arg));
}

function readPage(m: Machine, pfn: number, arg: string): PageDump {
  if (!pfnValid(m, pfn)) throw new KernelError(ENXIO, `page '${arg}': pfn ${hex(pfn)} has no struct page (pfn_valid() fails: no memmap there)`);
  // boot memory's struct pages (sparse_init, memmap_init) are not simulated: only hot-added sections' are
  if (m.k.sparse.earlySection(m.k.sparse.pfnToSectionNr(pfn)))
    throw new KernelError(EOPNOTSUPP, `page '${arg}': pfn ${hex(pfn)} is boot memory, whose struct pages daxsim does not simulate (device pages and hot-added memory only)`);
  const mm = m.k.memmap;
  const layout = mm.layout;
  const arch = m.arch;
  const name = (lo: number, hi: number): string | null => {
    const o = m.k.objects.deref<{ name?: unknown }>(lo, hi);
    if (!o) return null;
    return typeof o.name === 'string' ? o.name : 'a kernel object';
  };
  const read = (p: number): { view: StructPageView; bytes: Uint8Array } => {
    let bytes: Uint8Array;
    try {
      bytes = mm.rawBytes(p);
    } catch (e) {
      throw new KernelError(ENXIO, `page '${arg}': the struct page of pfn ${hex(p)} cannot be read through the vmemmap: ${(e as Error).message}`);
    }
    return { view: decodeStructPage(arch, layout, p, bytes, name), bytes };
  };
  const page = read(pfn);
  const v = page.view;
  const isHead = v.flagNames.includes('head');
  const headPfn = v.compoundHead ?? pfn;
  const kind: PageDump['kind'] = v.compoundHead !== null ? 'tail' : isHead ? 'head' : 'small';
  const head = kind === 'tail' ? read(headPfn) : page;
  const hv = head.view;
  const compound = kind !== 'small';
  const t1 = compound ? read(headPfn + 1) : null;
  const t2 = compound && layout.pincountPage === 2 ? read(headPfn + 2) : null;
  const order = t1 ? t1.view.asFirstTail.order : 0;
  const fmt = DUMP_FORMAT[layout.name];
  const vaOf = (p: number) => arch.vmemmapStart + BigInt(p) * BigInt(arch.structPageSize);
  // dump_page() prints the head's (the folio's) flags
  const hdv = new DataView(head.bytes.buffer, head.bytes.byteOffset, head.bytes.byteLength);
  const [fLoRaw, fHiRaw] = [hdv.getUint32(0, true), hdv.getUint32(4, true)];

  // the folio's fields: the head's refcount, the first (5.15: second) tail's counts
  let folio: FolioDump | null = null;
  if (t1) {
    const f1 = t1.view.asFirstTail;
    const pincount = layout.pincountPage === 2 ? (mm.pincountAvailable(order) ? t2!.view.asSecondTail.pincount : null) : f1.pincount;
    const nrPagesMapped = f1.nrPagesMapped === null ? null : f1.nrPagesMapped & 0x7fffff; // & FOLIO_PAGES_MAPPED (ENTIRELY_MAPPED - 1)
    folio = {
      pfn: headPfn,
      refcount: hv.refcount,
      order,
      nr_pages: f1.nr,
      folio_mapcount: f1.largeMapcount === null ? null : f1.largeMapcount + 1,
      entire_mapcount: f1.mapcount + 1,
      nr_pages_mapped: nrPagesMapped,
      pincount,
      compound_dtor: f1.dtor >= 0 ? f1.dtor : null,
      pgmap: hv.word8,
      pgmap_name: hv.word8Object,
      flags: hv.flags,
      flag_names: hv.flagNames,
    };
  }

  // page_mapcount() / the mapcount __dump_folio() prints
  const own = v.mapcount + 1;
  const mapcount = fmt === 'folio-v6.6' && folio ? own + folio.entire_mapcount : own;
  const [mLo, mHi] = mm.pageMappingRaw(headPfn);
  const mapping = ptr((BigInt(mHi) << 32n) | BigInt(mLo));
  // page_to_pgoff() / folio->index + idx: a tail's index is its head's plus its place in the folio
  const index = hv.index + (pfn - headPfn);
  const pgp = formatPageFlags(layout, fLoRaw, fHiRaw);
  const text: string[] = [];
  if (fmt === 'dump-folio-v7.3') {
    text.push(`page: refcount:${hv.refcount} mapcount:${own} mapping:${mapping} index:${hex(index)} pfn:${hex(pfn)}`);
    if (folio)
      text.push(
        `head: order:${folio.order} mapcount:${folio.folio_mapcount ?? 0} entire_mapcount:${folio.entire_mapcount} nr_pages_mapped:${folio.nr_pages_mapped ?? 0} pincount:${folio.pincount ?? 0}`,
      );
    text.push(`flags: ${pgp}`);
    text.push(...hexDump('raw: ', page.bytes));
    if (folio) text.push(...hexDump('head: ', concat(head.bytes, t1!.bytes)));
  } else {
    text.push(`page:${ptr(vaOf(pfn))} refcount:${hv.refcount} mapcount:${mapcount} mapping:${mapping} index:${hex(index)} pfn:${hex(pfn)}`);
    if (folio) {
      const h = `head:${ptr(vaOf(headPfn))} order:${folio.order}`;
      if (fmt === 'folio-v6.6') text.push(`${h} entire_mapcount:${folio.entire_mapcount} nr_pages_mapped:${folio.nr_pages_mapped ?? 0} pincount:${folio.pincount ?? 0}`);
      else if (folio.pincount !== null) text.push(`${h} compound_mapcount:${folio.entire_mapcount} compound_pincount:${folio.pincount}`);
      else text.push(`${h} compound_mapcount:${folio.entire_mapcount}`);
    }
    text.push(`flags: ${pgp}`);
    // %pGt of page_type, which shares _mapcount: -1 is no type
    if (fmt === 'folio-v6.6') text.push(`page_type: 0x${(hv.mapcount >>> 0).toString(16)}()`);
    text.push(...hexDump('raw: ', page.bytes));
    if (kind === 'tail') text.push(...hexDump('head: ', head.bytes));
  }

  const dv = new DataView(page.bytes.buffer, page.bytes.byteOffset, page.bytes.byteLength);
  const raw: string[] = [];
  for (let w = 0; w < page.bytes.length; w += 8) raw.push(word64(dv.getUint32(w, true), dv.getUint32(w + 4, true)));
  const base = {
    pfn,
    page: `0x${ptr(vaOf(pfn))}`,
    kernel: m.k.release.version,
    refcount: v.refcount,
    mapcount,
    mapping: `0x${mapping}`,
    index,
    flags: v.flags,
    flag_names: v.flagNames,
    zone: v.zone,
    node: v.node,
    kind,
  };
  const tailField = layout.tailEncoding === 'mask' ? 'compound_info' : 'compound_head';
  if (kind === 'tail') return { ...base, [tailField]: v.word8, head_pfn: headPfn, raw, folio: folio!, text } as PageDump & { folio: FolioDump };
  if (kind === 'head') return { ...base, ...folioFlat(folio!), raw, text } as PageDump;
  return { ...base, pgmap: v.word8, pgmap_name: v.word8Object, raw, text } as PageDump;
}

/** A head page's folio fields, beside its own (its refcount, flags and pfn are its own already). */
function folioFlat(f: FolioDump) {
  const { pfn: _pfn, refcount: _rc, flags: _flags, flag_names: _names, ...rest } = f;
  return rest;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The object `daxsim page --json` prints: everything but the text lines. */
export function pageDumpJson(d: PageDump): Record<string, unknown> {
  const { text: _text, ...rest } = d;
  return rest;
}
