import { describe, expect, it } from 'vitest';
import {
  C,
  EFAULT,
  EOPNOTSUPP,
  KernelError,
  MEMORY_DEVICE_GENERIC,
  PPC64_64K,
  PAGE_COMPOUND_HEAD_OFFSET,
  type ArchProfile,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  _PAGE_RW,
  compoundInfoMask,
} from '@daxsim/mm';
import { compoundNrPages, vmemmapCanOptimize } from '@daxsim/page-alloc';
import { sharedTails } from '@daxsim/sparse-vmemmap';
import { type Kernel, createKernel, memmapStats, memremapPages, memunmapPages, newDevPagemap } from './index.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const DEV = 64 * GiB;

function machine(opts: { arch?: ArchProfile; rule?: VmemmapOptimizeRule; hash?: boolean } = {}): Kernel {
  return createKernel({
    ...(opts.arch ? { arch: opts.arch } : {}),
    ...(opts.rule ? { vmemmapOptimizeRule: opts.rule } : {}),
    ...(opts.hash ? { ppc64Mmu: 'hash' as const } : {}),
    ram: [{ nid: 0, size: 2 * GiB }],
    devices: [{ start: DEV, size: 16 * GiB, name: 'pmem0' }],
  });
}
function map(k: Kernel, size: number, align: number, generation: VmemmapGeneration, start = DEV, name = 'dax0.0') {
  const pg = newDevPagemap({
    ranges: [{ start, end: start + size - 1 }],
    type: MEMORY_DEVICE_GENERIC,
    vmemmapShift: Math.log2(align / k.arch.pageSize),
    name,
  });
  memremapPages(k, pg, 0, { generation });
  return pg;
}

