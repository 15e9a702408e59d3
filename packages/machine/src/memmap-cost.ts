import { memmapStats, pgmapGeneration } from '@daxsim/memremap';
import { type DevPagemap, pgmapAltmap } from '@daxsim/mm';
import { namespaceName } from '@daxsim/nvdimm';
import type { Machine } from './machine.js';

/** The memmap cost of one device, as measured by the model when its memmap was built. */
export interface MemmapCost {
  arch: string;
  size: number;
  align: number;
  map: 'mem' | 'dev';
  generation: string;
  /** RAM frames holding struct pages, in bytes. */
  vmemmap_data_bytes: number;
  /** RAM frames holding the vmemmap's page tables, in bytes. */
  vmemmap_pagetable_bytes: number;
  /** Device memory the altmap handed out for struct pages, in bytes. */
  device_reserved_bytes: number;
  /** struct pages written (__init_single_page calls). */
  struct_pages_initialised: number;
}

/** Every enabled device of the machine that has a memmap: dax devices and fsdax namespaces. */
export function memmapDevices(m: Machine): { name: string; pgmap: DevPagemap; size: number; align: number }[] {
  const out: { name: string; pgmap: DevPagemap; size: number; align: number }[] = [];
  for (const d of m.bus.devices) if (d.bound && d.pgmap) out.push({ name: d.name, pgmap: d.pgmap, size: d.size, align: d.align });
  for (const r of m.pmem)
    for (const ns of r.namespaces)
      if (ns.mode === 'fsdax' && ns.enabled) {
        const pgmap = m.nvdimm.pgmapOf(ns);
        if (pgmap) out.push({ name: namespaceName(ns), pgmap, size: ns.size - ns.pfn!.dataoff - ns.pfn!.endTrunc, align: m.arch.pageSize });
      }
  return out;
}

export function memmapCost(m: Machine, dev: { pgmap: DevPagemap; size: number; align: number }): MemmapCost {
  const s = memmapStats(m.k, dev.pgmap);
  const ps = m.arch.pageSize;
  return {
    arch: m.arch.name,
    size: dev.size,
    align: dev.align,
    map: pgmapAltmap(dev.pgmap) ? 'dev' : 'mem',
    generation: pgmapGeneration(m.k, dev.pgmap),
    vmemmap_data_bytes: s.vmemmapDataFrames * ps,
    vmemmap_pagetable_bytes: s.vmemmapPagetableFrames * ps,
    device_reserved_bytes: s.altmapPfns * ps,
    struct_pages_initialised: s.structPagesInitialised,
  };
}

