/**
 * Platforms: named CPU + memory profiles (`machine create --platform NAME`).
 * They turn the events the simulation counts (counters.ts) into the
 * modelled kernel's time (cost.ts). Every memory-tier parameter cites the
 * published measurement it comes from; the CPU's per-event costs are
 * calibrated on the seed's struct-pages-in-RAM figures only (the harness is
 * packages/machine/bench/calibrate-time.bench.ts) and printed beside what they were fitted to.
 */

/** Where a frame lives: DRAM, persistent memory, CXL-attached memory. */
export const MEMORY_TIERS = ['dram', 'pmem', 'cxl'] as const;
export type MemoryTier = (typeof MEMORY_TIERS)[number];
/** Index of each tier in the per-tier counters (counters.ts: line_seq_dram, line_seq_pmem, ...). */
export const TIER_DRAM = 0;
export const TIER_PMEM = 1;
export const TIER_CXL = 2;
export const tierIndex = (t: MemoryTier): number => MEMORY_TIERS.indexOf(t);

/** One memory tier as one core of the platform sees it. */
export interface TierParams {
  /** What it is, e.g. "DDR4-2666, 6 channels". */
  readonly name: string;
  /** Idle latency of a dependent 64 B load at a random address (ns). */
  readonly readLatencyNs: number;
  /** The same in a sequential pattern (ns): what a prefetched stream waits per request. */
  readonly seqReadLatencyNs: number;
  /** Read bandwidth of the media behind one region or namespace (GB/s). */
  readonly readGBs: number;
  /** Write bandwidth of that media for written-back (evicted) lines (GB/s). */
  readonly writeGBs: number;
  /** Streaming (non-temporal) store bandwidth one core reaches to this tier (GB/s). */
  readonly ntStoreGBs: number;
  /**
   * Bytes the media reads for one out-of-stream 64 B line: 64 for DRAM and
   * CXL, 256 on Optane (the 3D XPoint media is read a 256 B XPLine at a time).
   */
  readonly readGranule: number;
  /**
   * Bytes the media writes for one dirty 64 B line written back by cache
   * eviction: 64 for DRAM and CXL; 256 on Optane, whose XPLine is written
   * whole (read-modify-write inside the DIMM) when its four lines do not
   * arrive together, and eviction order does not keep them together.
   */
  readonly writeGranule: number;
  /** Where each number comes from. */
  readonly sources: Readonly<Record<string, string>>;
}

/** The core's per-event costs, and what bounds its memory-level parallelism. */
export interface CpuParams {
  readonly name: string;
  /** Single-core turbo clock (GHz): the calibrated costs scale with it between platforms. */
  readonly ghz: number;
  /**
   * 64 B requests one core keeps in flight on a prefetched stream (L2
   * superqueue entries): a stream of lines costs seqReadLatency / streamMlp
   * per line (Little's law).
   */
  readonly streamMlp: number;
  /** A locked read-modify-write (lock add / lock or / lock bts) on a line already in the cache (ns). */
  readonly atomicNs: number;
  /** mod_node_page_state(): one per-node vmstat update with interrupts off (ns). */
  readonly vmstatNs: number;
  /** One get/pin_user_pages_fast() call: entry, irq off/on, the pgd..pmd walk, get/put_dev_pagemap(), the record loop (ns). */
  readonly gupCallNs: number;
  /** The stores of one __init_zone_device_page() (+ prep_compound_tail) into a line already owned (ns). */
  readonly structPageInitNs: number;
  /** One template struct page refreshed and copied (Li Zhe's fast path), without the memory traffic (ns). */
  readonly templateCopyNs: number;
  readonly sources: Readonly<Record<string, string>>;
}

export interface Platform {
  readonly name: string;
  readonly description: string;
  readonly cpu: CpuParams;
  /** Per tier; a platform without a tier attributes that tier's frames to the nearest it has (pmem/cxl → dram). */
  readonly tiers: Readonly<Record<MemoryTier, TierParams | undefined>>;
  /** The tier soft-reserved ranges (dax_hmem / CXL RAM) are made of on this platform. */
  readonly softReservedTier: MemoryTier;
  /**
   * A virtual machine: what the host charges the first time the guest
   * touches a frame (EPT violation, host page fault and zeroing), per 4 KiB
   * frame (ns). 0 on bare metal.
   */
  readonly guestFirstTouchNs: number;
}

const IZRAELEVITZ = 'Izraelevitz et al. 2019, "Basic Performance Measurements of the Intel Optane DC Persistent Memory Module" (arXiv 1903.05714)';
const YANG = 'Yang et al., FAST 2020, "An Empirical Guide to the Behavior and Use of Scalable Persistent Memory"';
const SUN = 'Sun et al., MICRO 2023, "Demystifying CXL Memory with Genuine CXL-Ready Systems and Devices" (arXiv 2303.15375)';
const JEDEC = 'DDR4/DDR5 data rate x 8 B per channel (JEDEC speed grade)';
const LITTLE = "Little's law: outstanding lines x 64 B / latency";

