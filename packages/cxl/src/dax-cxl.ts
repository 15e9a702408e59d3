import { createDynamicRegion, unbindDevDax, unregisterDaxRegion } from '@daxsim/device-dax';
import { KERN_WARNING, KernelError, hex, pmdSize } from '@daxsim/mm';
import type { CxlBus } from './cxl-bus.js';
import { type CxlRegion, rangeLen } from './objects.js';

/** The dax region's parent device path (what `daxctl list -R` prints under /platform). */
export function cxlDaxRegionPath(cxlr: CxlRegion): string {
  return `ACPI0017:00/root0/${cxlr.decoder.name}/${cxlr.name}/dax_region${cxlr.id}`;
}

/**
 * cxl_dax_region_probe() (drivers/dax/cxl.c): a dynamic dax region over the
 * region's HPA range with id = the region's id, align PMD_SIZE, target
 * node the window's node (phys_to_target_node()), flagged
 * IORESOURCE_DAX_KMEM; one device over all of it (dax<id>.0) with
 * memmap_on_memory set (from 6.8). The dax bus then matches dax_kmem to it
 * (dax_bus_probe()): its memory is hot-added and onlined as the machine's
 * auto-online policy says. A kmem probe that fails leaves the device
 * unbound, as a failed driver probe does.
 */
export function cxlDaxRegionProbe(bus: CxlBus, cxlr: CxlRegion): void {
  const res = cxlr.params.res!;
  const k = bus.dax.k;
  const region = createDynamicRegion(bus.dax, {
    id: cxlr.id,
    start: res.start,
    size: rangeLen(res),
    align: pmdSize(k.arch),
    targetNode: bus.windowNid(cxlr.decoder),
    parentName: cxlDaxRegionPath(cxlr),
  });
  cxlr.daxRegion = region;
  const dev = region.devices.get(`dax${cxlr.id}.0`)!;
  if (bus.features.daxCxlMemmapOnMemory) bus.kmem.initMemmapOnMemory(dev, true);
  try {
    bus.kmem.probe(dev);
    // dax_bus_probe(): a dynamic region's seed that a driver took is a seed no more
    if (region.seed === dev) region.seed = null;
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    k.log.printk(KERN_WARNING, `kmem ${dev.name}: probe with driver kmem failed: ${e.message}`);
  }
}

/**
 * Why the region's dax region cannot go now (a device's memory is online:
 * the kernel would leave it "stuck online until reboot" under a decode that
 * is then reset), or null.
 */
export function cxlDaxRegionRemovable(bus: CxlBus, cxlr: CxlRegion): string | null {
  const region = cxlr.daxRegion;
  if (!region) return null;
  for (const dev of region.devicesById()) {
    if (!bus.kmem.isBound(dev)) continue;
    const online = bus.kmem.blocksOf(dev).filter((b) => b.state === 'online');
    if (online.length)
      return `${dev.name} has ${online.length} memory block${online.length === 1 ? '' : 's'} online (memory${online[0]!.id} at ${hex(online[0]!.startPfn * bus.dax.k.arch.pageSize)}): offline them first`;
  }
  return null;
}

/**
 * The cxl_dax_region's removal (cxlr_dax_unregister() → the dax_cxl driver's
 * devm actions): each device unbound from its driver (dax_kmem's remove
 * gives the memory back; device_dax's kills the mappings) and the dax
 * region unregistered.
 */
export function cxlDaxRegionRemove(bus: CxlBus, cxlr: CxlRegion): void {
  const region = cxlr.daxRegion;
  if (!region) return;
  for (const dev of region.devicesById()) if (dev.bound) unbindDevDax(dev);
  for (const dev of region.devicesById()) if (bus.kmem.isBound(dev)) bus.kmem.remove(dev);
  unregisterDaxRegion(region);
  cxlr.daxRegion = null;
}
