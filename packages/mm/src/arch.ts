/**
 * Architecture profiles: every constant the memmap and page-table code depends
 * on, as a value passed in. Nothing in daxsim reads an architecture global.
 */

export type ArchName = 'x86_64' | 'x86_64-la57' | 'arm64-4k' | 'arm64-16k' | 'arm64-64k' | 'ppc64-64k';

export type LevelName = 'pgd' | 'p4d' | 'pud' | 'pmd' | 'pte';

export interface PageTableLevel {
  readonly name: LevelName;
  /** log2 of the bytes one entry of this level maps. */
  readonly shift: number;
  /** log2 of the entries in one table of this level. */
  readonly bits: number;
}

export interface ArchProfile {
  readonly name: ArchName;
  readonly pageShift: number;
  readonly pageSize: number;
  /** sizeof(struct page) */
  readonly structPageSize: number;
  /** sizeof(pte_t) and of every other level's entry */
  readonly pteSize: number;
  /** Present (unfolded) page-table levels, top (pgd) first, pte last. */
  readonly levels: readonly PageTableLevel[];
  /** Index into `levels` of the pte, pmd and pud levels; -1 when folded. */
  readonly pteLevel: number;
  readonly pmdLevel: number;
  readonly pudLevel: number;
  readonly pmdShift: number;
  /** 0 when the architecture has no pud level of its own. */
  readonly pudShift: number;
  /** SECTION_SIZE_BITS */
  readonly sectionSizeBits: number;
  /** SUBSECTION_SHIFT */
  readonly subsectionShift: number;
  /** pageblock_order */
  readonly pageblockOrder: number;
  /** MAX_ORDER of the seed's generation: buddy orders are 0..maxOrder-1. */
  readonly maxOrder: number;
  /** MAX_PHYSMEM_BITS */
  readonly maxPhysmemBits: number;
  /** VMEMMAP_START, the kernel virtual address of the struct page of pfn 0. */
  readonly vmemmapStart: bigint;
  /** Whether vmemmap_populate() maps a non-compound memmap with PMD blocks. */
  readonly vmemmapPmdMapped: boolean;
  /** Aligns device-dax accepts (dax_align_valid): PAGE_SIZE, PMD_SIZE, and PUD_SIZE where THP-PUD exists. */
  readonly devdaxAligns: readonly number[];
  /** The kernel direct map (PAGE_OFFSET): where simulated kernel objects live. */
  readonly pageOffset: bigint;
  /**
   * The vmemmap_can_optimize() gates (generation.ts DaxVmemmapGate) this
   * architecture's Kconfig selects in the releases the model runs: where a
   * release's gate is not in the list, device-dax never reuses vmemmap tails.
   */
  readonly daxVmemmapSelects: readonly ('ARCH_WANT_OPTIMIZE_VMEMMAP' | 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP')[];
}

interface ProfileSpec {
  name: ArchName;
  pageShift: number;
  levels: PageTableLevel[];
  sectionSizeBits: number;
  pageblockOrder: number;
  maxOrder: number;
  maxPhysmemBits: number;
  vmemmapStart: bigint;
  vmemmapPmdMapped: boolean;
  thpPud: boolean;
  pageOffset: bigint;
  daxVmemmapSelects: ArchProfile['daxVmemmapSelects'];
}

function makeProfile(s: ProfileSpec): ArchProfile {
  const idx = (n: LevelName) => s.levels.findIndex((l) => l.name === n);
  const pmdLevel = idx('pmd');
  const pudLevel = idx('pud');
  const pmdShift = s.levels[pmdLevel]!.shift;
  const pudShift = pudLevel >= 0 ? s.levels[pudLevel]!.shift : 0;
  const pageSize = 2 ** s.pageShift;
  const aligns = [pageSize, 2 ** pmdShift];
  if (s.thpPud && pudShift) aligns.push(2 ** pudShift);
  return Object.freeze({
    name: s.name,
    pageShift: s.pageShift,
    pageSize,
    structPageSize: 64,
    pteSize: 8,
    levels: Object.freeze(s.levels.map((l) => Object.freeze(l))),
    pteLevel: idx('pte'),
    pmdLevel,
    pudLevel,
    pmdShift,
    pudShift,
    sectionSizeBits: s.sectionSizeBits,
    // include/linux/mmzone.h: SUBSECTION_SHIFT 21 on every architecture
    subsectionShift: 21,
    pageblockOrder: s.pageblockOrder,
    maxOrder: s.maxOrder,
    maxPhysmemBits: s.maxPhysmemBits,
    vmemmapStart: s.vmemmapStart,
    vmemmapPmdMapped: s.vmemmapPmdMapped,
    devdaxAligns: Object.freeze(aligns),
    pageOffset: s.pageOffset,
    daxVmemmapSelects: Object.freeze([...s.daxVmemmapSelects]),
  });
}

// arch/x86/Kconfig: `select ARCH_WANT_OPTIMIZE_VMEMMAP if X86_64` (the symbol 87a7ae75d738, v6.4, gated device-dax on),
// then `select ARCH_WANT_OPTIMIZE_DAX_VMEMMAP if X86_64` (0b6f15824cc7, v6.6)
const X86_DAX_VMEMMAP = ['ARCH_WANT_OPTIMIZE_VMEMMAP', 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP'] as const;
// arch/arm64/Kconfig selects neither: 060a2c92d1b6 "arm64: mm: hugetlb: Disable HUGETLB_PAGE_OPTIMIZE_VMEMMAP" took
// arm64 out of the HugeTLB symbol before 87a7ae75d738 reused it for device-dax, and 0b6f15824cc7 left arm64 out of the
// DAX one ("arm64 should be able to select DAX optimization", its message says; no arm64 patch that does is known here)
const ARM64_DAX_VMEMMAP = [] as const;
// arch/powerpc/Kconfig: `select ARCH_WANT_OPTIMIZE_DAX_VMEMMAP if PPC_RADIX_MMU` (Aneesh Kumar K.V's radix vmemmap
// series with 0b6f15824cc7, v6.6); a hash-MMU boot is answered false by radix__vmemmap_can_optimize() (the rule's)
const PPC64_DAX_VMEMMAP = ['ARCH_WANT_OPTIMIZE_DAX_VMEMMAP'] as const;

const lv = (name: LevelName, shift: number, bits: number): PageTableLevel => ({ name, shift, bits });

/** x86-64, 4 KiB pages, 4-level paging: the default. */
export const X86_64: ArchProfile = makeProfile({
  name: 'x86_64',
  pageShift: 12, // arch/x86/include/asm/page_types.h PAGE_SHIFT
  // arch/x86/include/asm/pgtable_64_types.h: PGDIR_SHIFT 39, PUD_SHIFT 30, PMD_SHIFT 21, 512 entries a table
  levels: [lv('pgd', 39, 9), lv('pud', 30, 9), lv('pmd', 21, 9), lv('pte', 12, 9)],
  sectionSizeBits: 27, // arch/x86/include/asm/sparsemem.h
  pageblockOrder: 9, // include/linux/pageblock-flags.h: HUGETLB_PAGE_ORDER (HPAGE_SHIFT 21 - PAGE_SHIFT)
  maxOrder: 11, // include/linux/mmzone.h MAX_ORDER (v5.15)
  maxPhysmemBits: 46, // arch/x86/include/asm/sparsemem.h MAX_PHYSMEM_BITS (4-level)
  vmemmapStart: 0xffffea0000000000n, // arch/x86/include/asm/pgtable_64_types.h __VMEMMAP_BASE_L4
  vmemmapPmdMapped: true, // arch/x86/mm/init_64.c vmemmap_populate(): PSE → vmemmap_populate_hugepages
  thpPud: true, // arch/x86/Kconfig HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD
  pageOffset: 0xffff888000000000n, // arch/x86/include/asm/page_64_types.h __PAGE_OFFSET_BASE_L4
  daxVmemmapSelects: X86_DAX_VMEMMAP,
});

/** x86-64 with 5-level paging (LA57). */
export const X86_64_LA57: ArchProfile = makeProfile({
  name: 'x86_64-la57',
  pageShift: 12,
  // pgtable_64_types.h: PGDIR_SHIFT 48 with 5 levels, P4D_SHIFT 39
  levels: [lv('pgd', 48, 9), lv('p4d', 39, 9), lv('pud', 30, 9), lv('pmd', 21, 9), lv('pte', 12, 9)],
  sectionSizeBits: 27,
  pageblockOrder: 9,
  maxOrder: 11,
  maxPhysmemBits: 52, // arch/x86/include/asm/sparsemem.h MAX_PHYSMEM_BITS (5-level)
  vmemmapStart: 0xffd4000000000000n, // pgtable_64_types.h __VMEMMAP_BASE_L5
  vmemmapPmdMapped: true,
  thpPud: true,
  pageOffset: 0xff11000000000000n, // page_64_types.h __PAGE_OFFSET_BASE_L5
  daxVmemmapSelects: X86_DAX_VMEMMAP,
});

// arm64, 48-bit VA. VMEMMAP_START (arch/arm64/include/asm/memory.h, v5.15) is
// -(VMEMMAP_SIZE) - SZ_2M with VMEMMAP_SIZE = 2^47 >> (PAGE_SHIFT - 6).
const arm64Vmemmap = (pageShift: number) => (1n << 64n) - (1n << BigInt(47 - (pageShift - 6))) - (1n << 21n);

/** arm64, 4 KiB granule, 4 levels. */
export const ARM64_4K: ArchProfile = makeProfile({
  name: 'arm64-4k',
  pageShift: 12,
  // arch/arm64/include/asm/pgtable-hwdef.h: ARM64_HW_PGTABLE_LEVEL_SHIFT
  levels: [lv('pgd', 39, 9), lv('pud', 30, 9), lv('pmd', 21, 9), lv('pte', 12, 9)],
  sectionSizeBits: 27, // arch/arm64/include/asm/sparsemem.h (4K granule)
  pageblockOrder: 9, // HUGETLB_PAGE_ORDER = PMD_SHIFT - PAGE_SHIFT
  maxOrder: 11, // arch/arm64/Kconfig FORCE_MAX_ZONEORDER default
  maxPhysmemBits: 48, // arch/arm64/include/asm/sparsemem.h MAX_PHYSMEM_BITS (CONFIG_ARM64_PA_BITS 48)
  vmemmapStart: arm64Vmemmap(12),
  vmemmapPmdMapped: true, // arch/arm64/mm/mmu.c vmemmap_populate: ARM64_KERNEL_USES_PMD_MAPS (4K only)
  thpPud: false, // arm64 has no HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD
  pageOffset: 0xffff000000000000n, // -(1 << VA_BITS)
  daxVmemmapSelects: ARM64_DAX_VMEMMAP,
});

/** arm64, 16 KiB granule, 4 levels (the top level has 2 entries). */
export const ARM64_16K: ArchProfile = makeProfile({
  name: 'arm64-16k',
  pageShift: 14,
  levels: [lv('pgd', 47, 1), lv('pud', 36, 11), lv('pmd', 25, 11), lv('pte', 14, 11)],
  sectionSizeBits: 27, // arch/arm64/include/asm/sparsemem.h (16K granule)
  pageblockOrder: 11, // PMD_SHIFT 25 - PAGE_SHIFT 14
  maxOrder: 12, // arch/arm64/Kconfig FORCE_MAX_ZONEORDER 12 for 16K
  maxPhysmemBits: 48,
  vmemmapStart: arm64Vmemmap(14),
  vmemmapPmdMapped: false,
  thpPud: false,
  pageOffset: 0xffff000000000000n,
  daxVmemmapSelects: ARM64_DAX_VMEMMAP,
});

/** arm64, 64 KiB granule, 3 levels (no pud). */
export const ARM64_64K: ArchProfile = makeProfile({
  name: 'arm64-64k',
  pageShift: 16,
  levels: [lv('pgd', 42, 6), lv('pmd', 29, 13), lv('pte', 16, 13)],
  sectionSizeBits: 29, // arch/arm64/include/asm/sparsemem.h (64K granule)
  pageblockOrder: 13, // PMD_SHIFT 29 - PAGE_SHIFT 16
  maxOrder: 14, // arch/arm64/Kconfig FORCE_MAX_ZONEORDER 14 for 64K
  maxPhysmemBits: 48,
  vmemmapStart: arm64Vmemmap(16),
  vmemmapPmdMapped: false,
  thpPud: false,
  pageOffset: 0xffff000000000000n,
  daxVmemmapSelects: ARM64_DAX_VMEMMAP,
});

/** ppc64 (book3s64, radix MMU), 64 KiB pages. */
export const PPC64_64K: ArchProfile = makeProfile({
  name: 'ppc64-64k',
  pageShift: 16,
  // arch/powerpc/include/asm/book3s/64/radix-64k.h: PTE 5, PMD 9, PUD 9, PGD 13 index bits
  levels: [lv('pgd', 39, 13), lv('pud', 30, 9), lv('pmd', 21, 9), lv('pte', 16, 5)],
  sectionSizeBits: 24, // arch/powerpc/include/asm/sparsemem.h
  pageblockOrder: 5, // HUGETLB_PAGE_SIZE_VARIABLE: HPAGE_SHIFT (2M on radix) - PAGE_SHIFT
  maxOrder: 9, // arch/powerpc/Kconfig FORCE_MAX_ZONEORDER for 64K pages
  maxPhysmemBits: 51, // arch/powerpc/include/asm/book3s/64/mmu.h MAX_PHYSMEM_BITS
  vmemmapStart: 0xc00c000000000000n, // arch/powerpc/include/asm/book3s/64/radix.h RADIX_VMEMMAP_START
  vmemmapPmdMapped: true, // arch/powerpc/mm/init_64.c: mmu_vmemmap_psize is 2M on radix
  thpPud: false, // no THP-PUD for powerpc in the seed's generation
  pageOffset: 0xc000000000000000n,
  daxVmemmapSelects: PPC64_DAX_VMEMMAP,
});

export const ARCH_PROFILES: Readonly<Record<ArchName, ArchProfile>> = Object.freeze({
  x86_64: X86_64,
  'x86_64-la57': X86_64_LA57,
  'arm64-4k': ARM64_4K,
  'arm64-16k': ARM64_16K,
  'arm64-64k': ARM64_64K,
  'ppc64-64k': PPC64_64K,
});

/** Looks a profile up by name; undefined for an unknown name. */
export function archByName(name: string): ArchProfile | undefined {
  return (ARCH_PROFILES as Record<string, ArchProfile>)[name];
}

// Derived constants, as the kernel's macros derive them.

/** PAGES_PER_SECTION */
/** 2 ** n for n in 0..63, by table: `2 ** n` with a variable n is a pow() call, and these helpers run per section. */
const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);
/** 2 ** n for an integer n in 0..63, by table lookup. */
export const pow2 = (n: number): number => POW2[n]!;
export const pagesPerSection = (a: ArchProfile): number => POW2[a.sectionSizeBits - a.pageShift]!;
/** PAGES_PER_SUBSECTION */
export const pagesPerSubsection = (a: ArchProfile): number => POW2[a.subsectionShift - a.pageShift]!;
/** SUBSECTIONS_PER_SECTION */
export const subsectionsPerSection = (a: ArchProfile): number => POW2[a.sectionSizeBits - a.subsectionShift]!;
/** Struct pages that fit in one page of vmemmap (64 on x86-64). */
export const structPagesPerPage = (a: ArchProfile): number => a.pageSize / a.structPageSize;
export const pmdSize = (a: ArchProfile): number => POW2[a.pmdShift]!;
export const pudSize = (a: ArchProfile): number => (a.pudShift ? POW2[a.pudShift]! : 0);
/** pageblock_nr_pages */
export const pageblockNrPages = (a: ArchProfile): number => POW2[a.pageblockOrder]!;
