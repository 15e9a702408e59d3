import type { DevDax } from '@daxsim/device-dax';
import { EBUSY, EINVAL, ENXIO, EOPNOTSUPP, KERN_WARNING, KernelError, hex } from '@daxsim/mm';
import type { HotplugMemmapStats, MemoryBlock, MemoryHotplug } from './memory-hotplug.js';
import { stringGetSize } from './string-get-size.js';

/** One range of a device that dax_kmem added as System RAM (kmem). */
export interface KmemRange {
  /** Memory-block aligned: dax_kmem_range(). */
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  /** What its memmap took. */
  readonly memmap: HotplugMemmapStats;
}

/** A device bound to dax_kmem (drivers/dax/kmem.c): its hot-added ranges. */
export interface KmemBinding {
  readonly dev: DevDax;
  readonly ranges: readonly KmemRange[];
  /** Whether MHP_MEMMAP_ON_MEMORY was asked for (the device's memmap_on_memory). */
  readonly memmapOnMemory: boolean;
}

/**
 * dax_kmem: the driver that turns a dax device into System RAM. One per
 * machine: the memory hotplug of its kernel, the devices bound to it, and
 * the per-device memmap_on_memory attribute (6.8's
 * /sys/bus/dax/devices/daxX.Y/memmap_on_memory).
 */
export class DaxKmem {
  readonly hotplug: MemoryHotplug;
  readonly bindings = new Map<DevDax, KmemBinding>();
  /** dev_dax_kmem_probe() warns when alignment trims a device (a kernel that has Gregory Price's truncation warning). */
  readonly truncationWarning: boolean;
  /** dev_dax->memmap_on_memory per device (false unless written: dax_hmem creates devices with it off). */
  private readonly memmapAttr = new Map<DevDax, boolean>();

  constructor(hotplug: MemoryHotplug, opts: { truncationWarning?: boolean } = {}) {
    this.hotplug = hotplug;
    this.truncationWarning = opts.truncationWarning ?? false;
  }

  /** daxctl_dev_get_memory() != NULL: the device is bound to kmem. */
  isBound(dev: DevDax): boolean {
    return this.bindings.has(dev);
  }

  memmapOnMemory(dev: DevDax): boolean {
    return this.memmapAttr.get(dev) ?? false;
  }

  /**
   * devm_create_dev_dax(): dev_dax->memmap_on_memory = data->memmap_on_memory,
   * set by the region driver that makes the device (dax_cxl: true, since
   * 6.8's 73954d379efd), without memmap_on_memory_store()'s checks: the
   * attribute then reads 1 even when memory hotplug cannot honour it, and
   * the hot-add falls back to a memmap in RAM.
   */
  initMemmapOnMemory(dev: DevDax, on: boolean): void {
    this.memmapAttr.set(dev, on);
  }

  /**
   * memmap_on_memory_store(): EBUSY while the device is bound to kmem,
   * EOPNOTSUPP when asked on and memory hotplug cannot honour it.
   */
  setMemmapOnMemory(dev: DevDax, on: boolean): void {
    if (this.isBound(dev)) throw new KernelError(EBUSY, `${dev.name}: memmap_on_memory: the device is bound to kmem`);
    if (on && !this.hotplug.mhpSupportsMemmapOnMemory())
      throw new KernelError(EOPNOTSUPP, `${dev.name}: memmap_on_memory: memory hotplug does not support it (memory_hotplug.memmap_on_memory=${this.hotplug.memmapOnMemory ? 'Y' : 'N'}, block size ${hex(this.hotplug.blockSize)})`);
    this.memmapAttr.set(dev, on);
  }

  /** The memory blocks of a bound device (daxctl counts those whose start lies in [resource, resource + size]). */
  blocksOf(dev: DevDax): MemoryBlock[] {
    const b = this.bindings.get(dev);
    if (!b) return [];
    return b.ranges.flatMap((r) => this.hotplug.blocksIn(r.start, r.end));
  }

