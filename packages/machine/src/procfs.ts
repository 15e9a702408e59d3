import type { DevDax } from '@daxsim/device-dax';
import { C, pmdSize } from '@daxsim/mm';
import { isConfigured, namespaceName } from '@daxsim/nvdimm';
import type { Machine } from './machine.js';
import { zoneViews } from './zones.js';

/**
 * The machine's /proc files, each made from its state when read:
 * meminfo_proc_show(), zoneinfo_show(), vmstat_show() and the iomem
 * resource tree. What the simulated kernel does not have (a page cache,
 * slab, swap, hugetlb pools, a direct map) reads 0; lines the model cannot
 * fill (watermarks, per-cpu pagesets, per-node LRU stats) are left out of
 * zoneinfo and vmstat rather than made up.
 */

/** Pages of RAM the page allocator manages (totalram_pages()): the managed pages of every zone. */
export function totalramPages(m: Machine): number {
  return zoneViews(m).reduce((n, z) => n + z.managed, 0);
}

/** Frames of struct pages allocated since boot (NR_MEMMAP: RAM vmemmap data plus altmap pfns of pgmaps and hot-added blocks). */
export function nrMemmapPages(m: Machine): number {
  let altmap = 0;
  for (const e of m.k.pgmaps.entries) altmap += e.pgmap.altmap?.alloc ?? 0;
  for (const a of m.kmem.hotplug.altmaps) altmap += a.alloc;
  return m.k.buddy.framesInUse('vmemmap_data') - m.bootMemmapPages + altmap;
}

/** meminfo_proc_show() with its hugetlb and arch hooks: the kernel's lines in its order, values measured from the machine. */
export function procMeminfo(m: Machine): string {
  const kb = (pages: number) => (pages * m.arch.pageSize) / 1024;
  const total = totalramPages(m);
  const free = m.k.buddy.nrFreePages();
  let anon = 0;
  for (const o of m.kmem.hotplug.movableOwners) if (o.movable) anon += o.pfns.length;
  const values: Record<string, number> = {
    MemTotal: kb(total),
    MemFree: kb(free),
    // si_mem_available(): free pages less the watermark reserves, plus reclaimable caches; the model has neither
    MemAvailable: kb(free),
    AnonPages: kb(anon),
    PageTables: kb(m.k.buddy.framesInUse('user_pagetable')),
    // vm_commit_limit(): totalram_pages * sysctl_overcommit_ratio (50) / 100 + swap (none)
    CommitLimit: kb(Math.floor((total * 50) / 100)),
    HardwareCorrupted: kb(m.k.counters.v[C.num_poisoned_pages]!),
    Hugepagesize: pmdSize(m.arch) / 1024,
  };
  const lines: string[] = [];
  for (const f of m.kernel.release.procfs.meminfoFields) {
    const v = values[f] ?? 0;
    if (f === 'HardwareCorrupted') lines.push(`HardwareCorrupted: ${String(v).padStart(5)} kB`);
    else if (f.startsWith('HugePages_')) lines.push(`${`${f}:`.padEnd(16)}${String(v).padStart(8)}`);
    else lines.push(`${`${f}:`.padEnd(16)}${String(v).padStart(8)} kB`);
  }
  return lines.join('\n') + '\n';
}

/**
 * zoneinfo_show(): every zone of every node, in zone order. The lines the
 * model measures (pages free, spanned, present, managed, nr_free_pages,
 * start_pfn) in the kernel's layout; an unpopulated zone ends after managed,
 * as the kernel's ends after its protection line.
 */
