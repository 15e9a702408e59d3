import { resolve } from 'node:path';
import { machineState } from '@daxsim/debug-vm';
import { DEFAULT_CONFIG, Machine } from '@daxsim/machine';
import { type StateFileId, parseState, readStateFileBytes, sameStateFile, stateFileId } from '@daxsim/machine/state-file';
import { C, type LogRecord } from '@daxsim/mm';
import type { ResidentMachine, ResidentMark, SavedState } from './command.js';

/** What a machine was before a command: what the command may change that its operations do not say. */
interface Mark extends ResidentMark {
  readonly checkpoints: number;
  readonly refused: number;
  readonly counters: Float64Array;
  readonly logLength: number;
  readonly lastLog: LogRecord | undefined;
  readonly serial: number;
  readonly mce: number;
  readonly objects: number;
  readonly materialised: number;
  /** Frames given storage for the first time (a read through the TLB gives a template-shared frame its own copy). */
  readonly firstTouches: number;
  readonly freePages: number;
}

/** Counters that only say how reads went through the vmemmap's TLB: a read-only command may move them and leave the machine as it was. */
const READ_COUNTERS = [C.tlb_hit, C.tlb_miss];

/**
 * The daemon's machine: the state file's machine kept in memory between
 * commands, so that a command costs what it touches rather than a boot and
 * a replay of the file's whole log.
 *
 * It is always what `Machine.fromState(readState(file))` would give:
 * - before each command, `load()` compares the file's identity (device,
 *   inode, size, mtime, ctime) with that of the file the machine was read
 *   from or written to; when it differs and the bytes do too (sha256), the
 *   file is read and replayed again — a `machine create --force` from
 *   another process, a hand edit, another daemon's write;
 * - after each command, `settle()` keeps the machine only when what the
 *   command did to it is what a boot from the file gives: operations that
 *   all succeeded and were saved, appended without compaction; or nothing
 *   (a read, whose TLB statistics are put back). Anything else — a refused
 *   operation, a compaction, kernel objects made by a machine booted from
 *   a compacted log (Machine.reservedObjects), fault injection, a read that changed the
 *   machine (gup-test's process), a failed save — drops it, and the next
 *   command boots from the file once.
 */
export class Resident implements ResidentMachine {
  private m: Machine | undefined;
  /** The absolute path of the file it was read from or written to (for a machine without a file: the path it was asked for). */
  private path: string | undefined;
  private id: StateFileId | undefined;
  private sha: string | undefined;
  /** Boots from the file so far (the daemon's statistics, and the tests'). */
  boots = 0;
  /** Commands that found the machine in memory. */
  hits = 0;

  /** The state file whose machine it holds (absolute) and that file's identity when it was read or written; undefined when it holds none read from or written to a file. */
  get heldId(): { path: string; id: StateFileId } | undefined {
    return this.m && this.id && this.path ? { path: this.path, id: this.id } : undefined;
  }

  /** The machine held now, if any. */
  get machine(): Machine | undefined {
    return this.m;
  }

  /** The state file it holds the machine of (absolute), if it holds one read from or written to a file. */
  get file(): string | undefined {
    return this.m && this.id ? this.path : undefined;
  }

  load(path: string): { machine: Machine; saved: boolean } {
    const abs = resolve(path);
    if (this.m) {
      const now = stateFileId(path);
      if (now ? sameStateFile(now, this.id) : this.id === undefined && abs === this.path) {
        this.hits++;
        return { machine: this.m, saved: now !== undefined };
      }
    }
    const bytes = readStateFileBytes(path);
    if (this.m && bytes && bytes.sha256 === this.sha) {
      // the same bytes in another inode or touched: the same machine
      this.id = bytes.id;
      this.path = abs;
      this.hits++;
      return { machine: this.m, saved: true };
    }
    this.drop();
    const state = bytes && parseState(path, bytes.text);
    const m = state ? Machine.fromState(state) : Machine.create(DEFAULT_CONFIG);
    this.boots++;
    this.m = m;
    this.path = abs;
    this.id = bytes?.id;
    this.sha = bytes?.sha256;
    return { machine: m, saved: Boolean(bytes) };
  }

