import { type DaxBus, type DaxRegion, type DevDax, daxPgoffToPhys } from '@daxsim/device-dax';
import {
  type FailPoint,
  type FailSpec,
  type MachineState,
  type Violation,
  checkInvariants,
  checkMemoryBlocks,
  formatViolation,
  machineState,
  pendingFailures,
} from '@daxsim/debug-vm';
import {
  Machine,
  type MachineConfig,
  type ScenarioOp,
  ScenarioSession,
  daxctlCreateDevice,
  daxctlDestroyDevice,
  daxctlDisableDevice,
  daxctlEnableDevice,
  daxctlOfflineMemory,
  daxctlOnlineMemory,
  daxctlReconfigureDevice,
  daxctlReconfigureMode,
  formatScenarioOp,
  formatScenarioSize,
  ndctlCreateNamespace,
} from '@daxsim/machine';
import type { Kernel } from '@daxsim/memremap';
import {
  SZ_1G,
  SZ_1M,
  EBUSY,
  EFAULT,
  EINVAL,
  ENOMEM,
  ENOSPC,
  ENXIO,
  KernelError,
  type Task,
  VM_FAULT_ERROR,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  type VmemmapGeneration,
  errnoName,
  hex,
} from '@daxsim/mm';


/**
 * The fuzzed machine: what `daxsim run` builds from scenarioPreamble()'s
 * lines, built here through the same Machine and the same ndctl steps:
 * 512 MiB of RAM; a labelled 256 MiB pmem region0 holding two 128 MiB devdax
 * namespaces (namespace0.0 --map=dev, its struct pages on the device behind
 * an altmap; namespace0.1 --map=mem), each with its static dax region and
 * device; a 1 GiB soft-reserved range, dynamic dax region 1 with dax1.0
 * bound at boot.
 */
export const FUZZ_CONFIG = (generation: VmemmapGeneration): MachineConfig => ({
  // the devmap era (pfn faults, devmap GUP paths) whose reference model this is
  kernel: FUZZ_KERNEL,
  setMappingIndex: 'align-down',
  arch: 'x86_64',
  ram: [512 * SZ_1M],
  pmem: [{ size: 256 * SZ_1M, labels: true }],
  softReserved: [1 * SZ_1G],
  generation,
});

/** The release the fuzzer's machines run: the last with devmap leaves, so every devmap GUP generation applies. */
export const FUZZ_KERNEL = '6.8';

/** The namespaces the preamble creates, in order. */
export const FUZZ_NAMESPACES = [
  { map: 'dev' as const, size: 128 * SZ_1M, align: 2 * SZ_1M },
  { map: 'mem' as const, size: 128 * SZ_1M, align: 2 * SZ_1M },
] as const;

/** The dynamic dax region's devices are dax<DYN_REGION>.N (its id follows the pmem regions'). */
export const DYN_REGION = 1;

/** A scenario op of the given kind, as the fuzzer makes it (every field it leaves optional, given). */
type Op<K extends ScenarioOp['op'], Req extends string = never> = Extract<ScenarioOp, { op: K }> & { readonly [F in Req & keyof Extract<ScenarioOp, { op: K }>]-?: Exclude<Extract<ScenarioOp, { op: K }>[F], undefined> };

/**
 * One operation of the fuzzer. The process and poison ops are the scenario
 * language's own (ScenarioOp of @daxsim/machine); the device ops are the
 * daxctl command lines the fuzzer builds (a `tool` op once formatted), and
 * `fail` is DAXSIM_FAIL's single point.
 */
export type FuzzOp =
  | Op<'spawn'>
  | Op<'mmap', 'length'>
  | Op<'munmap'>
  | Op<'touch'>
  | Op<'pin', 'gen'>
  | Op<'unpin'>
  | Op<'poison'>
  | Op<'exit'>
  | { op: 'create'; size: number; align: number }
  | { op: 'resize'; dev: string; size: number }
  | { op: 'disable'; dev: string }
  | { op: 'enable'; dev: string }
  | { op: 'destroy'; dev: string }
  | { op: 'fail'; point: FailPoint; n: number }
  /** daxctl reconfigure-device --mode=system-ram [--no-movable] */
  | { op: 'sysram'; dev: string; noMovable: boolean }
  /** daxctl reconfigure-device --mode=devdax [-f] */
  | { op: 'devdax'; dev: string; force: boolean }
  | { op: 'online'; dev: string }
  | { op: 'offline'; dev: string };

/** A size as a scenario writes it: 4K, 2M, 1G or bytes. */
export const fmtSize = formatScenarioSize;

const daxctl = (...argv: string[]): ScenarioOp => ({ op: 'tool', argv: ['daxctl', ...argv] });

