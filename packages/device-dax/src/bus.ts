import {
  EACCES,
  EBUSY,
  EEXIST,
  EINVAL,
  ENOMEM,
  ENOSPC,
  ENXIO,
  ERANGE,
  KERN_DEBUG,
  KERN_WARNING,
  KernelError,
  type DevPagemap,
  hex,
  pa,
} from '@daxsim/mm';
import { DaxRegion, type DaxBus, type DaxResource } from './dax-region.js';
import { DevDax } from './dev-dax.js';
import { killDevDax, unbindDevDax } from './device.js';
import { makeDevPagemap } from './pagemap.js';

// ---------------------------------------------------------------- helpers

/** memremap_compat_align(): SUBSECTION_SIZE (2 MiB) wherever the model runs. */
export function memremapCompatAlign(bus: DaxBus): number {
  return 2 ** bus.k.arch.subsectionShift;
}

/** dax_align_valid(): PAGE_SIZE, PMD_SIZE where THP exists, PUD_SIZE where THP-PUD exists. */
export function daxAlignValid(bus: DaxBus, align: number): boolean {
  return bus.k.arch.devdaxAligns.includes(align);
}

/** alloc_is_aligned(): IS_ALIGNED(size, max(dev_dax->align, memremap_compat_align())) */
function allocIsAligned(dev: DevDax, size: number): boolean {
  return size % Math.max(dev.align, memremapCompatAlign(dev.region.bus)) === 0;
}

function alignList(bus: DaxBus): string {
  return bus.k.arch.devdaxAligns.join(', ');
}

