import type { ArchProfile } from './arch.js';
import type { Counters } from './counters.js';
import type { KernelMmu } from './kernel-mmu.js';
import type { KernelRelease } from './kernels.js';
import type { KernelLog } from './klog.js';
import type { KernelObjects } from './kobjects.js';
import type { PhysicalMemory } from './phys-mem.js';
import type { MemmapInitVariant } from './generation.js';
import type { Platform } from './platform.js';
import type { Memmap } from './struct-page.js';

/** What a frame is allocated for; the allocator counts frames per purpose. */
export type FramePurpose = 'vmemmap_data' | 'vmemmap_pagetable' | 'user_pagetable' | 'other';

/**
 * The page allocator's interface (implemented by @daxsim/page-alloc's buddy
 * allocator). Errors are returned, not thrown: the callers are kernel paths
 * that unwind on -ENOMEM.
 */
export interface FrameAllocator {
  /** alloc_pages_node(nid, GFP_KERNEL, order): 2^order contiguous frames, or -ENOMEM. */
  allocPages(order: number, nid: number, purpose: FramePurpose): number;
  /** __free_pages(): gives the block back; its contents are discarded (`zeroed`: they are known to be all zero). */
  freePages(pfn: number, order: number, purpose: FramePurpose, zeroed?: boolean): void;
}

/**
 * The pieces of a simulated kernel that every layer shares. Higher layers
 * extend it (the section table, the pgmap registry, ...).
 */
export interface KernelCore {
  /** The release it runs (its generation registry row): the struct page layout, the fault model, GUP. */
  readonly release: KernelRelease;
  readonly arch: ArchProfile;
  readonly mem: PhysicalMemory;
  readonly mmu: KernelMmu;
  readonly memmap: Memmap;
  readonly objects: KernelObjects;
  readonly counters: Counters;
  readonly log: KernelLog;
  readonly frames: FrameAllocator;
  /** The CPU + memory profile the modelled times are computed for (cost.ts); unset: the default platform. */
  platform?: Platform;
  /** How memmap_init_zone_device() writes struct pages (generation.ts); unset: the release's. */
  memmapInit?: MemmapInitVariant;
}
