import {
  DaxBus,
  type DaxRegion,
  type DevDax,
  bindDevDax,
  createDynamicRegion,
  daxPgoffToPhys,
  daxRegionCreate,
  daxRegionDelete,
  devDaxAddMapping,
  devDaxSetAlign,
  devDaxSetSize,
  unbindDevDax,
} from '@daxsim/device-dax';
import { armFailures, machineState, parseFailSpec } from '@daxsim/debug-vm';
import { Gup, type GupGeneration } from '@daxsim/gup';
import { DaxKmem, MemoryHotplug, type OnlineType } from '@daxsim/kmem';
import { type Kernel, createKernel } from '@daxsim/memremap';
import { MF_ACTION_REQUIRED, memoryFailure, memoryFailureEarlyKill, setMemoryFailureEarlyKill } from '@daxsim/memory-failure';
import {
  type ArchProfile,
  EBUSY,
  EEXIST,
  EINVAL,
  ENOENT,
  gupRunsOn,
  ENOMEM,
  ENXIO,
  KernelError,
  C,
  type CounterName,
  type SigInfo,
  hex,
  type VmemmapGeneration,
  markMediaPoison,
  mediaPoisonedPfns,
  setMachineCheckHandler,
} from '@daxsim/mm';
import { type Namespace, NvdimmBus, type PmemRegion } from '@daxsim/nvdimm';
import { CxlBus, type CxlSysfs, cxlDebugfsWrite, cxlDpaToHpa, cxlDpaToRegion, cxlDriverBind, cxlDriverUnbind, cxlFeaturesFor, cxlList, cxlSysfsWrite } from '@daxsim/cxl';
import { sparseInitBootMemory } from '@daxsim/sparse-vmemmap';
import { type KernelChoice, type MachineConfig, type MachineLayout, kernelChoice, layoutMachine } from './config.js';
import { bootZones } from './zones.js';
import type { Op } from './ops.js';
import type { Checkpoint, MachineState } from './state.js';
import type { StateLockOptions } from './state-file.js';

/**
 * The state file module, for Machine.load() and machine.save(): Node.js
 * only (node:fs, proper-lockfile), so it is imported when they run, through
 * a specifier bundlers leave alone; the explorer's browser bundle of
 * @daxsim/machine then never pulls node:fs in. The package's own export
 * (a self-reference): dist/ under Node.js, the sources under the
 * "@daxsim/source" condition (tsx, vitest).
 */
const STATE_FILE_MODULE = '@daxsim/machine/state-file';
const stateFileModule = (): Promise<typeof import('./state-file.js')> => import(/* @vite-ignore */ STATE_FILE_MODULE);

/** A resource of the iomem tree: [start, end] inclusive, as struct resource. */
export interface CxlIomemResource {
  readonly start: number;
  readonly end: number;
  readonly name: string;
  readonly children: readonly CxlIomemResource[];
}

/** cyrb53: a 53-bit string hash (the digest of a checkpoint; no Node.js crypto, so that the machine runs in a browser). */
function hash53(str: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0');
}

/**
 * A simulated machine: the kernel with its page allocator, sections and
 * pgmaps; the nvdimm bus with its pmem regions and namespaces; the dax bus
 * with the dynamic regions of soft-reserved memory.
 *
 * Every change goes through `apply(op)`, which either succeeds and is logged
 * (so the state replays) or throws a KernelError and leaves the machine as it
 * was.
 */