/** kstrtoull(buf, 0, &val): decimal, 0x hex or 0 octal, one optional trailing newline. */
export function kstrtoull(buf: string): number {
  const s = buf.endsWith('\n') ? buf.slice(0, -1) : buf;
  let v: bigint;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = BigInt(s);
  else if (/^0[0-7]*$/.test(s)) v = BigInt('0o' + (s.slice(1) || '0'));
  else if (/^\+?[1-9][0-9]*$/.test(s)) v = BigInt(s.replace('+', ''));
  else throw new KernelError(EINVAL, `kstrtoull: "${s}" is not a number`);
  if (v > 0xffffffffffffffffn) throw new KernelError(ERANGE, `kstrtoull: "${s}" is out of range`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new KernelError(ERANGE, `kstrtoull: "${s}" exceeds the model's 2^53 limit`);
  return Number(v);
}

// ---------------------------------------------------------------- regions

export interface DaxRegionInit {
  id: number;
  /** Physical start and size of the region, bytes. */
  start: number;
  size: number;
  /** Region align; default PMD_SIZE. */
  align?: number;
  /** target_node; default the node of the device range that holds the region. */
  targetNode?: number;
  /** The parent device ("hmem.0", "namespace0.0"). */
  parentName?: string;
}

/** alloc_dax_region(): refused (the kernel returns NULL, callers -ENOMEM) unless start and size are align multiples. */
function allocDaxRegion(bus: DaxBus, init: DaxRegionInit, isStatic: boolean, pgmap: DevPagemap | null): DaxRegion {
  const k = bus.k;
  const align = init.align ?? 2 ** k.arch.pmdShift;
  const { id, start, size } = init;
  if (!Number.isSafeInteger(id) || id < 0) throw new KernelError(EINVAL, `dax region: id ${id} must be a non-negative integer`);
  for (const o of bus.regions)
    if (o.id === id && (!isStatic || !o.isStatic)) throw new KernelError(EEXIST, `dax region: id ${id} already exists`);
  if (!daxAlignValid(bus, align))
    throw new KernelError(EINVAL, `dax region ${id}: align ${align} is not one of ${alignList(bus)}`);
  if (!Number.isSafeInteger(size) || size <= 0) throw new KernelError(EINVAL, `dax region ${id}: size ${size} must be positive`);
  if (!Number.isSafeInteger(start) || start % align || size % align)
    throw new KernelError(EINVAL, `dax region ${id}: start ${hex(start)} and size ${hex(size)} must be multiples of align ${hex(align)}`);
  const phys = k.mem.rangeOf(start);
  if (!phys || phys.kind !== 'device' || start + size > phys.start + phys.size)
    throw new KernelError(EINVAL, `dax region ${id}: [${hex(start)}-${hex(start + size - 1)}] is not inside one device range of physical memory`);
  for (const o of bus.regions)
    if (start <= o.end && o.start <= start + size - 1)
      throw new KernelError(EBUSY, `dax region ${id}: [${hex(start)}-${hex(start + size - 1)}] overlaps dax region ${o.id}`);
  const region = new DaxRegion(bus, {
    id,
    start,
    end: start + size - 1,
    align,
    targetNode: init.targetNode ?? phys.nid,
    isStatic,
    parentName: init.parentName ?? (isStatic ? `namespace${id}.0` : `hmem.${id}`),
    staticPgmap: pgmap,
  });
  bus.regions.add(region);
  return region;
}

/**
 * A dynamic region (drivers/dax/hmem: soft-reserved memory): alloc_dax_region()
 * and dax<id>.0 created over the whole range (devm_create_dev_dax with id -1).
 */
export function createDynamicRegion(bus: DaxBus, init: DaxRegionInit): DaxRegion {
  const region = allocDaxRegion(bus, init, false, null);
  devmCreateDevDax(region, { id: -1, size: region.size, pgmap: null });
  return region;
}

/**
 * A static region (drivers/dax/pmem: a devdax-mode namespace): one device
 * dax<id>.0 over the whole range, with the namespace's dev_pagemap (pass one
 * with an altmap to model --map=dev; its ranges may start before the region,
 * at the namespace start). Without one, a pgmap covering the region is made.
 */
export function createStaticRegion(bus: DaxBus, init: DaxRegionInit & { pgmap?: DevPagemap; devId?: number }): DaxRegion {
  const devId = init.devId ?? 0;
  if (bus.device(`dax${init.id}.${devId}`)) throw new KernelError(EEXIST, `dax region: dax${init.id}.${devId} already exists`);
  const align = init.align ?? 2 ** bus.k.arch.pmdShift;
  const pgmap =
    init.pgmap ??
    makeDevPagemap(bus, { ranges: [{ start: init.start, end: init.start + init.size - 1 }], name: `dax${init.id}.${devId}` });
  const region = allocDaxRegion(bus, { ...init, align }, true, pgmap);
  devmCreateDevDax(region, { id: devId, size: region.size, pgmap });
  return region;
}

/**
 * Tears a region down as its parent driver's unbind does: every device is
 * unregistered (killed and unbound first when bound), then the region goes.
 */
export function unregisterDaxRegion(region: DaxRegion): void {
  for (const dev of region.devicesById().reverse()) unregisterDevDax(dev);
  region.enabled = false;
  region.dead = true;
  region.bus.regions.delete(region);
}

// ---------------------------------------------------------------- devices

/** devm_create_dev_dax(): a new device with `size` bytes from the region start (0: a seed with no range). */
export function devmCreateDevDax(region: DaxRegion, data: { id: number; size: number; pgmap: DevPagemap | null }): DevDax {
  let id: number;
  if (region.isStatic) {
    if (data.id < 0) throw new KernelError(EINVAL, `${region.parentName}: dynamic id specified to static region`);
    id = data.id;
    region.ids.add(id);
  } else {
    if (data.id >= 0) throw new KernelError(EINVAL, `${region.parentName}: static id specified to dynamic region`);
    id = region.idaAlloc();
  }
  const dev = new DevDax(region, id, data.pgmap);
  const rc = allocDevDaxRange(dev, region.start, data.size);
  if (rc < 0) {
    region.ids.delete(id);
    throw new KernelError(-rc, `${dev.name}: cannot allocate ${hex(data.size)} bytes at ${hex(region.start)}`);
  }
  // kill_dax(): dead while the driver is not attached; device_add(); mapping0.
  dev.alive = false;
  dev.registered = true;
  region.devices.set(dev.name, dev);
  if (dev.ranges.length && dev.ranges[0]!.end >= dev.ranges[0]!.start) registerDaxMapping(dev, 0);
  return dev;
}

/** devm_register_dax_mapping(): gives range i its mappingN (lowest free N). */
function registerDaxMapping(dev: DevDax, i: number): void {
  let n = 0;
  while (dev.mappingIds.has(n)) n++;
  dev.mappingIds.add(n);
  dev.ranges[i]!.mappingId = n;
}

function unregisterDaxMapping(dev: DevDax, i: number): void {
  const r = dev.ranges[i]!;
  if (r.mappingId >= 0) dev.mappingIds.delete(r.mappingId);
  r.mappingId = -1;
}

/** alloc_dev_dax_range(): claims [start, start+size) of the region as the device's next range. */
function allocDevDaxRange(dev: DevDax, start: number, size: number): number {
  const region = dev.region;
  if (size === 0) {
    if (dev.ranges.length !== 0) {
      dev.log(KERN_WARNING, '0-size allocation must be first');
      return -EBUSY;
    }
    return 0; // a seed device
  }
  const res = region.requestRegion(start, size, dev.name);
  if (!res) return -ENOMEM;
  const ps = region.k.arch.pageSize;
  let pgoff = 0;
  for (const r of dev.ranges) pgoff += (r.end - r.start + 1) / ps;
  dev.ranges.push({ start, end: start + size - 1, pgoff, mappingId: -1, res });
  dev.log(KERN_DEBUG, `alloc range[${dev.ranges.length - 1}]: ${pa(start)}:${pa(start + size - 1)}`);
  if (dev.registered) registerDaxMapping(dev, dev.ranges.length - 1);
  return 0;
}

/** adjust_dev_dax_range(): resizes the device's last range, which holds `res`, to `size` in place. */
function adjustDevDaxRange(dev: DevDax, res: DaxResource, size: number): number {
  const last = dev.ranges.length - 1;
  const range = dev.ranges[last]!;
  if (size === 0) {
    dev.log(KERN_WARNING, 'deletion is handled by dev_dax_shrink');
    return -EINVAL;
  }
  const grow = size > range.end - range.start + 1;
  if (!dev.region.adjustResource(res, size)) return -EBUSY;
  range.end = res.end;
  dev.log(KERN_DEBUG, `${grow ? 'extend' : 'shrink'} range[${last}]: ${pa(range.start)}:${pa(range.end)}`);
  return 0;
}

/** trim_dev_dax_range(): drops the last range and gives its resource back. */
function trimDevDaxRange(dev: DevDax): void {
  const i = dev.ranges.length - 1;
  const range = dev.ranges[i]!;
  dev.log(KERN_DEBUG, `delete range[${i}]: ${pa(range.start)}:${pa(range.end)}`);
  dev.region.releaseRegion(range.res);
  dev.ranges.pop();
}

/** free_dev_dax_ranges() */
function freeDevDaxRanges(dev: DevDax): void {
  while (dev.ranges.length) {
    unregisterDaxMapping(dev, dev.ranges.length - 1);
    trimDevDaxRange(dev);
  }
}

/** dev_dax_shrink(): gives back `cur - size` bytes, from the last range backwards. */
function devDaxShrink(dev: DevDax, size: number): number {
  let toShrink = dev.size - size;
  for (let i = dev.ranges.length - 1; i >= 0; i--) {
    const range = dev.ranges[i]!;
    const len = range.end - range.start + 1;
    const shrink = Math.min(toShrink, len);
    if (shrink >= len) {
      unregisterDaxMapping(dev, i);
      trimDevDaxRange(dev);
      toShrink -= shrink;
      if (!toShrink) break;
      continue;
    }
    const adjust = dev.region.findResource(dev.name, range.start);
    if (!adjust || i !== dev.ranges.length - 1) {
      dev.log(KERN_WARNING, 'failed to find matching resource');
      return -ENXIO;
    }
    return adjustDevDaxRange(dev, adjust, len - shrink);
  }
  return 0;
}

/** adjust_ok(): `res` is the device's last range and extending it keeps the page offsets in order. */
function adjustOk(dev: DevDax, res: DaxResource): boolean {
  if (dev.ranges.length === 0) return false;
  if (res.name !== dev.name) return false;
  const last = dev.ranges[dev.ranges.length - 1]!;
  if (last.start !== res.start || last.end !== res.end) return false;
  for (let i = 0; i < dev.ranges.length - 1; i++) if (dev.ranges[i]!.pgoff > last.pgoff) return false;
  return true;
}

/** dev_dax_resize(): first-fit growth from the region start, shrink from the last range. */
function devDaxResize(dev: DevDax, size: number): void {
  const region = dev.region;
  if (dev.bound) throw new KernelError(EBUSY, `${dev.name}: size: cannot resize while bound to device_dax (disable it first)`);
  const cur = dev.size;
  if (size === cur) return;
  const avail = region.availableSize;
  if (size > cur && size - cur > avail)
    throw new KernelError(ENOSPC, `${dev.name}: size: growing by ${size - cur} bytes exceeds the region's available_size ${avail}`);
  if (size < cur) {
    const rc = devDaxShrink(dev, size);
    if (rc < 0) throw new KernelError(-rc, `${dev.name}: size: shrink to ${size} failed`);
    return;
  }
  let toAlloc = size - cur;
  if (!allocIsAligned(dev, toAlloc)) {
    dev.log(KERN_WARNING, `resize of ${hex(toAlloc)} misaligned`);
    throw new KernelError(ENXIO, `${dev.name}: size: resize of ${hex(toAlloc)} misaligned`);
  }
  // Growth can only fail before it allocated anything (ENOSPC was checked), so no unwinding is needed.
  while (toAlloc) {
    let rc = -ENOSPC;
    let alloc = 0;
    const children = region.children;
    if (children.length === 0) {
      alloc = toAlloc;
      rc = allocDevDaxRange(dev, region.start, alloc);
    } else {
      for (let i = 0; i < children.length; i++) {
        const res = children[i]!;
        const next = children[i + 1];
        if (i === 0 && res.start > region.start) {
          alloc = Math.min(res.start - region.start, toAlloc);
          rc = allocDevDaxRange(dev, region.start, alloc);
          break;
        }
        alloc = 0;
        if (next && next.start > res.end + 1) alloc = Math.min(next.start - (res.end + 1), toAlloc);
        if (!alloc && !next && res.end < region.end) alloc = Math.min(region.end - res.end, toAlloc);
        if (!alloc) continue;
        if (adjustOk(dev, res)) {
          rc = adjustDevDaxRange(dev, res, res.end - res.start + 1 + alloc);
          break;
        }
        rc = allocDevDaxRange(dev, res.end + 1, alloc);
        break;
      }
    }
    if (rc < 0) throw new KernelError(-rc, `${dev.name}: size: no free space for ${hex(toAlloc)} bytes`);
    toAlloc -= alloc;
  }
}

// ---------------------------------------------------------------- sysfs stores

function refuseStatic(region: DaxRegion, attr: string): void {
  if (region.isStatic) throw new KernelError(EINVAL, `${region.parentName}: ${attr}: not supported on a static dax region`);
}

/** create_store(): writing 1 makes a 0-size seed device; returns it. */
export function daxRegionCreate(region: DaxRegion): DevDax {
  refuseStatic(region, 'create');
  if (!region.enabled) throw new KernelError(ENXIO, `${region.parentName}: create: region is disabled`);
  if (region.availableSize === 0)
    throw new KernelError(ENOSPC, `${region.parentName}: create: region ${region.id} has no available_size left`);
  const dev = devmCreateDevDax(region, { id: -1, size: 0, pgmap: null });
  if (!region.seed) region.seed = dev;
  region.youngest = dev;
  return dev;
}

/** create_store() with a sysfs buffer: only "1" is accepted. */
export function createStore(region: DaxRegion, buf: string): DevDax {
  refuseStatic(region, 'create');
  const s = buf.endsWith('\n') ? buf.slice(0, -1) : buf;
  if (!/^[+-]?\d+$/.test(s)) throw new KernelError(EINVAL, `${region.parentName}: create: "${s}" is not an integer`);
  if (Number(s) !== 1) throw new KernelError(EINVAL, `${region.parentName}: create: value ${s} must be 1`);
  return daxRegionCreate(region);
}

/** delete_store(): removes a 0-size, unbound device; dax<id>.0 is never deleted. */
export function daxRegionDelete(region: DaxRegion, name: string): void {
  refuseStatic(region, 'delete');
  const n = name.trim(); // sysfs_streq(): a trailing newline matches
  const dev = region.devices.get(n);
  if (!dev) throw new KernelError(ENXIO, `${region.parentName}: delete: no device named "${n}" in region ${region.id}`);
  if (dev.bound) throw new KernelError(EBUSY, `${dev.name}: delete: device is bound to device_dax (disable it first)`);
  if (dev.size !== 0) throw new KernelError(EBUSY, `${dev.name}: delete: device has size ${dev.size} (resize it to 0 first)`);
  if (dev.id === 0) throw new KernelError(EBUSY, `${dev.name}: delete: device id 0 is never deleted`);
  region.ids.delete(dev.id);
  if (region.seed === dev) region.seed = null;
  if (region.youngest === dev) region.youngest = null;
  unregisterDevDax(dev);
}

/** delete_store() with a sysfs buffer. */
export const deleteStore = daxRegionDelete;

/** size_store(): resize the device (the size must be a multiple of max(align, 2 MiB)). */
export function devDaxSetSize(dev: DevDax, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new KernelError(EINVAL, `${dev.name}: size: ${size} is not a byte count`);
  if (dev.region.isStatic) throw new KernelError(EACCES, `${dev.name}: size: read-only on a static dax region`);
  if (!allocIsAligned(dev, size)) {
    dev.log(KERN_DEBUG, `size: ${size} misaligned`);
    throw new KernelError(
      EINVAL,
      `${dev.name}: size: ${size} misaligned: must be a multiple of ${Math.max(dev.align, memremapCompatAlign(dev.region.bus))} (max of align ${dev.align} and memremap_compat_align)`,
    );
  }
  if (!dev.region.enabled) throw new KernelError(ENXIO, `${dev.name}: size: region ${dev.region.id} is disabled`);
  devDaxResize(dev, size);
}

/** size_store() with a sysfs buffer. */
export function sizeStore(dev: DevDax, buf: string): void {
  devDaxSetSize(dev, kstrtoull(buf));
}

/** align_store(): PAGE_SIZE, PMD_SIZE or PUD_SIZE; unbound only; every range a multiple of max(align, 2 MiB). */
export function devDaxSetAlign(dev: DevDax, align: number): void {
  const bus = dev.region.bus;
  if (dev.region.isStatic) throw new KernelError(EACCES, `${dev.name}: align: read-only on a static dax region`);
  if (!daxAlignValid(bus, align))
    throw new KernelError(EINVAL, `${dev.name}: align: ${align} is not one of ${alignList(bus)}`);
  if (!dev.region.enabled) throw new KernelError(ENXIO, `${dev.name}: align: region ${dev.region.id} is disabled`);
  if (dev.bound) throw new KernelError(EBUSY, `${dev.name}: align: cannot change while bound to device_dax (disable it first)`);
  const old = dev.align;
  dev.align = align;
  // dev_dax_validate_align()
  for (let i = 0; i < dev.ranges.length; i++) {
    const r = dev.ranges[i]!;
    if (!allocIsAligned(dev, r.end - r.start + 1)) {
      dev.log(KERN_DEBUG, `align ${align} invalid for range ${i}`);
      dev.align = old;
      throw new KernelError(
        EINVAL,
        `${dev.name}: align: ${align} invalid for range ${i} (${hex(r.start)}-${hex(r.end)}): its length is not a multiple of ${Math.max(align, memremapCompatAlign(bus))}`,
      );
    }
  }
}

/** align_store() with a sysfs buffer: a parse failure is -ENXIO, as kstrtoul's return is mapped there. */
export function alignStore(dev: DevDax, buf: string): void {
  let v: number;
  try {
    v = kstrtoull(buf);
  } catch {
    throw new KernelError(ENXIO, `${dev.name}: align: "${buf.trim()}" is not a number`);
  }
  devDaxSetAlign(dev, v);
}

/** mapping_store(): claims exactly [start, end] for the device (daxctl create-device --input). */
export function devDaxAddMapping(dev: DevDax, start: number, end: number): void {
  if (dev.region.isStatic) throw new KernelError(EACCES, `${dev.name}: mapping: not available on a static dax region`);
  if (!dev.region.enabled) throw new KernelError(ENXIO, `${dev.name}: mapping: region ${dev.region.id} is disabled`);
  const len = end - start + 1;
  if (!(len > 0) || !allocIsAligned(dev, len))
    throw new KernelError(ENXIO, `${dev.name}: mapping: ${hex(start)}-${hex(end)} length is not a multiple of max(align, 2 MiB)`);
  const rc = allocDevDaxRange(dev, start, len);
  if (rc < 0) throw new KernelError(-rc, `${dev.name}: mapping: ${hex(start)}-${hex(end)} is not free in region ${dev.region.id}`);
}

/** mapping_store() with a sysfs buffer "<start>-<end>" in hex. */
export function mappingStore(dev: DevDax, buf: string): void {
  const m = /^(?:0x)?([0-9a-fA-F]+)-(?:0x)?([0-9a-fA-F]+)\n?$/.exec(buf);
  if (!m) throw new KernelError(EINVAL, `${dev.name}: mapping: "${buf.trim()}" is not <start>-<end> in hex`);
  devDaxAddMapping(dev, parseInt(m[1]!, 16), parseInt(m[2]!, 16));
}

/** unregister_dev_dax(): kill, unbind, device_del, free the ranges. */
export function unregisterDevDax(dev: DevDax): void {
  if (!dev.registered) return;
  if (dev.bound) unbindDevDax(dev);
  else killDevDax(dev);
  dev.registered = false;
  freeDevDaxRanges(dev);
  const region = dev.region;
  region.devices.delete(dev.name);
  if (!region.isStatic) region.ids.delete(dev.id);
  if (region.seed === dev) region.seed = null;
  if (region.youngest === dev) region.youngest = null;
}