/**
 * The seed's class of box, with the calibrated CPU costs. The seed names no
 * CPU; its Optane DC PMem 100 (128 GB modules: "128G NVDIMMs", "pinning a pmem
 * dimm") puts it on 2nd-gen Xeon Scalable. One pmem region is one module, not
 * interleaved (inferred from the seed's wording; not confirmed).
 */
const CASCADELAKE_CPU: CpuParams = {
  name: '2nd-gen Xeon Scalable (Cascade Lake-SP)',
  ghz: 3.9,
  streamMlp: 16,
  // calibrated: packages/machine/bench/calibrate-time.bench.ts, least squares on the seed's struct-pages-in-RAM figures
  atomicNs: 3.84,
  vmstatNs: 6.67,
  gupCallNs: 330,
  structPageInitNs: 4.6,
  templateCopyNs: 1.5,
  sources: {
    ghz: 'Xeon Platinum 82xx single-core turbo (Intel ARK); the seed names no CPU',
    streamMlp: 'Skylake-SP/Cascade Lake L2 superqueue: 16 outstanding L2 misses per core (Intel 64 and IA-32 Optimization Reference Manual, Skylake Server microarchitecture)',
    atomicNs: 'calibrated: seed 16G gup_test -u/-a before/after, struct pages in RAM',
    vmstatNs: 'calibrated: seed 16G -a before minus -u before (NR_FOLL_PIN_ACQUIRED per page, 1970dc6f5226)',
    gupCallNs: 'calibrated: seed 16G -u after (one call per 2M compound page)',
    structPageInitNs: 'calibrated: seed 128G bootstrap, base pages 268-358 ms and 2M 78-110 ms',
    templateCopyNs: 'not calibrated (no seed figure): 8 stores of 8 B into a write-combining buffer, 2 cycles each at 3.9 GHz; not confirmed',
  },
};

const scaleCpu = (c: CpuParams, name: string, ghz: number, streamMlp: number, sources: Record<string, string>): CpuParams => {
  const f = CASCADELAKE_CPU.ghz / ghz;
  return {
    name,
    ghz,
    streamMlp,
    atomicNs: c.atomicNs * f,
    vmstatNs: c.vmstatNs * f,
    gupCallNs: c.gupCallNs * f,
    structPageInitNs: c.structPageInitNs * f,
    templateCopyNs: c.templateCopyNs * f,
    sources: { ...sources, atomicNs: 'cascadelake-optane calibration scaled by clock (not confirmed: microarchitecture not modelled)' },
  };
};

const DDR4_2666: TierParams = {
  name: 'DDR4-2666, 6 channels per socket',
  readLatencyNs: 81,
  seqReadLatencyNs: 79,
  readGBs: 6 * 21.3,
  writeGBs: 6 * 21.3,
  ntStoreGBs: (16 * 64) / 79,
  readGranule: 64,
  writeGranule: 64,
  sources: {
    readLatencyNs: `${IZRAELEVITZ}, local DRAM idle random read (Fig. 2; the text: Optane's 305 ns is about 3x local DRAM)`,
    seqReadLatencyNs: `${IZRAELEVITZ}, local DRAM idle sequential read (Fig. 2)`,
    readGBs: JEDEC,
    writeGBs: JEDEC,
    ntStoreGBs: `${LITTLE} with 16 write-combining requests in flight; not confirmed`,
  },
};

const OPTANE_100: TierParams = {
  name: 'Optane DC PMem 100 (128 GB module, App Direct, not interleaved)',
  readLatencyNs: 305,
  seqReadLatencyNs: 169,
  readGBs: 6.6,
  writeGBs: 2.3,
  ntStoreGBs: 2.3,
  readGranule: 256,
  writeGranule: 256,
  sources: {
    readLatencyNs: `${IZRAELEVITZ}: random load latency 305 ns`,
    seqReadLatencyNs: `${IZRAELEVITZ}: sequential loads about 2x faster (169 ns), adjacent requests merged into one 256 B access`,
    readGBs: `${IZRAELEVITZ}: one DIMM (Optane-NI) maximum read bandwidth 6.6 GB/s`,
    writeGBs: `${IZRAELEVITZ}: one DIMM maximum write bandwidth 2.3 GB/s`,
    ntStoreGBs: `${IZRAELEVITZ} / ${YANG}: one DIMM's write bandwidth bounds streaming stores too`,
    readGranule: `${YANG}: the XPLine (256 B) is the media's access unit`,
    writeGranule: `${YANG}: writes smaller than an XPLine are amplified (read-modify-write of 256 B in the DIMM); lines written back by cache eviction arrive out of order and are not combined`,
  },
};