export class Machine {
  readonly config: MachineConfig;
  readonly arch: ArchProfile;
  readonly k: Kernel;
  readonly bus: DaxBus;
  readonly nvdimm: NvdimmBus;
  readonly generation: VmemmapGeneration;
  /** What the kernel runs, piece by piece: the configured kernel release and the options that override it. */
  readonly kernel: KernelChoice;
  /** dax_kmem and the memory hotplug it drives (system-ram mode). */
  readonly kmem: DaxKmem;
  /** Dynamic dax regions from soft-reserved ranges (dax_hmem). */
  readonly softReserved: DaxRegion[] = [];
  /** The CXL bus (cxl_acpi, cxl_pci, cxl_mem, regions, dax_cxl): null without --cxl-memdev. */
  readonly cxl: CxlBus | null = null;
  /** What cxl-cli writes through: each write, bind and debugfs write an operation of the log. */
  readonly cxlSysfs: CxlSysfs = {
    write: (dev, attr, value) => this.apply({ op: 'cxl.write', dev, attr, value }),
    bind: (dev) => this.apply({ op: 'cxl.bind', dev }),
    unbind: (dev) => this.apply({ op: 'cxl.unbind', dev }),
    debugfs: (memdev, attr, value) => this.apply({ op: 'cxl.debugfs', memdev, attr, value }),
  };
  private readonly ops_: Op[] = [];
  /** The signals the consumer of the last `poison` op received. */
  lastSignals: SigInfo[] = [];
  /**
   * Host bytes the model may spend on one memmap it is asked to build
   * (checkHostMemory(): -ENOMEM with the figure beyond it); unset, no check.
   * The command line sets it from DAXSIM_HOST_MEMORY or the host's memory.
   */
  hostMemoryLimit: number | undefined = undefined;
  /** A `grab` failure armed for the next GUP instance this machine makes (DAXSIM_FAIL). */
  private grabFailAt = 0;
  /** Machine checks consumed so far (each consumer gets its own pid). */
  private mce = 0;
  /** Digests after the first N operations (see checkpoint()). */
  private checkpoints_: Checkpoint[] = [];
  /** Operations refused so far (apply() threw). */
  private refused_ = 0;
  /** Kernel object addresses fromState() skipped past its replay's (see reservedObjects). */
  private reservedObjects_ = 0;
  /** The state file this machine was loaded from or last saved to (absolute path), and the sha256 of its bytes then. */
  private stateFile_: { path: string; sha256: string } | undefined;
  /** The layout firmware gave the machine (RAM ranges per node, device ranges). */
  readonly layout: MachineLayout;
  /** Frames of struct pages sparse_init() allocated for boot RAM (nr_memmap_boot_pages). */
  readonly bootMemmapPages: number;
  /**
   * Frames boot took out of each boot zone before the page allocator got it
   * (memblock's reservations: the boot memmap and its page tables), by
   * `${nid}:${zone}`: present - managed.
   */
  readonly bootReserved: ReadonlyMap<string, number>;
  /** ZONE_DEVICE's span per node: grown by each pgmap, never shrunk (the kernel does not shrink ZONE_DEVICE spans). */
  readonly zoneDeviceSpans = new Map<number, { start: number; end: number }>();

