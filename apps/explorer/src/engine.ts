import { daxPgoffToPhys } from '@daxsim/device-dax';
import { GUP_GENERATIONS } from '@daxsim/gup';
import {
  Machine,
  type MachineConfig,
  type MemmapCost,
  ScenarioSession,
  type VmemmapLayout,
  layoutMachine,
  memmapCost,
  memmapDevices,
  ndctlCreateNamespace,
  planMemmap,
  vmemmapLayout,
} from '@daxsim/machine';
import {
  SZ_1G,
  BUS_MCEERR_AO,
  BUS_MCEERR_AR,
  EINVAL,
  ENOMEM,
  ENXIO,
  KernelError,
  ALL_VMEMMAP_GENERATIONS,
  archByName,
  entryPfn,
  entryPresent,
  gupRunsOn,
  isVmemmapGeneration,
  lastDevmapRelease,
  strerror,
} from '@daxsim/mm';
import { type StructPageView, decodeStructPage } from '@daxsim/machine';
import { type ExplorerState, sizeText } from './url-state.js';

/** What the device view builds: a label-less pmem region of `size`, reconfigured to devdax. */
export type DeviceSpec = Pick<ExplorerState, 'arch' | 'ram' | 'size' | 'align' | 'map' | 'generation'>;

/** One configuration of the plan: its cost as planMemmap() gives it, or why it cannot be planned. */
export interface PlanRow {
  readonly arch: string;
  readonly align: number;
  readonly map: 'mem' | 'dev';
  readonly generation: string;
  readonly cost: MemmapCost | null;
  readonly error: string | null;
}

/** The frames a tab may materialise for one device's memmap (typed arrays, in the worker). */
export const TAB_FRAME_BUDGET = 1.5 * 2 ** 30;


/** The machine a spec runs on, as `daxsim machine create --ram RAM --pmem SIZE --generation GEN --arch ARCH` makes it. */
export function machineConfig(s: DeviceSpec, kernel?: string): MachineConfig {
  return { arch: s.arch, ram: [s.ram], pmem: [{ size: s.size, labels: false }], softReserved: [], generation: s.generation, ...(kernel ? { kernel } : {}) };
}

/** The command lines that make the same device in the CLI, and read what the page shows. */
export function cliCommands(s: DeviceSpec): string[] {
  return [
    `daxsim machine create -f --arch ${s.arch} --ram ${sizeText(s.ram)} --pmem ${sizeText(s.size)} --generation ${s.generation}`,
    `daxsim ndctl create-namespace -f -e namespace0.0 -m devdax -a ${sizeText(s.align)} -M ${s.map}`,
    'daxsim stat --json',
    'daxsim layout dax0.0 --page N',
  ];
}

/**
 * Every align of every architecture asked for, both maps, every generation
 * (the lists come from @daxsim/mm, so a new generation shows up here), for a
 * namespace of `size`: planMemmap(), as `daxsim plan --size SIZE --json` runs it.
 */
export function planRows(size: number, arches: readonly string[]): PlanRow[] {
  const rows: PlanRow[] = [];
  for (const name of arches) {
    const arch = archByName(name);
    if (!arch) throw new KernelError(EINVAL, `plan: arch '${name}' is not an architecture`);
    for (const align of arch.devdaxAligns)
      for (const map of ['mem', 'dev'] as const)
        for (const generation of ALL_VMEMMAP_GENERATIONS) {
          const base = { arch: arch.name, align, map, generation };
          if (size % Math.max(align, 16 * 2 ** 20)) {
            rows.push({ ...base, cost: null, error: `size ${sizeText(size)} is not a multiple of max(align ${sizeText(align)}, 16M)` });
            continue;
          }
          try {
            rows.push({ ...base, cost: planMemmap({ arch, size, align, map, generation }), error: null });
          } catch (e) {
            if (!(e instanceof KernelError)) throw e;
            rows.push({ ...base, cost: null, error: `${strerror(e.errno)}: ${e.message}` });
          }
        }
  }
  return rows;
}

