import type { Machine } from './machine.js';

/** What the memmap of hot-added memory takes (measured by systemRamCosts(), planned by planSystemRam()). */
export interface SystemRamMemmap {
  arch: string;
  block_size: number;
  /** Whether memmap_on_memory applied (asked for, and mhp_supports_memmap_on_memory()). */
  memmap_on_memory: boolean;
  /** RAM frames holding struct pages, in bytes. */
  vmemmap_data_bytes: number;
  /** RAM frames holding the vmemmap's page tables, in bytes. */
  vmemmap_pagetable_bytes: number;
  /** Hot-added memory that holds its own struct pages (memmap_on_memory), in bytes. */
  device_reserved_bytes: number;
  /** struct pages written by onlining (the blocks online now; planned: every block). */
  struct_pages_initialised: number;
}

/** The memmap of one device in system-ram mode, as the model measured it when dax_kmem hot-added it. */
export interface SystemRamCost extends SystemRamMemmap {
  device: string;
  /** Bytes hot-added (the device's ranges trimmed to memory blocks). */
  size: number;
  online_memblocks: number;
  total_memblocks: number;
}

/** Every device bound to dax_kmem, with what its memmap took. */
export function systemRamCosts(m: Machine): SystemRamCost[] {
  const ps = m.arch.pageSize;
  const out: SystemRamCost[] = [];
  for (const b of m.kmem.bindings.values()) {
    const blocks = m.kmem.blocksOf(b.dev);
    const online = blocks.filter((x) => x.state === 'online');
    let data = 0;
    let pt = 0;
    let alt = 0;
    for (const r of b.ranges) {
      data += r.memmap.vmemmapDataFrames;
      pt += r.memmap.vmemmapPagetableFrames;
      alt += r.memmap.altmapPfns;
    }
    out.push({
      device: b.dev.name,
      arch: m.arch.name,
      size: b.ranges.reduce((n, r) => n + r.end - r.start, 0),
      block_size: m.kmem.hotplug.blockSize,
      memmap_on_memory: blocks.some((x) => x.altmap !== null),
      vmemmap_data_bytes: data * ps,
      vmemmap_pagetable_bytes: pt * ps,
      device_reserved_bytes: alt * ps,
      struct_pages_initialised: online.reduce((n, x) => n + x.pagesInitialised, 0),
      online_memblocks: online.length,
      total_memblocks: blocks.length,
    });
  }
  return out.sort((a, b) => (a.device < b.device ? -1 : 1));
}