  private constructor(config: MachineConfig) {
    const layout = layoutMachine(config);
    this.layout = layout;
    this.config = config;
    this.kernel = kernelChoice(config);
    this.arch = this.kernel.arch;
    this.generation = this.kernel.generation;
    // what each device range is made of, for the cost model: pmem regions are pmem; soft-reserved ranges are the platform's (CXL on a CXL box)
    const platform = this.kernel.platform;
    const devices = [
      ...layout.pmem.map((r) => ({ start: r.start, size: r.size, name: r.name, nid: r.nid, tier: 'pmem' as const })),
      ...layout.softReserved.map((r) => ({ start: r.start, size: r.size, name: r.name, nid: r.nid, tier: platform.softReservedTier })),
      ...layout.cxlWindows.map((r) => ({ start: r.start, size: r.size, name: r.name, nid: r.nid, tier: 'cxl' as const })),
    ];
    const ram = layout.ram.map((r) => ({ nid: r.nid, start: r.start, size: r.size }));
    this.k = createKernel({
      arch: this.arch,
      ram,
      devices,
      kernel: this.kernel.release,
      vmemmapOptimizeRule: this.kernel.vmemmapOptimizeRule,
      ppc64Mmu: this.kernel.ppc64Mmu,
      platform,
      memmapInit: this.kernel.memmapInit,
    });
    // do_machine_check() → kill_me_maybe(): a load that consumed media poison is memory_failure() for the loader
    setMachineCheckHandler(this.k, (pfn, task) => void memoryFailure(this.k, pfn, MF_ACTION_REQUIRED, task));
    // sparse_init(): RAM's sections and their memmap, so that devices find the vmemmap page tables boot made
    if (sparseInitBootMemory(this.k, ram) < 0) throw new KernelError(ENOMEM, `machine: --ram is too small to hold its own memmap`);
    // memblock_free_all(): what boot took before the page allocator got RAM is measured here, once
    this.bootMemmapPages = this.k.buddy.framesInUse('vmemmap_data');
    this.bootReserved = new Map(
      bootZones(this.arch, ram).map((z) => [`${z.nid}:${z.zone}`, z.present - z.ranges.reduce((n, r) => n + this.k.buddy.nrFreePagesIn(r.start, r.end), 0)]),
    );
    const bootMemEnd = Math.max(...ram.map((r) => r.start + r.size));
    this.kmem = new DaxKmem(
      new MemoryHotplug(this.k, { bootMemEnd, ram, autoOnline: this.kernel.autoOnline as OnlineType, memmapOnMemory: config.memmapOnMemory ?? false }),
      { truncationWarning: this.kernel.release.hotplug.kmemTruncationWarning },
    );
    this.bus = new DaxBus(this.k, { generation: this.generation, setMappingIndex: this.kernel.setMappingIndex });
    this.nvdimm = new NvdimmBus(
      this.k,
      this.bus,
      layout.pmem.map((r, i) => ({ id: i, start: r.start, size: r.size, nid: r.nid, labels: config.pmem[i]!.labels })),
    );
    layout.softReserved.forEach((r, i) => {
      // dax_hmem: dynamic dax regions take the ids after the pmem regions; dax<id>.0 is bound at boot
      const id = layout.pmem.length + i;
      const region = createDynamicRegion(this.bus, { id, start: r.start, size: r.size, targetNode: r.nid, parentName: r.name });
      this.softReserved.push(region);
      bindDevDax(region.devices.get(`dax${id}.0`)!);
    });
    this.growZoneDeviceSpans();
    const memdevs = config.cxlMemdevs ?? [];
    if (memdevs.length) {
      // one host bridge, a root port per memdev, one window over the host bridge (QEMU's pxb-cxl, cxl-rp, cxl-type3, cxl-fmw)
      this.cxl = new CxlBus({
        topology: {
          hostBridges: [{ busNr: 12, rootPorts: memdevs.length }],
          memdevs: memdevs.map((d, i) => ({ ramSize: d.pmem ? 0 : d.size, pmemSize: d.pmem ? d.size : 0, hostBridge: 0, rootPort: i })),
          windows: layout.cxlWindows.map((w) => ({ base: w.start, size: w.size, targets: [0], granularity: 256, nid: w.nid })),
        },
        features: cxlFeaturesFor(this.kernel.release.version, this.kernel.release.hotplug.daxMemmapOnMemory),
        dax: this.bus,
        kmem: this.kmem,
        // memregion_alloc() is shared: the nvdimm regions and hmem devices hold the ids below
        memregionsInUse: [...Array(layout.pmem.length + layout.softReserved.length).keys()],
      });
    }
  }

  /**
   * The CXL part of the iomem tree (what /proc/iomem shows under "CXL Window
   * N"): each window (cxl_acpi's root decoder resource), the regions carved
   * from it (alloc_hpa()), their dax devices and, for a device dax_kmem
   * holds, "System RAM (kmem)" over each of its ranges. Inclusive ends, as
   * struct resource.
   */
  cxlIomem(): CxlIomemResource[] {
    if (!this.cxl) return [];
    return this.cxl.rootDecoders.map((root, i) => ({
      start: root.hpaRange.start,
      end: root.hpaRange.end,
      name: `CXL Window ${i}`,
      children: [...root.regions]
        .filter((r) => r.params.res)
        .sort((a, b) => a.params.res!.start - b.params.res!.start)
        .map((r) => ({
          start: r.params.res!.start,
          end: r.params.res!.end,
          name: r.name,
          children: (r.daxRegion?.devicesById() ?? [])
            .filter((d) => d.size > 0)
            .map((d) => ({
              start: d.resource,
              end: d.resource + d.size - 1,
              name: d.name,
              children: this.kmem.isBound(d) ? [{ start: d.resource, end: d.resource + d.size - 1, name: 'System RAM (kmem)', children: [] }] : [],
            })),
        })),
    }));
  }

