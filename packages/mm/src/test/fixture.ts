import type { ArchProfile } from '../arch.js';
import { X86_64 } from '../arch.js';
import { Counters } from '../counters.js';
import { KernelMmu } from '../kernel-mmu.js';
import { KernelObjects } from '../kobjects.js';
import { PAGE_KERNEL_LO, mkEntryHi, mkEntryLo } from '../pgtable.js';
import { PhysicalMemory } from '../phys-mem.js';
import { Memmap, STRUCT_PAGE_V5_15, type StructPageLayout } from '../struct-page.js';
import { BumpAllocator } from './bump-allocator.js';

/**
 * A bare mm layer for unit tests: RAM at [0, ramSize), a bump allocator over
 * it, the vmemmap MMU and the memmap accessors. `mapVmemmapPage(vmi, frame)`
 * installs one vmemmap pte by hand.
 */
export function mmFixture(opts: { arch?: ArchProfile; ramSize?: number; tlb?: boolean; layout?: StructPageLayout } = {}) {
  const arch = opts.arch ?? X86_64;
  const mem = new PhysicalMemory(arch);
  const ramSize = opts.ramSize ?? 64 * 2 ** 20;
  mem.addRange({ start: 0, size: ramSize, kind: 'ram', nid: 0 });
  const alloc = new BumpAllocator(mem, 1, ramSize / arch.pageSize - 1);
  const counters = new Counters();
  const mmu = new KernelMmu(mem, alloc, counters, { tlb: opts.tlb ?? true });
  const objects = new KernelObjects(arch.pageOffset);
  const memmap = new Memmap(mmu, objects, counters, opts.layout ?? STRUCT_PAGE_V5_15);
  const pteLevel = arch.pteLevel;
  function mapVmemmapPage(vmi: number, frame: number, prot: number = PAGE_KERNEL_LO): void {
    const va = mmu.vmemmapOffset + vmi * arch.pageSize;
    const table = mmu.pgtable.populate(va, pteLevel);
    if (table < 0) throw new Error(`populate failed: ${table}`);
    mmu.pgtable.setEntry(
      table,
      mmu.pgtable.index(va, pteLevel),
      mkEntryLo(frame, arch.pageShift, prot),
      mkEntryHi(frame, arch.pageShift, 0),
      va,
      pteLevel,
    );
  }
  return { arch, mem, alloc, counters, mmu, objects, memmap, mapVmemmapPage };
}
