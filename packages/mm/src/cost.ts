import { C, type Counters } from './counters.js';
import type { KernelCore } from './kernel.js';
import { MEMORY_TIERS, type Platform, TIER_DRAM, platformByName, tierParams } from './platform.js';

/** Bytes in a cache line (x86-64, arm64, ppc64 alike in the model). */
export const CACHE_LINE = 64;

/** What a stretch of counted events costs on a platform. */
export interface ModelledTime {
  /** The modelled time: the longer of the core's path and each tier's media time (ns). */
  ns: number;
  /** The core's path: CPU event costs, out-of-stream miss latencies, prefetched streams (ns). */
  cpuNs: number;
  /** Per tier (MEMORY_TIERS order): the media busy time its reads, write-backs and streaming stores need (ns). */
  mediaNs: number[];
  /** What bounds it: 'cpu' or a tier's name. */
  bound: string;
  /** The counter deltas it was computed from (indexed by `C`). */
  events: ArrayLike<number>;
}

/**
 * The modelled time of the counter deltas `d` (indexed by `C`) on platform
 * `p`: a roofline of two kinds of work that overlap —
 * - the core: Σ CPU events × their cost (atomics, vmstat updates, GUP calls,
 *   struct page stores), + out-of-stream lines × the tier's read latency
 *   (a dependent miss stalls the core), + streamed lines × the tier's
 *   sequential latency / the core's stream parallelism (Little's law), + the
 *   guest first-touch charge of a VM;
 * - each tier's media: bytes read / read bandwidth (out-of-stream lines at
 *   the tier's read granule), dirty lines × write granule / write bandwidth
 *   (Optane's 256 B XPLine amplification), streaming-store lines / its
 *   streaming bandwidth.
 * The time is the largest of them: work that overlaps is bounded by its
 * slowest resource.
 */
export function modelledTime(p: Platform, d: ArrayLike<number>): ModelledTime {
  const core = coreNs(p, d);
  const mediaNs: number[] = [];
  let ns = 0;
  let bound = 'cpu';
  for (let t = 0; t < MEMORY_TIERS.length; t++) {
    const media = tierMediaNs(p, d, t);
    mediaNs.push(media);
    if (media > ns) {
      ns = media;
      bound = MEMORY_TIERS[t]!;
    }
  }
  if (core >= ns) {
    ns = core;
    bound = 'cpu';
  }
  return { ns, cpuNs: core, mediaNs, bound, events: d };
}

/**
 * modelledTime()'s `ns` alone, without allocating: the kernel log's clock
 * reads it at every printk (a fault's dev_dbg line included).
 */
export function modelledNs(p: Platform, d: ArrayLike<number>): number {
  let ns = coreNs(p, d);
  for (let t = 0; t < MEMORY_TIERS.length; t++) ns = Math.max(ns, tierMediaNs(p, d, t));
  return ns;
}

/** The core's path of modelledTime(): CPU events, out-of-stream and streamed line latencies (ns). */
function coreNs(p: Platform, d: ArrayLike<number>): number {
  const cpu = p.cpu;
  let core =
    (d[C.atomic_refcount_ops]! + d[C.atomic_flag_ops]!) * cpu.atomicNs +
    d[C.vmstat_updates]! * cpu.vmstatNs +
    d[C.gup_fast_calls]! * cpu.gupCallNs +
    (d[C.struct_pages_initialised]! - d[C.struct_pages_template]!) * cpu.structPageInitNs +
    d[C.struct_pages_template]! * cpu.templateCopyNs +
    d[C.frames_first_touched]! * p.guestFirstTouchNs;
  for (let t = 0; t < MEMORY_TIERS.length; t++) {
    const tp = tierParams(p, t);
    core += d[C.line_rand_dram + t]! * tp.readLatencyNs + (d[C.line_seq_dram + t]! * tp.seqReadLatencyNs) / cpu.streamMlp;
  }
  return core;
}

/** Tier `t`'s media busy time in modelledTime(): bytes read, written back and streamed over its bandwidths (ns; GB/s is bytes per ns). */
function tierMediaNs(p: Platform, d: ArrayLike<number>, t: number): number {
  const tp = tierParams(p, t);
  const seq = d[C.line_seq_dram + t]!;
  const rand = d[C.line_rand_dram + t]!;
  const dirty = d[C.line_dirty_dram + t]!;
  const nt = d[C.line_nt_dram + t]!;
  return (seq * CACHE_LINE + rand * tp.readGranule) / tp.readGBs + (dirty * tp.writeGranule) / tp.writeGBs + (nt * CACHE_LINE) / tp.ntStoreGBs;
}

/** A copy of every counter now: the start of a modelled stretch (allocates; once per loop, never per page). */
export function costMark(counters: Counters): Float64Array {
  return counters.v.slice();
}

/** The modelled time of what was counted since `mark`. */
export function costSince(p: Platform, counters: Counters, mark: Float64Array): ModelledTime {
  const v = counters.v;
  const d = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) d[i] = v[i]! - mark[i]!;
  return modelledTime(p, d);
}

/**
 * Counts `seq` streamed and `rand` out-of-stream 64 B lines read, and
 * `dirty` lines dirtied, in tier `tier` (TIER_DRAM, TIER_PMEM, TIER_CXL).
 * Called once per batch by the loops that touch struct pages.
 */
export function chargeLines(counters: Counters, tier: number, seq: number, rand: number, dirty: number): void {
  const v = counters.v;
  v[C.line_seq_dram + tier] += seq;
  v[C.line_rand_dram + tier] += rand;
  v[C.line_dirty_dram + tier] += dirty;
}

/** The platform a kernel runs on (the default one when it names none). */
export function kernelPlatform(k: Pick<KernelCore, 'platform'>): Platform {
  return k.platform ?? platformByName(undefined);
}

/** Lines the caller's array of `n` page pointers (8 B each, in kernel DRAM) spans. */
export const pageArrayLines = (n: number): number => (n * 8) / CACHE_LINE;

export { TIER_DRAM };
