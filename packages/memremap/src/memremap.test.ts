import { describe, expect, it } from 'vitest';
import {
  KERNELS,
  type KernelVersion,
  SZ_1G,
  SZ_1M,
  ZONE_DEVICE,
  ARCH_PROFILES,
  ARM64_4K,
  C,
  EBUSY,
  EINVAL,
  ENOMEM,
  ENXIO,
  type DevPagemap,
  KernelError,
  MEMORY_DEVICE_GENERIC,
  PGMAP_ALTMAP_VALID,
  type VmemmapGeneration,
  _PAGE_PRESENT,
  _PAGE_PSE,
  entryPfn,
  pmdSize,
} from '@daxsim/mm';
import {
  type Kernel,
  createKernel,
  forEachDevicePfn,
  getDevPagemap,
  memmapStats,
  memremapPages,
  memunmapPages,
  newDevPagemap,
  putDevPagemap,
} from './index.js';

const DEV = 64 * SZ_1G;

function machine(ramGiB = 1, kernel?: KernelVersion): Kernel {
  return createKernel({ ram: [{ nid: 0, size: ramGiB * SZ_1G }], devices: [{ start: DEV, size: 8 * SZ_1G, name: 'pmem0' }], ...(kernel ? { kernel: KERNELS[kernel] } : {}) });
}
function pgmapOf(size: number, shift: number, start = DEV, name = 'dax0.0'): DevPagemap {
  return newDevPagemap({ ranges: [{ start, end: start + size - 1 }], type: MEMORY_DEVICE_GENERIC, vmemmapShift: shift, name });
}
/** Everything memunmap_pages must restore, and a failed memremap_pages must not touch. */
function state(k: Kernel, pg?: DevPagemap) {
  return {
    buddy: k.buddy.snapshot(),
    mem: k.mem.digest(),
    sections: k.sparse.digest(),
    pgmaps: k.pgmaps.entries.length,
    ref: pg?.ref ?? 0,
    altmap: pg?.altmap ? { alloc: pg.altmap.alloc, align: pg.altmap.align } : null,
  };
}
/** Walks the vmemmap of [startPfn, endPfn): the distinct PTE tables and data frames its entries reach. */
function walkVmemmap(k: Kernel, startPfn: number, endPfn: number) {
  const pt = k.mmu.pgtable;
  const tables = new Set<number>();
  const frames = new Set<number>();
  const start = k.mmu.vmemmapVa(startPfn);
  const end = k.mmu.vmemmapVa(endPfn);
  for (let va = start; va < end; va += k.arch.pageSize) {
    const level = pt.walk(va);
    if (!(pt.wLo & _PAGE_PRESENT)) continue;
    if (level === k.arch.pmdLevel && pt.wLo & _PAGE_PSE) {
      const base = entryPfn(pt.wLo, pt.wHi, k.arch.pageShift);
      for (let i = 0; i < pmdSize(k.arch) / k.arch.pageSize; i++) frames.add(base + i);
      va += pmdSize(k.arch) - k.arch.pageSize;
      continue;
    }
    tables.add(pt.pathTable[k.arch.pteLevel]!);
    frames.add(entryPfn(pt.wLo, pt.wHi, k.arch.pageShift));
  }
  return { pteTables: tables.size, dataFrames: frames.size };
}
function expectRefusal(fn: () => void, errno: number, words: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KernelError);
    expect((e as KernelError).errno).toBe(errno);
    expect((e as Error).message).toMatch(words);
    return;
  }
  throw new Error('not refused');
}

