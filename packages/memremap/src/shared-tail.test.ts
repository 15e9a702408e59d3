import { describe, expect, it } from 'vitest';
import {
  SZ_1G,
  SZ_1M,
  C,
  EFAULT,
  EOPNOTSUPP,
  KernelError,
  MEMORY_DEVICE_GENERIC,
  PPC64_64K,
  PAGE_COMPOUND_HEAD_OFFSET,
  type ArchProfile,
  X86_64,
  X86_64_LA57,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  _PAGE_RW,
  compoundInfoMask,
} from '@daxsim/mm';
import { compoundNrPages, memmapInitZoneDevice, vmemmapCanOptimize } from '@daxsim/page-alloc';
import { sharedTails, sparseAddSection, sparseRemoveSection } from '@daxsim/sparse-vmemmap';
import { type Kernel, createKernel, memmapStats, memremapPages, memunmapPages, newDevPagemap } from './index.js';

const DEV = 64 * SZ_1G;

function machine(opts: { arch?: ArchProfile; rule?: VmemmapOptimizeRule; hash?: boolean } = {}): Kernel {
  return createKernel({
    ...(opts.arch ? { arch: opts.arch } : {}),
    ...(opts.rule ? { vmemmapOptimizeRule: opts.rule } : {}),
    ...(opts.hash ? { ppc64Mmu: 'hash' as const } : {}),
    ram: [{ nid: 0, size: 2 * SZ_1G }],
    devices: [{ start: DEV, size: 16 * SZ_1G, name: 'pmem0' }],
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
    const pg = map(k, 16 * SZ_1G, 2 * SZ_1M, 'shared-tail');
    const s = memmapStats(k, pg);
    expect(s.vmemmapDataFrames).toBe(8192 + 1);
    expect(s.sharedTailFrames).toBe(1);
    expect(s.structPagesInitialised).toBe(8192 * 64);
    expect(k.counters.get('vmemmap_shared_tails_alloc')).toBe(1);
    // the tail-reuse generation of the same device: two pages per compound page
    const k2 = machine();
    expect(memmapStats(k2, map(k2, 16 * SZ_1G, 2 * SZ_1M, 'tail-reuse')).vmemmapDataFrames).toBe(2 * 8192);
  });

  it('16 GiB at 1G: 16 head vmemmap pages plus one shared tail', () => {
    const k = machine();
    const pg = map(k, 16 * SZ_1G, SZ_1G, 'shared-tail');
    const s = memmapStats(k, pg);
    expect(s.vmemmapDataFrames).toBe(16 + 1);
    expect(s.sharedTailFrames).toBe(1);
    expect(s.structPagesInitialised).toBe(16 * 64);
  });

  it('every tail resolves its head through the compound_info mask, inside and behind the shared tail', () => {
    const k = machine();
    map(k, 64 * SZ_1M, 2 * SZ_1M, 'shared-tail');
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
    map(k, 64 * SZ_1M, 2 * SZ_1M, 'shared-tail');
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
    const a = map(k, 128 * SZ_1M, 2 * SZ_1M, 'shared-tail', DEV, 'dax0.0');
    const b = map(k, 128 * SZ_1M, 2 * SZ_1M, 'shared-tail', DEV + SZ_1G, 'dax1.0');
    expect(sharedTails(k)).toHaveLength(1);
    expect(memmapStats(k, a).vmemmapDataFrames).toBe(64 + 1);
    expect(memmapStats(k, b).vmemmapDataFrames).toBe(64);
    expect(memmapStats(k, b).sharedTailFrames).toBe(1);
    // another order gets its own shared tail
    const c = map(k, SZ_1G, SZ_1G, 'shared-tail', DEV + 2 * SZ_1G, 'dax2.0');
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

describe('shared-tail memmap init', () => {
  it('the fast path writes the same bytes as the reference path through the accessors', () => {
    for (const align of [2 * SZ_1M, SZ_1G]) {
      const a = machine();
      const b = machine();
      const pa = map(a, 2 * SZ_1G, align, 'shared-tail');
      const pb = map(b, 2 * SZ_1G, align, 'shared-tail');
      const c0 = b.counters.get('struct_pages_initialised');
      memmapInitZoneDevice(b, DEV / 4096, (2 * SZ_1G) / 4096, pb, 0, 'shared-tail', 'reference');
      expect(b.counters.get('struct_pages_initialised') - c0).toBe(memmapStats(a, pa).structPagesInitialised);
      expect(b.mem.digest()).toBe(a.mem.digest());
    }
  });
  it('with an altmap nothing is shared, but tails still encode their head as a mask', () => {
    const k = machine();
    const pg = newDevPagemap({
      ranges: [{ start: DEV, end: DEV + SZ_1G - 1 }],
      type: MEMORY_DEVICE_GENERIC,
      vmemmapShift: 9,
      name: 'dax0.0',
      altmap: { basePfn: DEV / 4096, endPfn: (DEV + SZ_1G) / 4096, reserve: 0, free: (16 * SZ_1M) / 4096, align: 0, alloc: 0 },
    });
    memremapPages(k, pg, 0, { generation: 'shared-tail' });
    expect(memmapStats(k, pg).sharedTailFrames).toBe(0);
    expect(sharedTails(k)).toHaveLength(0);
    const head = (DEV + 16 * SZ_1M) / 4096 + 512;
    expect(k.memmap.compoundHead(head + 400)).toBe(head);
    expect(k.memmap.compoundHeadRaw(head + 400)).toEqual([0xffff8001, 0xffffffff]);
  });
});

describe('vmemmap_can_optimize() rules on ppc64 with 64K pages', () => {
  // Documentation/powerpc/vmemmap_dedup.rst: at 2M a compound page has 32 struct pages, a 64K vmemmap page holds 1024:
  // no deduplication; at 1G, 16384 struct pages in 16 vmemmap pages: deduplicated (radix only).
  it('v6.6 rule, radix: nothing deduplicated at 2M', () => {
    const k = machine({ arch: PPC64_64K });
    const s = memmapStats(k, map(k, 16 * SZ_1G, 2 * SZ_1M, 'tail-reuse'));
    // 262144 struct pages of 64 bytes = 256 vmemmap pages of 64K, every one its own
    expect(s.vmemmapDataFrames).toBe(256);
    expect(s.structPagesInitialised).toBe(262144);
  });
  // The ppc64-64k profile has no 1G devdax align (no THP-PUD in the seed's generation), so 1G is the rule's answer alone.
  it('v6.6 rule at 1G: deduplicated under radix, not under hash; the seed says yes at 2M too, 87a7ae75d738 never on ppc64', () => {
    expect(vmemmapCanOptimize(PPC64_64K, null, 16384, 'tail-reuse', 'reserve-nr', 'radix')).toBe(true);
    expect(vmemmapCanOptimize(PPC64_64K, null, 16384, 'tail-reuse', 'reserve-nr', 'hash')).toBe(false);
    expect(vmemmapCanOptimize(PPC64_64K, null, 32, 'tail-reuse', 'reserve-nr', 'radix')).toBe(false);
    // 87a7ae75d738 built vmemmap_can_optimize() under ARCH_WANT_OPTIMIZE_VMEMMAP, which powerpc did not select
    // (the crash it fixed was ppc64's): false at every size until 0b6f15824cc7's DAX symbol, which radix selects
    expect(vmemmapCanOptimize(PPC64_64K, null, 32, 'tail-reuse', 'altmap-fix')).toBe(false);
    expect(vmemmapCanOptimize(PPC64_64K, null, 16384, 'tail-reuse', 'altmap-fix')).toBe(false);
    expect(vmemmapCanOptimize(PPC64_64K, null, 32, 'tail-reuse', 'seed')).toBe(true);
    expect(compoundNrPages(PPC64_64K, null, 16384, 'tail-reuse', 'reserve-nr', 'radix')).toBe(2 * 1024);
    expect(compoundNrPages(PPC64_64K, null, 16384, 'shared-tail', 'reserve-nr', 'radix')).toBe(1024);
  });
  it('v6.6 rule, hash MMU: the radix override says no', () => {
    const k = machine({ arch: PPC64_64K, hash: true });
    const s = memmapStats(k, map(k, 16 * SZ_1G, 2 * SZ_1M, 'tail-reuse'));
    expect(s.vmemmapDataFrames).toBe(256);
  });
  it("the seed's rule at 2M: compound_nr_pages() would run past the compound page; refused", () => {
    const k = machine({ arch: PPC64_64K, rule: 'seed' });
    let err: unknown;
    try {
      map(k, 16 * SZ_1G, 2 * SZ_1M, 'tail-reuse');
    } catch (e) {
      err = e;
    }
    expect((err as KernelError).errno).toBe(EOPNOTSUPP);
    expect(k.pgmaps.entries).toHaveLength(0);
  });
});

describe('the figures measured on Linux 7.3-rc7 (QEMU, 8 GiB RAM, label-less 16 GiB NVDIMM, devdax --map=mem)', () => {
  // The kernel's vmemmap for its own RAM exists before the NVDIMM's: sparse_init() maps the memmap of the
  // boot sections (PMD blocks on x86-64), so the device's vmemmap shares its upper page tables.
  function bootedMachine(arch: ArchProfile) {
    const k = createKernel({ arch, ram: [{ nid: 0, size: 8 * SZ_1G }], devices: [{ start: 8 * SZ_1G, size: 16 * SZ_1G, name: 'pmem0' }] });
    for (let pfn = 0; pfn < (8 * SZ_1G) / 4096; pfn += 32768) expect(sparseAddSection(k, 0, pfn, 32768, null, null)).toBe(0);
    return k;
  }
  // The model's sweeps know device sections only: the boot sections go once the figures are read.
  const unboot = (k: Kernel) => {
    for (let pfn = 0; pfn < (8 * SZ_1G) / 4096; pfn += 32768) sparseRemoveSection(k, pfn, 32768, null);
  };
  for (const arch of [X86_64, X86_64_LA57])
    for (const [align, data, bytes] of [
      [2 * SZ_1M, 16384, 67_633_152],
      [SZ_1G, 32, 655_360],
    ] as const)
      it(`${arch.name}, ${align === SZ_1G ? '1G' : '2M'}: ${data} distinct vmemmap pages, ${bytes} bytes of RAM (tail-reuse, as 6.1 and 7.3 run it)`, () => {
        const k = bootedMachine(arch);
        const pg = map(k, 16 * SZ_1G, align, 'tail-reuse', 8 * SZ_1G);
        const s = memmapStats(k, pg);
        expect(s.vmemmapDataFrames).toBe(data);
        expect(s.vmemmapPagetableFrames).toBe(128); // one PTE table per 2 MiB of vmemmap, nothing above
        expect((s.vmemmapDataFrames + s.vmemmapPagetableFrames) * 4096).toBe(bytes);
        unboot(k);
      });
  it('and the shared-tail proposal on the same machine: half the data pages at 2M, a 1G device with 17', () => {
    for (const [align, data] of [
      [2 * SZ_1M, 8192 + 1],
      [SZ_1G, 16 + 1],
    ] as const) {
      const k = bootedMachine(X86_64_LA57);
      const s = memmapStats(k, map(k, 16 * SZ_1G, align, 'shared-tail', 8 * SZ_1G));
      expect(s.vmemmapDataFrames).toBe(data);
      expect(s.vmemmapPagetableFrames).toBe(128);
      unboot(k);
    }
  });
});