describe('shared-tail: one vmemmap page per compound page, tails read-only onto the zone shared tail', () => {
  it('16 GiB at 2M: 8192 head vmemmap pages plus one shared tail, 64 struct pages written per compound page', () => {
    const k = machine();
    const pg = map(k, 16 * GiB, 2 * MiB, 'shared-tail');
    const s = memmapStats(k, pg);
    expect(s.vmemmapDataFrames).toBe(8192 + 1);
    expect(s.sharedTailFrames).toBe(1);
    expect(s.structPagesInitialised).toBe(8192 * 64);
    expect(k.counters.get('vmemmap_shared_tails_alloc')).toBe(1);
    // the tail-reuse generation of the same device: two pages per compound page
    const k2 = machine();
    expect(memmapStats(k2, map(k2, 16 * GiB, 2 * MiB, 'tail-reuse')).vmemmapDataFrames).toBe(2 * 8192);
  });

  it('16 GiB at 1G: 16 head vmemmap pages plus one shared tail', () => {
    const k = machine();
    const pg = map(k, 16 * GiB, GiB, 'shared-tail');
    const s = memmapStats(k, pg);
    expect(s.vmemmapDataFrames).toBe(16 + 1);
    expect(s.sharedTailFrames).toBe(1);
    expect(s.structPagesInitialised).toBe(16 * 64);
  });

  it('every tail resolves its head through the compound_info mask, inside and behind the shared tail', () => {
    const k = machine();
    map(k, 64 * MiB, 2 * MiB, 'shared-tail');
    const head = DEV / 4096 + 512 * 3;
    for (const t of [1, 2, 63, 64, 65, 300, 511]) {
      expect(k.memmap.PageTail(head + t)).toBe(true);
      expect(k.memmap.compoundHead(head + t)).toBe(head);
    }
    expect(k.memmap.compoundOrder(head)).toBe(9);
    // a tail's compound_info bytes are the mask GENMASK(63, 15) | 1, little-endian
    const raw = k.memmap.rawBytes(head + 300);
    const [lo, hi] = compoundInfoMask(k.arch, 9);
    const v = new DataView(raw.buffer, raw.byteOffset);
    expect(v.getInt32(PAGE_COMPOUND_HEAD_OFFSET, true)).toBe(lo);
    expect(v.getInt32(PAGE_COMPOUND_HEAD_OFFSET + 4, true)).toBe(hi);
    expect(lo >>> 0).toBe(0xffff8001);
    // tails in the head's own vmemmap page hold the same bytes as those behind the shared tail
    expect(Array.from(k.memmap.rawBytes(head + 5))).toEqual(Array.from(k.memmap.rawBytes(head + 300)));
  });

  it('the shared tail PTEs carry no write bit, and a write through one oopses instead of storing', () => {
    const k = machine();
    map(k, 64 * MiB, 2 * MiB, 'shared-tail');
    const head = DEV / 4096;
    const pt = k.mmu.pgtable;
    pt.walk(k.mmu.vmemmapVa(head));
    expect(pt.wLo & _PAGE_RW).toBe(_PAGE_RW);
    pt.walk(k.mmu.vmemmapVa(head + 64));
    expect(pt.wLo & _PAGE_RW).toBe(0);
    const before = Array.from(k.memmap.rawBytes(head + 1000));
    let err: unknown;
    try {
      k.memmap.setPageCount(head + 100, 7);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe(EFAULT);
    expect((err as KernelError).message).toMatch(/unable to handle page fault for address: ffffea.*read-only vmemmap PTE/);
    expect(k.log.dmesg()).toMatch(/#PF: error_code\(0x0003\) - permissions violation/);
    expect(k.counters.get('vmemmap_write_faults')).toBe(1);
    // nothing was stored, through this address or any other that maps the shared tail
    expect(Array.from(k.memmap.rawBytes(head + 1000))).toEqual(before);
    expect(k.memmap.pageRefCount(head + 100)).toBe(0);
    // writes to the head's own vmemmap page still work
    k.memmap.setPageCount(head + 5, 0);
  });

  it('two devices on one node share one shared tail; it is given back with the last', () => {
    const k = machine();
    const base = k.buddy.framesInUse('vmemmap_data');
    const a = map(k, 128 * MiB, 2 * MiB, 'shared-tail', DEV, 'dax0.0');
    const b = map(k, 128 * MiB, 2 * MiB, 'shared-tail', DEV + GiB, 'dax1.0');
    expect(sharedTails(k)).toHaveLength(1);
    expect(memmapStats(k, a).vmemmapDataFrames).toBe(64 + 1);
    expect(memmapStats(k, b).vmemmapDataFrames).toBe(64);
    expect(memmapStats(k, b).sharedTailFrames).toBe(1);
    // another order gets its own shared tail
    const c = map(k, GiB, GiB, 'shared-tail', DEV + 2 * GiB, 'dax2.0');
    expect(sharedTails(k).map((t) => t.order).sort()).toEqual([18, 9]);
    memunmapPages(k, c);
    memunmapPages(k, a);
    expect(sharedTails(k)).toHaveLength(1);
    memunmapPages(k, b);
    expect(sharedTails(k)).toHaveLength(0);
    expect(k.buddy.framesInUse('vmemmap_data')).toBe(base);
    expect(k.counters.v[C.vmemmap_shared_tails_free]).toBe(2);
  });
});

describe('vmemmap_can_optimize() rules on ppc64 with 64K pages', () => {
  // Documentation/powerpc/vmemmap_dedup.rst: at 2M a compound page has 32 struct pages, a 64K vmemmap page holds 1024:
  // no deduplication; at 1G, 16384 struct pages in 16 vmemmap pages: deduplicated (radix only).
  it('v6.6 rule, radix: nothing deduplicated at 2M', () => {
    const k = machine({ arch: PPC64_64K });
    const s = memmapStats(k, map(k, 16 * GiB, 2 * MiB, 'tail-reuse'));
    // 262144 struct pages of 64 bytes = 256 vmemmap pages of 64K, every one its own
    expect(s.vmemmapDataFrames).toBe(256);
    expect(s.structPagesInitialised).toBe(262144);
  });
  // The ppc64-64k profile has no 1G devdax align (no THP-PUD in the seed's generation), so 1G is the rule's answer alone.
  it('v6.6 rule at 1G: deduplicated under radix, not under hash; the older rules say yes at 2M too', () => {
    expect(vmemmapCanOptimize(PPC64_64K, null, 16384, 'tail-reuse', 'reserve-nr', 'radix')).toBe(true);
    expect(vmemmapCanOptimize(PPC64_64K, null, 16384, 'tail-reuse', 'reserve-nr', 'hash')).toBe(false);
    expect(vmemmapCanOptimize(PPC64_64K, null, 32, 'tail-reuse', 'reserve-nr', 'radix')).toBe(false);
    expect(vmemmapCanOptimize(PPC64_64K, null, 32, 'tail-reuse', 'altmap-fix')).toBe(true);
    expect(vmemmapCanOptimize(PPC64_64K, null, 32, 'tail-reuse', 'seed')).toBe(true);
    expect(compoundNrPages(PPC64_64K, null, 16384, 'tail-reuse', 'reserve-nr', 'radix')).toBe(2 * 1024);
    expect(compoundNrPages(PPC64_64K, null, 16384, 'shared-tail', 'reserve-nr', 'radix')).toBe(1024);
  });
  it('v6.6 rule, hash MMU: the radix override says no', () => {
    const k = machine({ arch: PPC64_64K, hash: true });
    const s = memmapStats(k, map(k, 16 * GiB, 2 * MiB, 'tail-reuse'));
    expect(s.vmemmapDataFrames).toBe(256);
  });
  it("the seed's rule at 2M: compound_nr_pages() would run past the compound page; refused", () => {
    const k = machine({ arch: PPC64_64K, rule: 'seed' });
    let err: unknown;
    try {
      map(k, 16 * GiB, 2 * MiB, 'tail-reuse');
    } catch (e) {
      err = e;
    }
    expect((err as KernelError).errno).toBe(EOPNOTSUPP);
    expect(k.pgmaps.entries).toHaveLength(0);
  });
});
