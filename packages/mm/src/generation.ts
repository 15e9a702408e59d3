/**
 * The generation tables: for every piece of the device-dax stack that
 * changed between kernels (the vmemmap, GUP, the fault path, memmap init),
 * one typed row per generation saying what it does and where it comes from.
 * Code reads a generation's properties from these tables; it never compares
 * generation names. A kernel release (kernels.ts) names one generation per
 * piece; a proposal is a generation, never a kernel.
 */

/** Where a generation stands upstream. */
export type GenerationStatus = 'merged' | 'never-merged' | 'proposed';

// ---------------------------------------------------------------- vmemmap

/** What one vmemmap generation builds for a compound devmap. */
export interface VmemmapGenerationSpec {
  readonly name: string;
  /** The memmap is made of compound pages at all (false: base struct pages whatever the vmemmap shift). */
  readonly compound: boolean;
  /** Tail vmemmap pages are shared (vmemmap_can_optimize() may say yes). */
  readonly dedup: boolean;
  /** Vmemmap pages a deduplicated compound page keeps for itself (VMEMMAP_RESERVE_NR for tail reuse). */
  readonly ownPages: number;
  /** The seed's patch 14: PTE tables shared across a PUD-sized compound page. */
  readonly pmdReuse: boolean;
  /** Tails mapped read-only onto one shared tail page per zone and order. */
  readonly sharedTail: boolean;
  /** Requires tails that encode their head as a compound_info mask (it is built on that series). */
  readonly needsCompoundInfoMask: boolean;
  readonly status: GenerationStatus;
  /** Where it comes from: the commit, series or patch. */
  readonly source: string;
}

const vmemmapRow = <N extends string>(name: N, r: Omit<VmemmapGenerationSpec, 'name'>) => ({ name, ...r }) as VmemmapGenerationSpec & { name: N };

/** Every vmemmap generation, in the order they appeared. */
export const VMEMMAP = {
  'pre-series': vmemmapRow('pre-series', {
    compound: false, dedup: false, ownPages: 0, pmdReuse: false, sharedTail: false, needsCompoundInfoMask: false, status: 'merged',
    source: 'v5.15 and earlier: a base struct page per pfn of device memory',
  }),
  compound: vmemmapRow('compound', {
    compound: true, dedup: false, ownPages: 0, pmdReuse: false, sharedTail: false, needsCompoundInfoMask: false, status: 'merged',
    source: 'v5.17: compound devmaps (the seed series, patches 1-8) with a full vmemmap',
  }),
  'tail-reuse': vmemmapRow('tail-reuse', {
    compound: true, dedup: true, ownPages: 2, pmdReuse: false, sharedTail: false, needsCompoundInfoMask: false, status: 'merged',
    source: '4917f55b4ef9 "mm/sparse-vmemmap: improve memory savings for compound devmaps" (v5.19; the seed\'s patches 9-13); device-dax\'s in 7.3-rc7, measured',
  }),
  'tail-reuse-pmd': vmemmapRow('tail-reuse-pmd', {
    compound: true, dedup: true, ownPages: 2, pmdReuse: true, sharedTail: false, needsCompoundInfoMask: false, status: 'never-merged',
    source: 'the seed\'s patch 14 (v4): PTE tables shared across a 1 GiB compound page',
  }),
  'shared-tail': vmemmapRow('shared-tail', {
    compound: true, dedup: true, ownPages: 1, pmdReuse: false, sharedTail: true, needsCompoundInfoMask: true, status: 'proposed',
    source: 'Muchun Song, "mm: Generalize vmemmap optimization for DAX and HugeTLB" (49 patches, 2026-04-05), on Kiryl Shutsemau\'s compound_info series',
  }),
} as const;

export type VmemmapGeneration = keyof typeof VMEMMAP;

/** Every vmemmap generation: merged, never merged, proposed. */
export const ALL_VMEMMAP_GENERATIONS = Object.keys(VMEMMAP) as readonly VmemmapGeneration[];
/** The generations that are not proposals (the planner's default set). */
export const VMEMMAP_GENERATIONS: readonly VmemmapGeneration[] = ALL_VMEMMAP_GENERATIONS.filter((g) => VMEMMAP[g].status !== 'proposed');
export const PROPOSED_VMEMMAP_GENERATIONS: readonly VmemmapGeneration[] = ALL_VMEMMAP_GENERATIONS.filter((g) => VMEMMAP[g].status === 'proposed');
/** What memremap_pages() builds when a caller names no generation (the library default; a machine takes its kernel's). */
export const DEFAULT_VMEMMAP_GENERATION: VmemmapGeneration = 'tail-reuse';

export function isVmemmapGeneration(s: string): s is VmemmapGeneration {
  return Object.prototype.hasOwnProperty.call(VMEMMAP, s);
}

