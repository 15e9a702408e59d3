import {
  EBUSY,
  EINVAL,
  ENOMEM,
  ENOSPC,
  ENXIO,
  KernelError,
  MAP_SHARED,
  MEMORY_DEVICE_GENERIC,
  PROT_READ,
  PROT_WRITE,
  type Task,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  type VmemmapGeneration,
  errnoName,
  hex,
} from '@daxsim/mm';
import { type Kernel, createKernel, newDevPagemap } from '@daxsim/memremap';
import {
  DaxBus,
  type DaxRegion,
  type DevDax,
  bindDevDax,
  createDynamicRegion,
  createStaticRegion,
  createTask,
  daxMmap,
  daxPgoffToPhys,
  daxRegionCreate,
  daxRegionDelete,
  devDaxSetAlign,
  devDaxSetSize,
  exitTask,
  munmap,
  touch,
  unbindDevDax,
  userMapping,
} from '@daxsim/device-dax';
import {
  FOLL_LONGTERM,
  FOLL_WRITE,
  Gup,
  type GupGeneration,
  getUserPagesFast,
  pinUserPagesFast,
  putPages,
  unpinUserPages,
} from '@daxsim/gup';
import { memoryFailure } from '@daxsim/memory-failure';
import { type FailPoint, type FailSpec, armFailures, pendingFailures } from './fault-inject.js';
import { type Violation, checkInvariants, formatViolation } from './invariants.js';
import { type MachineState, machineState } from './state.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/**
 * The fuzzed machine, fixed so that a scenario replays it exactly:
 * 512 MiB of RAM on node 0; 1 GiB of soft-reserved memory at 4 GiB (dynamic
 * dax region 0, align 2 MiB, dax0.0 over all of it); and 256 MiB of pmem at
 * 8 GiB as two 128 MiB devdax namespaces: region 1 with its struct pages in
 * the namespace (--map=dev: an altmap, data starting 4 MiB in) and region 2
 * with its struct pages in RAM (--map=mem).
 */
export const FUZZ_LAYOUT = {
  ram: 512 * MiB,
  softReserved: { start: 4 * GiB, size: 1 * GiB },
  pmem: { start: 8 * GiB, size: 256 * MiB },
  namespaces: [
    { region: 1, start: 8 * GiB, size: 128 * MiB, map: 'dev' as const, dataOffset: 4 * MiB },
    { region: 2, start: 8 * GiB + 128 * MiB, size: 128 * MiB, map: 'mem' as const, dataOffset: 0 },
  ],
} as const;

/** One operation, exactly as a `daxsim run` scenario line says it. */
export type FuzzOp =
  | { op: 'create'; size: number; align: number }
  | { op: 'resize'; dev: string; size: number }
  | { op: 'disable'; dev: string }
  | { op: 'enable'; dev: string }
  | { op: 'destroy'; dev: string }
  | { op: 'spawn'; p: string }
  | { op: 'mmap'; p: string; m: string; dev: string; length: number; offset: number }
  | { op: 'munmap'; p: string; m: string }
  | { op: 'touch'; p: string; m: string; off: number; write: boolean }
  | { op: 'pin'; p: string; m: string; off: number; len: number; kind: 'get' | 'pin' | 'longterm'; gen: GupGeneration }
  | { op: 'unpin'; p: string }
  | { op: 'poison'; dev: string; off: number }
  | { op: 'exit'; p: string }
  | { op: 'fail'; point: FailPoint; n: number };

/** A size as a scenario writes it: 4K, 2M, 1G or bytes. */
export function fmtSize(n: number): string {
  if (n !== 0 && n % GiB === 0) return `${n / GiB}G`;
  if (n !== 0 && n % MiB === 0) return `${n / MiB}M`;
  if (n !== 0 && n % KiB === 0) return `${n / KiB}K`;
  return String(n);
}