  mark(m: Machine): Mark {
    return {
      ops: m.ops.length,
      checkpoints: m.checkpoints.length,
      refused: m.refused,
      counters: m.k.counters.v.slice(),
      logLength: m.k.log.entries.length,
      lastLog: m.k.log.entries[m.k.log.entries.length - 1],
      serial: m.nvdimm.serial,
      mce: m.state().carried!.mce,
      objects: m.k.objects.allocated,
      materialised: m.k.mem.materialisedFrames,
      firstTouches: m.k.mem.firstTouches,
      freePages: m.k.buddy.nrFreePages(),
    };
  }

  settle(path: string, m: Machine, mark: ResidentMark, saved: SavedState | undefined, opts: { injected?: boolean } = {}): void {
    if (m !== this.m) return;
    const k = mark as Mark;
    if (opts.injected || m.refused !== k.refused) return this.drop();
    if (saved) {
      // saved: operations appended and a checkpoint pushed (two when the command made the first one), nothing dropped
      const pushed = m.checkpoints.length === k.checkpoints + (k.checkpoints === 0 ? 2 : 1);
      if (!pushed || m.ops.length <= k.ops || m.checkpoints[m.checkpoints.length - 1]!.ops !== m.ops.length) return this.drop();
      // kernel objects made after the boot's address skip: a replay of the file makes them at other addresses
      if (m.reservedObjects > 0 && m.k.objects.allocated !== k.objects) return this.drop();
      this.path = resolve(path);
      this.id = saved.id;
      this.sha = saved.sha256;
      return;
    }
    const log = m.k.log.entries;
    const same =
      m.ops.length === k.ops &&
      m.checkpoints.length === k.checkpoints &&
      log.length === k.logLength &&
      log[log.length - 1] === k.lastLog &&
      m.nvdimm.serial === k.serial &&
      m.state().carried!.mce === k.mce &&
      m.k.objects.allocated === k.objects &&
      m.k.mem.materialisedFrames === k.materialised &&
      // a sweep that read every struct page copied template-shared vmemmap frames: a boot from the file has them shared
      m.k.mem.firstTouches === k.firstTouches &&
      m.k.buddy.nrFreePages() === k.freePages &&
      m.k.counters.v.every((v, i) => v === k.counters[i] || READ_COUNTERS.includes(i));
    if (!same) return this.drop();
    // a read: the machine is as it was but for its TLB statistics, which a boot from the file would not have
    m.k.counters.v.set(k.counters);
  }

  replace(path: string, m: Machine, saved: SavedState): void {
    this.drop();
    this.m = m;
    this.path = resolve(path);
    this.id = saved.id;
    this.sha = saved.sha256;
  }

  /** Forgets the machine (the next command boots from the file). */
  drop(): void {
    if (!this.m) return;
    this.m = undefined;
    this.id = undefined;
    this.sha = undefined;
    this.path = undefined;
    // give its memory back before the next boot takes as much again (the daemon runs with --expose-gc)
    (globalThis as { gc?: () => void }).gc?.();
  }
}

/**
 * Everything a later command can see of a machine: its state (memory
 * digest, page allocator, sections, pgmaps, dax bus), the nvdimm regions,
 * the operations, checkpoints and carried counters, the kernel log and the
 * event counters. Two machines that observe the same run every later
 * command the same (the daemon's DAXSIM_DAEMON_VERIFY compares its machine
 * with a boot from the file with it).
 */
export function observeMachine(m: Machine) {
  const s = m.state();
  return {
    state: machineState(m.k, m.bus),
    nvdimm: JSON.stringify(m.pmem),
    soft: m.softReserved.map((r) => r.id),
    ops: s.ops,
    checkpoints: s.checkpoints,
    carried: s.carried,
    log: s.history!.log,
    counters: s.history!.events,
    refcountEpoch: m.k.memmap.refcountEpoch,
  };
}