// ---------------------------------------------------------------- vmemmap_can_optimize()

/**
 * Which vmemmap_can_optimize() a kernel runs (include/linux/mm.h and its
 * ancestors), decided per compound devmap:
 * - `seed`: the series as merged in v5.19: __populate_section_memmap() dedups
 *   when pgmap_vmemmap_nr(pgmap) > 1 and there is no altmap, and
 *   compound_nr_pages() only tests the altmap;
 * - `altmap-fix`: 87a7ae75d738 "mm/vmemmap/devdax: fix kernel crash when
 *   probing devdax devices" (v6.4, backported to stable): one
 *   vmemmap_can_optimize() = power-of-two struct page && pgmap_vmemmap_nr > 1
 *   && no altmap, which compound_nr_pages() follows too;
 * - `reserve-nr`: c1a6c536fb08 "mm/vmemmap: improve vmemmap_can_optimize and
 *   allow architectures to override" (v6.6, Aneesh Kumar K.V): more than
 *   VMEMMAP_RESERVE_NR (2) vmemmap pages per compound page, with an
 *   architecture override — ppc64 answers false unless the radix MMU is on.
 */
export const VMEMMAP_OPTIMIZE_RULES = ['seed', 'altmap-fix', 'reserve-nr'] as const;
export type VmemmapOptimizeRule = (typeof VMEMMAP_OPTIMIZE_RULES)[number];
export const DEFAULT_VMEMMAP_OPTIMIZE_RULE: VmemmapOptimizeRule = 'reserve-nr';

/** VMEMMAP_RESERVE_NR (include/linux/mm.h, v6.6): the vmemmap pages a deduplicated compound page keeps. */
export const VMEMMAP_RESERVE_NR = 2;

/**
 * The Kconfig symbol vmemmap_can_optimize() is built under (its `#else`
 * answers false for every device-dax pgmap): an architecture that does not
 * select it builds the full memmap whatever the generation.
 * - none (null): the seed as merged (4917f55b4ef9, v5.19):
 *   __populate_section_memmap() reuses tails on every architecture;
 * - `ARCH_WANT_OPTIMIZE_VMEMMAP`: 87a7ae75d738 (v6.4) gated device-dax's
 *   reuse on the architectures that had HugeTLB's vmemmap optimisation;
 * - `ARCH_WANT_OPTIMIZE_DAX_VMEMMAP`: 0b6f15824cc7 "mm/vmemmap optimization:
 *   split hugetlb and devdax vmemmap optimization" (v6.6) gave device-dax a
 *   symbol of its own.
 * Which architectures select which symbol is arch.ts's (ArchProfile.daxVmemmapSelects).
 */
export type DaxVmemmapGate = 'ARCH_WANT_OPTIMIZE_VMEMMAP' | 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP' | null;

/**
 * The gate of the kernels that run each rule: what a plan or a kernel that
 * names a rule but no release is gated by (a release's own gate is its
 * registry row's, kernels.ts).
 */
export const VMEMMAP_OPTIMIZE_RULE_GATE: Readonly<Record<VmemmapOptimizeRule, DaxVmemmapGate>> = {
  seed: null,
  'altmap-fix': 'ARCH_WANT_OPTIMIZE_VMEMMAP',
  'reserve-nr': 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP',
};

export function isVmemmapOptimizeRule(s: string): s is VmemmapOptimizeRule {
  return (VMEMMAP_OPTIMIZE_RULES as readonly string[]).includes(s);
}

// ---------------------------------------------------------------- GUP

/** What one GUP generation does with the pages under a huge device-dax leaf. */
export interface GupGenerationSpec {
  readonly name: string;
  /**
   * How references are taken under a PMD/PUD leaf:
   * - `base-page`: one grab (and a get_dev_pagemap) per 4 KiB page, on its head;
   * - `compound-page`: once per compound page, by the seed's patch 8 or its review;
   * - `folio`: one try_grab_folio_fast() of the call's page count per folio (no devmap path).
   */
  readonly grab: 'base-page' | 'compound-page' | 'folio';
  /** The walk takes the dev_pagemap reference (get_dev_pagemap) for every page it records. */
  readonly pgmapRef: boolean;
  readonly status: GenerationStatus;
  readonly source: string;
}

const gupRow = <N extends string>(name: N, r: Omit<GupGenerationSpec, 'name'>) => ({ name, ...r }) as GupGenerationSpec & { name: N };

