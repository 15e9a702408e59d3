import { type ArchProfile, ZONE_DEVICE, ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL } from '@daxsim/mm';
import type { Machine } from './machine.js';

/** The zone names /proc/zoneinfo and valid_zones print (zone_names[] of mm/page_alloc.c). */
export const ZONE_NAMES: Readonly<Record<number, string>> = { [ZONE_DMA]: 'DMA', [ZONE_DMA32]: 'DMA32', [ZONE_NORMAL]: 'Normal', [ZONE_MOVABLE]: 'Movable', [ZONE_DEVICE]: 'Device' };

/** A pfn range [start, end). */
export interface PfnRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The zones each node has, in zone order: x86-64 builds ZONE_DMA and
 * ZONE_DMA32 (CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32, as Debian's kernels do);
 * other architectures are given ZONE_NORMAL only (their DMA zones are not
 * modelled).
 */
export function nodeZones(arch: ArchProfile): number[] {
  return arch.name.startsWith('x86_64') ? [ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, ZONE_DEVICE] : [ZONE_NORMAL, ZONE_MOVABLE, ZONE_DEVICE];
}

/** zone_sizes_init() (arch/x86/mm/init.c): the first pfn above each boot zone (MAX_DMA_PFN: 16 MiB, MAX_DMA32_PFN: 4 GiB). */
export function bootZoneLimits(arch: ArchProfile): { zone: number; end: number }[] {
  const ps = arch.pageSize;
  if (!arch.name.startsWith('x86_64')) return [{ zone: ZONE_NORMAL, end: Infinity }];
  return [
    { zone: ZONE_DMA, end: (16 * 2 ** 20) / ps },
    { zone: ZONE_DMA32, end: 2 ** 32 / ps },
    { zone: ZONE_NORMAL, end: Infinity },
  ];
}

/** A boot zone of a node: the node's boot RAM inside the zone's limits. */
export interface BootZone {
  readonly nid: number;
  readonly zone: number;
  /** The node's RAM in the zone, pfn ranges in address order. */
  readonly ranges: readonly PfnRange[];
  /** present_pages: RAM pages in the zone. */
  readonly present: number;
}

/**
 * free_area_init() over the boot RAM: each node's RAM split at the zone
 * limits. Zones without RAM are left out.
 */
export function bootZones(arch: ArchProfile, ram: readonly { nid: number; start: number; size: number }[]): BootZone[] {
  const ps = arch.pageSize;
  const out: BootZone[] = [];
  const nids = [...new Set(ram.map((r) => r.nid))].sort((a, b) => a - b);
  for (const nid of nids) {
    let lo = 0;
    for (const { zone, end } of bootZoneLimits(arch)) {
      const ranges: PfnRange[] = [];
      for (const r of ram.filter((x) => x.nid === nid).sort((a, b) => a.start - b.start)) {
        const s = Math.max(lo, r.start / ps);
        const e = Math.min(end, (r.start + r.size) / ps);
        if (s < e) ranges.push({ start: s, end: e });
      }
      if (ranges.length) out.push({ nid, zone, ranges, present: ranges.reduce((n, x) => n + x.end - x.start, 0) });
      lo = end;
    }
  }
  return out;
}

/** One zone of one node as /proc/zoneinfo shows it (pages). */
export interface ZoneView {
  readonly nid: number;
  readonly zone: number;
  readonly name: string;
  /** zone_start_pfn (meaningful when spanned > 0). */
  readonly startPfn: number;
  readonly spanned: number;
  readonly present: number;
  readonly managed: number;
  /** NR_FREE_PAGES: free frames of the zone in the page allocator. */
  readonly free: number;
}

/**
 * The zones of every node of the machine, measured from its state: boot
 * RAM split at the zone limits (managed = present less what boot took,
 * measured at boot), the memory blocks onlined into ZONE_NORMAL and
 * ZONE_MOVABLE (their own memmap pages present but not managed), and
 * ZONE_DEVICE, which spans every pgmap the node ever had and holds no
 * present pages. Free pages are the page allocator's, counted in the
 * zone's pfns.
 */
export function zoneViews(m: Machine): ZoneView[] {
  const buddy = m.k.buddy;
  const boot = bootZones(m.arch, m.layout.ram);
  const blocks = [...m.kmem.hotplug.blocks.values()].filter((b) => b.state === 'online');
  const nids = [...new Set([...boot.map((z) => z.nid), ...[...m.kmem.hotplug.blocks.values()].map((b) => b.nid)])].sort((a, b) => a - b);
  const limits = bootZoneLimits(m.arch);
  const nodeSpan = new Map<number, { start: number; end: number }>();
  for (const r of m.layout.ram) {
    const s = r.start / m.arch.pageSize;
    const e = (r.start + r.size) / m.arch.pageSize;
    const cur = nodeSpan.get(r.nid);
    nodeSpan.set(r.nid, cur ? { start: Math.min(cur.start, s), end: Math.max(cur.end, e) } : { start: s, end: e });
  }
  const out: ZoneView[] = [];
  for (const nid of nids)
    for (const zone of nodeZones(m.arch)) {
      let start = Infinity;
      let end = -Infinity;
      let present = 0;
      let managed = 0;
      let free = 0;
      const bz = boot.find((z) => z.nid === nid && z.zone === zone);
      if (bz) {
        // zone_spanned_pages_in_node(): the node's span clamped to the zone's limits, holes included
        // (a 4 GiB pc guest's DMA32 spans 4096..1048576 across the PCI hole, as measured)
        const lim = limits.findIndex((l) => l.zone === zone);
        const node = nodeSpan.get(nid)!;
        start = Math.max(node.start, lim > 0 ? limits[lim - 1]!.end : 0);
        end = Math.min(node.end, limits[lim]!.end);
        present = bz.present;
        managed = bz.present - (m.bootReserved.get(`${nid}:${zone}`) ?? 0);
        for (const r of bz.ranges) free += buddy.nrFreePagesIn(r.start, r.end);
      }
      for (const b of blocks) {
        if (b.nid !== nid || b.zone !== zone) continue;
        start = Math.min(start, b.startPfn);
        end = Math.max(end, b.startPfn + b.nrPages);
        present += b.nrPages;
        managed += b.nrPages - b.nrVmemmapPages;
        free += buddy.hotplugAreaFree(b.startPfn + b.nrVmemmapPages);
      }
      if (zone === ZONE_DEVICE) {
        const sp = m.zoneDeviceSpans.get(nid);
        if (sp) {
          start = sp.start;
          end = sp.end;
        }
      }
      const spanned = end > start ? end - start : 0;
      out.push({ nid, zone, name: ZONE_NAMES[zone]!, startPfn: spanned ? start : 0, spanned, present, managed, free });
    }
  return out;
}