/**
 * What building the device will take from the tab, planned for this very
 * machine (its RAM and where its region sits): frames of struct pages and
 * page tables in RAM, and struct pages on the device for --map=dev. Refused
 * (ENOMEM, naming the size) when that is more than the tab's budget.
 */
export function plannedFootprint(s: DeviceSpec): MemmapCost {
  const arch = archByName(s.arch);
  if (!arch) throw new KernelError(EINVAL, `device: arch '${s.arch}' is not an architecture`);
  if (!isVmemmapGeneration(s.generation)) throw new KernelError(EINVAL, `device: generation '${s.generation}' is not a vmemmap generation`);
  const layout = layoutMachine(machineConfig(s));
  const plan = planMemmap({ arch, size: s.size, align: s.align, map: s.map, generation: s.generation, start: layout.pmem[0]!.start, ram: layout.ram });
  const bytes = plan.vmemmap_data_bytes + plan.vmemmap_pagetable_bytes + plan.device_reserved_bytes;
  if (bytes > TAB_FRAME_BUDGET)
    throw new KernelError(
      ENOMEM,
      `device: size ${sizeText(s.size)} at ${sizeText(s.align)}/${s.map}/${s.generation} needs ${(bytes / SZ_1G).toFixed(2)} GiB of memmap frames, more than this tab's ${TAB_FRAME_BUDGET / SZ_1G} GiB`,
    );
  return plan;
}

export interface BuildPhase {
  readonly phase: 'plan' | 'boot' | 'memremap' | 'read';
  readonly step: number;
  readonly steps: number;
  readonly text: string;
}

export interface DeviceReport {
  readonly spec: DeviceSpec;
  /** memmapCost() of dax0.0, with the device name, as `daxsim stat --json` lists it. */
  readonly cost: MemmapCost & { device: string };
  readonly planned: MemmapCost;
  readonly devSize: number;
  /** The device's first pfn (dax_pgoff_to_phys(dev, 0)): page 0 of the drawings. */
  readonly firstPfn: number;
  readonly compoundPages: number;
  readonly order: number;
  /** What a drawing shows (vmemmapLayout().unit): a compound page, or a 2 MiB extent where the generation shares no vmemmap. */
  readonly unit: VmemmapLayout['unit'];
  /** Pfns per drawing, and how many drawings the device has. */
  readonly unitPfns: number;
  readonly units: number;
  readonly materialisedFrames: number;
  readonly buildMs: number;
  readonly cli: string[];
}

export interface StepAnnotation {
  readonly kind: 'fault' | 'pin' | 'poison';
  /** The compound page drawn for the step. */
  readonly page: number;
  /** The pfns the step wrote or read, by role. */
  readonly pfns: readonly { readonly pfn: number; readonly role: string }[];
}

export interface FaultStep {
  readonly offset: number;
  readonly vmFault: number;
  readonly level: string;
  /** The user virtual address and the pfn of the leaf entry installed. */
  readonly addr: number;
  readonly entryPfn: number;
  readonly entryBytes: number;
  readonly counters: Record<string, number>;
  /** The struct page that got the mapping and index (the head of the unit), read back. */
  readonly headPfn: number;
  readonly mapping: string;
  readonly index: number;
  readonly annotation: StepAnnotation;
}

export interface PinStep {
  readonly offset: number;
  readonly pages: number;
  /**
   * Per GUP generation, on the kernel that runs it: this machine's, or (for
   * the devmap generations on a kernel without the devmap bit) a twin
   * machine of the same device on the last release with it.
   */
  readonly perGeneration: readonly { readonly gen: string; readonly kernel: string; readonly taken: number; readonly atomics: number; readonly headRefcount: number; readonly pincount: number; readonly unpinAtomics: number }[];
  readonly headPfn: number;
  readonly annotation: StepAnnotation;
}

