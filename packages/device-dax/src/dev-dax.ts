import { AddressSpace, type DevPagemap, type FileRef, hex } from '@daxsim/mm';
import type { DaxRegion, DaxResource } from './dax-region.js';

/**
 * struct dev_dax_range: one physical range of a device, the file page offset
 * it starts at, and the `mappingN` child device that shows it in sysfs.
 */
export interface DevDaxRange {
  readonly start: number;
  /** Inclusive. */
  end: number;
  /** In pages: the sum of the sizes of the ranges before it. */
  readonly pgoff: number;
  /** N of the `mappingN` device (-1 until registered). */
  mappingId: number;
  /** The region child resource this range holds. */
  readonly res: DaxResource;
}

/** One `mappingN` as daxctl lists it. */
export interface DaxMappingInfo {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** page_offset, in pages */
  readonly pageOffset: number;
  readonly size: number;
}

/**
 * struct dev_dax: /dev/daxR.N. Its ranges, its align, whether device_dax is
 * bound (dev->driver) and the dax_device alive (dax_alive()), the pgmap the
 * probe built, and the inode's address_space that every mmap of the
 * character device shares.
 *
 * It is also the pgmap's `owner` (contract with @daxsim/memory-failure):
 * `mapping`, `align` and `pgoffOfPfn()`.
 */
export class DevDax {
  readonly region: DaxRegion;
  readonly id: number;
  /** dev_name(): "dax<region>.<id>" */
  readonly name: string;
  readonly ranges: DevDaxRange[] = [];
  align: number;
  readonly targetNode: number;
  /** dev_dax->pgmap: supplied by the namespace (static) or built by probe (dynamic; NULL again after kill). */
  pgmap: DevPagemap | null;
  /** dev->driver != NULL: bound to device_dax. */
  bound = false;
  /** dax_alive(dax_dev): run_dax() ran in probe and kill_dax() did not run since. */
  alive = false;
  /** device_add() happened; false once unregister_dev_dax() ran. */
  registered = false;
  /** The inode's i_mapping: every mmap of this device is in mapping.iMmap. */
  readonly mapping: AddressSpace;
  /** The struct file mmap() receives. */
  readonly file: FileRef;
  /** ida of mappingN ids in use. */
  readonly mappingIds = new Set<number>();

  constructor(region: DaxRegion, id: number, pgmap: DevPagemap | null) {
    this.region = region;
    this.id = id;
    this.name = `dax${region.id}.${id}`;
    this.align = region.align;
    this.targetNode = region.targetNode;
    this.pgmap = pgmap;
    this.mapping = new AddressSpace(`/dev/${this.name}`, this);
    this.file = Object.freeze({ name: `/dev/${this.name}`, mapping: this.mapping, privateData: this });
  }

  /** dev_dax_size(): the sum of the range sizes. */
  get size(): number {
    let size = 0;
    for (const r of this.ranges) size += r.end - r.start + 1;
    return size;
  }

  /** The resource attribute: start of ranges[0], or the region start when there is none. */
  get resource(): number {
    return this.ranges.length ? this.ranges[0]!.start : this.region.start;
  }

  /** The mappingN devices, by index (daxctl prints them in reverse). */
  mappings(): DaxMappingInfo[] {
    return this.ranges
      .filter((r) => r.mappingId >= 0)
      .map((r) => ({
        name: `mapping${r.mappingId}`,
        start: r.start,
        end: r.end,
        pageOffset: r.pgoff,
        size: r.end - r.start + 1,
      }));
  }

  /** The file page offset of a device pfn (the inverse of dax_pgoff_to_phys()), or -1. */
  pgoffOfPfn(pfn: number): number {
    const ps = this.region.k.arch.pageSize;
    const addr = pfn * ps;
    for (const r of this.ranges) if (addr >= r.start && addr <= r.end) return r.pgoff + (addr - r.start) / ps;
    return -1;
  }

  /** dev_driver_string(): "device_dax" when bound, else the bus name. */
  get driverString(): string {
    return this.bound ? 'device_dax' : 'dax';
  }

  /** dev_printk(): "<driver> <device>: msg" */
  log(level: number, msg: string): void {
    this.region.k.log.printk(level, `${this.driverString} ${this.name}: ${msg}`);
  }

  toString(): string {
    return `${this.name} [${this.ranges.map((r) => `${hex(r.start)}-${hex(r.end)}`).join(', ')}]`;
  }
}