  /**
   * Where a memdev's DPA lands in device-dax: the region that decodes it
   * (cxl_dpa_to_region()), its HPA (cxl_dpa_to_hpa()), and the dax device
   * and offset there — what a read of poisoned CXL media consumes, so that
   * the machine check reaches the same memory_failure() as any dax device.
   * ENXIO when the DPA is in no region or its region has no dax device there.
   */
  cxlDpaToDax(memdev: string, dpa: number): { dev: string; offset: number; hpa: number } {
    const bus = this.cxlBus();
    const md = bus.memdev(memdev);
    if (!Number.isSafeInteger(dpa) || dpa < 0) throw new KernelError(EINVAL, `poison: --offset ${dpa} is not a device physical address`);
    const region = cxlDpaToRegion(md, dpa);
    if (!region) throw new KernelError(ENXIO, `poison: ${memdev} DPA ${hex(dpa)} is not mapped by a committed region`);
    const hpa = cxlDpaToHpa(region, md, dpa);
    if (hpa === null) throw new KernelError(ENXIO, `poison: ${memdev} DPA ${hex(dpa)} does not decode into ${region.name}`);
    for (const d of region.daxRegion?.devicesById() ?? []) {
      let before = 0;
      for (const r of d.ranges) {
        if (hpa >= r.start && hpa <= r.end) return { dev: d.name, offset: before + (hpa - r.start), hpa };
        before += r.end - r.start + 1;
      }
    }
    throw new KernelError(ENXIO, `poison: ${region.name} HPA ${hex(hpa)} is in no dax device`);
  }

  /** The CXL bus; ENXIO when the machine has no CXL memdevs. */
  cxlBus(): CxlBus {
    if (!this.cxl) throw new KernelError(ENXIO, 'cxl: the machine has no CXL memdevs (machine create --cxl-memdev SIZE[:pmem])');
    return this.cxl;
  }

  // move_pfn_range_to_zone(ZONE_DEVICE) grows the node's ZONE_DEVICE span; remove_pfn_range_from_zone() never shrinks it
  private growZoneDeviceSpans(): void {
    for (const e of this.k.pgmaps.entries)
      for (const sp of e.spans) {
        const cur = this.zoneDeviceSpans.get(e.nid);
        this.zoneDeviceSpans.set(e.nid, cur ? { start: Math.min(cur.start, sp.startPfn), end: Math.max(cur.end, sp.endPfn) } : { start: sp.startPfn, end: sp.endPfn });
      }
  }

  /** A new machine (no operations yet); EINVAL naming the option when the configuration cannot boot. */
  static create(config: MachineConfig): Machine {
    return new Machine(config);
  }

  /**
   * Boots the machine a state describes and replays its operations; then
   * restores what the operations dropped by compaction advanced (the uuid
   * serial, machine checks, kernel object addresses) and the history
   * (kernel log, event counters).
   */
  static fromState(state: MachineState): Machine {
    const raw = state as unknown as Record<string, unknown> | null;
    // the state file's own wrapper, as JSON.parse(file) gives it: its checks belong to Machine.load
    if (raw && typeof raw === 'object' && 'format' in raw && 'sha256' in raw && 'state' in raw)
      throw new KernelError(
        EINVAL,
        `Machine.fromState: state is a state file's wrapper { format: ${JSON.stringify(raw['format'])}, version, sha256, state }, not a machine state: use await Machine.load(path), which checks the file's format, version and sha256 as the CLI does`,
      );
    if (!raw || typeof raw !== 'object' || !raw['config'] || !Array.isArray(raw['ops']))
      throw new KernelError(EINVAL, 'Machine.fromState: state has no config or no ops array (a MachineState is what machine.state() returns; a state file is read with Machine.load(path))');
    const m = new Machine(state.config);
    for (const op of state.ops) m.apply(op);
    m.checkpoints_ = [...(state.checkpoints ?? [])];
    if (state.carried) {
      m.nvdimm.serial = state.carried.nsSerial;
      m.mce = state.carried.mce;
      const replayed = m.k.objects.allocated;
      m.k.objects.reserve(state.carried.kobjects ?? 0);
      for (const [nid, sp] of Object.entries(state.carried.zoneDeviceSpans ?? {})) {
        const cur = m.zoneDeviceSpans.get(Number(nid));
        m.zoneDeviceSpans.set(Number(nid), cur ? { start: Math.min(cur.start, sp.start), end: Math.max(cur.end, sp.end) } : { ...sp });
      }
      // frames the dropped operations touched: a VM's host charges a frame's first touch once
      if (state.carried.touched) m.k.mem.markTouched(state.carried.touched);
      m.reservedObjects_ = m.k.objects.allocated - replayed;
    }
    if (state.history) {
      m.k.log.restore(state.history.log);
      m.k.counters.v.fill(0);
      for (const [name, v] of Object.entries(state.history.events)) if (name in C) m.k.counters.v[C[name as CounterName]] = v;
    }
    return m;
  }