export interface PoisonStep {
  readonly offset: number;
  readonly pfn: number;
  readonly headPfn: number;
  readonly unitBytes: number;
  readonly signals: readonly { readonly proc: string; readonly signo: number; readonly code: string; readonly addr: number; readonly addrLsb: number }[];
  /** PG_hwpoison read back on the pfn and on its head. */
  readonly hwpoison: { readonly pfn: boolean; readonly head: boolean };
  readonly annotation: StepAnnotation;
}

/** p1 and p2 each map the whole of dax0.0, shared and writable. */
function stepSession(m: Machine): ScenarioSession {
  const s = new ScenarioSession(m);
  for (const p of ['p1', 'p2']) {
    s.spawn(p);
    s.mmap(p, 'm1', 'dax0.0', { offset: 0, write: true, shared: true });
  }
  return s;
}

const hex = (n: number) => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);

/**
 * The model behind the page: one machine with one device at a time, and
 * the processes of the step view. Every number it returns was read from
 * the model (memmapCost, the page tables, the struct pages, the counters).
 */
export class Engine {
  m: Machine | null = null;
  spec: DeviceSpec | null = null;
  private session: ScenarioSession | null = null;
  /** The same device on the last devmap release, for the GUP generations this machine's kernel cannot run. */
  private twin: ScenarioSession | null = null;
  private report_: DeviceReport | null = null;

