import { vmemmapCanOptimize } from '@daxsim/page-alloc';
import {
  type ArchProfile,
  ARCH_PROFILES,
  ENOMEM,
  KernelError,
  VMEMMAP_GENERATIONS,
  type VmemmapGeneration,
  isVmemmapGeneration,
  pagesPerSection,
  pagesPerSubsection,
  pmdSize,
  structPagesPerPage,
} from '@daxsim/mm';
import { type OptSpec, UsageError, flag, formatUsage, str } from './args.js';
import type { Command, CommandContext } from './command.js';
import type { MemmapCost } from './device-info.js';
import { type MapLocation, ndPfnInit, pfnAltmap } from './nvdimm.js';
import { table } from './output.js';
import { reportError } from './session.js';
import { humanBytes, parseSize } from './size.js';

const GiB = 2 ** 30;

export interface PlanInput {
  arch: ArchProfile;
  size: number;
  align: number;
  map: MapLocation;
  generation: VmemmapGeneration;
  /** Physical start of the namespace; default: where a default machine puts region0 (64 GiB). */
  start?: number;
}

/**
 * The memmap cost of a devdax namespace, planned without building it: the
 * decisions memremap_pages() makes, taken section by section and PMD by PMD
 * (__add_pages → __populate_section_memmap → vmemmap_populate* /
 * vmemmap_populate_compound_pages), with frames and page tables counted
 * instead of allocated. Cheap for any size; tests hold it against the
 * simulation, byte for byte, on every configuration small enough to build.
 */
export function planMemmap(p: PlanInput): MemmapCost {
  const { arch, size, align, map, generation } = p;
  const start = p.start ?? 64 * GiB;
  const ps = arch.pageSize;
  const info = ndPfnInit(arch, start, size, align, map);
  const startPfn = start / ps;
  const endPfn = startPfn + (size - info.endTrunc) / ps;
  const shift = generation === 'pre-series' || align <= ps ? 0 : Math.log2(align / ps);
  const nr = 2 ** shift;
  const altmap = map === 'dev' ? { ...pfnAltmap(arch, start, info), endPfn: endPfn - 1, alloc: 0, align: 0 } : null;
  const compound = shift > 0 && vmemmapCanOptimize(arch, altmap, nr, generation);
  const pmdReuse = generation === 'tail-reuse-pmd';
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

  const altmapAlloc = (n: number) => {
    const a = altmap!;
    const next = a.basePfn + a.reserve + a.alloc + a.align;
    const alignTo = n & -n;
    const pad = (alignTo - (next % alignTo)) % alignTo;
    if (n + pad > Math.max(0, a.free - (a.alloc + a.align))) throw new KernelError(ENOMEM, `plan: the altmap (${a.free} pfns) cannot hold the memmap`);
    a.alloc += n;
    a.align += pad;
    altmapPfns += n;
  };
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
      if (offset % nr !== 0 && nr > pagesPerSubsection(arch)) {
        // reuse_compound_section(): this section's vmemmap is all tail pages of an earlier section's compound page
        const wholePmds = sectionMemmap % pmd === 0 && v0 % pmd === 0 && (v1 - v0) % pmd === 0;
        if (!(pmdReuse && wholePmds && offset % nr > pps)) for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) pteTables.add(g);
      } else {
        const step = Math.min(v1 - v0, nr * sp);
        for (let a = v0; a < v1; a += step) ramData += 2; // the head vmemmap page and the one tail page the rest reuses
        for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) pteTables.add(g);
      }
    } else if (x86 && v1 - v0 < sectionMemmap) {
      basepages(v0, v1, false); // x86 vmemmap_populate(): base pages, and never the altmap, below a section
    } else if (arch.vmemmapPmdMapped) {
      for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) {
        if (pmdBlocks.has(g)) continue;
        if (pteTables.has(g)) {
          basepages(Math.max(v0, g * pmd), Math.min(v1, (g + 1) * pmd), altmap !== null);
          continue;
        }
        pmdBlocks.add(g);
        if (altmap) altmapAlloc(2 ** pmdOrder);
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
  let tables = pteTables.size;
  for (let l = 1; l < arch.levels.length - 1; l++) {
    const granule = 2 ** arch.levels[l - 1]!.shift;
    tables += Math.floor((V1 - 1) / granule) - Math.floor(V0 / granule) + 1;
  }

  // struct pages written: memmap_init_range() for the altmap's own pfns, then memmap_init_zone_device()
  let written = 0;
  let firstPfn = startPfn;
  if (altmap) {
    written += altmap.free;
    firstPfn = altmap.basePfn + altmap.reserve + altmap.free;
  }
  const perCompound = compound ? 2 * structPagesPerPage(arch) : nr;
  written += Math.ceil((endPfn - firstPfn) / nr) * perCompound;

  return {
    arch: arch.name,
    size,
    align,
    map,
    generation,
    vmemmap_data_bytes: ramData * ps,
    vmemmap_pagetable_bytes: tables * ps,
    device_reserved_bytes: altmapPfns * ps,
    struct_pages_initialised: written,
  };
}