/** The scenario line of an operation. */
export function formatOp(o: FuzzOp): string {
  switch (o.op) {
    case 'create':
      return `daxctl create-device -r 0 -s ${fmtSize(o.size)} -a ${fmtSize(o.align)}`;
    case 'resize':
      return `daxctl reconfigure-device -s ${fmtSize(o.size)} ${o.dev}`;
    case 'disable':
      return `daxctl disable-device ${o.dev}`;
    case 'enable':
      return `daxctl enable-device ${o.dev}`;
    case 'destroy':
      return `daxctl destroy-device -f ${o.dev}`;
    case 'spawn':
      return `spawn ${o.p}`;
    case 'mmap':
      return `${o.p} mmap ${o.m} ${o.dev} length=${fmtSize(o.length)} offset=${hex(o.offset)} prot=rw flags=shared`;
    case 'munmap':
      return `${o.p} munmap ${o.m}`;
    case 'touch':
      return `${o.p} touch ${o.m} ${hex(o.off)} ${o.write ? 'write' : 'read'}`;
    case 'pin':
      return `${o.p} ${o.kind} ${o.m} ${hex(o.off)} ${fmtSize(o.len)} gen=${o.gen}`;
    case 'unpin':
      return `${o.p} unpin`;
    case 'poison':
      return `poison ${o.dev} ${hex(o.off)}`;
    case 'exit':
      return `${o.p} exit`;
    case 'fail':
      return `fail ${o.point}:${o.n}`;
  }
}

/** The machine line and the namespace lines every fuzz scenario starts with. */
export function scenarioPreamble(generation: VmemmapGeneration): string[] {
  const L = FUZZ_LAYOUT;
  return [
    `machine --arch x86_64 --ram ${fmtSize(L.ram)} --soft-reserved ${fmtSize(L.softReserved.size)} --pmem ${fmtSize(L.pmem.size)} --vmemmap ${generation}`,
    ...L.namespaces.map((n) => `ndctl create-namespace -m devdax --map=${n.map} -s ${fmtSize(n.size)} -a 2M`),
  ];
}

/** A whole reproducible `daxsim run` scenario. */
export function formatScenario(generation: VmemmapGeneration, ops: readonly FuzzOp[], header: string[] = []): string {
  return [...header.map((h) => `# ${h}`), ...scenarioPreamble(generation), ...ops.map(formatOp)].join('\n') + '\n';
}

// ------------------------------------------------------------------ machine

/** The live machine the operations run on. */
export interface FuzzMachine {
  readonly k: Kernel;
  readonly bus: DaxBus;
  readonly gup: Gup;
  readonly dyn: DaxRegion;
  readonly generation: VmemmapGeneration;
}

/** Boots the fuzz layout. */
export function bootFuzzMachine(generation: VmemmapGeneration): FuzzMachine {
  const L = FUZZ_LAYOUT;
  const k = createKernel({
    ram: [{ nid: 0, size: L.ram }],
    devices: [
      { start: L.softReserved.start, size: L.softReserved.size, name: 'Soft Reserved' },
      { start: L.pmem.start, size: L.pmem.size, name: 'Persistent Memory' },
    ],
  });
  const bus = new DaxBus(k, { generation });
  const dyn = createDynamicRegion(bus, { id: 0, start: L.softReserved.start, size: L.softReserved.size, parentName: 'hmem.0' });
  const ps = k.arch.pageSize;
  for (const ns of L.namespaces) {
    const base = ns.start / ps;
    const pgmap =
      ns.map === 'dev'
        ? newDevPagemap({
            type: MEMORY_DEVICE_GENERIC,
            ranges: [{ start: ns.start, end: ns.start + ns.size - 1 }],
            altmap: { basePfn: base, endPfn: base + ns.size / ps, reserve: 2, free: ns.dataOffset / ps - 2, align: 0, alloc: 0 },
            name: `namespace${ns.region}.0`,
          })
        : undefined;
    createStaticRegion(bus, {
      id: ns.region,
      start: ns.start + ns.dataOffset,
      size: ns.size - ns.dataOffset,
      align: 2 * MiB,
      parentName: `namespace${ns.region}.0`,
      ...(pgmap ? { pgmap } : {}),
    });
  }
  return { k, bus, gup: new Gup(k), dyn, generation };
}