describe('vmemmap cost per GiB of device memory (x86-64, memmap in RAM), counted', () => {
  const cases: [VmemmapGeneration, number, number, number][] = [
    // generation, vmemmap_shift, data frames per GiB, PTE tables per GiB
    ['pre-series', 0, 4096, 0], // 16 MiB of struct pages, PMD-mapped
    ['compound', 9, 4096, 0],
    ['compound', 18, 4096, 0],
    ['tail-reuse', 9, 1024, 8], // 2 data pages per 2 MiB page, one PTE table per 128 MiB
    ['tail-reuse', 18, 2, 8], // 40960 bytes per 1 GiB page
    ['tail-reuse-pmd', 18, 2, 2], // 16384 bytes per 1 GiB page
    ['tail-reuse-pmd', 9, 1024, 8], // patch 14 only helps compound pages larger than a section
  ];
  for (const [gen, shift, data, ptes] of cases) {
    it(`${gen}, align ${shift === 0 ? '4K' : shift === 9 ? '2M' : '1G'}: ${data} data frames and ${ptes} PTE tables per GiB`, () => {
      const per = (gib: number) => {
        const k = machine();
        const pg = pgmapOf(gib * SZ_1G, shift);
        memremapPages(k, pg, 0, { generation: gen });
        const s = memmapStats(k, pg);
        const w = walkVmemmap(k, DEV / 4096, (DEV + gib * SZ_1G) / 4096);
        expect(w.dataFrames).toBe(s.vmemmapDataFrames); // what the allocator handed out is what the tables map
        return { ...s, ...w };
      };
      const one = per(1);
      const three = per(3);
      expect((three.vmemmapDataFrames - one.vmemmapDataFrames) / 2).toBe(data);
      expect((three.pteTables - one.pteTables) / 2).toBe(ptes);
      // page-table frames: the PTE tables plus the PUD and PMD tables above them
      expect(one.vmemmapPagetableFrames).toBe(one.pteTables + 2);
    });
  }
});