/** The scenario op of a fuzzer operation: the device ops as the daxctl lines that do them. */
export function scenarioOp(o: FuzzOp): ScenarioOp {
  switch (o.op) {
    case 'create':
      return daxctl('create-device', '-r', String(DYN_REGION), '-s', fmtSize(o.size), '-a', fmtSize(o.align));
    case 'resize':
      return daxctl('reconfigure-device', '-s', fmtSize(o.size), o.dev);
    case 'disable':
      return daxctl('disable-device', o.dev);
    case 'enable':
      return daxctl('enable-device', o.dev);
    case 'destroy':
      return daxctl('destroy-device', '-f', o.dev);
    case 'fail':
      return { op: 'fail', spec: `${o.point}:${o.n}` };
    case 'sysram':
      return daxctl('reconfigure-device', '--mode=system-ram', ...(o.noMovable ? ['--no-movable'] : []), o.dev);
    case 'devdax':
      return daxctl('reconfigure-device', '--mode=devdax', ...(o.force ? ['-f'] : []), o.dev);
    case 'online':
      return daxctl('online-memory', o.dev);
    case 'offline':
      return daxctl('offline-memory', o.dev);
    case 'mmap':
      // the fuzzer maps read-write and shared, as the line says
      return { ...o, write: true, shared: true };
    default:
      return o;
  }
}

/** The scenario line of an operation. */
export function formatOp(o: FuzzOp): string {
  return formatScenarioOp(scenarioOp(o));
}

/** The machine line and the namespace lines every fuzz scenario starts with. */
export function scenarioPreamble(generation: VmemmapGeneration): string[] {
  const c = FUZZ_CONFIG(generation);
  const pmem = c.pmem.map((p) => `--pmem ${fmtSize(p.size)}${p.labels ? ':labels' : ''}`).join(' ');
  return [
    `machine --kernel ${c.kernel} --set-mapping-index ${c.setMappingIndex} --arch ${c.arch} --ram ${fmtSize(c.ram[0]!)} ${pmem} --soft-reserved ${fmtSize(c.softReserved[0]!)} --generation ${generation}`,
    ...FUZZ_NAMESPACES.map((n) => `ndctl create-namespace -m devdax --map=${n.map} -s ${fmtSize(n.size)} -a ${fmtSize(n.align)}`),
  ];
}

/**
 * The ops every fuzz sequence starts with, after the preamble: free the
 * dynamic region for new devices (a bound device cannot be resized, so
 * dax1.0 is disabled first).
 */
export const FUZZ_PROLOGUE: readonly FuzzOp[] = [
  { op: 'disable', dev: `dax${DYN_REGION}.0` },
  { op: 'resize', dev: `dax${DYN_REGION}.0`, size: 0 },
];

/** A whole reproducible `daxsim run` scenario. */
export function formatScenario(generation: VmemmapGeneration, ops: readonly FuzzOp[], header: string[] = []): string {
  return [...header.map((h) => `# ${h}`), ...scenarioPreamble(generation), ...ops.map(formatOp)].join('\n') + '\n';
}

// ------------------------------------------------------------------ machine

/** The live machine the operations run on. */
export interface FuzzMachine {
  readonly machine: Machine;
  /** The processes of the scenario. */
  readonly session: ScenarioSession;
  readonly k: Kernel;
  readonly bus: DaxBus;
  /** The dynamic region (hmem.0). */
  readonly dyn: DaxRegion;
  readonly generation: VmemmapGeneration;
}

/** Boots the fuzz machine as `daxsim run` boots the preamble's: the same Machine, the same `ndctl create-namespace` steps. */
export function bootFuzzMachine(generation: VmemmapGeneration): FuzzMachine {
  const machine = Machine.create(FUZZ_CONFIG(generation));
  for (const n of FUZZ_NAMESPACES) ndctlCreateNamespace(machine, { mode: 'devdax', map: n.map, size: n.size, align: n.align });
  return { machine, session: new ScenarioSession(machine), k: machine.k, bus: machine.bus, dyn: machine.daxRegion(DYN_REGION), generation };
}

// ------------------------------------------------------------------ reference model

interface MDev {
  name: string;
  size: number;
  align: number;
  bound: boolean;
  isStatic: boolean;
  poisoned: Set<number>;
  /** Destroyed: a later device of the same name is another device. */
  gone: boolean;
  /** Bound to dax_kmem (system-ram mode); `bound` (to device_dax) is false then. */
  kmem: boolean;
  /** system-ram: every block online (false: every block offline). */
  online: boolean;
  /** system-ram: onlined into ZONE_MOVABLE (false: ZONE_NORMAL, where kernel pages may land). */
  movable: boolean;
}
interface MMap {
  dev: MDev;
  start: number;
  length: number;
  offset: number;
}
interface MHold {
  kind: 'get' | 'pin';
  pfns: Float64Array;
  /** The device the pages belong to. */
  dev: MDev;
}
interface MProc {
  task: Task;
  maps: Map<string, MMap>;
  holds: MHold[];
  exited: boolean;
}

/** What the reference model expects of an operation. */
type Expect =
  | { kind: 'ok' }
  /** Success or one of these errnos (the model cannot tell which). */
  | { kind: 'any'; errnos: number[] }
  | { kind: 'errno'; errno: number }
  /** A fault result (touch). */
  | { kind: 'fault'; rc: number[] }
  /** GUP: exactly `n` pages (or the errno when n is 0). */
  | { kind: 'gup'; n: number; errno: number; pfns: number[] };

/**
 * How far `daxctl create-device` gets (daxctl's do_create(): the region's
 * create attribute makes a 0-size device, the region's *seed* device gets the
 * align, then the size, then is enabled; a failed step leaves the earlier ones done).
 */
interface CreatePlan {
  /** The device the create attribute makes (null: ENOSPC, nothing made). */
  made: string | null;
  /** The seed the align and size are written to. */
  seed: string;
  alignOk: boolean;
  sizeOk: boolean;
}