// ------------------------------------------------------------------ reference model

interface MDev {
  name: string;
  size: number;
  align: number;
  bound: boolean;
  isStatic: boolean;
  /** Align units faulted in since the last bind (page->mapping set: memory_failure can find them). */
  faulted: Set<number>;
  poisoned: Set<number>;
  /** Destroyed: a later device of the same name is another device. */
  gone: boolean;
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

/** The outcome of running one op against the machine and its model. */
export interface StepResult {
  readonly violations: string[];
  /** The op was skipped as meaningless in the current state (e.g. a name that does not exist). */
  readonly skipped: boolean;
}

/**
 * The reference model beside the machine: which devices exist with which
 * size, align and binding; which processes map what; which pages are held.
 * `step()` predicts each operation's result, runs it, and compares: result,
 * errno, the model against the machine, and (while a failure is armed) a
 * failed operation's full state against the state before it.
 */
export class FuzzModel {
  readonly m: FuzzMachine;
  readonly devs = new Map<string, MDev>();
  readonly procs = new Map<string, MProc>();
  private nextPid = 100;
  private steps = 0;
  armed = false;

  constructor(m: FuzzMachine) {
    this.m = m;
    for (const d of m.bus.devices)
      this.devs.set(d.name, { name: d.name, size: d.size, align: d.align, bound: d.bound, isStatic: d.region.isStatic, faulted: new Set(), poisoned: new Set(), gone: false });
  }

  get ps(): number {
    return this.m.k.arch.pageSize;
  }