describe('memmap_init_zone_device', () => {
  it('writes 128 struct pages per compound page with the memmap in RAM', () => {
    const k = machine();
    const pg = pgmapOf(1 * SZ_1G, 9);
    memremapPages(k, pg, 0);
    expect(memmapStats(k, pg).structPagesInitialised).toBe(512 * 128);
    expect(k.log.dmesg()).toMatch(/memmap_init_zone_device initialised 262144 pages in \d+ms/);
    const k2 = machine();
    const pg2 = pgmapOf(1 * SZ_1G, 18);
    memremapPages(k2, pg2, 0);
    expect(memmapStats(k2, pg2).structPagesInitialised).toBe(128);
  });

  it('writes every struct page with an altmap, whose pfns hold the memmap', () => {
    const k = machine();
    const size = 2 * SZ_1G;
    const basePfn = DEV / 4096;
    const pg = newDevPagemap({
      ranges: [{ start: DEV, end: DEV + size - 1 }],
      type: MEMORY_DEVICE_GENERIC,
      vmemmapShift: 9,
      flags: PGMAP_ALTMAP_VALID,
      altmap: { basePfn, endPfn: basePfn + size / 4096, reserve: 2, free: 8702, align: 0, alloc: 0 },
    });
    const before = state(k, pg);
    memremapPages(k, pg, 0);
    const s = memmapStats(k, pg);
    expect(s.vmemmapDataFrames).toBe(0);
    expect(s.altmapPfns).toBe(8192); // 16 sections x one 2 MiB block of struct pages
    expect(pg.altmap!.align).toBe(510);
    // memmap_init_range for the altmap's pfns, then every pfn after them
    expect(s.structPagesInitialised).toBe(size / 4096 - 2);
    const w = walkVmemmap(k, basePfn, basePfn + size / 4096);
    expect(w.pteTables).toBe(0);
    expect(k.memmap.compoundHead(basePfn + 8704 + 511)).toBe(basePfn + 8704);
    expect(k.memmap.PageReserved(basePfn + 100)).toBe(true);
    memunmapPages(k, pg);
    expect(state(k, pg)).toEqual(before);
  });

  // The fast memmap_init_zone_device() loops against the reference loops, each on a fresh
  // machine: the whole of physical memory (every vmemmap frame, the neighbours' struct pages
  // included) must come out byte for byte the same, and the struct pages counted as written
  // must match the reference's __init_single_page calls. A neighbouring pgmap on each side is
  // mapped first, so a fast-path write past either end of the range would change its bytes.
  type Cfg = { name: string; gen: VmemmapGeneration; shift: number; altmap?: boolean; kernel?: KernelVersion };
  const cfgs: Cfg[] = [
    { name: 'pre-series 4K', gen: 'pre-series', shift: 0 },
    { name: 'compound 2M', gen: 'compound', shift: 9 },
    { name: 'compound 1G', gen: 'compound', shift: 18 },
    { name: 'tail-reuse 2M', gen: 'tail-reuse', shift: 9 },
    { name: 'tail-reuse 1G', gen: 'tail-reuse', shift: 18 },
    { name: 'tail-reuse-pmd 1G', gen: 'tail-reuse-pmd', shift: 18 },
    { name: 'altmap, base pages', gen: 'pre-series', shift: 0, altmap: true },
    { name: 'altmap, compound 2M', gen: 'tail-reuse', shift: 9, altmap: true },
    // the layouts of later kernels: the pincount in tail 1 (6.1), struct folio (6.6), the mask and prep after every tail (7.3)
    { name: '6.1 tail-reuse 2M', gen: 'tail-reuse', shift: 9, kernel: '6.1' },
    { name: '6.6 compound 2M', gen: 'compound', shift: 9, kernel: '6.6' },
    { name: '7.3 tail-reuse 2M', gen: 'tail-reuse', shift: 9, kernel: '7.3' },
    { name: '7.3 compound 1G', gen: 'compound', shift: 18, kernel: '7.3' },
  ];
  it.each(cfgs)('$name: the fast path writes what the reference path writes, and counts what it writes', (cfg) => {
    const size = 2 * SZ_1G;
    const lo = DEV + SZ_1G; // the range under test
    const build = (path: 'fast' | 'reference') => {
      const k = machine(1, cfg.kernel);
      // neighbours on both sides, mapped first (fast path: they are not under test)
      memremapPages(k, pgmapOf(SZ_1G, 9, DEV, 'before'), 0, { generation: 'tail-reuse' });
      memremapPages(k, pgmapOf(SZ_1G, 9, lo + size, 'after'), 0, { generation: 'tail-reuse' });
      const basePfn = lo / 4096;
      const pg = cfg.altmap
        ? newDevPagemap({
            ranges: [{ start: lo, end: lo + size - 1 }],
            type: MEMORY_DEVICE_GENERIC,
            vmemmapShift: cfg.shift,
            flags: PGMAP_ALTMAP_VALID,
            altmap: { basePfn, endPfn: basePfn + size / 4096, reserve: 2, free: 8702, align: 0, alloc: 0 },
            name: 'dut',
          })
        : pgmapOf(size, cfg.shift, lo, 'dut');
      const c0 = k.counters.get('struct_pages_initialised');
      memremapPages(k, pg, 0, { generation: cfg.gen, initPath: path });
      return { k, written: k.counters.get('struct_pages_initialised') - c0, stats: memmapStats(k, pg) };
    };
    const fast = build('fast');
    const ref = build('reference');
    expect(fast.k.mem.digest()).toBe(ref.k.mem.digest());
    expect(fast.k.sparse.digest()).toBe(ref.k.sparse.digest());
    expect(fast.written).toBe(ref.written);
    expect(fast.stats.structPagesInitialised).toBe(ref.stats.structPagesInitialised);
    expect(fast.written).toBeGreaterThan(0);
  });

  // A device smaller than one vmemmap page's worth of struct pages on the 64K and 16K profiles (2 MiB:
  // 32 or 128 pfns), between two others: the fast path writes part of a vmemmap page it shares.
  it.each(['ppc64-64k', 'arm64-16k', 'arm64-4k', 'x86_64'] as const)('%s: a 2 MiB base-page device between two others, fast = reference', (name) => {
    const arch = ARCH_PROFILES[name];
    const build = (path: 'fast' | 'reference') => {
      const k = createKernel({ arch, ram: [{ nid: 0, size: SZ_1G }], devices: [{ start: DEV, size: 8 * SZ_1G, name: 'pmem0' }] });
      memremapPages(k, pgmapOf(2 * SZ_1M, 0, DEV, 'before'), 0, { generation: 'compound' });
      memremapPages(k, pgmapOf(2 * SZ_1M, 0, DEV + 4 * SZ_1M, 'after'), 0, { generation: 'compound' });
      const pg = pgmapOf(2 * SZ_1M, 0, DEV + 2 * SZ_1M, 'dut');
      memremapPages(k, pg, 0, { generation: 'compound', initPath: path });
      return k;
    };
    const fast = build('fast');
    const ref = build('reference');
    expect(fast.mem.digest()).toBe(ref.mem.digest());
    const pfn = (DEV + 2 * SZ_1M) / arch.pageSize;
    expect([fast.memmap.pageZonenum(pfn), fast.memmap.pageRefCount(pfn)]).toEqual([ZONE_DEVICE, 1]);
  });
});