const DDR5_4800: TierParams = {
  name: 'DDR5-4800, 8 channels per socket',
  readLatencyNs: 114,
  seqReadLatencyNs: 110,
  readGBs: 8 * 38.4,
  writeGBs: 8 * 38.4,
  ntStoreGBs: (48 * 64) / 110,
  readGranule: 64,
  writeGranule: 64,
  sources: {
    readLatencyNs: `${SUN}: local DDR5 on Sapphire Rapids, about 114 ns idle (read from its latency figure; approximate)`,
    seqReadLatencyNs: `${SUN} (approximate)`,
    readGBs: JEDEC,
    writeGBs: JEDEC,
    ntStoreGBs: `${LITTLE} with 48 L2 superqueue entries (Golden Cove); not confirmed`,
  },
};

const CXL_DDR5: TierParams = {
  name: 'CXL 1.1 type-3 memory expander (DDR5, PCIe 5.0 x16)',
  readLatencyNs: 250,
  seqReadLatencyNs: 240,
  readGBs: 26,
  writeGBs: 22,
  ntStoreGBs: 22,
  readGranule: 64,
  writeGranule: 64,
  sources: {
    readLatencyNs: `${SUN}: CXL memory about 2.2x local DDR5 (ASIC device); approximate`,
    seqReadLatencyNs: `${SUN} (approximate)`,
    readGBs: `${SUN}: one x16 CXL device, reads (approximate)`,
    writeGBs: `${SUN}: one x16 CXL device, writes (approximate)`,
    ntStoreGBs: `${SUN}: streaming stores bounded by the device's write bandwidth (approximate)`,
  },
};

const DDR4_3200: TierParams = {
  ...DDR4_2666,
  name: 'DDR4-3200, 8 channels per socket',
  readGBs: 8 * 25.6,
  writeGBs: 8 * 25.6,
  ntStoreGBs: (16 * 64) / 79,
  sources: { ...DDR4_2666.sources, readGBs: JEDEC, writeGBs: JEDEC },
};

export const PLATFORMS: Readonly<Record<string, Platform>> = {
  'cascadelake-optane': {
    name: 'cascadelake-optane',
    description: "2nd-gen Xeon Scalable, DDR4-2666, Optane DC PMem 100 (the seed's class of box)",
    cpu: CASCADELAKE_CPU,
    tiers: { dram: DDR4_2666, pmem: OPTANE_100, cxl: undefined },
    softReservedTier: 'dram',
    guestFirstTouchNs: 0,
  },
  'sapphirerapids-cxl': {
    name: 'sapphirerapids-cxl',
    description: '4th-gen Xeon Scalable, DDR5-4800, CXL 1.1 memory expander (soft-reserved ranges are CXL memory)',
    cpu: scaleCpu(CASCADELAKE_CPU, '4th-gen Xeon Scalable (Sapphire Rapids)', 3.8, 48, {
      ghz: 'Xeon Platinum 8480+ single-core turbo (Intel ARK)',
      streamMlp: 'Golden Cove L2: 48 outstanding misses (Intel Optimization Reference Manual); not confirmed',
    }),
    tiers: { dram: DDR5_4800, pmem: undefined, cxl: CXL_DDR5 },
    softReservedTier: 'cxl',
    guestFirstTouchNs: 0,
  },
  'icelake-vm': {
    name: 'icelake-vm',
    description: "a VM on 3rd-gen Xeon Scalable with DDR4-3200 whose pmem is emulated in host DRAM (Li Zhe's v5 test box)",
    cpu: scaleCpu(CASCADELAKE_CPU, '3rd-gen Xeon Scalable (Ice Lake-SP), as a guest', 3.4, 16, {
      ghz: 'Xeon Platinum 8380 single-core turbo (Intel ARK); the series names only "Intel Ice Lake server"',
      streamMlp: 'as Cascade Lake (not confirmed)',
    }),
    // the guest's "pmem" is host memory: DRAM's parameters (an emulated NVDIMM; not confirmed from the series)
    tiers: { dram: DDR4_3200, pmem: { ...DDR4_3200, name: 'emulated pmem (host DDR4-3200)' }, cxl: undefined },
    softReservedTier: 'dram',
    // fitted to one figure: Li Zhe v5's base first bind (1462 ms) minus the modelled rebind, over the 409,600
    // memmap frames a 100 GB map=dev namespace first touches (packages/machine/bench/calibrate-time.bench.ts)
    guestFirstTouchNs: 2900,
  },
};

export const PLATFORM_NAMES = Object.keys(PLATFORMS);
export const DEFAULT_PLATFORM = 'cascadelake-optane';

export function isPlatformName(s: string): boolean {
  return Object.prototype.hasOwnProperty.call(PLATFORMS, s);
}

/** The platform called `name`, or the default one. */
export function platformByName(name: string | undefined): Platform {
  return PLATFORMS[name ?? DEFAULT_PLATFORM] ?? PLATFORMS[DEFAULT_PLATFORM]!;
}

/** The tier parameters a platform uses for `tier`: its own, or DRAM's when it has none of that tier. */
export function tierParams(p: Platform, tier: number): TierParams {
  return p.tiers[MEMORY_TIERS[tier]!] ?? p.tiers.dram!;
}
