import { ENOMEM, KernelError, VMEMMAP } from '@daxsim/mm';
import type { MapLocation } from '@daxsim/nvdimm';
import type { Machine } from './machine.js';
import { planMemmap } from './planner.js';
import { alignName, humanBytes } from './size.js';

/**
 * Host bytes the model spends per frame beyond its contents: the pfn→slot
 * directory entry (4 bytes) and the vmemmap TLB entry (4 bytes).
 */
const FRAME_BOOKKEEPING_BYTES = 8;

/** A memmap about to be built: a devdax namespace or device (compound pages of `align`), or fsdax (base pages). */
export interface MemmapRequest {
  readonly start: number;
  readonly size: number;
  readonly align: number;
  readonly map: MapLocation;
  readonly mode: 'devdax' | 'fsdax';
}

/** What exact simulation of one memmap costs the host, before it is built. */
export interface HostMemoryNeed {
  /**
   * Frames that get storage of their own: the vmemmap pages of compound
   * pages, page tables, and (--map dev) the vmemmap pages of the altmap's own pfns.
   */
  readonly ownFrames: number;
  /** Frames that share one template copy (the vmemmap pages of a base-page memmap, all alike). */
  readonly sharedFrames: number;
  /** Host bytes: own frames' contents and bookkeeping, shared frames' bookkeeping. */
  readonly bytes: number;
}

/**
 * The host memory the model needs to build a devdax or fsdax memmap of
 * `size` bytes at `start` exactly, from the planner's counts of the frames
 * the kernel would write (planMemmap(), held byte for byte against the
 * simulation by its tests): every frame the kernel writes is a real frame of
 * the model, and costs a host page unless its contents are a template that
 * many frames share. What shares is what memmap init stores as whole
 * identical vmemmap pages: the struct pages of a base-page memmap (align =
 * PAGE_SIZE, or a generation without compound pages), and the vmemmap pages
 * of tails of compound pages whose tails hold the compound_info mask. Not a figure the CLI
 * prints as the kernel's: only the model's own cost.
 */
export function hostMemoryNeed(m: Machine, p: MemmapRequest): HostMemoryNeed {
  const arch = m.arch;
  const plan = planMemmap({
    arch,
    size: p.size,
    align: p.mode === 'fsdax' ? m.arch.pageSize : p.align, // fsdax: base pages (its align places the data only)
    map: p.map,
    generation: m.generation,
    rule: m.k.vmemmapOptimizeRule,
    ppc64Mmu: m.kernel.ppc64Mmu,
    gate: m.k.daxVmemmapGate,
    start: p.start,
    ram: m.k.mem.ranges.filter((r) => r.kind === 'ram'),
  });
  const ps = arch.pageSize;
  const structPages = (plan.vmemmap_data_bytes + plan.device_reserved_bytes) / ps;
  // memmap_init_zone_device() stores whole vmemmap pages of identical struct pages as one template
  const base = p.mode === 'fsdax' || p.align <= ps || m.generation === 'pre-series';
  // compound pages whose tails hold the compound_info mask (7.1 on): a whole vmemmap page of tails is alike in
  // every compound page and shares a template; the head's vmemmap page is the compound page's own
  const mask = !base && (m.k.memmap.layout.tailEncoding === 'mask' || VMEMMAP[m.generation].needsCompoundInfoMask);
  const heads = mask ? Math.min(structPages, Math.floor(p.size / p.align)) : 0;
  const sharedFrames = base ? structPages : structPages - (mask ? heads : structPages);
  // --map dev: the struct pages of the pfns that hold the memmap (memmap_init_range() of the altmap's pfns) each
  // carry their own lru list head, so their vmemmap pages are never alike
  const altmapOwn = Math.ceil(plan.device_reserved_bytes / ps / (ps / arch.structPageSize));
  const ownFrames = plan.vmemmap_pagetable_bytes / ps + (structPages - sharedFrames) + altmapOwn;
  return { ownFrames, sharedFrames, bytes: ownFrames * (ps + FRAME_BOOKKEEPING_BYTES) + sharedFrames * FRAME_BOOKKEEPING_BYTES };
}

/**
 * -ENOMEM, before anything is changed, when exact simulation of the memmap
 * a namespace or device would get cannot fit in `m.hostMemoryLimit` (unset:
 * no check): the message gives the figure and points to `daxsim plan`, which
 * computes the same memmap's cost without building it.
 */
export function checkHostMemory(m: Machine, who: string, p: MemmapRequest): void {
  const limit = m.hostMemoryLimit;
  if (limit === undefined) return;
  let need: HostMemoryNeed;
  try {
    need = hostMemoryNeed(m, p);
  } catch (e) {
    // a request the planner refuses (an align the kernel would refuse too): the kernel's path says why
    if (e instanceof KernelError) return;
    throw e;
  }
  if (need.bytes <= limit) return;
  throw new KernelError(
    ENOMEM,
    `${who}: exact simulation of this memmap (${humanBytes(p.size)} at align ${alignName(p.align)}, --map ${p.map}, ${m.generation}) needs about ${humanBytes(need.bytes)} of host memory` +
      ` (${need.ownFrames} frames of struct pages and page tables, each a host page of its own), more than the ${humanBytes(limit)} daxsim may use (DAXSIM_HOST_MEMORY);` +
      ` \`daxsim plan --size ${alignName(p.size)} --align ${alignName(p.align)} --map ${p.map}\` gives its cost without simulating it`,
  );
}
