/**
 * The vmemmap algorithm generations a machine can run side by side:
 * - `pre-series`: base struct pages, as before the compound devmap series;
 * - `compound`: compound pages with a full vmemmap (what v5.17 merged first);
 * - `tail-reuse`: compound pages whose tail vmemmap pages share one frame
 *   (2 vmemmap data pages per compound page; the series' patches 9-13, merged
 *   in v5.19 as 4917f55b4ef9 "mm/sparse-vmemmap: improve memory savings for
 *   compound devmaps"; still what device-dax runs in 7.3-rc7, measured);
 * - `tail-reuse-pmd`: tail-reuse plus the seed's patch 14, which also shares
 *   PTE tables across a 1 GiB compound page (never merged upstream).
 *
 * These are the generations the planner (apps/daxsim) knows; the proposed
 * `shared-tail` generation is in PROPOSED_VMEMMAP_GENERATIONS until it does.
 */
const MERGED_OR_SEED = ['pre-series', 'compound', 'tail-reuse', 'tail-reuse-pmd'] as const;

/**
 * Proposed generations, never a kernel:
 * - `shared-tail`: Muchun Song, "mm: Generalize vmemmap optimization for DAX
 *   and HugeTLB" (49 patches, posted 2026-04-05, not merged): device-dax gets
 *   HugeTLB's vmemmap optimisation as Kiryl Shutsemau's "eliminate fake head
 *   pages" series left it: one writable vmemmap page per compound page (the
 *   head and its first tails), every other vmemmap page of the compound page
 *   mapped read-only onto one shared tail page per zone and order, tails
 *   encoding their head as a `compound_info` mask, and the struct pages
 *   behind the shared tail never written by memmap init.
 */
export const PROPOSED_VMEMMAP_GENERATIONS = ['shared-tail'] as const;

/** Every generation: merged, never merged, proposed. */
export const ALL_VMEMMAP_GENERATIONS = [...MERGED_OR_SEED, ...PROPOSED_VMEMMAP_GENERATIONS] as const;

export type VmemmapGeneration = (typeof ALL_VMEMMAP_GENERATIONS)[number];
export const VMEMMAP_GENERATIONS: readonly VmemmapGeneration[] = MERGED_OR_SEED;
export const DEFAULT_VMEMMAP_GENERATION: VmemmapGeneration = 'tail-reuse';

export function isVmemmapGeneration(s: string): s is VmemmapGeneration {
  return (ALL_VMEMMAP_GENERATIONS as readonly string[]).includes(s);
}

/** Whether tail struct pages of this generation encode their head as a compound_info mask (compound_info_has_mask()). */
export function compoundInfoHasMask(g: VmemmapGeneration): boolean {
  return g === 'shared-tail';
}

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