  /**
   * What the machine's future depends on, hashed: memory contents, the page
   * allocator, sections, pgmaps, the dax bus and the nvdimm bus (history —
   * the log, event counters — and counters carried separately are left out).
   */
  digest(): string {
    const { materialised: _, ...st } = machineState(this.k, this.bus);
    const media = mediaPoisonedPfns(this.k);
    const earlyKill = memoryFailureEarlyKill(this.k);
    // the CXL bus's decoders, regions and poison as `cxl list -vvv` shows them
    const cxl = this.cxl ? cxlList(this.cxl, { verbose: 3, idle: true }).json : null;
    return hash53(JSON.stringify({ st, nvdimm: this.nvdimm.regions, soft: this.softReserved.map((r) => r.id), media, earlyKill, cxl }));
  }

  /**
   * A command boundary: the log is compacted when the machine is as it was
   * at an earlier checkpoint (a device created and destroyed again, a
   * namespace reconfigured and back): the operations since are dropped, so
   * the next command replays what the machine is, not what it went through.
   * A replay of the compacted log gives the same machine, byte for byte.
   */
  checkpoint(): void {
    const digest = this.digest();
    const earlier = this.checkpoints_.find((c) => c.digest === digest);
    if (earlier) {
      this.ops_.length = earlier.ops;
      this.checkpoints_ = this.checkpoints_.filter((c) => c.ops <= earlier.ops);
      return;
    }
    this.checkpoints_.push({ ops: this.ops_.length, digest });
  }

  get ops(): readonly Op[] {
    return this.ops_;
  }

  /**
   * How many operations this machine refused (apply() threw). A refused
   * operation leaves the machine's state as it was, but not every cache
   * (the TLB, memmap epochs): a machine kept in memory between commands
   * (daxsim's daemon) is booted again from its state after one.
   */
  get refused(): number {
    return this.refused_;
  }

  /**
   * How many kernel object addresses fromState() skipped after replaying the
   * log (those of objects made by operations compaction dropped). An
   * operation appended later makes its objects after the skip, but a replay
   * of the longer log makes them before it: a machine with a skip that makes
   * kernel objects is no longer what a boot from its saved state gives
   * (daxsim's daemon boots it again then).
   */
  get reservedObjects(): number {
    return this.reservedObjects_;
  }

  get checkpoints(): readonly Checkpoint[] {
    return this.checkpoints_;
  }

  /**
   * The machine of a daxsim state file (what `daxsim --machine PATH` acts
   * on), booted and replayed as fromState() does. The file is checked as the
   * CLI checks it: JSON, format "daxsim-machine", a version this daxsim reads
   * (older ones upgraded), the sha256 of its state; a file that fails is
   * refused (StateFileError, errno EINVAL) and left as it is; no file:
   * StateFileError with ENOENT. Reading takes no lock, as the CLI's reads do
   * not: every write is an atomic rename. Node.js only (node:fs).
   */
  static async load(path: string): Promise<Machine> {
    const { StateFileError, parseState, readStateFileBytes, stateFilePath } = await stateFileModule();
    const bytes = readStateFileBytes(path);
    if (!bytes)
      throw new StateFileError(`Machine.load: ${path}: no such machine state file (ENOENT); \`daxsim --machine ${path} machine create\` or machine.save(path) makes one`, ENOENT);
    const m = Machine.fromState(parseState(path, bytes.text));
    m.stateFile_ = { path: stateFilePath(path), sha256: bytes.sha256 };
    return m;
  }