describe('the memmap reads right through the vmemmap', () => {
  for (const shift of [9, 18]) {
    it(`align ${shift === 9 ? '2M' : '1G'}: every tail points at its head; heads carry PG_head, order, pincount and pgmap`, () => {
      const k = machine();
      const pg = pgmapOf(1 * SZ_1G, shift);
      memremapPages(k, pg, 0);
      const mm = k.memmap;
      const nr = 2 ** shift;
      const first = DEV / 4096;
      let bad = 0;
      for (let pfn = first; pfn < first + SZ_1G / 4096; pfn++) {
        const head = pfn - ((pfn - first) % nr);
        if (pfn === head) {
          if (!mm.PageHead(pfn) || mm.compoundOrder(pfn) !== shift || mm.compoundNr(pfn) !== nr || mm.compoundPincount(pfn) !== 0) bad++;
          if (mm.pagePgmap(pfn) !== pg || mm.pageRefCount(pfn) !== 1 || !mm.PageReserved(pfn)) bad++;
        } else if (!mm.PageTail(pfn) || mm.compoundHead(pfn) !== head || mm.pageRefCount(pfn) !== 0) bad++;
      }
      expect(bad).toBe(0);
      expect(mm.pagePgmap(mm.compoundHead(first + nr - 1))).toBe(pg);
      expect(mm.compoundMapcount(first)).toBe(-1);
      expect(k.sparse.getPageblockMigratetype(first)).toBe(1); // MIGRATE_MOVABLE
      // one write into the shared tail frame is seen from every tail that maps it
      mm.setPageIndex(first + 64 + 8, 0xabcdef);
      const seen: number[] = [];
      for (let pfn = first + 8; pfn < first + nr; pfn += 64) if (mm.pageIndex(pfn) === 0xabcdef) seen.push(pfn);
      expect(seen.length).toBe(nr / 64 - 1); // all vmemmap pages but the head's
      expect(mm.pageIndex(first + 8)).toBe(0); // the head vmemmap page is its own frame
    });
  }

  it('pre-series builds base pages whatever the vmemmap_shift; one pgmap reference per page', () => {
    const k = machine();
    const pg = pgmapOf(256 * SZ_1M, 9);
    memremapPages(k, pg, 0, { generation: 'pre-series' });
    expect(pg.ref).toBe(65536);
    expect(k.memmap.PageHead(DEV / 4096)).toBe(false);
    expect(k.memmap.pageRefCount(DEV / 4096 + 1)).toBe(1);
  });
});

describe('the ordering hazard of prep_compound_head', () => {
  it('loses the compound order when run before tails 1 and 2 are initialised', async () => {
    const { memmapInitCompound, initZoneDevicePage } = await import('@daxsim/page-alloc');
    const k = machine();
    const pg = pgmapOf(1 * SZ_1G, 9);
    memremapPages(k, pg, 0);
    const head = DEV / 4096 + 512 * 7;
    const mm = k.memmap;
    for (const [after, ok] of [[2, true], [0, false]] as const) {
      initZoneDevicePage(k, head, 4, 0, pg);
      memmapInitCompound(k, head, 4, 0, pg, 128, 9, after);
      expect(mm.compoundOrder(head) === 9 && mm.compoundNr(head) === 512).toBe(ok);
    }
    // zone_device_data (offset 16) is where the order lives: the hazard is the overlap
    initZoneDevicePage(k, head, 4, 0, pg);
    memmapInitCompound(k, head, 4, 0, pg, 128, 9, 2);
    mm.setZoneDeviceData(head + 1, 0, 0);
    expect(mm.compoundOrder(head)).toBe(0);
  });
});