export function procZoneinfo(m: Machine): string {
  const lines: string[] = [];
  for (const z of zoneViews(m)) {
    lines.push(`Node ${z.nid}, zone ${z.name.padStart(8)}`);
    lines.push(`  pages free     ${z.free}`);
    lines.push(`        spanned  ${z.spanned}`);
    lines.push(`        present  ${z.present}`);
    lines.push(`        managed  ${z.managed}`);
    if (!z.present) continue;
    lines.push(`      nr_free_pages ${z.free}`);
    lines.push(`  start_pfn:           ${z.startPfn}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * vmstat_show(): the counters the model measures, in the kernel's order
 * (zone stats, node stats, then the global vm_stat items); nr_memmap_pages
 * and nr_memmap_boot_pages only on kernels that have them (6.11).
 */
export function procVmstat(m: Machine): string {
  const lines = [`nr_free_pages ${m.k.buddy.nrFreePages()}`, `nr_page_table_pages ${m.k.buddy.framesInUse('user_pagetable')}`];
  if (m.kernel.release.procfs.vmstatMemmapCounters) lines.push(`nr_memmap_pages ${nrMemmapPages(m)}`, `nr_memmap_boot_pages ${m.bootMemmapPages}`);
  return lines.join('\n') + '\n';
}

/** A resource of the iomem tree: [start, end] inclusive, as struct resource. */
export interface IomemResource {
  readonly start: number;
  readonly end: number;
  readonly name: string;
  readonly children: readonly IomemResource[];
}

const res = (start: number, end: number, name: string, children: IomemResource[] = []): IomemResource => ({ start, end, name, children });

// What a dax device holds: device_dax's request of each range, or dax_kmem's request of each memory-block aligned range with the System RAM added in it
function daxResources(m: Machine, d: DevDax): IomemResource[] {
  const kmem = m.kmem.bindings.get(d);
  if (kmem) return kmem.ranges.map((r) => res(r.start, r.end - 1, d.name, [res(r.start, r.end - 1, 'System RAM (kmem)')]));
  if (d.bound) return d.ranges.map((r) => res(r.start, r.end, d.name));
  return [];
}

/**
 * The iomem resource tree of the machine (the kernel's iomem_resource): the
 * e820/NFIT ranges firmware gives (System RAM, Persistent Memory, Soft
 * Reserved) and what drivers requested inside them: the namespaces nd_pmem
 * and dax_pmem claim, device_dax's and dax_kmem's dax device ranges, and
 * the System RAM (kmem) that hot-add puts inside those. Firmware's own
 * reservations, PCI windows and the kernel image are not modelled.
 */
export function iomemTree(m: Machine): IomemResource[] {
  const top: IomemResource[] = [];
  // e820: one System RAM resource per contiguous stretch of RAM, whatever node it belongs to
  const ram = [...m.layout.ram].sort((a, b) => a.start - b.start);
  for (let i = 0; i < ram.length; ) {
    const start = ram[i]!.start;
    let end = start + ram[i]!.size;
    for (i++; i < ram.length && ram[i]!.start === end; i++) end += ram[i]!.size;
    top.push(res(start, end - 1, 'System RAM'));
  }
  for (const region of m.pmem) {
    const kids: IomemResource[] = [];
    for (const ns of region.namespaces) {
      if (!ns.enabled || !isConfigured(ns)) continue;
      const name = namespaceName(ns);
      const end = ns.start + ns.size - 1;
      const daxRegion = ns.mode === 'devdax' ? m.nvdimm.daxRegionOf(ns) : null;
      if (!daxRegion || !ns.pfn) {
        // nd_pmem claims the whole namespace (raw, and fsdax whose pfn device maps all of it)
        kids.push(res(ns.start, end, name));
        continue;
      }
      // dax_pmem: the info block and padding stay the namespace's; the data is the dax device's
      kids.push(res(ns.start, ns.start + ns.pfn.dataoff - 1, name));
      for (const d of daxRegion.devicesById()) kids.push(...daxResources(m, d));
    }
    top.push(res(region.start, region.start + region.size - 1, 'Persistent Memory', kids.sort((a, b) => a.start - b.start)));
  }
  for (const region of m.softReserved) {
    const kids = region.devicesById().flatMap((d) => daxResources(m, d));
    top.push(res(region.start, region.end, 'Soft Reserved', kids.sort((a, b) => a.start - b.start)));
  }
  return top.sort((a, b) => a.start - b.start);
}

/** /proc/iomem: r_show() of every resource, two spaces of indent per level, addresses in at least 8 hex digits. */
export function procIomem(m: Machine): string {
  const lines: string[] = [];
  const hex8 = (n: number) => n.toString(16).padStart(8, '0');
  const walk = (r: IomemResource, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${hex8(r.start)}-${hex8(r.end)} : ${r.name}`);
    for (const c of r.children) walk(c, depth + 1);
  };
  for (const r of iomemTree(m)) walk(r, 0);
  return lines.join('\n') + '\n';
}