export const GUP = {
  'per-page': gupRow('per-page', {
    grab: 'base-page', pgmapRef: true, status: 'merged',
    source: '__gup_device_huge() as v5.15 has it, and upstream until the devmap path went away: get_dev_pagemap() and try_grab_page() per 4 KiB page',
  }),
  'head-once': gupRow('head-once', {
    grab: 'compound-page', pgmapRef: true, status: 'never-merged',
    source: 'the seed\'s patch 8 (v4): compound_head() read first, record_subpages(), one try_grab_compound_head() per compound page',
  }),
  'grab-first': gupRow('grab-first', {
    grab: 'compound-page', pgmapRef: true, status: 'never-merged',
    source: 'Jason Gunthorpe\'s sketch in the seed\'s review (2021-10-13): one reference on the head first, the rest under it',
  }),
  folio: gupRow('folio', {
    grab: 'folio', pgmapRef: false, status: 'merged',
    source: 'fd2825b0760a "mm/gup: remove pXX_devmap usage from get_user_pages()" (v6.17): gup_fast_pmd_leaf()/gup_fast_pud_leaf() record the subpages and take one try_grab_folio_fast() per folio; no dev_pagemap reference',
  }),
} as const;

export type GupGeneration = keyof typeof GUP;
export const GUP_GENERATIONS = Object.keys(GUP) as readonly GupGeneration[];
/** What a Gup made without a generation runs (the library default; a machine takes its kernel's). */
export const DEFAULT_GUP_GENERATION: GupGeneration = 'per-page';

export function isGupGeneration(s: string): s is GupGeneration {
  return Object.prototype.hasOwnProperty.call(GUP, s);
}

// ---------------------------------------------------------------- faults

/**
 * How device-dax's fault handlers map a unit:
 * - `pfn`: vmf_insert_pfn_pmd[_prot]() / vmf_insert_mixed(): a pfn leaf with
 *   the devmap bit, no reference taken, no rmap, no RSS; zap just clears it
 *   (v5.15 .. v6.14);
 * - `folio`: vmf_insert_folio_pmd()/_pud() and vmf_insert_page_mkwrite():
 *   folio_get() and folio_add_file_rmap_*() per mapping, counted in the mm's
 *   file RSS; zap removes the rmap and puts the reference (aed877c2b425
 *   "device/dax: properly refcount device dax pages when mapping", v6.15).
 */
export interface FaultModelSpec {
  readonly name: string;
  readonly refcounted: boolean;
  readonly source: string;
}

export const FAULT_MODELS = {
  pfn: { name: 'pfn', refcounted: false, source: 'drivers/dax/device.c before v6.15: vmf_insert_pfn_pmd_prot(), a devmap pfn leaf' },
  folio: { name: 'folio', refcounted: true, source: 'aed877c2b425 "device/dax: properly refcount device dax pages when mapping" (v6.15)' },
} as const satisfies Record<string, FaultModelSpec>;

export type FaultModel = keyof typeof FAULT_MODELS;

// ---------------------------------------------------------------- memmap init

/** How memmap_init_zone_device() writes the struct pages of a ZONE_DEVICE range. */
export interface MemmapInitSpec {
  readonly name: string;
  /**
   * How the stores reach memory:
   * - `store`: __init_zone_device_page() (and prep_compound_tail()) store field
   *   by field into each struct page: every line read for ownership, then written back;
   * - `streaming`: one template struct page per head/tail kind, its
   *   pfn-dependent fields refreshed, copied with non-temporal stores (no read
   *   for ownership; pageblock-aligned pfns keep a regular memcpy()).
   * The struct pages end up the same, word for word; only the cost model's lines differ.
   */
  readonly stores: 'store' | 'streaming';
  readonly status: GenerationStatus;
  readonly source: string;
}

export const MEMMAP_INIT = {
  'per-page': {
    name: 'per-page', stores: 'store', status: 'merged',
    source: 'memmap_init_zone_device() / __init_zone_device_page() as every release so far has it (v5.15 .. 7.3)',
  },
  'template-nt': {
    name: 'template-nt', stores: 'streaming', status: 'proposed',
    source: 'Li Zhe, "mm: optimize zone-device memmap initialization" v5 (1 Jul 2026, on v7.2-rc1; v1-v4 May-June 2026 "mm: speed up ZONE_DEVICE memmap initialization"), not merged',
  },
} as const satisfies Record<string, MemmapInitSpec>;

export type MemmapInitVariant = keyof typeof MEMMAP_INIT;
export const MEMMAP_INIT_VARIANTS = Object.keys(MEMMAP_INIT) as readonly MemmapInitVariant[];
export const PROPOSED_MEMMAP_INIT_VARIANTS: readonly MemmapInitVariant[] = MEMMAP_INIT_VARIANTS.filter((v) => MEMMAP_INIT[v].status !== 'merged');
export function isMemmapInitVariant(s: string): s is MemmapInitVariant {
  return Object.prototype.hasOwnProperty.call(MEMMAP_INIT, s);
}
