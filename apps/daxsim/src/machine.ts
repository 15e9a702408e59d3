import {
  DaxBus,
  type DaxRegion,
  type DevDax,
  bindDevDax,
  createDynamicRegion,
  createTask,
  daxMmap,
  daxPgoffToPhys,
  exitTask,
  touch,
  createStaticRegion,
  daxRegionCreate,
  daxRegionDelete,
  devDaxAddMapping,
  devDaxSetAlign,
  devDaxSetSize,
  unbindDevDax,
  unregisterDaxRegion,
} from '@daxsim/device-dax';
import { type Kernel, createKernel, memremapPages, memunmapPages, newDevPagemap } from '@daxsim/memremap';
import { armFailures, parseFailSpec } from '@daxsim/debug-vm';
import { Gup, type GupGeneration } from '@daxsim/gup';
import { MF_ACTION_REQUIRED, memoryFailure } from '@daxsim/memory-failure';
import {
  type ArchProfile,
  DEFAULT_VMEMMAP_GENERATION,
  type DevPagemap,
  EBUSY,
  EFAULT,
  EINVAL,
  ENODEV,
  ENXIO,
  KernelError,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_GENERIC,
  MAP_SHARED,
  PGMAP_ALTMAP_VALID,
  PROT_READ,
  type SigInfo,
  VM_FAULT_ERROR,
  type VmemmapGeneration,
  archByName,
  isVmemmapGeneration,
} from '@daxsim/mm';
import {
  type MapLocation,
  type Namespace,
  type NamespaceMode,
  type PmemRegion,
  REGION_ALIGN,
  namespaceUuid,
  ndPfnInit,
  pfnAltmap,
} from './nvdimm.js';
import type { MachineConfig, MachineState, Op } from './state.js';

const GiB = 2 ** 30;
const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** The default machine: x86-64, 64 GiB of RAM on node 0, one 128 GiB pmem region. */
export const DEFAULT_CONFIG: MachineConfig = Object.freeze({
  arch: 'x86_64',
  ram: [64 * GiB],
  pmem: [128 * GiB],
  softReserved: [],
});

/** What a namespace or dax device keeps in the kernel. */
interface NamespaceKernelState {
  pgmap: DevPagemap | null;
  daxRegion: DaxRegion | null;
}

/**
 * A simulated machine: the kernel with its page allocator, sections and
 * pgmaps; the pmem regions and namespaces libnvdimm would hold; the dax bus.
 *
 * Every change goes through `apply(op)`, which either succeeds and is logged
 * (so the state file can replay it) or throws and leaves the machine as it
 * was. The ops are the kernel-level steps a command makes (a sysfs write, a
 * namespace created), not the command lines, so a half-successful command
 * (daxctl's seed device left behind after a failed resize) replays exactly.
 */
export class Machine {
  readonly config: MachineConfig;
  readonly arch: ArchProfile;
  readonly k: Kernel;
  readonly bus: DaxBus;
  readonly generation: VmemmapGeneration;
  readonly pmem: PmemRegion[] = [];
  /** Dynamic dax regions from soft-reserved ranges. */
  readonly softReserved: DaxRegion[] = [];
  private readonly ops_: Op[] = [];
  private readonly nsState = new Map<Namespace, NamespaceKernelState>();
  private serial = 0;
  /** The signals the consumer of the last `poison` op received. */
  lastSignals: SigInfo[] = [];
  /** A `grab` failure armed for the next GUP instance this machine makes (fail_page_alloc-style, DAXSIM_FAIL). */
  private grabFailAt = 0;