describe('memunmap_pages leaves nothing behind', () => {
  const gens: [VmemmapGeneration, number][] = [
    ['pre-series', 0],
    ['compound', 9],
    ['tail-reuse', 9],
    ['tail-reuse', 18],
    ['tail-reuse-pmd', 18],
  ];
  for (const [gen, shift] of gens) {
    it(`${gen} align ${shift}: buddy, sections, page tables, refcounts and memory as before`, () => {
      const k = machine();
      const other = pgmapOf(128 * SZ_1M, 9, DEV + 4 * SZ_1G, 'dax1.0');
      memremapPages(k, other, 0); // a neighbour whose page tables must survive
      const before = state(k);
      const pg = pgmapOf(2 * SZ_1G, shift);
      memremapPages(k, pg, 0, { generation: gen });
      expect(k.buddy.snapshot()).not.toEqual(before.buddy);
      memunmapPages(k, pg);
      expect(state(k)).toEqual(before);
      expect(pg.ref).toBe(0);
      memunmapPages(k, other);
    });
  }

  it('subsection-sized pgmaps sharing a section come and go independently', () => {
    const k = machine();
    const a = pgmapOf(64 * SZ_1M, 9, DEV, 'a');
    const b = pgmapOf(64 * SZ_1M, 9, DEV + 64 * SZ_1M, 'b');
    const s0 = state(k);
    memremapPages(k, a, 0);
    const s1 = state(k);
    const s1Sections = k.sparse.digest(false);
    memremapPages(k, b, 0);
    expect(k.sparse.subsectionMapString(DEV / (128 * SZ_1M))).toBe('1'.repeat(64));
    memunmapPages(k, b);
    // as in the kernel, the pageblock migratetypes b's init set stay in the section's usemap
    expect({ ...state(k), sections: k.sparse.digest(false) }).toEqual({ ...s1, sections: s1Sections });
    memunmapPages(k, a);
    expect(state(k)).toEqual(s0);
  });

  // On 16K and 64K pages one vmemmap page holds the struct pages of several 2 MiB subsections (and
  // ppc64 / arm64 4K map the vmemmap in 2 MiB blocks): the vmemmap of one subsection-sized pgmap is
  // part of a page (or block) another pgmap also uses.
  it.each(['arm64-64k', 'arm64-16k', 'arm64-4k', 'ppc64-64k', 'x86_64'] as const)(
    '%s: two 2 MiB pgmaps sharing a vmemmap page or block: each maps, and the other survives its unmap',
    (name) => {
      const arch = ARCH_PROFILES[name];
      const k = createKernel({ arch, ram: [{ nid: 0, size: SZ_1G }], devices: [{ start: DEV, size: 8 * SZ_1G, name: 'pmem0' }] });
      const inUse = () => k.buddy.framesInUse('vmemmap_data') + k.buddy.framesInUse('vmemmap_pagetable');
      const before = inUse();
      const a = pgmapOf(2 * SZ_1M, 0, DEV, 'a');
      const b = pgmapOf(2 * SZ_1M, 0, DEV + 2 * SZ_1M, 'b');
      memremapPages(k, a, 0, { generation: 'compound' });
      memremapPages(k, b, 0, { generation: 'compound' });
      const pb = (DEV + 2 * SZ_1M) / arch.pageSize;
      memunmapPages(k, a);
      expect([k.memmap.pageZonenum(pb), k.memmap.pageRefCount(pb)]).toEqual([ZONE_DEVICE, 1]);
      memremapPages(k, a, 0, { generation: 'compound' });
      memunmapPages(k, b);
      expect(k.memmap.pageZonenum(DEV / arch.pageSize)).toBe(ZONE_DEVICE);
      memunmapPages(k, a);
      expect(inUse()).toBe(before);
    },
  );

  it('refuses while page references beyond the bulk ones are held', () => {
    const k = machine();
    const pg = pgmapOf(128 * SZ_1M, 9);
    memremapPages(k, pg, 0);
    const got = getDevPagemap(k, DEV / 4096 + 1000);
    expect(got).toBe(pg);
    expect(pg.ref).toBe(65);
    expectRefusal(() => memunmapPages(k, pg), EBUSY, /references/);
    putDevPagemap(k, pg);
    memunmapPages(k, pg);
    expect(getDevPagemap(k, DEV / 4096 + 1000)).toBeNull();
  });
});