  /**
   * Writes this machine to the state file at `path` as a daxsim command
   * that changed it does: under the file's lock (proper-lockfile, the
   * `<path>.lock` directory the CLI takes; waits up to `timeoutMs`, default
   * 60 s, then EBUSY), at a checkpoint (the log compacted when the machine is
   * as it was at an earlier one), atomically (temporary file, fsync, rename).
   * A file there that is not a daxsim state is refused (StateFileError) and
   * never overwritten. A daxsim state is replaced only when it is the one this
   * machine was loaded from or last saved to, unchanged since; any other
   * (another machine, or a command that changed the file after load) is
   * EEXIST, left as it is, unless `force` — as `machine create` refuses
   * without --force, and so that no command's change is lost unseen.
   * Node.js only (node:fs).
   */
  async save(path: string, opts: StateLockOptions & { readonly force?: boolean } = {}): Promise<void> {
    const { parseState, readStateFileBytes, stateFilePath, withStateLock, writeState } = await stateFileModule();
    const where = stateFilePath(path);
    await withStateLock(
      path,
      (lock) => {
        const now = readStateFileBytes(path);
        if (now) {
          parseState(path, now.text); // throws StateFileError: never overwrite what cannot be trusted
          const mine = this.stateFile_?.path === where && this.stateFile_.sha256 === now.sha256;
          if (!mine && !opts.force)
            throw new KernelError(
              EEXIST,
              `machine.save: ${path} holds ${this.stateFile_?.path === where ? 'a state written after this machine was loaded from it or saved to it' : 'another machine state'}; left as it is (save(path, { force: true }) replaces it)`,
            );
        }
        this.checkpoint();
        lock.assertHeld();
        const saved = writeState(path, this.state());
        this.stateFile_ = { path: where, sha256: saved.sha256 };
      },
      opts,
    );
  }

  get pmem(): readonly PmemRegion[] {
    return this.nvdimm.regions;
  }

  state(): MachineState {
    return {
      config: this.config,
      ops: [...this.ops_],
      checkpoints: [...this.checkpoints_],
      carried: {
        nsSerial: this.nvdimm.serial,
        mce: this.mce,
        kobjects: this.k.objects.allocated,
        touched: this.k.mem.touchedRuns(),
        ...(this.zoneDeviceSpans.size ? { zoneDeviceSpans: Object.fromEntries(this.zoneDeviceSpans) } : {}),
      },
      history: { log: [...this.k.log.entries], events: this.k.counters.snapshot() },
    };
  }

  /** Runs one operation; logs it on success, throws (changing nothing) on failure. */
  apply(op: Op): void {
    try {
      this.applyOp(op);
    } catch (e) {
      this.refused_++;
      throw e;
    }
    this.ops_.push(op);
    this.growZoneDeviceSpans();
  }