  /**
   * dev_dax_kmem_probe(): each range trimmed to memory-block alignment
   * (dax_kmem_range()); a range left empty is skipped with a warning, a
   * device left with nothing is -EINVAL; add_memory_driver_managed() per
   * range on the device's target node (MHP_MEMMAP_ON_MEMORY when the
   * device asks for it). A failure of the first range undoes everything;
   * a later range that fails is skipped, as the kernel does once some
   * memory is in. The probe does not bind the device: the caller does.
   */
  probe(dev: DevDax): KmemBinding {
    const hp = this.hotplug;
    const bs = hp.blockSize;
    const warn = (msg: string) => hp.k.log.printk(KERN_WARNING, `kmem ${dev.name}: ${msg}`);
    if (this.isBound(dev)) throw new KernelError(EBUSY, `${dev.name}: bind: already bound to kmem`);
    if (!dev.registered) throw new KernelError(ENXIO, `${dev.name}: bind: device was deleted`);
    if (dev.size === 0) throw new KernelError(ENXIO, `${dev.name}: bind: device has size 0 (set a size first)`);
    if (dev.targetNode < 0) {
      warn(`rejecting DAX region with invalid node: ${dev.targetNode}`);
      throw new KernelError(EINVAL, `${dev.name}: kmem: rejecting DAX region with invalid node: ${dev.targetNode}`);
    }
    const trimmed: { i: number; start: number; end: number }[] = [];
    dev.ranges.forEach((r, i) => {
      const start = Math.ceil(r.start / bs) * bs;
      const end = Math.floor((r.end + 1) / bs) * bs;
      if (start >= end) warn(`mapping${i}: ${hex(r.start)}-${hex(r.end)} too small after alignment`);
      else trimmed.push({ i, start, end });
    });
    if (!trimmed.length) {
      warn('rejecting DAX region without any memory after alignment');
      throw new KernelError(
        EINVAL,
        `${dev.name}: kmem: rejecting DAX region without any memory after alignment (size ${hex(dev.size)}, memory block size ${hex(bs)})`,
      );
    }
    const kept = trimmed.reduce((n, t) => n + (t.end - t.start), 0);
    const total = dev.ranges.reduce((n, r) => n + (r.end + 1 - r.start), 0);
    if (this.truncationWarning && kept !== total) warn(`DAX region truncated by ${stringGetSize(total - kept)} due to alignment`);
    const mom = this.memmapOnMemory(dev);
    const ranges: KmemRange[] = [];
    for (const t of trimmed) {
      try {
        const memmap = hp.addMemoryDriverManaged(dev.targetNode, t.start, t.end - t.start, dev.name, mom);
        ranges.push({ start: t.start, end: t.end, memmap });
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        warn(`mapping${t.i}: ${hex(t.start)}-${hex(t.end - 1)} memory add failed`);
        if (ranges.length) continue;
        throw new KernelError(e.errno, `${dev.name}: kmem: mapping${t.i}: ${e.message}`);
      }
    }
    const binding: KmemBinding = { dev, ranges, memmapOnMemory: mom };
    this.bindings.set(dev, binding);
    return binding;
  }

  /**
   * dev_dax_kmem_remove(): remove_memory() of every range. The kernel
   * cannot fail an unbind, and memory it cannot remove (a block still
   * online) stays System RAM until reboot; the model refuses instead
   * (EBUSY, nothing changed), which is what daxctl checks for before it
   * unbinds.
   */
  remove(dev: DevDax): void {
    const b = this.bindings.get(dev);
    if (!b) throw new KernelError(ENXIO, `${dev.name}: unbind: not bound to kmem`);
    for (const blk of this.blocksOf(dev))
      if (blk.state === 'online')
        throw new KernelError(EBUSY, `${dev.name}: kmem: ${hex(b.ranges[0]!.start)}-${hex(b.ranges[b.ranges.length - 1]!.end - 1)} cannot be hotremoved: memory${blk.id} is online`);
    for (const r of b.ranges) this.hotplug.removeMemory(r.start, r.end - r.start);
    this.bindings.delete(dev);
  }
}
