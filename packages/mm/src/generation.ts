/**
 * The vmemmap algorithm generations a machine can run side by side:
 * - `pre-series`: base struct pages, as before the compound devmap series;
 * - `compound`: compound pages with a full vmemmap (what v5.17 merged first);
 * - `tail-reuse`: compound pages whose tail vmemmap pages share one frame
 *   (2 vmemmap data pages per compound page; the series' patches 9-13, merged later);
 * - `tail-reuse-pmd`: tail-reuse plus the seed's patch 14, which also shares
 *   PTE tables across a 1 GiB compound page (never merged upstream).
 */
export const VMEMMAP_GENERATIONS = ['pre-series', 'compound', 'tail-reuse', 'tail-reuse-pmd'] as const;
export type VmemmapGeneration = (typeof VMEMMAP_GENERATIONS)[number];
export const DEFAULT_VMEMMAP_GENERATION: VmemmapGeneration = 'tail-reuse';

export function isVmemmapGeneration(s: string): s is VmemmapGeneration {
  return (VMEMMAP_GENERATIONS as readonly string[]).includes(s);
}