  /** Live tasks (for the invariant sweep). */
  liveTasks(): Task[] {
    return [...this.procs.values()].filter((p) => !p.exited).map((p) => p.task);
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

  private lowestFreeId(): number {
    const used = new Set([...this.devs.keys()].filter((n) => n.startsWith('dax0.')).map((n) => Number(n.slice(5))));
    let id = 0;
    while (used.has(id)) id++;
    return id;
  }

  private dynAvail(): number {
    let used = 0;
    for (const d of this.devs.values()) if (!d.isStatic) used += d.size;
    return FUZZ_LAYOUT.softReserved.size - used;
  }

  /** Predicts whether a device's ranges will satisfy probe's compound alignment. */
  private probeAligned(dev: DevDax): boolean {
    const unit = Math.max(dev.align, 2 * MiB);
    return dev.ranges.every((r) => r.start % unit === 0 && (r.end - r.start + 1) % unit === 0);
  }

  /** Is file offset `fileOff` of `dev` (model) mappable now? */
  private pageValid(dev: MDev | undefined, fileOff: number): boolean {
    if (!dev || dev.gone || !dev.bound) return false;
    if (fileOff < 0 || fileOff >= dev.size) return false;
    return !dev.poisoned.has(Math.floor(fileOff / dev.align));
  }

  /** A mapping whose file offset is not align-aligned: every huge fault computes a misaligned phys and SIGBUSes. */
  private mapAligned(mp: MMap): boolean {
    return mp.offset % mp.dev.align === 0;
  }

  /** Marks the align units of a vma that the process's page tables now map as faulted. */
  private noteFaulted(proc: MProc, mp: MMap, off: number, len: number): void {
    const dev = mp.dev;
    if (dev.gone) return;
    const a = dev.align;
    for (let o = off - (off % a); o < off + len && o < mp.length; o += a) if (userMapping(proc.task, mp.start + o)) dev.faulted.add(Math.floor((mp.offset + o) / a));
  }

  private predict(o: FuzzOp): Expect | null {
    const ps = this.ps;
    switch (o.op) {
      case 'create': {
        if (this.dynAvail() === 0) return { kind: 'errno', errno: ENOSPC };
        if (o.size > this.dynAvail()) return { kind: 'errno', errno: ENOSPC };
        return { kind: 'ok' };
      }
      case 'resize': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.isStatic) return { kind: 'errno', errno: 13 /* EACCES */ };
        if (o.size % Math.max(d.align, 2 * MiB) !== 0) return { kind: 'errno', errno: EINVAL };
        if (d.bound) return { kind: 'errno', errno: EBUSY }; // size_store: dev->driver is checked before the size
        if (o.size === d.size) return { kind: 'ok' };
        if (o.size > d.size && o.size - d.size > this.dynAvail()) return { kind: 'errno', errno: ENOSPC };
        return { kind: 'ok' };
      }
      case 'enable': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.bound) return { kind: 'errno', errno: EBUSY };
        if (d.size === 0) return { kind: 'errno', errno: ENXIO };
        const real = this.m.bus.device(o.dev)!;
        if (!this.probeAligned(real)) return { kind: 'errno', errno: EINVAL };
        return { kind: 'ok' };
      }
      case 'disable': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (!d.bound) return { kind: 'errno', errno: ENXIO };
        if (this.devHeld(o.dev)) return { kind: 'errno', errno: EBUSY };
        return { kind: 'ok' };
      }
      case 'destroy': {
        const d = this.devs.get(o.dev);
        if (!d) return null;
        if (d.isStatic) return null;
        if (d.bound && this.devHeld(o.dev)) return { kind: 'errno', errno: EBUSY };
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
        if (!d.bound) return { kind: 'errno', errno: ENXIO };
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
        return { kind: 'gup', n: pfns.length, errno: pfns.length === 0 ? 14 /* EFAULT */ : 0, pfns };
      }
      case 'unpin': {
        const p = this.procs.get(o.p);
        return p ? { kind: 'ok' } : null;
      }
      case 'poison': {
        const d = this.devs.get(o.dev);
        if (!d || o.off >= d.size) return null;
        if (!d.bound) return { kind: 'errno', errno: ENXIO };
        const unit = Math.floor(o.off / d.align);
        return d.faulted.has(unit) ? { kind: 'ok' } : { kind: 'errno', errno: EBUSY };
      }
      case 'fail':
        return { kind: 'ok' };
    }
  }

  /**
   * Runs one op: predict, execute, compare. Returns the violations found (by
   * result, model or invariant sweep) and whether the op was skipped.
   */
  step(o: FuzzOp, sweep: 'full' | 'cheap' | 'none'): StepResult {
    const expect = this.predict(o);
    if (expect === null) return { violations: [], skipped: true };
    const v: string[] = [];
    const target = { k: this.m.k, gup: this.m.gup };
    const armedBefore = this.armed ? pendingFailures(target) : {};
    const before: MachineState | null = this.armed ? machineState(this.m.k, this.m.bus, this.liveTasks()) : null;
    let errno = 0;
    let rc = 0;
    let taken: Float64Array | null = null;
    try {
      rc = this.exec(o);
    } catch (e) {
      if (!(e instanceof KernelError)) {
        v.push(`crash: ${formatOp(o)}: ${(e as Error).stack ?? String(e)}`);
        return { violations: v, skipped: false };
      }
      errno = e.errno;
      if (!e.message.length) v.push(`errno-message: ${formatOp(o)}: empty message`);
    }
    if (o.op === 'pin') taken = this.lastTaken;
    const fired = this.armed ? firedPoints(armedBefore, pendingFailures(target)) : [];
    if (fired.length > 0 && Object.keys(pendingFailures(target)).length === 0) this.armed = false;
    const injected = fired.length > 0;
    const label = formatOp(o);
    // Compare the result with the prediction; an injected failure may turn any success into ENOMEM (or a partial GUP).
    let failedByInjection = false;
    switch (expect.kind) {
      case 'ok':
      case 'errno': {
        const want = expect.kind === 'ok' ? 0 : expect.errno;
        if (errno !== want) {
          if (injected && errno === ENOMEM && want === 0) failedByInjection = true;
          else v.push(`result: ${label}: ${errno ? '-' + errnoName(errno) : 'success'}, model expected ${want ? '-' + errnoName(want) : 'success'}${injected ? ` (injected ${fired.join(',')})` : ''}`);
        }
        break;
      }
      case 'any':
        if (errno !== 0 && !expect.errnos.includes(errno)) {
          if (injected && errno === ENOMEM) failedByInjection = true;
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
    // A call that failed on an injected fault leaves the machine exactly as before. (Not GUP: the
    // faults it made before the failing grab are kept, as the kernel keeps them; the refcount
    // ledger in the sweep proves it took no reference.)
    if (failedByInjection && before && o.op !== 'pin') {
      const after = machineState(this.m.k, this.m.bus, this.liveTasks());
      if (JSON.stringify(after) !== JSON.stringify(before)) v.push(`unwind: ${label} failed on injected ${fired.join(',')} but changed the machine: ${diffState(before, after)}`);
    }
    if (v.length === 0) this.apply(o, errno, rc, taken);
    if (o.op === 'pin' || o.op === 'unpin' || o.op === 'enable' || o.op === 'create') this.ledgerCache = null;
    this.steps++;
    v.push(...this.compareModel());
    if (sweep !== 'none') {
      const found: Violation[] = checkInvariants(this.m.k, this.m.bus, this.liveTasks(), { full: sweep === 'full', sampleSeed: this.steps, refs: this.ledger(), allTasks: true });
      for (const x of found) v.push(`invariant ${formatViolation(x)}`);
    }
    return { violations: v, skipped: false };
  }

  private lastTaken: Float64Array | null = null;

  /** Executes an op on the machine. Returns a fault rc / GUP rc; throws KernelError on refusals. */
  private exec(o: FuzzOp): number {
    const { k, bus, gup, dyn } = this.m;
    switch (o.op) {
      case 'create': {
        const dev = daxRegionCreate(dyn);
        try {
          devDaxSetAlign(dev, o.align);
          devDaxSetSize(dev, o.size);
        } catch (e) {
          daxRegionDelete(dyn, dev.name); // daxctl cleans up the seed it made
          throw e;
        }
        return 0;
      }
      case 'resize':
        devDaxSetSize(this.dev(o.dev), o.size);
        return 0;
      case 'enable':
        bindDevDax(this.dev(o.dev));
        return 0;
      case 'disable':
        unbindDevDax(this.dev(o.dev));
        return 0;
      case 'destroy': {
        const dev = this.dev(o.dev);
        if (dev.bound) unbindDevDax(dev);
        devDaxSetSize(dev, 0);
        if (dev.id !== 0) daxRegionDelete(dev.region, dev.name);
        return 0;
      }
      case 'spawn': {
        const t = createTask(k, this.nextPid, o.p);
        this.procs.set(o.p, { task: t, maps: new Map(), holds: [], exited: false });
        this.nextPid++;
        return 0;
      }
      case 'exit':
        exitTask(k, this.procs.get(o.p)!.task);
        return 0;
      case 'mmap': {
        const p = this.procs.get(o.p)!;
        const start = daxMmap(k, p.task, this.dev(o.dev), { length: o.length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, pgoff: o.offset / this.ps });
        p.maps.set(o.m, { dev: this.devs.get(o.dev)!, start, length: o.length, offset: o.offset });
        return 0;
      }
      case 'munmap': {
        const p = this.procs.get(o.p)!;
        const mp = p.maps.get(o.m)!;
        munmap(p.task, mp.start, mp.length);
        return 0;
      }
      case 'touch': {
        const p = this.procs.get(o.p)!;
        const mp = p.maps.get(o.m)!;
        return touch(p.task, mp.start + o.off, o.write);
      }
      case 'pin': {
        const p = this.procs.get(o.p)!;
        const mp = p.maps.get(o.m)!;
        const nr = Math.ceil(o.len / this.ps);
        const pages = new Float64Array(nr);
        gup.generation = o.gen;
        const flags = FOLL_WRITE | (o.kind === 'longterm' ? FOLL_LONGTERM : 0);
        const rc = o.kind === 'get' ? getUserPagesFast(gup, p.task.mm, mp.start + o.off, nr, flags, pages) : pinUserPagesFast(gup, p.task.mm, mp.start + o.off, nr, flags, pages);
        this.lastTaken = pages.slice(0, Math.max(0, rc));
        return rc;
      }
      case 'unpin': {
        const p = this.procs.get(o.p)!;
        for (const h of p.holds.reverse()) {
          if (h.kind === 'get') putPages(gup, h.pfns, h.pfns.length);
          else unpinUserPages(gup, h.pfns, h.pfns.length);
        }
        p.holds = [];
        return 0;
      }
      case 'poison': {
        const dev = this.dev(o.dev);
        const phys = daxPgoffToPhys(dev, Math.floor(o.off / this.ps), this.ps);
        const pfn = phys < 0 ? Math.floor((dev.region.start + o.off) / this.ps) : phys / this.ps;
        const r = memoryFailure(k, pfn);
        if (r < 0) throw new KernelError(-r, `memory_failure: pfn ${hex(pfn)} of ${dev.name}: ${errnoName(r)}`);
        return 0;
      }
      case 'fail': {
        const spec: FailSpec = { [o.point]: o.n };
        armFailures({ k, gup }, spec);
        this.armed = true;
        return 0;
      }
    }
    void bus;
  }

  private dev(name: string): DevDax {
    const d = this.m.bus.device(name);
    if (!d) throw new KernelError(ENXIO, `no device ${name}`);
    return d;
  }

  /** Updates the model after an op whose result matched the prediction (or failed on an injection). */
  private apply(o: FuzzOp, errno: number, _rc: number, taken: Float64Array | null): void {
    const failed = errno !== 0;
    switch (o.op) {
      case 'create':
        if (!failed) {
          const name = `dax0.${this.lowestFreeId()}`;
          this.devs.set(name, { name, size: o.size, align: o.align, bound: false, isStatic: false, faulted: new Set(), poisoned: new Set(), gone: false });
        }
        return;
      case 'resize':
        if (!failed) this.devs.get(o.dev)!.size = o.size;
        return;
      case 'enable':
        if (!failed) {
          const d = this.devs.get(o.dev)!;
          d.bound = true;
          d.faulted.clear();
          d.poisoned.clear();
        }
        return;
      case 'disable':
        if (!failed) this.devs.get(o.dev)!.bound = false;
        return;
      case 'destroy':
        if (!failed) {
          const d = this.devs.get(o.dev)!;
          d.bound = false;
          d.size = 0;
          if (o.dev !== 'dax0.0') {
            d.gone = true;
            this.devs.delete(o.dev);
          }
        }
        return;
      case 'exit':
        this.procs.get(o.p)!.exited = true;
        return;
      case 'munmap':
        if (!failed) this.procs.get(o.p)!.maps.delete(o.m);
        return;
      case 'touch': {
        const p = this.procs.get(o.p)!;
        this.noteFaulted(p, p.maps.get(o.m)!, o.off, 1);
        return;
      }
      case 'pin': {
        const p = this.procs.get(o.p)!;
        const mp = p.maps.get(o.m)!;
        if (taken && taken.length > 0) p.holds.push({ kind: o.kind === 'get' ? 'get' : 'pin', pfns: taken, dev: mp.dev });
        this.noteFaulted(p, mp, o.off, o.len);
        return;
      }
      case 'poison':
        if (!failed) {
          const d = this.devs.get(o.dev)!;
          d.poisoned.add(Math.floor(o.off / d.align));
        }
        return;
      default:
        return;
    }
  }

  /** The model against the machine: devices, sizes, aligns, bindings, mappings. */
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