  private constructor(config: MachineConfig) {
    const arch = archByName(config.arch);
    if (!arch) throw new KernelError(EINVAL, `machine: --arch ${config.arch} is not one of x86_64, x86_64-la57, arm64-4k, arm64-16k, arm64-64k, ppc64-64k`);
    const gen = config.generation ?? DEFAULT_VMEMMAP_GENERATION;
    if (!isVmemmapGeneration(gen)) throw new KernelError(EINVAL, `machine: --generation ${gen} is not a vmemmap generation`);
    this.config = config;
    this.arch = arch;
    this.generation = gen;
    const subsection = 2 ** arch.subsectionShift;
    for (const [what, sizes, unit] of [
      ['--ram', config.ram, subsection],
      ['--pmem', config.pmem, REGION_ALIGN],
      ['--soft-reserved', config.softReserved, subsection],
    ] as const)
      for (const s of sizes)
        if (!Number.isSafeInteger(s) || s <= 0 || s % unit)
          throw new KernelError(EINVAL, `machine: ${what} ${s} must be a positive multiple of ${unit / 2 ** 20}M`);
    if (!config.ram.length) throw new KernelError(EINVAL, 'machine: --ram: at least one node needs memory');
    // Physical layout: RAM nodes from 0, then each device range on the next 1 GiB boundary
    // (so that 1 GiB compound pages can start at the beginning of a region).
    const ram: { nid: number; start: number; size: number }[] = [];
    let at = 0;
    config.ram.forEach((size, nid) => {
      ram.push({ nid, start: at, size });
      at += size;
    });
    const devices: { start: number; size: number; name: string; nid: number }[] = [];
    config.pmem.forEach((size, i) => {
      at = alignUp(at, GiB);
      devices.push({ start: at, size, name: `region${i}`, nid: 0 });
      at += size;
    });
    config.softReserved.forEach((size, i) => {
      at = alignUp(at, GiB);
      devices.push({ start: at, size, name: `hmem.${i}`, nid: 0 });
      at += size;
    });
    if (at / arch.pageSize >= 2 ** 32)
      throw new KernelError(EINVAL, `machine: ${at} bytes of physical address space is more than the model's 2^32 pfns`);
    const smi = config.setMappingIndex ?? 'align-down';
    if (smi !== 'align-down' && smi !== 'align-up')
      throw new KernelError(EINVAL, `machine: --set-mapping-index ${smi} is not align-down or align-up`);
    this.k = createKernel({ arch, ram, devices });
    this.bus = new DaxBus(this.k, { generation: gen, setMappingIndex: smi });
    devices.forEach((d, i) => {
      if (i < config.pmem.length) this.pmem.push({ id: i, start: d.start, size: d.size, nid: 0, namespaces: [] });
    });
    config.softReserved.forEach((_, i) => {
      const d = devices[config.pmem.length + i]!;
      const id = config.pmem.length + i;
      const region = createDynamicRegion(this.bus, { id, start: d.start, size: d.size, targetNode: 0, parentName: `hmem.${i}` });
      this.softReserved.push(region);
      // dax_hmem binds dax<id>.0 to device_dax at boot
      bindDevDax(region.devices.get(`dax${id}.0`)!);
    });
  }

  /** A new machine (no operations yet). */
  static create(config: MachineConfig): Machine {
    return new Machine(config);
  }

  /** Boots the machine a state describes and replays its operations. */
  static fromState(state: MachineState): Machine {
    const m = new Machine(state.config);
    for (const op of state.ops) m.apply(op);
    return m;
  }

  get ops(): readonly Op[] {
    return this.ops_;
  }

  state(): MachineState {
    return { config: this.config, ops: [...this.ops_] };
  }

  /** Runs one operation; logs it on success, throws (changing nothing) on failure. */
  apply(op: Op): void {
    switch (op.op) {
      case 'ns.create':
        this.nsCreate(op);
        break;
      case 'ns.destroy':
        this.nsDestroy(this.namespace(String(op['dev'])));
        break;
      case 'ns.disable':
        this.nsDisable(this.namespace(String(op['dev'])));
        break;
      case 'ns.enable':
        this.nsEnable(this.namespace(String(op['dev'])));
        break;
      case 'dax.create':
        daxRegionCreate(this.daxRegion(Number(op['region'])));
        break;
      case 'dax.delete':
        daxRegionDelete(this.daxRegion(Number(op['region'])), String(op['dev']));
        break;
      case 'dax.size':
        devDaxSetSize(this.daxDevice(String(op['dev'])), Number(op['size']));
        break;
      case 'dax.align':
        devDaxSetAlign(this.daxDevice(String(op['dev'])), Number(op['align']));
        break;
      case 'dax.mapping':
        devDaxAddMapping(this.daxDevice(String(op['dev'])), Number(op['start']), Number(op['end']));
        break;
      case 'dax.bind':
        bindDevDax(this.daxDevice(String(op['dev'])));
        break;
      case 'dax.unbind':
        unbindDevDax(this.daxDevice(String(op['dev'])));
        break;
      case 'poison':
        this.lastSignals = this.poison(String(op['dev']), Number(op['offset']));
        break;
      default:
        throw new KernelError(EINVAL, `machine state: unknown operation "${op.op}"`);
    }
    this.ops_.push(op);
  }