/** The outcome of running one op against the machine and its model. */
export interface StepResult {
  readonly violations: string[];
  /** The op was skipped as meaningless in the current state (e.g. a name that does not exist). */
  readonly skipped: boolean;
  /**
   * What the op's scenario line reports, as `daxsim run` reports it: `ok`, `-EINVAL` (refused;
   * for daxctl lines the errno of the exit status), `fault 0x2` (a touch whose fault failed),
   * `took 3` (GUP: pages taken). Empty when skipped.
   */
  readonly outcome: string;
}

/**
 * The reference model beside the machine: which devices exist with which
 * size, align and binding; which processes map what; which pages are held.
 * `step()` predicts each operation's result, runs it, and compares: result,
 * errno, the model against the machine, and (while a failure is armed) a
 * failed operation's full state against the state before it.
 *
 * Every op does exactly what its scenario line does in `daxsim run` (the app
 * is the reference for scenario semantics): daxctl lines follow daxctl
 * (create-device sizes the region's seed and enables it; a refused sysfs write
 * is -ENXIO; enable/disable of a device already in that state succeed;
 * destroy-device -f disables, sizes to 0 and deletes), `poison` is a machine
 * check consumed by a process that maps and reads the unit, a pin line uses a
 * GUP instance of its own, and `exit` releases the process's pins.
 */
export class FuzzModel {
  readonly m: FuzzMachine;
  readonly devs = new Map<string, MDev>();
  readonly procs = new Map<string, MProc>();
  private steps = 0;
  /** Some failure is armed (kernel points, or a grab for the next pin line). */
  armed = false;
  /** The dynamic region's seed device (the first 0-size device made by create and not yet enabled). */
  private seed: string | null = null;
  private createPlan: CreatePlan | null = null;
  /** destroy-device: the device is bound and held, so its disable will be refused. */
  private destroyHeld = false;
  /** Machine state just before create's enable (what an injected probe failure must leave). */
  private preBind: MachineState | null = null;
  private grabFired = false;
  /** The device whose struct pages live on the device (an altmap): the one altmap failures can hit. */
  private readonly altmapDev: string;

  constructor(m: FuzzMachine) {
    this.m = m;
    this.altmapDev = m.bus.devices.find((d) => d.pgmap?.altmap)?.name ?? '';
    for (const d of m.bus.devices)
      this.devs.set(d.name, { name: d.name, size: d.size, align: d.align, bound: d.bound, isStatic: d.region.isStatic, poisoned: new Set(), gone: false, kmem: false, online: false, movable: true });
  }

  get ps(): number {
    return this.m.k.arch.pageSize;
  }

  /** Live tasks (for the invariant sweep). */
  liveTasks(): Task[] {
    return this.m.session.liveTasks();
  }

  /** The head pfn a reference on `pfn` lands on, by the model's own arithmetic. */
  headOf(pfn: number, dev: MDev): number {
    if (this.m.generation === 'pre-series') return pfn;
    const nr = Math.max(dev.align, this.ps) / this.ps;
    return pfn - (pfn % nr);
  }

  private ledgerCache: Map<number, { gets: number; pins: number }> | null = null;

  /** The refcount ledger: what every live hold explains, by head. */
  ledger(): Map<number, { gets: number; pins: number }> {
    if (this.ledgerCache) return this.ledgerCache;
    const out = new Map<number, { gets: number; pins: number }>();
    for (const p of this.procs.values())
      for (const h of p.holds) {
        for (const pfn of h.pfns) {
          const head = this.headOf(pfn, h.dev);
          const e = out.get(head) ?? { gets: 0, pins: 0 };
          if (h.kind === 'get') e.gets++;
          else e.pins++;
          out.set(head, e);
        }
      }
    this.ledgerCache = out;
    return out;
  }

  private devHeld(name: string): boolean {
    const d = this.devs.get(name);
    for (const p of this.procs.values()) for (const h of p.holds) if (h.dev === d && h.pfns.length > 0) return true;
    return false;
  }

  /** ida_alloc() of the dynamic region: the lowest free device id. */
  private lowestFreeId(): number {
    const prefix = `dax${DYN_REGION}.`;
    const used = new Set([...this.devs.keys()].filter((n) => n.startsWith(prefix)).map((n) => Number(n.slice(prefix.length))));
    let id = 0;
    while (used.has(id)) id++;
    return id;
  }

  private dynAvail(): number {
    let used = 0;
    for (const d of this.devs.values()) if (!d.isStatic) used += d.size;
    return this.m.dyn.size - used;
  }

  /** Predicts whether a device's ranges will satisfy probe's compound alignment. */
  private probeAligned(dev: DevDax): boolean {
    const unit = Math.max(dev.align, 2 * SZ_1M);
    return dev.ranges.every((r) => r.start % unit === 0 && (r.end - r.start + 1) % unit === 0);
  }

  /** Is file offset `fileOff` of `dev` (model) mappable now? */
  private pageValid(dev: MDev | undefined, fileOff: number): boolean {
    if (!dev || dev.gone || !dev.bound || dev.kmem) return false;
    // a poisoned unit faults back in: device-dax's fault path never looks at PG_hwpoison
    return fileOff >= 0 && fileOff < dev.size;
  }

