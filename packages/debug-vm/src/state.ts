import type { Task } from '@daxsim/mm';
import type { Kernel } from '@daxsim/memremap';
import type { DaxBus } from '@daxsim/device-dax';

/**
 * Everything a failed operation must leave as it found it, as a plain
 * comparable object: memory contents (PhysicalMemory.digest — struct pages,
 * page tables, user data), the buddy allocator (free bitmaps, page counts,
 * frames in use per purpose), the section table, every live pgmap (ref,
 * dead, spans, altmap accounting), the dax bus bookkeeping and the tasks'
 * vmas. Event counters (pgalloc_fail, tlb_*) are deliberately left out: a
 * failed call is allowed to count that it failed; so are the section
 * usemap's pageblock bits (see `sections`).
 */
export interface MachineState {
  readonly memDigest: number;
  readonly materialised: number;
  readonly buddy: ReturnType<Kernel['buddy']['snapshot']>;
  readonly sections: number;
  readonly pgmaps: unknown[];
  readonly bus: unknown;
  readonly tasks: unknown[];
}

export function machineState(k: Kernel, bus?: DaxBus, tasks: readonly Task[] = []): MachineState {
  return {
    memDigest: k.mem.digest(),
    materialised: k.mem.materialisedFrames,
    buddy: k.buddy.snapshot(),
    // Pageblock migratetype bits are left out: memmap init sets them and, as in the kernel, nothing
    // clears them when a section that another pgmap still uses loses one of its ranges.
    sections: k.sparse.digest(false),
    pgmaps: k.pgmaps.entries.map((e) => ({
      name: e.pgmap.name,
      ref: e.pgmap.ref,
      dead: e.pgmap.dead,
      shift: e.shift,
      spans: e.spans.map((s) => [s.startPfn, s.endPfn]),
      altmap: e.pgmap.altmap ? { alloc: e.pgmap.altmap.alloc, align: e.pgmap.altmap.align } : null,
    })),
    bus:
      bus === undefined
        ? null
        : [...bus.regions.values()].map((r) => ({
            id: r.id,
            avail: r.availableSize,
            seed: r.seed?.name ?? null,
            youngest: r.youngest?.name ?? null,
            children: r.children.map((c) => [c.name, c.start, c.end]),
            ids: [...r.ids].sort((a, b) => a - b),
            devices: r.devicesById().map((d) => ({
              name: d.name,
              align: d.align,
              bound: d.bound,
              alive: d.alive,
              pgmap: d.pgmap ? { ref: d.pgmap.ref, dead: d.pgmap.dead, shift: d.pgmap.vmemmapShift } : null,
              ranges: d.ranges.map((x) => [x.start, x.end, x.pgoff, x.mappingId]),
              vmas: [...d.mapping.iMmap].map((v) => [v.start, v.end, v.pgoff]),
            })),
          })),
    tasks: tasks.map((t) => ({ pid: t.pid, vmas: t.mm.vmas.map((v) => [v.start, v.end, v.pgoff, v.flags, v.file?.name ?? null]) })),
  };
}
