import {
  type DaxBus,
  type DaxRegion,
  bindDevDax,
  createStaticRegion,
  unbindDevDax,
  unregisterDaxRegion,
} from '@daxsim/device-dax';
import { type Kernel, memremapPages, memunmapPages, newDevPagemap } from '@daxsim/memremap';
import {
  type ArchProfile,
  type DevPagemap,
  EBUSY,
  EINVAL,
  ENXIO,
  EOPNOTSUPP,
  KernelError,
  MEMORY_DEVICE_FS_DAX,
  MEMORY_DEVICE_GENERIC,
  PGMAP_ALTMAP_VALID,
} from '@daxsim/mm';
import { type MapLocation, ndPfnInit, pfnAltmap } from './pfn-devs.js';
import {
  type Namespace,
  type NamespaceMode,
  type NamespaceType,
  NULL_UUID,
  type PmemRegion,
  isConfigured,
  lowestFreeNamespaceId,
  namespaceName,
  namespaceResizeError,
  namespaceUuid,
} from './region.js';

/** A pmem region as firmware describes it (an NFIT SPA range, or an e820 type-12 range). */
export interface NdRegionDesc {
  readonly id: number;
  readonly start: number;
  readonly size: number;
  readonly nid: number;
  /** true: the DIMMs have a label area (nd_namespace_pmem); false: label-less (nd_namespace_io). */
  readonly labels: boolean;
}

/** What a namespace's mode is set to: the claim ndctl's setup_namespace() makes. */
export interface NamespaceConfig {
  readonly mode: NamespaceMode;
  /** The pfn/dax `align` attribute (ignored for raw). */
  readonly align: number;
  /** The pfn/dax `mode` attribute: struct pages in RAM or on the device (ignored for raw). */
  readonly map: MapLocation;
  /** alt_name written before the size (labelled namespaces only; default none). */
  readonly name?: string;
}

/** The longest alt_name a namespace label holds (NSLABEL_NAME_LEN 64, NUL included). */
export const NSLABEL_NAME_LEN = 64;

/** What a namespace holds in the kernel while enabled. */
interface Attached {
  readonly pgmap: DevPagemap | null;
  readonly daxRegion: DaxRegion | null;
}

/**
 * The nvdimm bus: pmem regions, their namespaces, and what an enabled
 * namespace builds — nothing for raw (the pmem block device), a pgmap for
 * fsdax (nd_pfn + pmem's devm_memremap_pages()), a static dax region and
 * its device for devdax (nd_dax + dax_pmem_probe()).
 *
 * Every method either succeeds or throws a KernelError and leaves the bus
 * (and the kernel below it) exactly as it was.
 */
export class NvdimmBus {
  readonly k: Kernel;
  readonly dax: DaxBus;
  readonly arch: ArchProfile;
  readonly regions: PmemRegion[] = [];
  private readonly attached = new Map<Namespace, Attached>();
  /** Counts claims made, so that each gets its own uuid on replay as on the first run (a compacted log restores it). */
  serial = 0;

  constructor(k: Kernel, dax: DaxBus, regions: readonly NdRegionDesc[]) {
    this.k = k;
    this.dax = dax;
    this.arch = k.arch;
    for (const d of regions) {
      const nstype: NamespaceType = d.labels ? 'pmem' : 'io';
      const region: PmemRegion = { id: d.id, start: d.start, size: d.size, nid: d.nid, nstype, namespaces: [], seed: null };
      this.regions.push(region);
      if (nstype === 'io') {
        // create_namespace_io(): one namespace over the whole region, probed by nd_pmem at boot
        const ns = this.newNamespace(region, 0, 'io');
        ns.start = d.start;
        ns.size = d.size;
        this.attach(ns);
      } else {
        // nd_region_create_ns_seed(): an idle namespace waits for a size
        this.createSeed(region);
      }
    }
  }

  // ------------------------------------------------------------ lookups

  region(id: number): PmemRegion | undefined {
    return this.regions[id];
  }

  /** A namespace by name ("namespace0.0"). */
  namespace(name: string): Namespace | undefined {
    const m = /^namespace(\d+)\.(\d+)$/.exec(name);
    return m ? this.regions[Number(m[1])]?.namespaces.find((n) => n.id === Number(m[2])) : undefined;
  }

  /** The static dax region a devdax namespace made, while enabled. */
  daxRegionOf(ns: Namespace): DaxRegion | null {
    return this.attached.get(ns)?.daxRegion ?? null;
  }

  /** The dev_pagemap behind an enabled fsdax or devdax namespace. */
  pgmapOf(ns: Namespace): DevPagemap | null {
    return this.attached.get(ns)?.pgmap ?? null;
  }

  // ------------------------------------------------------------ namespace lifecycle

