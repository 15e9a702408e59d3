import {
  type ArchProfile,
  Counters,
  KernelLog,
  KernelMmu,
  KernelObjects,
  type KernelCore,
  KERNELS,
  type KernelRelease,
  type MemmapInitVariant,
  type MemoryTier,
  type Platform,
  Memmap,
  SEED_KERNEL_VERSION,
  PhysicalMemory,
  X86_64,
  modelledNs,
  platformByName,
} from '@daxsim/mm';
import { BuddyAllocator } from './buddy.js';

export interface RamSpec {
  nid: number;
  /** Bytes; defaults to right after the previous RAM range (the first starts at 0). */
  start?: number;
  size: number;
}
export interface DeviceSpec {
  start: number;
  size: number;
  name?: string;
  nid?: number;
  /** What the range is made of (the cost model's tier; default pmem). */
  tier?: MemoryTier;
}
export interface KernelCoreOptions {
  arch?: ArchProfile;
  ram: RamSpec[];
  devices?: DeviceSpec[];
  /** The vmemmap translation cache (default on). */
  tlb?: boolean;
  /** The release the kernel runs (default: the seed's, v5.15): its struct page layout, and what the layers above read of it. */
  kernel?: KernelRelease;
  /** The CPU + memory profile modelled times are computed for (default: @daxsim/mm DEFAULT_PLATFORM). */
  platform?: Platform;
  /** How memmap_init_zone_device() writes struct pages (default: the release's). */
  memmapInit?: MemmapInitVariant;
}

/** A KernelCore whose frames come from a buddy allocator. */
export interface PageAllocKernel extends KernelCore {
  readonly buddy: BuddyAllocator;
  /** The node that vmemmap page tables are allocated on (set by the populate paths). */
  ptNid: number;
}

/** Boots a simulated machine: physical memory, the buddy allocator over its RAM, init_mm's vmemmap tables. */
export function createKernelCore(opts: KernelCoreOptions): PageAllocKernel {
  const arch = opts.arch ?? X86_64;
  const mem = new PhysicalMemory(arch);
  let next = 0;
  for (const r of opts.ram) {
    const start = r.start ?? next;
    mem.addRange({ start, size: r.size, kind: 'ram', nid: r.nid, name: `System RAM (node ${r.nid})` });
    next = start + r.size;
  }
  for (const d of opts.devices ?? [])
    mem.addRange({ start: d.start, size: d.size, kind: 'device', nid: d.nid ?? 0, ...(d.name !== undefined ? { name: d.name } : {}), ...(d.tier !== undefined ? { tier: d.tier } : {}) });
  const counters = new Counters();
  const buddy = new BuddyAllocator(mem, counters);
  const core = { ptNid: opts.ram[0]?.nid ?? 0 } as { ptNid: number };
  const mmu = new KernelMmu(mem, buddy.pageTableAllocator(() => core.ptNid), counters, opts.tlb === undefined ? {} : { tlb: opts.tlb });
  const objects = new KernelObjects(arch.pageOffset);
  const release = opts.kernel ?? KERNELS[SEED_KERNEL_VERSION];
  const memmap = new Memmap(mmu, objects, counters, release.layout);
  // local_clock(): the machine's uptime is the modelled time of every event counted since boot (cost.ts), so that
  // a log restored with its counters (a machine booted again from its state file) carries on where it stopped
  const clockPlatform = opts.platform ?? platformByName(undefined);
  const log = new KernelLog({ now: () => modelledNs(clockPlatform, counters.v) / 1e9 });
  mmu.log = log; // where a write through a read-only vmemmap PTE oopses
  return Object.assign(core, {
    release,
    arch,
    mem,
    mmu,
    memmap,
    objects,
    counters,
    log,
    frames: buddy,
    buddy,
    ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
    ...(opts.memmapInit !== undefined ? { memmapInit: opts.memmapInit } : {}),
  });
}
