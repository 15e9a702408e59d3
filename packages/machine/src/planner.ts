import { type Ppc64Mmu, compoundNrPages, vmemmapCanOptimize } from '@daxsim/page-alloc';
import {
  SZ_1G,
  type ArchProfile,
  type DaxVmemmapGate,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  VMEMMAP_OPTIMIZE_RULE_GATE,
  ENOMEM,
  EOPNOTSUPP,
  KernelError,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  pagesPerSection,
  pagesPerSubsection,
  pmdSize,
} from '@daxsim/mm';
import { type MapLocation, ndPfnInit, pfnAltmap } from '@daxsim/nvdimm';
import type { MemmapCost } from './memmap-cost.js';


export interface PlanInput {
  arch: ArchProfile;
  size: number;
  align: number;
  map: MapLocation;
  generation: VmemmapGeneration;
  /** The kernel's vmemmap_can_optimize() rule (default: mm's DEFAULT_VMEMMAP_OPTIMIZE_RULE, as createKernel()). */
  rule?: VmemmapOptimizeRule;
  /** ppc64 only: the MMU the kernel runs under (default radix, as createKernel()). */
  ppc64Mmu?: Ppc64Mmu;
  /**
   * The Kconfig symbol vmemmap_can_optimize() is built under: a release's
   * daxVmemmapGate (default: the rule's, VMEMMAP_OPTIMIZE_RULE_GATE). An
   * architecture that does not select it plans the full memmap.
   */
  gate?: DaxVmemmapGate;
  /** Physical start of the namespace; default: where a default machine puts region0 (64 GiB). */
  start?: number;
  /**
   * The machine's RAM, whose boot memmap (sparse_init) built vmemmap page
   * tables before the namespace: a table that RAM's vmemmap already uses is
   * not allocated again. Default: the default machine's 64 GiB at 0.
   */
  ram?: readonly { readonly start: number; readonly size: number }[];
}

/**
 * The memmap cost of a devdax namespace, planned without building it: the
 * decisions memremap_pages() makes, taken section by section and PMD by PMD
 * (__add_pages → __populate_section_memmap → vmemmap_populate* /
 * vmemmap_populate_compound_pages), with frames and page tables counted
 * instead of allocated. Cheap for any size; tests hold it against the
 * simulation, byte for byte, on every configuration small enough to build.
 *
 * For `shared-tail` the namespace is planned as the first device of its
 * order on its node: it pays for the zone's shared tail page (one frame per
 * node and order, counted in vmemmap_data_bytes); a later device of the same
 * order on that node would find it allocated.
 */
