import { describe, expect, it } from 'vitest';
import { ARM64_16K, ARM64_64K, PPC64_64K, X86_64, X86_64_LA57 } from './arch.js';
import { ENOMEM, EEXIST } from './errno.js';
import {
  PageTable,
  _PAGE_DEVMAP_HI,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  entryDevmap,
  entryPfn,
  entryPresent,
  mkEntryHi,
  mkEntryLo,
} from './pgtable.js';
import { PhysicalMemory } from './phys-mem.js';
import { BumpAllocator } from './test/bump-allocator.js';

function table(arch = X86_64) {
  const mem = new PhysicalMemory(arch);
  mem.addRange({ start: 0, size: 2 ** 30, kind: 'ram' });
  const alloc = new BumpAllocator(mem, 1, 1000);
  const pt = PageTable.create(mem, alloc);
  if (typeof pt === 'number') throw new Error('no pgd');
  return { mem, alloc, pt };
}

describe('PageTable', () => {
  for (const arch of [X86_64, X86_64_LA57, ARM64_16K, ARM64_64K, PPC64_64K]) {
    it(`populates and walks every level of ${arch.name} (${arch.levels.length} levels)`, () => {
      const { pt, alloc } = table(arch);
      const va = 0x7f12_3456_7000 - (0x7f12_3456_7000 % arch.pageSize);
      const pte = arch.pteLevel;
      const t = pt.populate(va, pte);
      expect(t).toBeGreaterThan(0);
      // one table per level below the top
      expect(alloc.allocated).toBe(arch.levels.length);
      pt.setEntry(t, pt.index(va, pte), mkEntryLo(77, arch.pageShift, _PAGE_PRESENT | _PAGE_RW), mkEntryHi(77, arch.pageShift, 0), va, pte);
      expect(pt.walk(va)).toBe(pte);
      expect(entryPfn(pt.wLo, pt.wHi, arch.pageShift)).toBe(77);
      // the neighbour page (next entry of the same PTE table) is not present, but its tables exist:
      // the walk reaches the PTE level and finds an empty entry there
      expect(pt.index(va + arch.pageSize, pte)).toBe(pt.index(va, pte) + 1);
      expect(pt.walk(va + arch.pageSize)).toBe(pte);
      expect(entryPresent(pt.wLo)).toBe(false);
      // an address under another top-level entry stops at the top, not present
      const far = va + pt.levelSize(0) * (pt.index(va, 0) === 0 ? 1 : -1);
      expect(pt.walk(far)).toBe(0);
      expect(entryPresent(pt.wLo)).toBe(false);
      // populating again allocates nothing
      pt.populate(va, pte);
      expect(alloc.allocated).toBe(arch.levels.length);
      // clearing and pruning frees every table but the top
      pt.walk(va);
      pt.clearEntry(pt.wTable, pt.wIndex, va, pte);
      expect(pt.prune(va)).toBe(arch.levels.length - 1);
      expect(alloc.allocated).toBe(1);
    });
  }

  it('uses 5 levels with LA57 and 4 without, indexing bits 39-47 at the x86 p4d/pgd', () => {
    expect(X86_64.levels.map((l) => l.shift)).toEqual([39, 30, 21, 12]);
    expect(X86_64_LA57.levels.map((l) => l.shift)).toEqual([48, 39, 30, 21, 12]);
    const { pt } = table(X86_64_LA57);
    const va = 0x00ff_8000_0000_0000 / 2 ** 8; // some address above 2^47
    expect(pt.index(va, 0)).toBe(Math.floor(va / 2 ** 48) & 511);
    expect(pt.index(va, 1)).toBe(Math.floor(va / 2 ** 39) & 511);
  });

  it('installs a devmap PMD leaf and stops the walk there', () => {
    const { pt } = table();
    const va = 0x7f00_0020_0000;
    const t = pt.populate(va, X86_64.pmdLevel);
    const lo = mkEntryLo(0x40000, 12, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_PSE);
    const hi = mkEntryHi(0x40000, 12, _PAGE_DEVMAP_HI);
    pt.setEntry(t, pt.index(va, X86_64.pmdLevel), lo, hi, va, X86_64.pmdLevel);
    expect(pt.walk(va + 0x1234)).toBe(X86_64.pmdLevel);
    expect(entryDevmap(pt.wHi)).toBe(true);
    expect(entryPfn(pt.wLo, pt.wHi, 12)).toBe(0x40000);
    // a pte populate under a huge leaf is refused
    expect(pt.populate(va, X86_64.pteLevel)).toBe(-EEXIST);
  });

  it('encodes physical addresses above 4 GiB in the high word', () => {
    const pfn = 0x1234_5678; // 0x12345678000, above 2^32
    const lo = mkEntryLo(pfn, 12, _PAGE_PRESENT);
    const hi = mkEntryHi(pfn, 12, 0);
    expect(entryPfn(lo, hi, 12)).toBe(pfn);
    expect(hi).toBe(0x123);
  });

  it('gives back the tables it made when an allocation fails midway', () => {
    const { pt, alloc } = table();
    alloc.failAt = alloc.calls + 3; // pud and pmd tables succeed, the pte table fails
    expect(pt.populate(0x7f00_0000_0000, X86_64.pteLevel)).toBe(-ENOMEM);
    expect(alloc.allocated).toBe(1);
    expect(pt.walk(0x7f00_0000_0000)).toBe(0);
  });
});

describe('PageTable.prune and the frames it frees', () => {
  it('a table freed all zero is passed on as zeroed; one with a non-present entry left is not, and reads as zeros again', () => {
    const { mem, alloc, pt } = table();
    const freed: [number, boolean][] = [];
    const free = alloc.freePageTable.bind(alloc);
    alloc.freePageTable = (pfn: number, zeroed = false) => {
      freed.push([pfn, zeroed]);
      free(pfn, zeroed);
    };
    const va = 5 * 2 ** 30;
    const pte = pt.populate(va, X86_64.pteLevel);
    pt.setEntry(pte, pt.wIndex, mkEntryLo(77, 12, _PAGE_PRESENT | _PAGE_RW), mkEntryHi(77, 12, 0), va, X86_64.pteLevel);
    pt.clearEntry(pte, pt.index(va, X86_64.pteLevel), va, X86_64.pteLevel);
    pt.prune(va);
    expect(freed.length).toBeGreaterThan(0);
    expect(freed.every(([, z]) => z)).toBe(true); // every table on the path was all zero
    // a PTE table left holding a non-present but non-zero entry (a swap-style entry) is empty, not zero
    freed.length = 0;
    const pte2 = pt.populate(va, X86_64.pteLevel);
    pt.setEntry(pte2, 3, 0, 5, va, X86_64.pteLevel);
    pt.prune(va);
    expect(freed.find(([pfn]) => pfn === pte2)).toEqual([pte2, false]);
    // its frame, handed out again, reads as zeros
    const again = pt.populate(va, X86_64.pteLevel);
    expect(again).toBe(pte2);
    expect(mem.read(again * 4096, 4096)).toEqual(new Uint8Array(4096));
  });
});