  private applyOp(op: Op): void {
    const nv = this.nvdimm;
    // a device bound to dax_kmem has dev->driver set: its sysfs writes and another bind are -EBUSY
    if ((op.op === 'dax.size' || op.op === 'dax.align' || op.op === 'dax.mapping' || op.op === 'dax.bind' || op.op === 'dax.delete') && this.bus.device(op.dev)) {
      const d = this.daxDevice(op.dev);
      if (this.kmem.isBound(d)) throw new KernelError(EBUSY, `${d.name}: ${op.op.slice(4)}: the device is bound to kmem`);
    }
    // nd_pmem/dax_pmem unbinding a namespace tears down its dax device: with dax_kmem bound, dev_dax_kmem_remove()'s
    // remove_memory() must succeed first. The real kernel unbinds anyway and leaks online memory ("cannot be hotremoved
    // until the next reboot"); ndctl refuses before that (EBUSY, measured), and so does the model, changing nothing
    if (op.op === 'ns.disable' || op.op === 'ns.destroy' || op.op === 'ns.raw' || op.op === 'ns.reconfig' || op.op === 'ns.resize') {
      const d = this.kmemDeviceOf(this.namespace(op.dev));
      if (d) this.kmemUnbind(d);
    }
    switch (op.op) {
      case 'ns.create':
        nv.createNamespace(op.region, op.id, op.start, op.size, op);
        break;
      case 'ns.reconfig':
        nv.reconfigureNamespace(this.namespace(op.dev), op);
        break;
      case 'ns.raw':
        nv.zeroInfoBlock(this.namespace(op.dev));
        break;
      case 'ns.resize':
        nv.resizeNamespace(this.namespace(op.dev), op.size);
        break;
      case 'ns.destroy':
        nv.destroyNamespace(this.namespace(op.dev));
        break;
      case 'ns.disable':
        nv.disableNamespace(this.namespace(op.dev));
        break;
      case 'ns.enable':
        nv.enableNamespace(this.namespace(op.dev));
        break;
      case 'dax.create':
        daxRegionCreate(this.daxRegion(op.region));
        break;
      case 'dax.delete':
        daxRegionDelete(this.daxRegion(op.region), op.dev);
        break;
      case 'dax.size':
        devDaxSetSize(this.daxDevice(op.dev), op.size);
        break;
      case 'dax.align':
        devDaxSetAlign(this.daxDevice(op.dev), op.align);
        break;
      case 'dax.mapping':
        devDaxAddMapping(this.daxDevice(op.dev), op.start, op.end);
        break;
      case 'dax.bind':
        bindDevDax(this.daxDevice(op.dev));
        break;
      case 'dax.unbind': {
        // the driver's remove: dax_kmem's for a device in system-ram mode
        const d = this.daxDevice(op.dev);
        if (this.kmem.isBound(d)) this.kmemUnbind(d);
        else unbindDevDax(d);
        break;
      }
      case 'kmem.bind':
        this.kmemBind(this.daxDevice(op.dev));
        break;
      case 'kmem.unbind':
        this.kmemUnbind(this.daxDevice(op.dev));
        break;
      case 'dax.memmap_on_memory':
        // the attribute came with 73954d379efd (v6.8): an older kernel's dax devices have no such file
        if (!this.kernel.release.hotplug.daxMemmapOnMemory)
          throw new KernelError(ENOENT, `${op.dev}: memmap_on_memory: no such attribute (dax devices have it from Linux 6.8; this machine runs ${this.kernel.release.version})`);
        this.kmem.setMemmapOnMemory(this.daxDevice(op.dev), op.value);
        break;
      case 'memory.state':
        this.kmem.hotplug.setBlockState(op.block, op.state);
        break;
      case 'poison':
        this.lastSignals = this.poison(op.dev, op.offset);
        break;
      case 'sysctl':
        if (op.key !== 'vm.memory_failure_early_kill' || (op.value !== 0 && op.value !== 1))
          throw new KernelError(EINVAL, `sysctl: ${op.key} = ${op.value}: vm.memory_failure_early_kill takes 0 or 1`);
        setMemoryFailureEarlyKill(this.k, op.value === 1);
        break;
      case 'cxl.write':
        cxlSysfsWrite(this.cxlBus(), op.dev, op.attr, op.value);
        break;
      case 'cxl.bind':
        cxlDriverBind(this.cxlBus(), op.dev);
        break;
      case 'cxl.unbind':
        cxlDriverUnbind(this.cxlBus(), op.dev);
        break;
      case 'cxl.debugfs':
        cxlDebugfsWrite(this.cxlBus(), op.memdev, op.attr, op.value);
        break;
      default: {
        const never: never = op;
        throw new KernelError(EINVAL, `machine state: unknown operation "${(never as { op: string }).op}"`);
      }
    }
  }