  /**
   * A labelled namespace given capacity and a mode (size_store + uuid_store
   * + the claim + probe). `id` must be an idle namespace of the region; the
   * range must be free. When the seed is consumed, a new seed appears.
   */
  createNamespace(regionId: number, id: number, start: number, size: number, cfg: NamespaceConfig): Namespace {
    const region = this.regions[regionId];
    if (!region) throw new KernelError(ENXIO, `create namespace: region${regionId} does not exist`);
    const name = `namespace${regionId}.${id}`;
    if (region.nstype === 'io')
      throw new KernelError(EOPNOTSUPP, `create namespace: region${regionId} is label-less: its namespace${regionId}.0 covers it and cannot be subdivided`);
    const ns = region.namespaces.find((n) => n.id === id);
    if (!ns) throw new KernelError(ENXIO, `create namespace: ${name} does not exist (the region's seed is namespace${regionId}.${region.seed})`);
    if (isConfigured(ns) || ns.enabled) throw new KernelError(EBUSY, `create namespace: ${name} is already configured`);
    if (!Number.isSafeInteger(size) || size <= 0) throw new KernelError(EINVAL, `create namespace: ${name}: size ${size} must be positive`);
    if (start < region.start || start + size > region.start + region.size)
      throw new KernelError(ENXIO, `create namespace: ${size} bytes at ${start.toString(16)} are outside region${regionId}`);
    for (const n of region.namespaces)
      if (n.size > 0 && start < n.start + n.size && n.start < start + size)
        throw new KernelError(EBUSY, `create namespace: the range overlaps ${namespaceName(n)}`);
    // alt_name_store(): at most NSLABEL_NAME_LEN - 1 characters
    if (cfg.name !== undefined && cfg.name.length >= NSLABEL_NAME_LEN)
      throw new KernelError(EINVAL, `create namespace: ${name}: alt name overflow (${cfg.name.length} characters, at most ${NSLABEL_NAME_LEN - 1})`);
    const wasSeed = region.seed === id;
    ns.altName = cfg.name ?? '';
    ns.start = start;
    ns.size = size;
    try {
      this.configure(ns, cfg);
    } catch (e) {
      ns.start = 0;
      ns.size = 0;
      ns.altName = '';
      throw e;
    }
    // nd_region_notify_driver_action(): a seed that probed is replaced by a new one
    if (wasSeed) this.createSeed(region);
    return ns;
  }

  /**
   * A configured namespace given a new mode, align or map (ndctl's
   * namespace_reconfig(): the namespace is disabled first, keeps its
   * capacity, gets a new claim and is enabled). A failure leaves it disabled
   * and raw, as ndctl's autorecover does.
   */
  reconfigureNamespace(ns: Namespace, cfg: NamespaceConfig): void {
    const name = namespaceName(ns);
    if (!isConfigured(ns)) throw new KernelError(ENXIO, `reconfigure namespace: ${name} is idle: it has no capacity to reconfigure`);
    if (ns.enabled) throw new KernelError(EBUSY, `reconfigure namespace: ${name} is enabled; disable it first`);
    this.configure(ns, cfg);
  }

  /**
   * A write to the `size` attribute of a disabled, configured labelled
   * namespace (__size_store()): shrinks it from its end or grows it into the
   * free capacity right after it. Refusals (namespaceResizeError) change
   * nothing.
   */
  resizeNamespace(ns: Namespace, size: number): void {
    const region = this.regions[ns.region]!;
    const err = namespaceResizeError(region, ns, size);
    if (err) throw err;
    ns.size = size;
  }

  /**
   * Zeroes the info block of a disabled namespace (namespace_prep_reconfig()):
   * it is raw again, keeping its capacity.
   */
  zeroInfoBlock(ns: Namespace): void {
    if (ns.enabled) throw new KernelError(EBUSY, `${namespaceName(ns)} is enabled; disable it before zeroing its info block`);
    ns.mode = 'raw';
    ns.pfn = null;
    ns.align = this.arch.pageSize;
    ns.map = 'dev';
    if (ns.type === 'io') ns.uuid = null;
  }

  /**
   * Deletes a namespace's configuration (ndctl's namespace_destroy():
   * disable, zero the info block; a labelled namespace also gives its
   * capacity back and becomes idle). A label-less namespace keeps its
   * capacity and stays raw and disabled.
   */
  destroyNamespace(ns: Namespace): void {
    this.disableNamespace(ns);
    this.zeroInfoBlock(ns);
    if (ns.type === 'pmem') {
      ns.start = 0;
      ns.size = 0;
      ns.uuid = NULL_UUID;
      ns.altName = '';
    }
  }

  enableNamespace(ns: Namespace): void {
    if (ns.enabled) return;
    if (!isConfigured(ns)) throw new KernelError(ENXIO, `enable namespace: ${namespaceName(ns)} is idle (size 0): nothing to enable`);
    this.attach(ns);
  }