export function planMemmap(p: PlanInput): MemmapCost {
  const { arch, size, align, map, generation } = p;
  const start = p.start ?? 64 * SZ_1G;
  const ps = arch.pageSize;
  const info = ndPfnInit(arch, start, size, align, map);
  const startPfn = start / ps;
  const endPfn = startPfn + (size - info.endTrunc) / ps;
  const shift = generation === 'pre-series' || align <= ps ? 0 : Math.log2(align / ps);
  const nr = 2 ** shift;
  const altmap = map === 'dev' ? { ...pfnAltmap(arch, start, info), endPfn: endPfn - 1, alloc: 0, align: 0 } : null;
  const rule = p.rule ?? DEFAULT_VMEMMAP_OPTIMIZE_RULE;
  const ppc64Mmu = p.ppc64Mmu ?? 'radix';
  const gate = p.gate !== undefined ? p.gate : VMEMMAP_OPTIMIZE_RULE_GATE[rule];
  // compound_nr_pages(): struct pages memmap init writes per compound page; above nr the seed's rule overruns (memremap refuses)
  const perCompound = shift > 0 ? compoundNrPages(arch, altmap, nr, generation, rule, ppc64Mmu, gate) : nr;
  if (perCompound > nr)
    throw new KernelError(
      EOPNOTSUPP,
      `plan: vmemmap_shift ${shift}: under the '${rule}' vmemmap_can_optimize rule compound_nr_pages() exceeds the ${nr} pages of a compound page on ${arch.name}`,
    );
  const compound = shift > 0 && vmemmapCanOptimize(arch, altmap, nr, generation, rule, ppc64Mmu, gate);
  const pmdReuse = generation === 'tail-reuse-pmd';
  const sharedTail = generation === 'shared-tail';
  let sharedTailFrames = 0; // zone->vmemmap_tails[order]: one frame, on the first tail vmemmap page mapped
  const sp = arch.structPageSize;
  const pps = pagesPerSection(arch);
  const sectionMemmap = pps * sp;
  const pmd = pmdSize(arch);
  const pmdOrder = arch.pmdShift - arch.pageShift;
  const x86 = arch.name.startsWith('x86_64');
  // vmemmap addresses relative to VMEMMAP_START rounded down to a top-level entry (as KernelMmu's window)
  const top = BigInt(2 ** arch.levels[0]!.shift);
  const off = Number(arch.vmemmapStart % top);
  const vm = (pfn: number) => off + pfn * sp;

  let ramData = 0;
  let altmapPfns = 0;
  const pteTables = new Set<number>(); // PMD granules mapped through a PTE table of their own
  const pmdBlocks = new Set<number>(); // PMD granules mapped by a PSE block
  let lastPage = -1; // the highest vmemmap page populated so far (chunks come in increasing order)

  // altmap_alloc_block_buf(): n pfns, aligned to n's lowest set bit, from what is left of the altmap
  const altmapPad = (n: number) => {
    const a = altmap!;
    const next = a.basePfn + a.reserve + a.alloc + a.align;
    const alignTo = n & -n;
    return (alignTo - (next % alignTo)) % alignTo;
  };
  const altmapFits = (n: number) => n + altmapPad(n) <= Math.max(0, altmap!.free - (altmap!.alloc + altmap!.align));
  const altmapAlloc = (n: number) => {
    const a = altmap!;
    const pad = altmapPad(n);
    if (!altmapFits(n)) throw new KernelError(ENOMEM, `plan: the altmap (${a.free} pfns) cannot hold the memmap`);
    a.alloc += n;
    a.align += pad;
    altmapPfns += n;
  };
  // vmemmap_populate()'s PMD-block form differs per architecture (see sparse-vmemmap's vmemmapPopulateHugepages)
  const flavour = arch.name.startsWith('arm64') ? 'arm64' : arch.name.startsWith('ppc64') ? 'ppc64' : 'x86';
  // basepages over [v0, v1): a PTE per vmemmap page not yet present
  const basepages = (v0: number, v1: number, fromAltmap: boolean) => {
    for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) pteTables.add(g);
    const first = Math.max(Math.floor(v0 / ps), lastPage + 1);
    const last = Math.ceil(v1 / ps) - 1;
    for (let pg = first; pg <= last; pg++) {
      if (fromAltmap) altmapAlloc(1);
      else ramData++;
    }
    lastPage = Math.max(lastPage, last);
  };

  for (let pfn = startPfn; pfn < endPfn; ) {
    const next = Math.min(endPfn, (Math.floor(pfn / pps) + 1) * pps);
    const v0 = vm(pfn);
    const v1 = vm(next);
    if (compound) {
      const offset = pfn - startPfn;
      // shared-tail: the zone's tail page is mapped once the section reaches past its compound page's head vmemmap page
      if (sharedTail && v1 > vm(pfn - (offset % nr)) + ps) sharedTailFrames = 1;
      if (offset % nr !== 0 && nr > pagesPerSubsection(arch)) {
        // reuse_compound_section(): this section's vmemmap is all tail pages of an earlier section's compound page
        const wholePmds = sectionMemmap % pmd === 0 && v0 % pmd === 0 && (v1 - v0) % pmd === 0;
        if (!(pmdReuse && wholePmds && offset % nr > pps)) for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) pteTables.add(g);
      } else {
        const step = Math.min(v1 - v0, nr * sp);
        // tail-reuse: the head vmemmap page and the one tail page the rest reuses; shared-tail: the head page only
        for (let a = v0; a < v1; a += step) ramData += sharedTail ? 1 : 2;
        for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) pteTables.add(g);
      }
    } else if (x86 && v1 - v0 < sectionMemmap) {
      basepages(v0, v1, false); // x86 vmemmap_populate(): base pages, and never the altmap, below a section
    } else if (arch.vmemmapPmdMapped) {
      for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) {
        if (pmdBlocks.has(g)) continue;
        const clip0 = Math.max(v0, g * pmd);
        const clip1 = Math.min(v1, (g + 1) * pmd);
        if (pteTables.has(g)) {
          // x86: a PTE table already there gets base pages, never from the altmap; arm64 and ppc64 leave it as it is
          if (flavour === 'x86') basepages(clip0, clip1, false);
          continue;
        }
        let fromAltmap = altmap !== null && altmapFits(2 ** pmdOrder);
        if (flavour === 'ppc64' && altmap !== null) {
          // altmap_cross_boundary(): a block whose struct pages describe pfns outside the altmap's range comes from RAM
          const first = (g * pmd - off) / sp;
          if (first + pmd / sp > altmap.endPfn || first < altmap.basePfn) fromAltmap = false;
        } else if (altmap !== null && !fromAltmap) {
          if (flavour === 'arm64') {
            basepages(clip0, clip1, true); // arm64: a block the altmap cannot hold falls back to base pages, from the altmap
            continue;
          }
          altmapAlloc(2 ** pmdOrder); // x86: -ENOMEM, no fallback from an altmap
        }
        pmdBlocks.add(g);
        if (fromAltmap) altmapAlloc(2 ** pmdOrder);
        else ramData += 2 ** pmdOrder;
        lastPage = Math.max(lastPage, (g + 1) * (pmd / ps) - 1);
      }
    } else {
      basepages(v0, v1, altmap !== null);
    }
    pfn = next;
  }

  // Page tables below the top level: distinct entries of the level above over the whole vmemmap range.
  const V0 = vm(startPfn);
  const V1 = vm(endPfn);
  // The boot memmap's vmemmap ranges (sparseInitBootMemory(): RAM's subsections), whose tables exist already.
  const sub = pagesPerSubsection(arch);
  const boot = (p.ram ?? [{ start: 0, size: 64 * SZ_1G }]).map((r) => [vm(Math.ceil(r.start / ps / sub) * sub), vm(Math.floor((r.start + r.size) / ps / sub) * sub)] as const).filter(([a, b]) => b > a);
  const bootHas = (g: number, granule: number) => boot.some(([a, b]) => g * granule < b && (g + 1) * granule > a);
  let tables = 0;
  for (const g of pteTables) if (!bootHas(g, pmd)) tables++;
  for (let l = 1; l < arch.levels.length - 1; l++) {
    const granule = 2 ** arch.levels[l - 1]!.shift;
    for (let g = Math.floor(V0 / granule); g <= Math.floor((V1 - 1) / granule); g++) if (!bootHas(g, granule)) tables++;
  }

  // struct pages written: memmap_init_range() for the altmap's own pfns, then memmap_init_zone_device()
  let written = 0;
  let firstPfn = startPfn;
  if (altmap) {
    written += altmap.free;
    firstPfn = altmap.basePfn + altmap.reserve + altmap.free;
  }
  written += Math.ceil((endPfn - firstPfn) / nr) * perCompound;

  return {
    arch: arch.name,
    size,
    align,
    map,
    generation,
    vmemmap_data_bytes: (ramData + sharedTailFrames) * ps,
    vmemmap_pagetable_bytes: tables * ps,
    device_reserved_bytes: altmapPfns * ps,
    struct_pages_initialised: written,
  };
}