  /**
   * A media error at a device byte (a bad pmem/CXL location): the location
   * stays bad (it survives the namespace; a later load of it by a process is
   * a machine check on that access, BUS_MCEERR_AR to the loader), and the
   * detection, with no process consuming it, runs memory_failure() without
   * MF_ACTION_REQUIRED: early-kill processes that map the folio get
   * BUS_MCEERR_AO, every mapping of the folio is torn down. A folio never
   * faulted is "Failed" (dax_lock_page() finds no mapping), as the kernel
   * logs it. Returns the signals the machine check's own context got (none:
   * no process consumed it).
   */
  private poison(devName: string, offset: number): SigInfo[] {
    const dev = this.daxDevice(devName);
    const ps = this.arch.pageSize;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= dev.size)
      throw new KernelError(EINVAL, `poison: --offset ${offset} is outside ${devName} (size ${dev.size})`);
    if (!dev.bound) throw new KernelError(ENXIO, `poison: ${devName} is not enabled`);
    const pfn = Math.floor(daxPgoffToPhys(dev, Math.floor(offset / ps), ps) / ps);
    markMediaPoison(this.k, pfn);
    memoryFailure(this.k, pfn, 0);
    this.mce++;
    return [];
  }

  /**
   * Arms fault injection (DAXSIM_FAIL syntax: `page_alloc:5,altmap:2,pgtable:3,grab:7`):
   * the n-th such allocation or grab from now fails once. Grabs fail in the
   * next GUP instance made with newGup().
   */
  armFailures(text: string): void {
    const { grab, ...kernel } = parseFailSpec(text);
    armFailures({ k: this.k }, kernel);
    if (grab !== undefined) this.grabFailAt = grab;
  }

  /** The grab failure armed for the next GUP instance (0: none). */
  get pendingGrabFailure(): number {
    return this.grabFailAt;
  }

  /**
   * A GUP instance of the given generation, else the kernel's (armed with a
   * pending grab failure, if any). The devmap generations (per-page,
   * head-once, grab-first) walk devmap leaves: -EINVAL on a kernel that
   * maps device-dax without the devmap bit (d438d2734170, v6.17).
   */
  newGup(generation?: GupGeneration): Gup {
    const gen = generation ?? this.kernel.gupGeneration;
    if (!gupRunsOn(this.kernel.release, gen))
      throw new KernelError(
        EINVAL,
        `gup: --gup ${gen} takes references under devmap leaves, and kernel ${this.kernel.release.version} maps device-dax without the devmap bit (d438d2734170); it runs --gup folio`,
      );
    const g = new Gup(this.k, { generation: gen });
    if (this.grabFailAt) {
      g.armGrabFailure(this.grabFailAt);
      this.grabFailAt = 0;
    }
    return g;
  }

  /**
   * dax_bus_probe() with dax_kmem: the device's memory becomes System RAM.
   * (DevDax.bound stays false: it says bound to device_dax; `enabled()` says bound to either.)
   */
  private kmemBind(dev: DevDax): void {
    if (dev.bound) throw new KernelError(EBUSY, `${dev.name}: bind: already bound to device_dax`);
    this.kmem.probe(dev);
    const region = dev.region;
    if (!region.isStatic && region.seed === dev) region.seed = null;
  }

  /** dax_bus_remove() with dax_kmem: remove_memory() of the device's ranges (EBUSY while a block is online). */
  /** The dax device of a devdax namespace when dax_kmem holds it (its memory added as System RAM), else null. */
  kmemDeviceOf(ns: Namespace): DevDax | null {
    const d = this.nvdimm.daxRegionOf(ns)?.devices.get(`dax${ns.region}.${ns.id}`);
    return d && this.kmem.isBound(d) ? d : null;
  }

  /** Whether any memory block of a namespace's kmem-bound dax device is online (ndctl then refuses to tear it down: EBUSY). */
  namespaceMemoryOnline(ns: Namespace): boolean {
    const d = this.kmemDeviceOf(ns);
    return d !== null && this.kmem.blocksOf(d).some((b) => b.state === 'online');
  }

  private kmemUnbind(dev: DevDax): void {
    this.kmem.remove(dev);
  }

  /** daxctl_dev_is_enabled(): bound to a driver, device_dax or dax_kmem. */
  enabled(dev: DevDax): boolean {
    return dev.bound || this.kmem.isBound(dev);
  }

  // ------------------------------------------------------------ lookups

  /** A namespace by name ("namespace0.0"); -ENXIO when there is none. */
  namespace(name: string): Namespace {
    const ns = this.nvdimm.namespace(name);
    if (!ns) throw new KernelError(ENXIO, `namespace: "${name}" does not exist`);
    return ns;
  }

  /** A dax region by id; -ENXIO when there is none. */
  daxRegion(id: number): DaxRegion {
    const r = this.bus.region(id);
    if (!r) throw new KernelError(ENXIO, `dax region: region${id} does not exist`);
    return r;
  }

  /** A dax device by name ("dax0.0"); -ENXIO when there is none. */
  daxDevice(name: string): DevDax {
    const d = this.bus.device(name);
    if (!d) throw new KernelError(ENXIO, `dax device: "${name}" does not exist`);
    return d;
  }
}