  /** Unbinds the namespace's driver; refuses (EBUSY) while its pages are pinned, before anything is torn down. */
  disableNamespace(ns: Namespace): void {
    if (!ns.enabled) return;
    const st = this.attached.get(ns);
    if (st?.daxRegion) {
      const dev = st.daxRegion.devices.get(`dax${ns.region}.${ns.id}`);
      if (dev?.bound) unbindDevDax(dev);
      unregisterDaxRegion(st.daxRegion);
    } else if (st?.pgmap) {
      memunmapPages(this.k, st.pgmap);
    }
    this.attached.delete(ns);
    ns.enabled = false;
  }

  // ------------------------------------------------------------ internals

  private newNamespace(region: PmemRegion, id: number, type: NamespaceType): Namespace {
    const ns: Namespace = {
      region: region.id,
      id,
      type,
      start: 0,
      size: 0,
      mode: 'raw',
      align: this.arch.pageSize,
      map: 'dev',
      uuid: type === 'io' ? null : NULL_UUID,
      altName: '',
      pfn: null,
      enabled: false,
    };
    region.namespaces.push(ns);
    region.namespaces.sort((a, b) => a.id - b.id);
    return ns;
  }

  private createSeed(region: PmemRegion): void {
    const ns = this.newNamespace(region, lowestFreeNamespaceId(region), 'pmem');
    region.seed = ns.id;
  }

  /** Sets the claim (nd_pfn_init() for fsdax/devdax) and enables; on failure the namespace is as it was. */
  private configure(ns: Namespace, cfg: NamespaceConfig): void {
    const before = { mode: ns.mode, align: ns.align, map: ns.map, uuid: ns.uuid, pfn: ns.pfn };
    const pfn = cfg.mode === 'raw' ? null : ndPfnInit(this.arch, ns.start, ns.size, cfg.align, cfg.map);
    ns.mode = cfg.mode;
    ns.align = cfg.mode === 'raw' ? this.arch.pageSize : cfg.align;
    ns.map = cfg.map;
    ns.pfn = pfn;
    ns.uuid = cfg.mode === 'raw' && ns.type === 'io' ? null : namespaceUuid(ns.region, ns.id, this.serial);
    try {
      this.attach(ns);
    } catch (e) {
      Object.assign(ns, before);
      throw e;
    }
    this.serial++;
  }

  /** The probe of the namespace's driver: nd_pmem (raw, fsdax via nvdimm_setup_pfn()) or dax_pmem (devdax). */
  private attach(ns: Namespace): void {
    if (ns.mode === 'raw' || !ns.pfn) {
      this.attached.set(ns, { pgmap: null, daxRegion: null });
      ns.enabled = true;
      return;
    }
    const pgmap = this.pfnPagemap(ns);
    if (ns.mode === 'fsdax') {
      memremapPages(this.k, pgmap, 0, this.dax.generation === undefined ? {} : { generation: this.dax.generation });
      this.attached.set(ns, { pgmap, daxRegion: null });
      ns.enabled = true;
      return;
    }
    const dataStart = ns.start + ns.pfn.dataoff;
    const dataSize = ns.size - ns.pfn.dataoff - ns.pfn.endTrunc;
    // dax_pmem_probe(): the dax region is <region id>, its device dax<region>.<namespace id>
    const daxRegion = createStaticRegion(this.dax, {
      id: ns.region,
      start: dataStart,
      size: dataSize,
      align: ns.align,
      targetNode: this.regions[ns.region]!.nid,
      parentName: namespaceName(ns),
      pgmap,
      devId: ns.id,
    });
    try {
      bindDevDax(daxRegion.devices.get(`dax${ns.region}.${ns.id}`)!);
    } catch (e) {
      unregisterDaxRegion(daxRegion);
      throw e;
    }
    this.attached.set(ns, { pgmap, daxRegion });
    ns.enabled = true;
  }

  /** __nvdimm_setup_pfn(): the pgmap of a pfn/dax namespace, with an altmap for --map=dev. */
  private pfnPagemap(ns: Namespace): DevPagemap {
    const info = ns.pfn!;
    const ps = this.arch.pageSize;
    const end = ns.start + ns.size - info.endTrunc - 1;
    const pgmap = newDevPagemap({
      type: ns.mode === 'fsdax' ? MEMORY_DEVICE_FS_DAX : MEMORY_DEVICE_GENERIC,
      ranges: [{ start: ns.start, end }],
      name: namespaceName(ns),
    });
    if (info.map === 'dev') {
      pgmap.altmap = { ...pfnAltmap(this.arch, ns.start, info), endPfn: Math.floor(end / ps), align: 0, alloc: 0 };
      pgmap.flags |= PGMAP_ALTMAP_VALID;
    }
    return pgmap;
  }
}