  /** Builds the device; `progress` hears each phase before it runs. */
  build(spec: DeviceSpec, progress: (p: BuildPhase) => void = () => {}): DeviceReport {
    const t0 = performance.now();
    progress({ phase: 'plan', step: 1, steps: 4, text: 'planning the memmap (planMemmap) to check it fits in this tab' });
    const planned = plannedFootprint(spec);
    progress({ phase: 'boot', step: 2, steps: 4, text: `booting ${spec.arch} with ${sizeText(spec.ram)} RAM and a ${sizeText(spec.size)} label-less NVDIMM` });
    const m = Machine.create(machineConfig(spec));
    progress({
      phase: 'memremap',
      step: 3,
      steps: 4,
      text: `ndctl create-namespace -m devdax -a ${sizeText(spec.align)} -M ${spec.map}: memremap_pages() writes ${planned.struct_pages_initialised.toLocaleString('en')} struct pages`,
    });
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: spec.align, map: spec.map, force: true });
    progress({ phase: 'read', step: 4, steps: 4, text: 'reading the vmemmap back from the page tables' });
    const dev = memmapDevices(m).find((d) => d.name === 'dax0.0');
    if (!dev) throw new KernelError(EINVAL, 'device: dax0.0 has no memmap');
    const layout = vmemmapLayout(m, 'dax0.0', 0);
    this.m = m;
    this.spec = spec;
    this.session = null;
    this.twin = null;
    this.report_ = {
      spec,
      cost: { device: dev.name, ...memmapCost(m, dev) },
      planned,
      devSize: dev.size,
      firstPfn: layout.headPfn,
      compoundPages: layout.compoundPages,
      order: layout.order,
      unit: layout.unit,
      unitPfns: layout.unitPfns,
      units: layout.units,
      materialisedFrames: m.k.mem.materialisedFrames,
      buildMs: Math.round(performance.now() - t0),
      cli: cliCommands(spec),
    };
    return this.report_;
  }

  private machine(): Machine {
    if (!this.m) throw new KernelError(ENXIO, 'no device built yet');
    return this.m;
  }

  layout(page: number): VmemmapLayout {
    return vmemmapLayout(this.machine(), 'dax0.0', page);
  }

  /** The struct page of `pfn` and of its compound head (and the head's first two tails), read through the vmemmap. */
  inspect(pfn: number): { page: StructPageView; head: StructPageView | null; tail1: StructPageView | null; tail2: StructPageView | null } {
    const m = this.machine();
    const dev = memmapDevices(m).find((d) => d.name === 'dax0.0')!;
    const first = this.report_!.firstPfn;
    const end = Math.floor((dev.pgmap.ranges[0]!.end + 1) / m.arch.pageSize);
    if (!Number.isSafeInteger(pfn) || pfn < first || pfn >= end)
      throw new KernelError(EINVAL, `inspect: pfn ${hex(pfn)} is not a pfn of dax0.0 with a struct page (${hex(first)}..${hex(end - 1)})`);
    const read = (p: number) => decodeStructPage(m.arch, m.k.memmap.layout, p, m.k.memmap.rawBytes(p), (lo, hi) => this.objectName(lo, hi));
    const page = read(pfn);
    const headPfn = page.compoundHead ?? (page.flagNames.includes('head') ? pfn : null);
    if (headPfn === null) return { page, head: null, tail1: null, tail2: null };
    return { page, head: read(headPfn), tail1: read(headPfn + 1), tail2: read(headPfn + 2) };
  }

  // What a kernel pointer in a struct page points at (a dev_pagemap, a file's address_space): its name in the model.
  private objectName(lo: number, hi: number): string | null {
    const o = this.machine().k.objects.deref<{ name?: unknown }>(lo, hi);
    if (!o) return null;
    return typeof o.name === 'string' ? o.name : 'a kernel object';
  }

  private steps(): ScenarioSession {
    if (!this.session) this.session = stepSession(this.machine());
    return this.session;
  }

  /** The twin: this device built on the last release whose device-dax leaves carry the devmap bit. */
  private devmapTwin(): ScenarioSession {
    if (!this.twin) {
      const m = Machine.create(machineConfig(this.spec!, lastDevmapRelease().version));
      ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: this.spec!.align, map: this.spec!.map, force: true });
      this.twin = stepSession(m);
    }
    return this.twin;
  }

  private checkOffset(offset: number, what: string): void {
    const size = this.report_!.devSize;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= size)
      throw new KernelError(EINVAL, `${what}: offset ${hex(offset)} is outside dax0.0 (size ${hex(size)})`);
  }

  /** p1 faults on `offset` of its mapping of the whole device (handle_mm_fault → dev_dax_huge_fault). */
  fault(offset: number): FaultStep {
    this.checkOffset(offset, 'fault');
    const m = this.machine();
    const s = this.steps();
    const before = m.k.counters.snapshot();
    const vmFault = s.touch('p1', 'm1', offset, true);
    const counters = m.k.counters.since(before) as Record<string, number>;
    const mp = s.mapping('p1', 'm1');
    const pt = s.proc('p1').task.mm.pgd;
    const addr = mp.addr + offset;
    const level = pt.walk(addr);
    const leafPfn = entryPresent(pt.wLo) ? entryPfn(pt.wLo, pt.wHi, m.arch.pageShift) : -1;
    const headPfn = m.k.memmap.compoundHead(this.pfnAt(offset));
    const [mlo, mhi] = m.k.memmap.pageMappingRaw(headPfn);
    return {
      offset,
      vmFault,
      level: m.arch.levels[level]!.name,
      addr,
      entryPfn: leafPfn,
      entryBytes: pt.levelSize(level),
      counters,
      headPfn,
      mapping: `0x${mhi.toString(16).padStart(8, '0')}${mlo.toString(16).padStart(8, '0')}${this.objectName(mlo, mhi) ? ` (${this.objectName(mlo, mhi)})` : ''}`,
      index: m.k.memmap.pageIndex(headPfn),
      annotation: { kind: 'fault', page: this.pageOf(headPfn), pfns: [{ pfn: headPfn, role: 'mapping, index set' }] },
    };
  }

  // dax_pgoff_to_phys(): the pfn at an offset of the device (its data starts after the namespace's info block and memmap reserve)
  private pfnAt(offset: number): number {
    const m = this.machine();
    const ps = m.arch.pageSize;
    return Math.floor(daxPgoffToPhys(m.daxDevice('dax0.0'), Math.floor(offset / ps), ps) / ps);
  }

  /** The drawing (as vmemmapLayout() counts them, from the device's first pfn) that holds `pfn`. */
  private pageOf(pfn: number): number {
    return Math.floor((pfn - this.report_!.firstPfn) / this.report_!.unitPfns);
  }

  /**
   * p1 pins `pages` pages from `offset` under each GUP generation in turn
   * (pin_user_pages_fast, then unpin_user_pages), counting the atomics each
   * takes on the struct pages.
   */
  pin(offset: number, pages: number): PinStep {
    this.checkOffset(offset, 'pin');
    const m = this.machine();
    const ps = m.arch.pageSize;
    if (!Number.isSafeInteger(pages) || pages <= 0 || offset + pages * ps > this.report_!.devSize)
      throw new KernelError(EINVAL, `pin: ${pages} pages from offset ${hex(offset)} do not fit in dax0.0`);
    const s = this.steps();
    const headPfn = m.k.memmap.compoundHead(this.pfnAt(offset));
    const perGeneration = GUP_GENERATIONS.map((gen) => {
      // a devmap generation on a kernel without the devmap bit runs on the twin, faulted as p1 faulted here
      const onTwin = !gupRunsOn(m.kernel.release, gen);
      const t = onTwin ? this.devmapTwin() : s;
      const tm = t.m;
      if (onTwin) t.touch('p1', 'm1', offset, true);
      const head = tm.k.memmap.compoundHead(Math.floor(daxPgoffToPhys(tm.daxDevice('dax0.0'), Math.floor(offset / ps), ps) / ps));
      const before = tm.k.counters.get('atomic_refcount_ops');
      const taken = t.pin('p1', 'm1', offset, pages * ps, { kind: 'pin', gen });
      const atomics = tm.k.counters.get('atomic_refcount_ops') - before;
      const headRefcount = tm.k.memmap.pageRefCount(head);
      const pincount = tm.k.memmap.compoundOrder(head) > 1 ? tm.k.memmap.compoundPincount(head) : 0;
      const beforeUnpin = tm.k.counters.get('atomic_refcount_ops');
      t.unpin('p1');
      return { gen, kernel: tm.kernel.release.version, taken, atomics, headRefcount, pincount, unpinAtomics: tm.k.counters.get('atomic_refcount_ops') - beforeUnpin };
    });
    return {
      offset,
      pages,
      perGeneration,
      headPfn,
      annotation: { kind: 'pin', page: this.pageOf(headPfn), pfns: [{ pfn: headPfn, role: '_refcount' }, { pfn: headPfn + 2, role: 'pincount' }] },
    };
  }

  /** p1 reads poisoned memory at `offset`: memory_failure(MF_ACTION_REQUIRED); p2, which maps the same unit, is told too. */
  poison(offset: number): PoisonStep {
    this.checkOffset(offset, 'poison');
    const m = this.machine();
    const s = this.steps();
    // p2 has the unit mapped (a second user of the same memory)
    s.touch('p2', 'm1', offset, false);
    const from = new Map([...s.procs].map(([n, p]) => [n, p.task.signals.length]));
    s.poisonAt('p1', 'm1', offset);
    const signals = [...s.procs].flatMap(([proc, p]) =>
      p.task.signals.slice(from.get(proc)).map((i) => ({ proc, signo: i.signo, code: i.code === BUS_MCEERR_AR ? 'BUS_MCEERR_AR' : i.code === BUS_MCEERR_AO ? 'BUS_MCEERR_AO' : String(i.code), addr: i.addr, addrLsb: i.addrLsb })),
    );
    const pfn = this.pfnAt(offset);
    const headPfn = m.k.memmap.compoundHead(pfn);
    return {
      offset,
      pfn,
      headPfn,
      unitBytes: 2 ** this.report_!.order * m.arch.pageSize,
      signals,
      hwpoison: { pfn: m.k.memmap.PageHWPoison(pfn), head: m.k.memmap.PageHWPoison(headPfn) },
      annotation: { kind: 'poison', page: this.pageOf(headPfn), pfns: [{ pfn, role: 'poisoned' }, ...(pfn !== headPfn ? [{ pfn: headPfn, role: 'head of the unit' }] : [])] },
    };
  }
}