  /**
   * A machine check on a device byte: a process maps the device and reads
   * the unit (so its head page carries the mapping and index, as a real
   * consumer's access would leave it), the read consumes the poison, and
   * memory_failure() runs with MF_ACTION_REQUIRED for that process.
   * Returns the signals the process got.
   */
  private poison(devName: string, offset: number): SigInfo[] {
    const dev = this.daxDevice(devName);
    const ps = this.arch.pageSize;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= dev.size)
      throw new KernelError(EINVAL, `poison: --offset ${offset} is outside ${devName} (size ${dev.size})`);
    if (!dev.bound) throw new KernelError(ENXIO, `poison: ${devName} is not enabled`);
    const unitOff = offset - (offset % dev.align);
    const task = createTask(this.k, 1000 + this.ops_.length, 'mce-consumer');
    try {
      const addr = daxMmap(this.k, task, dev, { length: dev.align, prot: PROT_READ, flags: MAP_SHARED, pgoff: unitOff / ps });
      if (touch(task, addr + (offset - unitOff)) & VM_FAULT_ERROR)
        throw new KernelError(EFAULT, `poison: ${devName} offset ${offset} could not be mapped`);
      const pfn = Math.floor(daxPgoffToPhys(dev, Math.floor(offset / ps), ps) / ps);
      const rc = memoryFailure(this.k, pfn, MF_ACTION_REQUIRED, task);
      if (rc < 0) throw new KernelError(-rc, `memory_failure: pfn 0x${pfn.toString(16)} (${devName} offset ${offset}) was not recovered`);
      return [...task.signals];
    } finally {
      exitTask(this.k, task);
    }
  }

  /**
   * Arms fault injection (DAXSIM_FAIL syntax: `page_alloc:5,altmap:2,pgtable:3,grab:7`):
   * the n-th such allocation or grab from now fails once. Grabs fail in the
   * next GUP instance made with newGup().
   */
  armFailures(text: string): void {
    const spec = parseFailSpec(text);
    const { grab, ...kernel } = spec;
    armFailures({ k: this.k }, kernel);
    if (grab !== undefined) this.grabFailAt = grab;
  }

  /** A GUP instance of the given generation (armed with a pending grab failure, if any). */
  newGup(generation?: GupGeneration): Gup {
    const g = new Gup(this.k, generation === undefined ? {} : { generation });
    if (this.grabFailAt) {
      g.armGrabFailure(this.grabFailAt);
      this.grabFailAt = 0;
    }
    return g;
  }

  // ------------------------------------------------------------ lookups

  /** A namespace by name ("namespace0.0"); -ENODEV when there is none. */
  namespace(name: string): Namespace {
    const m = /^namespace(\d+)\.(\d+)$/.exec(name);
    const ns = m ? this.pmem[Number(m[1])]?.namespaces.find((n) => n.id === Number(m[2])) : undefined;
    if (!ns) throw new KernelError(ENODEV, `namespace: "${name}" does not exist`);
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

  /** The dax region a devdax namespace created, if any. */
  namespaceDaxRegion(ns: Namespace): DaxRegion | null {
    return this.nsState.get(ns)?.daxRegion ?? null;
  }
  /** The dev_pagemap behind a namespace (fsdax/devdax), if enabled. */
  namespacePgmap(ns: Namespace): DevPagemap | null {
    return this.nsState.get(ns)?.pgmap ?? null;
  }

  // ------------------------------------------------------------ namespaces

  private nsCreate(op: Op): void {
    const region = this.pmem[Number(op['region'])];
    if (!region) throw new KernelError(ENXIO, `create namespace: region${op['region']} does not exist`);
    const id = Number(op['id']);
    const start = Number(op['start']);
    const size = Number(op['size']);
    const mode = String(op['mode']) as NamespaceMode;
    const map = String(op['map']) as MapLocation;
    const align = Number(op['align']);
    if (region.namespaces.some((n) => n.id === id))
      throw new KernelError(EBUSY, `create namespace: namespace${region.id}.${id} exists`);
    if (start < region.start || start + size > region.start + region.size)
      throw new KernelError(ENXIO, `create namespace: ${size} bytes at ${start.toString(16)} are outside region${region.id}`);
    for (const n of region.namespaces)
      if (start < n.start + n.size && n.start < start + size)
        throw new KernelError(EBUSY, `create namespace: the range overlaps namespace${region.id}.${n.id}`);
    const pfn = mode === 'raw' ? null : ndPfnInit(this.arch, start, size, align, map);
    const ns: Namespace = {
      region: region.id,
      id,
      start,
      size,
      mode,
      align: mode === 'raw' ? this.arch.pageSize : align,
      map,
      uuid: namespaceUuid(region.id, id, this.serial),
      pfn,
      enabled: false,
    };
    this.nsAttach(ns);
    region.namespaces.push(ns);
    region.namespaces.sort((a, b) => a.id - b.id);
    this.serial++;
  }

  /** nvdimm_setup_pfn() + the pmem/dax_pmem probe: builds the pgmap and, for devdax, the static dax region. */
  private nsAttach(ns: Namespace): void {
    if (ns.mode === 'raw' || !ns.pfn) {
      this.nsState.set(ns, { pgmap: null, daxRegion: null });
      ns.enabled = true;
      return;
    }
    const pgmap = this.pfnPagemap(ns);
    if (ns.mode === 'fsdax') {
      memremapPages(this.k, pgmap, 0, { generation: this.generation });
      this.nsState.set(ns, { pgmap, daxRegion: null });
      ns.enabled = true;
      return;
    }
    const dataStart = ns.start + ns.pfn.dataoff;
    const dataSize = ns.size - ns.pfn.dataoff - ns.pfn.endTrunc;
    const daxRegion = createStaticRegion(this.bus, {
      id: ns.region,
      start: dataStart,
      size: dataSize,
      align: ns.align,
      targetNode: 0,
      parentName: `namespace${ns.region}.${ns.id}`,
      pgmap,
      devId: ns.id,
    });
    try {
      bindDevDax(daxRegion.devices.get(`dax${ns.region}.${ns.id}`)!);
    } catch (e) {
      unregisterDaxRegion(daxRegion);
      throw e;
    }
    this.nsState.set(ns, { pgmap, daxRegion });
    ns.enabled = true;
  }

  /** __nvdimm_setup_pfn(): the pgmap of a pfn/dax namespace, with an altmap for --map=dev. */
  private pfnPagemap(ns: Namespace): DevPagemap {
    const info = ns.pfn!;
    const ps = this.arch.pageSize;
    const base = ns.start;
    const end = ns.start + ns.size - info.endTrunc - 1;
    const pgmap = newDevPagemap({
      type: ns.mode === 'fsdax' ? MEMORY_DEVICE_FS_DAX : MEMORY_DEVICE_GENERIC,
      ranges: [{ start: base, end }],
      name: `namespace${ns.region}.${ns.id}`,
    });
    if (info.map === 'dev') {
      pgmap.altmap = { ...pfnAltmap(this.arch, base, info), endPfn: Math.floor(end / ps), align: 0, alloc: 0 };
      pgmap.flags |= PGMAP_ALTMAP_VALID;
    }
    return pgmap;
  }

  private nsDetach(ns: Namespace): void {
    const st = this.nsState.get(ns);
    if (!st) return;
    if (st.daxRegion) {
      // refuses (EBUSY) while pages are pinned, before anything is torn down
      const dev = st.daxRegion.devices.get(`dax${ns.region}.${ns.id}`);
      if (dev?.bound) unbindDevDax(dev);
      unregisterDaxRegion(st.daxRegion);
    } else if (st.pgmap) {
      memunmapPages(this.k, st.pgmap);
    }
    this.nsState.delete(ns);
    ns.enabled = false;
  }

  private nsDestroy(ns: Namespace): void {
    if (ns.enabled) this.nsDetach(ns);
    const region = this.pmem[ns.region]!;
    region.namespaces.splice(region.namespaces.indexOf(ns), 1);
  }

  private nsDisable(ns: Namespace): void {
    if (ns.enabled) this.nsDetach(ns);
  }

  private nsEnable(ns: Namespace): void {
    if (!ns.enabled) this.nsAttach(ns);
  }
}