describe('fault injection: failing the n-th allocation inside memremap_pages', () => {
  const cases: [string, VmemmapGeneration, number, number][] = [
    ['tail-reuse 2M', 'tail-reuse', 9, 256 * SZ_1M],
    ['tail-reuse 1G', 'tail-reuse', 18, 1 * SZ_1G],
    ['tail-reuse-pmd 1G', 'tail-reuse-pmd', 18, 1 * SZ_1G],
    ['compound 2M (PMD blocks, base-page fallback)', 'compound', 9, 256 * SZ_1M],
  ];
  for (const [name, gen, shift, size] of cases) {
    it(`${name}: -ENOMEM and no trace for every n`, () => {
      const k = machine();
      const base = state(k);
      let n = 1;
      let failures = 0;
      for (; ; n++) {
        const pg = pgmapOf(size, shift);
        k.buddy.failNth(n);
        try {
          memremapPages(k, pg, 0, { generation: gen });
        } catch (e) {
          expect((e as KernelError).errno).toBe(ENOMEM);
          expect(state(k, pg)).toEqual({ ...base, altmap: null });
          failures++;
          continue;
        }
        k.buddy.failNth(0);
        const allocs = memmapStats(k, pg);
        memunmapPages(k, pg);
        expect(state(k)).toEqual(base);
        // the PMD-block allocator falls back to base pages instead of failing
        if (gen === 'compound') expect(allocs.vmemmapDataFrames).toBeGreaterThan(0);
        else expect(failures).toBe(n - 1);
        break;
      }
      expect(failures).toBeGreaterThanOrEqual(2);
      expect(k.counters.get('pgalloc_fail')).toBeGreaterThan(0);
    });
  }
});

describe('refusals name the problem and change nothing', () => {
  const tries: [string, (k: Kernel) => void, number, RegExp][] = [
    ['unaligned to a subsection', (k) => memremapPages(k, pgmapOf(2 * SZ_1M, 0, DEV + 4096), 0), EINVAL, /subsection/],
    ['unaligned to the compound size', (k) => memremapPages(k, pgmapOf(1 * SZ_1G, 18, DEV + 2 * SZ_1M), 0), EINVAL, /compound page size/],
    ['a vmemmap_shift x86-64 cannot map', (k) => memremapPages(k, pgmapOf(1 * SZ_1G, 5), 0), EINVAL, /vmemmap_shift 5/],
    ['outside device memory', (k) => memremapPages(k, pgmapOf(128 * SZ_1M, 9, 0), 0), ENXIO, /System RAM/],
    ['past the end of the device', (k) => memremapPages(k, pgmapOf(2 * SZ_1G, 9, DEV + 7 * SZ_1G), 0), ENXIO, /device range/],
    ['an unknown generation', (k) => memremapPages(k, pgmapOf(128 * SZ_1M, 9), 0, { generation: 'v9' as VmemmapGeneration }), EINVAL, /generation/],
  ];
  for (const [name, fn, errno, words] of tries) {
    it(name, () => {
      const k = machine();
      const s = state(k);
      expectRefusal(() => fn(k), errno, words);
      expect(state(k)).toEqual(s);
    });
  }
  it('overlap with another pgmap: -ENOMEM, as pagemap_range() returns it', () => {
    const k = machine();
    memremapPages(k, pgmapOf(256 * SZ_1M, 9, DEV, 'a'), 0);
    const s = state(k);
    expectRefusal(() => memremapPages(k, pgmapOf(256 * SZ_1M, 9, DEV + 128 * SZ_1M, 'b'), 0), ENOMEM, /Conflicting mapping in same section: conflicts with pgmap a/);
    expect(state(k)).toEqual(s);
  });
  it('1 GiB compound pages on arm64 (no PUD THP): -EINVAL', () => {
    const k = createKernel({ arch: ARM64_4K, ram: [{ nid: 0, size: SZ_1G }], devices: [{ start: DEV, size: 2 * SZ_1G }] });
    expectRefusal(() => memremapPages(k, pgmapOf(SZ_1G, 18), 0), EINVAL, /cannot be mapped on arm64-4k/);
  });
});

describe('pgmap references and pfn stepping', () => {
  it('one reference per compound page; get/put_dev_pagemap by pfn; pfn_next steps by the compound size', () => {
    const k = machine();
    const pg = pgmapOf(1 * SZ_1G, 9);
    memremapPages(k, pg, 0);
    expect(pg.ref).toBe(512);
    const heads: number[] = [];
    forEachDevicePfn(k, pg, (pfn) => heads.push(pfn));
    expect(heads.length).toBe(512);
    expect(heads[1]! - heads[0]!).toBe(512);
    expect(getDevPagemap(k, DEV / 4096 + 123456)).toBe(pg);
    expect(k.counters.v[C.pgmap_ref_get]).toBe(1);
    expect(getDevPagemap(k, (DEV + SZ_1G) / 4096)).toBeNull();
    putDevPagemap(k, pg);
    expect(pg.ref).toBe(512);
  });
});
