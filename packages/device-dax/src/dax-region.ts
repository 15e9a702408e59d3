import { type DevPagemap, type VmemmapGeneration, hex } from '@daxsim/mm';
import type { Kernel } from '@daxsim/memremap';
import type { DevDax } from './dev-dax.js';

/**
 * A child of the region's resource: the part of the region one dev_dax range
 * holds (what __request_region() puts under dax_region->res). `name` is the
 * owning device's name, as the kernel names the resource.
 */
export interface DaxResource {
  start: number;
  /** Inclusive, as struct resource keeps it. */
  end: number;
  readonly name: string;
}

/** How dax_set_mapping() rounds the fault address before it computes page->index. */
export type SetMappingIndex = 'align-down' | 'align-up';

export interface DaxBusOptions {
  /** The vmemmap generation probe asks memremap_pages() for (default: memremap's default). */
  generation?: VmemmapGeneration;
  /**
   * 'align-down' (default): ALIGN_DOWN(address, fault_size), the 2024 fix
   * (7fcbd9785d4c "device-dax: correct pgoff align in dax_set_mapping()").
   * 'align-up': ALIGN(address, fault_size), as the seed's patch 5 wrote it.
   */
  setMappingIndex?: SetMappingIndex;
}

/**
 * The dax bus: the simulated kernel the regions live in, the regions by id,
 * and the options that select kernel generations. One per machine.
 */
export class DaxBus {
  readonly k: Kernel;
  /**
   * Every dax_region on the bus. Ids are not unique: each devdax namespace of
   * pmem region N makes its own static dax_region with id N (its device is
   * dax<N>.<namespace id>), as dax_pmem does.
   */
  readonly regions = new Set<DaxRegion>();
  /** The vmemmap generation probe asks memremap_pages() for; may change between probes (each pgmap keeps its own). */
  generation: VmemmapGeneration | undefined;
  readonly setMappingIndex: SetMappingIndex;
  constructor(k: Kernel, opts: DaxBusOptions = {}) {
    this.k = k;
    this.generation = opts.generation;
    this.setMappingIndex = opts.setMappingIndex ?? 'align-down';
  }

  /** Every device on the bus (/sys/bus/dax/devices), in region then id order. */
  get devices(): DevDax[] {
    const out: DevDax[] = [];
    for (const r of [...this.regions].sort((a, b) => a.id - b.id || a.start - b.start)) out.push(...r.devicesById());
    return out;
  }

  /** The region with this id: the dynamic one if there is one, else the first static one. */
  region(id: number): DaxRegion | undefined {
    let found: DaxRegion | undefined;
    for (const r of this.regions) if (r.id === id && (!found || (found.isStatic && !r.isStatic))) found = r;
    return found;
  }

  /** Finds a device by name ("dax0.1"). */
  device(name: string): DevDax | undefined {
    for (const r of this.regions.values()) {
      const d = r.devices.get(name);
      if (d) return d;
    }
    return undefined;
  }
}

/**
 * struct dax_region (drivers/dax/dax-private.h): a span of device memory that
 * dev_dax instances are carved from. Static regions come from a pmem
 * namespace (one device, fixed size and align, pgmap supplied by the
 * namespace); dynamic regions (hmem / soft-reserved) are partitioned at will.
 */
export class DaxRegion {
  readonly bus: DaxBus;
  readonly id: number;
  /** res.start / res.end (inclusive) */
  readonly start: number;
  readonly end: number;
  /** The region's align (PMD_SIZE for hmem; the namespace's align for pmem). */
  readonly align: number;
  readonly targetNode: number;
  readonly isStatic: boolean;
  /** The parent device's name ("hmem.0", "namespace0.0"), for logs and `daxctl list` paths. */
  readonly parentName: string;
  /** Child resources, sorted by start (the resource tree's sibling list). */
  readonly children: DaxResource[] = [];
  /** Devices by name. */
  readonly devices = new Map<string, DevDax>();
  /** ida: device ids in use. */
  readonly ids = new Set<number>();
  seed: DevDax | null = null;
  youngest: DevDax | null = null;
  /** The region's driver is bound (its dax_region sysfs group is usable). */
  enabled = true;
  /** Static regions: the dev_pagemap the namespace supplies (data->pgmap). */
  readonly staticPgmap: DevPagemap | null;
  /** The region has been unregistered. */
  dead = false;

  constructor(
    bus: DaxBus,
    init: {
      id: number;
      start: number;
      end: number;
      align: number;
      targetNode: number;
      isStatic: boolean;
      parentName: string;
      staticPgmap: DevPagemap | null;
    },
  ) {
    this.bus = bus;
    this.id = init.id;
    this.start = init.start;
    this.end = init.end;
    this.align = init.align;
    this.targetNode = init.targetNode;
    this.isStatic = init.isStatic;
    this.parentName = init.parentName;
    this.staticPgmap = init.staticPgmap;
  }

  get k(): Kernel {
    return this.bus.k;
  }

  /** resource_size(&dax_region->res) */
  get size(): number {
    return this.end - this.start + 1;
  }

  /** dax_region_avail_size(): the size minus every child resource (not the largest free extent). */
  get availableSize(): number {
    let size = this.size;
    for (const r of this.children) size -= r.end - r.start + 1;
    return size;
  }

  /** The devices in id order. */
  devicesById(): DevDax[] {
    return [...this.devices.values()].sort((a, b) => a.id - b.id);
  }

  /** ida_alloc(): the lowest free device id. */
  idaAlloc(): number {
    let id = 0;
    while (this.ids.has(id)) id++;
    this.ids.add(id);
    return id;
  }

  /** __request_region(&dax_region->res, start, size, name): null when [start, start+size) is not free. */
  requestRegion(start: number, size: number, name: string): DaxResource | null {
    const end = start + size - 1;
    if (start < this.start || end > this.end) return null;
    for (const c of this.children) if (start <= c.end && c.start <= end) return null;
    const res: DaxResource = { start, end, name };
    let i = 0;
    while (i < this.children.length && this.children[i]!.start < start) i++;
    this.children.splice(i, 0, res);
    return res;
  }

  /** __release_region() */
  releaseRegion(res: DaxResource): void {
    const i = this.children.indexOf(res);
    if (i >= 0) this.children.splice(i, 1);
  }

  /** adjust_resource(): moves `res`'s end; false if it would overlap a sibling or leave the region. */
  adjustResource(res: DaxResource, size: number): boolean {
    const end = res.start + size - 1;
    if (end > this.end) return false;
    for (const c of this.children) if (c !== res && res.start <= c.end && c.start <= end) return false;
    res.end = end;
    return true;
  }

  /** The child resource named `name` that starts at `start`. */
  findResource(name: string, start: number): DaxResource | undefined {
    return this.children.find((c) => c.name === name && c.start === start);
  }

  /** dev_info()/dev_warn()/dev_dbg() on the region's parent device. */
  log(level: number, msg: string): void {
    this.k.log.printk(level, `${this.parentName}: ${msg}`);
  }

  toString(): string {
    return `dax_region ${this.id} [${hex(this.start)}-${hex(this.end)}]`;
  }
}