  /** A mapping whose file offset is not align-aligned: every huge fault computes a misaligned phys and SIGBUSes. */
  private mapAligned(mp: MMap): boolean {
    return mp.offset % mp.dev.align === 0;
  }

  private predict(o: FuzzOp): Expect | null {
    const ps = this.ps;
    switch (o.op) {
      case 'create': {
        // daxctl create-device -r 1 -s SIZE -a ALIGN
        this.createPlan = null;
        const avail = this.dynAvail();
        if (avail === 0) {
          this.createPlan = { made: null, seed: '', alignOk: false, sizeOk: false };
          return { kind: 'errno', errno: ENOSPC }; // create_store: no available_size
        }
        const made = `dax${DYN_REGION}.${this.lowestFreeId()}`;
        const seed = this.seed ?? made;
        const cur = seed === made ? 0 : this.devs.get(seed)!.size;
        const real = seed === made ? undefined : this.m.bus.device(seed);
        const unit = Math.max(o.align, 2 * SZ_1M);
        // align_store: dev_dax_validate_align() of the seed's ranges; size_store: multiple of the unit, room to grow
        const alignOk = !real || real.ranges.every((r) => (r.end - r.start + 1) % unit === 0);
        const sizeOk = alignOk && o.size % unit === 0 && !(o.size > cur && o.size - cur > avail);
        this.createPlan = { made, seed, alignOk, sizeOk };
        if (!sizeOk) return { kind: 'errno', errno: ENXIO }; // libdaxctl: failed to set align / size
        // enable: probe refuses ranges that are not aligned to a 1 GiB align (checked against the machine after)
        return unit > 2 * SZ_1M ? { kind: 'any', errnos: [EINVAL] } : { kind: 'ok' };
      }
      case 'resize': {
        // daxctl reconfigure-device -s SIZE: any refused size write is -ENXIO (libdaxctl)
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.isStatic) return { kind: 'errno', errno: ENXIO }; // EACCES: read-only
        if (o.size % Math.max(d.align, 2 * SZ_1M) !== 0) return { kind: 'errno', errno: ENXIO }; // EINVAL
        if (d.bound || d.kmem) return { kind: 'errno', errno: ENXIO }; // EBUSY: size_store checks dev->driver
        if (o.size === d.size) return { kind: 'ok' };
        if (o.size > d.size && o.size - d.size > this.dynAvail()) return { kind: 'errno', errno: ENXIO }; // ENOSPC
        return { kind: 'ok' };
      }
      case 'enable': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.kmem) return { kind: 'errno', errno: ENXIO }; // status operations are only applicable in devdax mode
        if (d.bound) return { kind: 'ok' }; // daxctl: already enabled
        if (d.size === 0) return { kind: 'errno', errno: ENXIO };
        const real = this.m.bus.device(o.dev)!;
        if (!this.probeAligned(real)) return { kind: 'errno', errno: EINVAL };
        return { kind: 'ok' };
      }
      case 'disable': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.kmem) return { kind: 'errno', errno: ENXIO }; // status operations are only applicable in devdax mode
        if (!d.bound) return { kind: 'ok' }; // daxctl: already disabled
        if (this.devHeld(o.dev)) return { kind: 'errno', errno: EBUSY };
        return { kind: 'ok' };
      }
      case 'destroy': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.isStatic) return null;
        this.destroyHeld = (d.bound && this.devHeld(o.dev)) || (d.kmem && d.online);
        if (this.destroyHeld) return { kind: 'errno', errno: EBUSY }; // the disable is refused (held, or memory online)
        if (o.dev === `dax${DYN_REGION}.0`) return { kind: 'errno', errno: EBUSY }; // disabled and emptied, but id 0 is never deleted
        return { kind: 'ok' };
      }
      case 'spawn':
        return this.procs.has(o.p) ? null : { kind: 'ok' };
      case 'exit': {
        const p = this.procs.get(o.p);
        return !p || p.exited ? null : { kind: 'ok' };
      }
      case 'mmap': {
        const p = this.procs.get(o.p);
        const d = this.devs.get(o.dev);
        if (!p || p.exited || !d || p.maps.has(o.m)) return null;
        if (!d.bound || d.kmem) return { kind: 'errno', errno: ENXIO };
        if (o.length % d.align !== 0) return { kind: 'errno', errno: EINVAL };
        // A file offset that is not align-aligned makes dax_get_unmapped_area() fall back to page
        // alignment: check_vma() then refuses only if the address it found is misaligned.
        if (o.offset % d.align !== 0) return { kind: 'any', errnos: [EINVAL] };
        return { kind: 'ok' };
      }
      case 'munmap': {
        const p = this.procs.get(o.p);
        if (!p || p.exited || !p.maps.has(o.m)) return null;
        return { kind: 'ok' };
      }
      case 'touch': {
        const p = this.procs.get(o.p);
        const mp = p?.maps.get(o.m);
        if (!p || p.exited || !mp || o.off >= mp.length) return null;
        const ok = this.pageValid(mp.dev, mp.offset + o.off) && this.mapAligned(mp);
        return { kind: 'fault', rc: ok ? [0, VM_FAULT_NOPAGE] : [VM_FAULT_SIGBUS] };
      }
      case 'pin': {
        const p = this.procs.get(o.p);
        const mp = p?.maps.get(o.m);
        if (!p || p.exited || !mp || o.off >= mp.length) return null;
        const dev = mp.dev;
        const real = this.m.bus.device(mp.dev.name);
        const pfns: number[] = [];
        for (let off = o.off; off < o.off + o.len; off += ps) {
          if (off >= mp.length || !this.pageValid(dev, mp.offset + off) || !this.mapAligned(mp) || !real) break;
          pfns.push(daxPgoffToPhys(real, (mp.offset + off) / ps, ps) / ps);
        }
        return { kind: 'gup', n: pfns.length, errno: pfns.length === 0 ? EFAULT : 0, pfns };
      }
      case 'unpin': {
        const p = this.procs.get(o.p);
        return p && !p.exited ? { kind: 'ok' } : null;
      }
      case 'poison': {
        // a bad media location: memory_failure() runs for it with no consumer ("Failed" for a unit never
        // faulted, which is the kernel's log line, not a refusal); every mapping of the unit goes
        const d = this.devs.get(o.dev);
        if (!d || o.off >= d.size) return null;
        if (!d.bound || d.kmem) return { kind: 'errno', errno: ENXIO };
        return { kind: 'ok' };
      }
      case 'fail':
        return { kind: 'ok' };
      case 'sysram': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.kmem) return { kind: 'ok' }; // already in system-ram mode: onlines what is offline
        if (d.bound && this.devHeld(o.dev)) return { kind: 'errno', errno: EBUSY }; // disable failed
        if (d.size === 0) return { kind: 'errno', errno: ENXIO };
        // dev_dax_kmem_probe(): a range with a whole memory block, or EINVAL
        const bs = this.m.machine.kmem.hotplug.blockSize;
        const real = this.m.bus.device(o.dev)!;
        const fits = real.ranges.some((r) => Math.floor((r.end + 1) / bs) * bs > Math.ceil(r.start / bs) * bs);
        return fits ? { kind: 'ok' } : { kind: 'errno', errno: EINVAL };
      }
      case 'devdax': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.kmem) {
          if (d.online && !o.force) return { kind: 'errno', errno: EBUSY }; // refusing to change modes
          // -f offlines first: a kernel page in a ZONE_NORMAL block makes that EBUSY
          const mayBusy = d.online && !d.movable;
          const real = this.m.bus.device(o.dev)!;
          if (!this.probeAligned(real)) return { kind: 'any', errnos: [EINVAL, EBUSY] };
          return mayBusy ? { kind: 'any', errnos: [EBUSY] } : { kind: 'ok' };
        }
        if (d.bound) return { kind: 'ok' }; // already in devdax mode (daxctl returns 1 and prints it)
        if (d.size === 0) return { kind: 'errno', errno: ENXIO };
        return this.probeAligned(this.m.bus.device(o.dev)!) ? { kind: 'ok' } : { kind: 'errno', errno: EINVAL };
      }
      case 'online': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        return d.kmem ? { kind: 'ok' } : { kind: 'errno', errno: ENXIO };
      }
      case 'offline': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (!d.kmem) return { kind: 'errno', errno: ENXIO };
        return d.online && !d.movable ? { kind: 'any', errnos: [EBUSY] } : { kind: 'ok' };
      }
    }
  }

  /**
   * Whether an armed point can fire inside `o` in a way the unwind check
   * looks at (the machine state before is only taken then: it hashes all of
   * memory). GUP is not unwind-checked; altmap blocks are only allocated by
   * probing the --map=dev device; page_alloc and pgtable by probes, faults
   * (touch), mmap and spawn (its pgd).
   */
  private mayFailByInjection(o: FuzzOp, armed: FailSpec): boolean {
    if (armed.altmap !== undefined && (o.op === 'enable' || o.op === 'devdax') && o.dev === this.altmapDev) return true;
    if (armed.page_alloc === undefined && armed.pgtable === undefined) return false;
    return o.op === 'enable' || o.op === 'touch' || o.op === 'mmap' || o.op === 'spawn' || o.op === 'sysram' || o.op === 'devdax';
  }

  /** What is armed: the kernel's points and the grab waiting for the next pin line. */
  private pending(): FailSpec {
    const out = pendingFailures({ k: this.m.k });
    if (this.m.machine.pendingGrabFailure > 0) out.grab = this.m.machine.pendingGrabFailure;
    return out;
  }

  /**
   * Runs one op: predict, execute, compare. Returns the violations found (by
   * result, model or invariant sweep), whether the op was skipped, and its outcome.
   */
  step(o: FuzzOp, sweep: 'full' | 'cheap' | 'none'): StepResult {
    const expect = this.predict(o);
    if (expect === null) return { violations: [], skipped: true, outcome: '' };
    const v: string[] = [];
    const armedBefore = this.armed ? this.pending() : {};
    const before: MachineState | null = this.armed && this.mayFailByInjection(o, armedBefore) ? machineState(this.m.k, this.m.bus, this.liveTasks()) : null;
    this.preBind = null;
    this.grabFired = false;
    let errno = 0;
    let rc = 0;
    let taken: Float64Array | null = null;
    try {
      rc = this.exec(o);
    } catch (e) {
      if (!(e instanceof KernelError)) {
        v.push(`crash: ${formatOp(o)}: ${(e as Error).stack ?? String(e)}`);
        return { violations: v, skipped: false, outcome: 'crash' };
      }
      errno = e.errno;
      if (!e.message.length) v.push(`errno-message: ${formatOp(o)}: empty message`);
    }
    if (o.op === 'pin') taken = this.m.session.lastTaken;
    const after = this.armed ? this.pending() : {};
    const fired = this.armed ? firedPoints(armedBefore, after).filter((p) => p !== 'grab' || this.grabFired) : [];
    this.armed = Object.keys(after).length > 0;
    const injected = fired.length > 0;
    const label = formatOp(o);
    // Compare the result with the prediction; an injected failure may turn any success into ENOMEM (or a partial GUP).
    const injectedErrnos = [ENOMEM];
    let failedByInjection = false;
    switch (expect.kind) {
      case 'ok':
      case 'errno': {
        const want = expect.kind === 'ok' ? 0 : expect.errno;
        if (errno !== want) {
          if (injected && injectedErrnos.includes(errno)) failedByInjection = true; // also a refusal the injected failure came before
          else v.push(`result: ${label}: ${errno ? '-' + errnoName(errno) : 'success'}, model expected ${want ? '-' + errnoName(want) : 'success'}${injected ? ` (injected ${fired.join(',')})` : ''}`);
        }
        break;
      }
      case 'any':
        if (errno !== 0 && !expect.errnos.includes(errno)) {
          if (injected && injectedErrnos.includes(errno)) failedByInjection = true;
          else v.push(`result: ${label}: -${errnoName(errno)}, model expected success or ${expect.errnos.map((x) => '-' + errnoName(x)).join(', ')}`);
        }
        break;
      case 'fault':
        if (errno !== 0 || !expect.rc.includes(rc)) {
          if (injected && rc === VM_FAULT_OOM) failedByInjection = true;
          else v.push(`result: ${label}: vm_fault ${hex(rc)}${errno ? ` / -${errnoName(errno)}` : ''}, model expected ${expect.rc.map((x) => hex(x)).join(' or ')}`);
        }
        break;
      case 'gup': {
        const n = taken?.length ?? 0;
        const partial = injected && n < expect.n;
        if (!partial && (n !== expect.n || (n === 0 && rc !== -expect.errno)))
          v.push(`result: ${label}: took ${n} pages (rc ${rc}), model expected ${expect.n}${expect.n === 0 ? ` and -${errnoName(expect.errno)}` : ''}`);
        else if (taken) for (let i = 0; i < n; i++) if (taken[i] !== expect.pfns[i]) {
          v.push(`result: ${label}: page ${i} is pfn ${hex(taken[i]!)}, model expected ${hex(expect.pfns[i]!)}`);
          break;
        }
        if (partial) failedByInjection = n === 0;
        break;
      }
    }
    // create-device's enable is refused (EINVAL) exactly when the seed's ranges are not aligned for probe.
    if (o.op === 'create' && this.createPlan?.sizeOk && !failedByInjection && (errno === 0 || errno === EINVAL)) {
      const seed = this.m.bus.device(this.createPlan.seed);
      if (seed && this.probeAligned(seed) === (errno === EINVAL)) v.push(`result: ${label}: enable ${errno ? 'refused' : 'accepted'} ranges ${seed.ranges.map((r) => `${hex(r.start)}-${hex(r.end)}`).join(',')} at align ${hex(seed.align)}`);
    }
    // A call that failed on an injected fault leaves the machine exactly as before. (Not GUP: the
    // faults it made before the failing grab are kept, as the kernel keeps them; the refcount
    // ledger in the sweep proves it took no reference. create-device: as before its enable, since
    // daxctl keeps the device it made and sized.)
    const ref = o.op === 'create' || o.op === 'sysram' || o.op === 'devdax' ? this.preBind : before;
    if (failedByInjection && !ref && o.op !== 'pin') v.push(`unwind: ${label} failed on injected ${fired.join(',')}, an op the model does not expect to allocate`);
    if (failedByInjection && ref && o.op !== 'pin') {
      const now = machineState(this.m.k, this.m.bus, this.liveTasks());
      if (JSON.stringify(now) !== JSON.stringify(ref)) v.push(`unwind: ${label} failed on injected ${fired.join(',')} but changed the machine: ${diffState(ref, now)}`);
    }
    if (v.length === 0) this.apply(o, errno, rc, taken);
    if (o.op === 'pin' || o.op === 'unpin' || o.op === 'exit' || o.op === 'enable' || o.op === 'create' || o.op === 'devdax') this.ledgerCache = null;
    this.steps++;
    v.push(...this.compareModel());
    if (sweep !== 'none') {
      const found: Violation[] = checkInvariants(this.m.k, this.m.bus, this.liveTasks(), { full: sweep === 'full', sampleSeed: this.steps, refs: this.ledger(), allTasks: true });
      for (const x of found) v.push(`invariant ${formatViolation(x)}`);
      for (const x of checkMemoryBlocks(this.m.machine.kmem.hotplug)) v.push(`invariant ${formatViolation(x)}`);
    }
    return { violations: v, skipped: false, outcome: outcomeOf(o, errno, rc) };
  }

  /**
   * Executes an op on the machine as its scenario line does: daxctl's steps
   * through the machine's daxctl verbs, process lines through the scenario
   * session, a machine check through the machine. Returns a fault rc / GUP
   * rc; throws KernelError on refusals.
   */
  private exec(o: FuzzOp): number {
    const { machine, session } = this.m;
    switch (o.op) {
      case 'create': {
        const r = daxctlCreateDevice(
          machine,
          { region: DYN_REGION, size: o.size, align: o.align },
          {
            beforeEnable: (dev) => {
              if (this.armed && this.mayFailByInjection({ op: 'enable', dev: dev.name }, this.pending())) this.preBind = machineState(this.m.k, this.m.bus, this.liveTasks());
            },
          },
        );
        if (r.errno) throw new KernelError(r.errno, r.errors[r.errors.length - 1] ?? 'create-device failed');
        return 0;
      }
      case 'resize':
        daxctlReconfigureDevice(machine, this.dev(o.dev), { size: o.size });
        return 0;
      case 'enable':
        daxctlEnableDevice(machine, this.dev(o.dev));
        return 0;
      case 'disable':
        daxctlDisableDevice(machine, this.dev(o.dev));
        return 0;
      case 'destroy':
        daxctlDestroyDevice(machine, this.dev(o.dev), true);
        return 0;
      case 'spawn':
        session.spawn(o.p);
        this.procs.set(o.p, { task: session.proc(o.p).task, maps: new Map(), holds: [], exited: false });
        return 0;
      case 'exit':
        session.exit(o.p);
        this.procs.get(o.p)!.holds = [];
        return 0;
      case 'mmap': {
        const start = session.mmap(o.p, o.m, o.dev, { length: o.length, offset: o.offset, write: true, shared: true });
        this.procs.get(o.p)!.maps.set(o.m, { dev: this.devs.get(o.dev)!, start, length: o.length, offset: o.offset });
        return 0;
      }
      case 'munmap':
        session.munmap(o.p, o.m);
        return 0;
      case 'touch':
        return session.touch(o.p, o.m, o.off, o.write);
      case 'pin': {
        const armedGrab = machine.pendingGrabFailure > 0;
        const rc = session.pin(o.p, o.m, o.off, o.len, { kind: o.kind, gen: o.gen });
        this.grabFired = armedGrab && session.lastGup!.failGrabAt === 0;
        return rc;
      }
      case 'unpin':
        session.unpin(o.p);
        this.procs.get(o.p)!.holds = [];
        return 0;
      case 'poison':
        machine.apply({ op: 'poison', dev: o.dev, offset: o.off });
        return 0;
      case 'fail':
        machine.armFailures(`${o.point}:${o.n}`);
        this.armed = true;
        return 0;
      case 'sysram':
      case 'devdax': {
        const r = daxctlReconfigureMode(
          machine,
          this.dev(o.dev),
          o.op === 'sysram' ? { mode: 'system-ram', noMovable: o.noMovable } : { mode: 'devdax', force: o.force },
          {
            beforeEnable: (dev) => {
              if (this.armed && this.mayFailByInjection(o, this.pending())) this.preBind = machineState(this.m.k, this.m.bus, this.liveTasks());
              void dev;
            },
          },
        );
        if (r.rc < 0) throw new KernelError(-r.rc, r.messages.join('; ') || `${formatOp(o)}: ${r.rc}`);
        return 0;
      }
      case 'online':
      case 'offline': {
        const r = o.op === 'online' ? daxctlOnlineMemory(machine, this.dev(o.dev), { noMovable: false, verbose: false }) : daxctlOfflineMemory(machine, this.dev(o.dev), { verbose: false });
        if (r.rc < 0) throw new KernelError(-r.rc, r.messages.join('; ') || `${formatOp(o)}: ${r.rc}`);
        return 0;
      }
    }
  }

  private dev(name: string): DevDax {
    return this.m.machine.daxDevice(name);
  }

  /** Updates the model after an op whose result matched the prediction (or failed on an injection). */
  private apply(o: FuzzOp, errno: number, _rc: number, taken: Float64Array | null): void {
    const failed = errno !== 0;
    switch (o.op) {
      case 'create': {
        const plan = this.createPlan!;
        if (plan.made === null) return;
        this.devs.set(plan.made, { name: plan.made, size: 0, align: this.m.dyn.align, bound: false, isStatic: false, poisoned: new Set(), gone: false, kmem: false, online: false, movable: true });
        this.seed ??= plan.made;
        const d = this.devs.get(plan.seed)!;
        if (plan.alignOk) d.align = o.align;
        if (plan.sizeOk) d.size = o.size;
        if (!failed) {
          d.bound = true;
          d.poisoned.clear();
          this.seed = null; // dax_bus_probe(): a new seed is tracked once the old one is bound
        }
        return;
      }
      case 'resize':
        if (!failed) this.devs.get(o.dev)!.size = o.size;
        return;
      case 'enable':
        if (!failed) {
          const d = this.devs.get(o.dev)!;
          if (!d.bound) d.poisoned.clear();
          d.bound = true;
          if (this.seed === o.dev) this.seed = null;
        }
        return;
      case 'disable':
        if (!failed) this.devs.get(o.dev)!.bound = false;
        return;
      case 'destroy': {
        const d = this.devs.get(o.dev)!;
        if (this.destroyHeld) return; // the disable was refused: nothing happened
        d.bound = false;
        d.kmem = false;
        d.online = false;
        d.size = 0;
        if (!failed) {
          d.gone = true;
          this.devs.delete(o.dev);
          if (this.seed === o.dev) this.seed = null;
        }
        return;
      }
      case 'exit':
        this.procs.get(o.p)!.exited = true;
        return;
      case 'munmap':
        if (!failed) this.procs.get(o.p)!.maps.delete(o.m);
        return;
      case 'pin': {
        const p = this.procs.get(o.p)!;
        const mp = p.maps.get(o.m)!;
        if (taken && taken.length > 0) p.holds.push({ kind: o.kind === 'get' ? 'get' : 'pin', pfns: taken, dev: mp.dev });
        return;
      }
      case 'poison':
        if (!failed) {
          const d = this.devs.get(o.dev)!;
          d.poisoned.add(Math.floor(o.off / d.align));
        }
        return;
      case 'sysram': {
        const d = this.devs.get(o.dev)!;
        if (d.kmem) {
          if (!failed && !d.online) {
            d.online = true;
            d.movable = true;
          }
          return;
        }
        if (failed && errno === EBUSY) return; // the devdax disable was refused
        if (failed) {
          d.bound = false; // daxctl disabled it first; the kmem bind failed
          return;
        }
        d.bound = false;
        d.kmem = true;
        d.online = true;
        d.movable = !o.noMovable;
        if (this.seed === o.dev) this.seed = null;
        return;
      }
      case 'devdax': {
        const d = this.devs.get(o.dev)!;
        if (d.kmem) {
          if (failed && errno === EBUSY) {
            // refused; with -f some blocks may be offline by now (an unmovable page stopped the rest)
            if (o.force) d.online = this.m.machine.kmem.blocksOf(this.dev(o.dev)).some((b) => b.state === 'online');
            return;
          }
          d.kmem = false;
          d.online = false;
          d.bound = !failed;
          if (!failed && this.seed === o.dev) this.seed = null;
          if (!failed) d.poisoned.clear();
          return;
        }
        if (!failed && !d.bound) {
          d.bound = true;
          d.poisoned.clear();
          if (this.seed === o.dev) this.seed = null;
        }
        return;
      }
      case 'online':
        if (!failed) this.devs.get(o.dev)!.online = true;
        return;
      case 'offline': {
        const d = this.devs.get(o.dev)!;
        if (!failed) d.online = false;
        else d.online = this.m.machine.kmem.blocksOf(this.dev(o.dev)).some((b) => b.state === 'online');
        return;
      }
      default:
        return;
    }
  }

  /** The model against the machine: devices, sizes, aligns, bindings, the seed, mappings. */
  private compareModel(): string[] {
    const v: string[] = [];
    const real = new Map(this.m.bus.devices.map((d) => [d.name, d]));
    for (const [name, d] of this.devs) {
      const r = real.get(name);
      if (!r) {
        v.push(`model: ${name} should exist`);
        continue;
      }
      if (r.size !== d.size) v.push(`model: ${name} size ${r.size}, model ${d.size}`);
      if (r.align !== d.align) v.push(`model: ${name} align ${r.align}, model ${d.align}`);
      if (r.bound !== d.bound) v.push(`model: ${name} bound ${r.bound}, model ${d.bound}`);
    }
    for (const name of real.keys()) if (!this.devs.has(name)) v.push(`model: ${name} exists, the model has no such device`);
    if ((this.m.dyn.seed?.name ?? null) !== this.seed) v.push(`model: region ${DYN_REGION} seed ${this.m.dyn.seed?.name ?? 'none'}, model ${this.seed ?? 'none'}`);
    for (const [pname, p] of this.procs) {
      if (p.exited) continue;
      const vmas = p.task.mm.vmas;
      if (vmas.length !== p.maps.size) v.push(`model: ${pname} has ${vmas.length} vmas, model ${p.maps.size}`);
      for (const [mname, mp] of p.maps) {
        const vma = p.task.mm.findVma(mp.start);
        if (!vma || vma.start !== mp.start || vma.end !== mp.start + mp.length || vma.pgoff * this.ps !== mp.offset) v.push(`model: ${pname} ${mname} is not the vma the model expects`);
      }
    }
    return v;
  }
}

/** What `daxsim run` reports for an op's line (see StepResult.outcome). */
function outcomeOf(o: FuzzOp, errno: number, rc: number): string {
  if (o.op === 'touch') return rc & VM_FAULT_ERROR ? `fault ${hex(rc)}` : 'ok';
  if (o.op === 'pin') return rc < 0 ? `-${errnoName(-rc)}` : `took ${rc}`;
  return errno ? `-${errnoName(errno)}` : 'ok';
}

function firedPoints(before: FailSpec, after: FailSpec): string[] {
  return (Object.keys(before) as FailPoint[]).filter((p) => after[p] === undefined);
}

/** The paths where two states differ (up to 8), for a readable report. */
export function diffState(a: MachineState, b: MachineState): string {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (out.length >= 8 || JSON.stringify(x) === JSON.stringify(y)) return;
    if (x !== null && y !== null && typeof x === 'object' && typeof y === 'object') {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const key of keys) walk((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key], `${path}.${key}`);
      return;
    }
    out.push(`${path.slice(1)}: ${JSON.stringify(x)} → ${JSON.stringify(y)}`);
  };
  walk(a, b, '');
  return out.join('; ');
}