// ------------------------------------------------------------------ the command

const OPTS: OptSpec[] = [
  { long: 'size', arg: 'size', help: 'namespace size (K/M/G/T/P suffixes)' },
  { long: 'align', arg: 'a[,a...]', help: 'device aligns: 4K, 2M, 1G (default 4K,2M,1G)' },
  { long: 'map', arg: 'mem|dev[,...]', help: 'where the struct pages live (default mem,dev)' },
  { long: 'arch', arg: 'arch[,...]', help: `architectures (default x86_64): ${Object.keys(ARCH_PROFILES).join(', ')}` },
  { long: 'generation', arg: 'gen[,...]', help: `vmemmap generations (default all): ${VMEMMAP_GENERATIONS.join(', ')}` },
  { long: 'json', help: 'print a JSON array, one object per configuration' },
  { long: 'help', short: 'h', help: 'show this help' },
];
const USAGE = formatUsage('daxsim plan --size SIZE [--align A,...] [--map mem|dev] [--arch ARCH,...] [--generation G,...] [--json]', OPTS);

const listOpt = (v: string | undefined, dflt: string[]) => (v === undefined ? dflt : v.split(',').map((s) => s.trim()).filter(Boolean));

function plan(ctx: CommandContext): number {
  const o = ctx.parsed.opts;
  let configs: PlanInput[];
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    const sizeText = str(o['size']);
    if (sizeText === undefined) throw new UsageError('--size is required');
    const pm = /^(\d+)[pP]$/.exec(sizeText);
    const size = pm ? Number(pm[1]) * 2 ** 50 : parseSize(sizeText);
    if (size === undefined || size <= 0) throw new UsageError(`failed to parse --size '${sizeText}'`);
    const arches = listOpt(str(o['arch']), ['x86_64']).map((a) => {
      const p = (ARCH_PROFILES as Record<string, ArchProfile>)[a];
      if (!p) throw new UsageError(`invalid --arch '${a}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
      return p;
    });
    const maps = listOpt(str(o['map']), ['mem', 'dev']).map((m) => {
      if (m !== 'mem' && m !== 'dev') throw new UsageError(`invalid --map '${m}': mem or dev`);
      return m as MapLocation;
    });
    const gens = listOpt(str(o['generation']), [...VMEMMAP_GENERATIONS]).map((g) => {
      if (!isVmemmapGeneration(g)) throw new UsageError(`invalid --generation '${g}': one of ${VMEMMAP_GENERATIONS.join(', ')}`);
      return g;
    });
    const alignTexts = str(o['align']);
    configs = [];
    for (const arch of arches) {
      const aligns =
        alignTexts === undefined
          ? [...arch.devdaxAligns]
          : alignTexts.split(',').map((t) => {
              const a = parseSize(t.trim());
              if (a === undefined) throw new UsageError(`failed to parse --align '${t}'`);
              if (!arch.devdaxAligns.includes(a))
                throw new KernelError(22, `plan: --align ${t} is not an align device-dax supports on ${arch.name} (${arch.devdaxAligns.map(humanBytes).join(', ')})`);
              return a;
            });
      for (const align of aligns)
        for (const map of maps)
          for (const generation of gens) {
            if (size % Math.max(align, 16 * 2 ** 20))
              throw new KernelError(22, `plan: --size ${sizeText} is not a multiple of max(align ${humanBytes(align)}, 16 MiB)`);
            configs.push({ arch, size, align, map, generation });
          }
    }
  } catch (e) {
    return reportError(ctx, e, USAGE);
  }
  try {
    const rows = configs.map(planMemmap);
    if (flag(o['json'])) {
      ctx.out.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    ctx.out.out(
      table([
        ['arch', 'size', 'align', 'map', 'generation', 'RAM: struct pages', 'RAM: page tables', 'device', 'struct pages written'],
        ...rows.map((r) => [
          r.arch,
          humanBytes(r.size),
          humanBytes(r.align),
          r.map,
          r.generation,
          humanBytes(r.vmemmap_data_bytes),
          humanBytes(r.vmemmap_pagetable_bytes),
          humanBytes(r.device_reserved_bytes),
          r.struct_pages_initialised,
        ]),
      ]),
    );
    return 0;
  } catch (e) {
    return reportError(ctx, e);
  }
}

export const planCommandImpl: Command = {
  path: ['plan'],
  synopsis: 'daxsim plan --size SIZE --align A[,A...] --map mem|dev --arch ARCH[,...] --generation G[,...] [--json]',
  summary: 'the memmap cost of a devdax namespace of any size, planned (checked against the simulation)',
  options: OPTS,
  run: plan,
};

export { USAGE as PLAN_USAGE };
