import { kstrtoull } from '@daxsim/device-dax';
import { EACCES, ENODEV, ENOENT, KernelError, hex } from '@daxsim/mm';
import type { CxlBus } from './cxl-bus.js';
import { attrError, cxlDpaResourceStart, cxlDpaSize, decoderModeStore, dpaSizeStore } from './hdm.js';
import { cxlMemdevBind, cxlMemdevUnbind } from './memdev.js';
import { CxlEndpointDecoder, CxlRootDecoder, rangeLen } from './objects.js';
import { cxlClearPoison, cxlInjectPoison } from './poison.js';
import {
  commitStore,
  createRegionShow,
  createRegionStore,
  cxlRegionBind,
  cxlRegionUnbind,
  deleteRegionStore,
  interleaveGranularityStore,
  interleaveWaysStore,
  maxAvailableExtent,
  sizeStore,
  targetShow,
  targetStore,
  uuidStore,
} from './region.js';

/**
 * The kernel steps a CXL tool makes, one sysfs (or debugfs) write at a time:
 * what a machine logs and replays. Each either happens whole or throws a
 * KernelError and changes nothing.
 */
export interface CxlSysfs {
  /** echo value > /sys/bus/cxl/devices/<dev>/<attr> */
  write(dev: string, attr: string, value: string): void;
  /** echo dev > /sys/bus/cxl/drivers/<driver>/bind (cxl_region for regionN, cxl_mem for memN) */
  bind(dev: string): void;
  /** echo dev > /sys/bus/cxl/drivers/<driver>/unbind */
  unbind(dev: string): void;
  /** echo value > /sys/kernel/debug/cxl/<memdev>/<attr> (inject_poison, clear_poison) */
  debugfs(memdev: string, attr: string, value: string): void;
}

/** Which device a name is: a decoder, region or memdev; ENODEV (no such device) otherwise. */
function lookup(bus: CxlBus, dev: string) {
  if (/^decoder\d+\.\d+$/.test(dev)) return { kind: 'decoder' as const, d: bus.decoder(dev) };
  if (/^region\d+$/.test(dev)) return { kind: 'region' as const, r: bus.region(dev) };
  if (/^mem\d+$/.test(dev)) return { kind: 'memdev' as const, m: bus.memdev(dev) };
  throw new KernelError(ENODEV, `cxl: no device "${dev}" on the cxl bus`);
}

const READ_ONLY = new Set(['start', 'size', 'locked', 'interleave_ways', 'interleave_granularity', 'target_type', 'target_list', 'region', 'mode', 'resource', 'qos_class', 'cap_pmem', 'cap_ram', 'cap_type2', 'cap_type3', 'max_available_extent', 'dpa_resource', 'ram/size', 'pmem/size', 'serial', 'firmware_version']);

/** A sysfs write to a CXL device attribute, as the store routines take it. */
export function cxlSysfsWrite(bus: CxlBus, dev: string, attr: string, value: string): void {
  const o = lookup(bus, dev);
  if (o.kind === 'decoder') {
    const d = o.d;
    if (d instanceof CxlRootDecoder) {
      if (attr === 'create_ram_region') return void createRegionStore(bus, d, 'ram', value);
      if (attr === 'create_pmem_region') return void createRegionStore(bus, d, 'pmem', value);
      if (attr === 'delete_region') return deleteRegionStore(bus, d, value);
    }
    if (d instanceof CxlEndpointDecoder) {
      if (attr === 'mode') return decoderModeStore(d, value);
      if (attr === 'dpa_size') {
        let size: number;
        try {
          size = kstrtoull(value);
        } catch (e) {
          if (e instanceof KernelError) throw attrError(d.name, attr, e.errno, `"${value.trim()}" is not a number`);
          throw e;
        }
        return dpaSizeStore(d, size);
      }
    }
  } else if (o.kind === 'region') {
    const r = o.r;
    switch (attr) {
      case 'interleave_ways':
        return interleaveWaysStore(r, value);
      case 'interleave_granularity':
        return interleaveGranularityStore(r, value);
      case 'size':
        return sizeStore(r, value);
      case 'uuid':
        return uuidStore(bus, r, value);
      case 'commit':
        return commitStore(bus, r, value);
    }
    const t = /^target(\d+)$/.exec(attr);
    if (t) return targetStore(bus, r, Number(t[1]), value);
  }
  if (READ_ONLY.has(attr)) throw attrError(dev, attr, EACCES, 'read-only attribute');
  throw attrError(dev, attr, ENOENT, 'no such attribute');
}

/** A sysfs read of the attributes cxl-cli reads back (as the show routines print them, without the newline). */
export function cxlSysfsRead(bus: CxlBus, dev: string, attr: string): string {
  const o = lookup(bus, dev);
  if (o.kind === 'decoder') {
    const d = o.d;
    if (d instanceof CxlRootDecoder) {
      if (attr === 'create_ram_region') return createRegionShow(bus, d, 'ram');
      if (attr === 'create_pmem_region') return createRegionShow(bus, d, 'pmem');
      if (attr === 'max_available_extent') return hex(maxAvailableExtent(d));
    }
    if (attr === 'start') return hex(d.hpaRange.start);
    if (attr === 'size') return hex(d.size);
    if (attr === 'interleave_ways') return String(d.interleaveWays);
    if (attr === 'interleave_granularity') return String(d.interleaveGranularity);
    if (attr === 'region') return d.region?.name ?? '';
    if (d instanceof CxlEndpointDecoder) {
      if (attr === 'mode') return d.mode;
      if (attr === 'dpa_size') return hex(cxlDpaSize(d));
      if (attr === 'dpa_resource') return cxlDpaResourceStart(d) < 0 ? '0xffffffffffffffff' : hex(cxlDpaResourceStart(d));
    }
  } else if (o.kind === 'region') {
    const r = o.r;
    const p = r.params;
    switch (attr) {
      case 'interleave_ways':
        return String(p.interleaveWays);
      case 'interleave_granularity':
        return String(p.interleaveGranularity);
      case 'size':
        return hex(p.res ? rangeLen(p.res) : 0);
      case 'resource':
        return p.res ? hex(p.res.start) : '0xffffffffffffffff';
      case 'commit':
        return p.state >= 4 ? '1' : '0';
      case 'mode':
        return r.mode;
      case 'uuid':
        return r.mode === 'pmem' ? (p.uuid ?? '00000000-0000-0000-0000-000000000000') : '';
    }
    const t = /^target(\d+)$/.exec(attr);
    if (t && Number(t[1]) < p.interleaveWays) return targetShow(r, Number(t[1]));
  } else {
    const m = o.m;
    if (attr === 'ram/size') return hex(m.ramSize);
    if (attr === 'pmem/size') return hex(m.pmemSize);
    if (attr === 'serial') return hex(m.serial);
    if (attr === 'firmware_version') return m.firmwareVersion;
  }
  throw attrError(dev, attr, ENOENT, 'no such attribute');
}

/** A bind through the driver's bind attribute: cxl_region for a region, cxl_mem for a memdev. */
export function cxlDriverBind(bus: CxlBus, dev: string): void {
  const o = lookup(bus, dev);
  if (o.kind === 'region') return cxlRegionBind(bus, o.r);
  if (o.kind === 'memdev') return cxlMemdevBind(bus, o.m);
  throw new KernelError(ENODEV, `${dev}: bind: no driver binds decoders from user space`);
}

export function cxlDriverUnbind(bus: CxlBus, dev: string): void {
  const o = lookup(bus, dev);
  if (o.kind === 'region') return cxlRegionUnbind(bus, o.r);
  if (o.kind === 'memdev') return cxlMemdevUnbind(bus, o.m);
  throw new KernelError(ENODEV, `${dev}: unbind: no driver unbinds decoders from user space`);
}

/** A write to /sys/kernel/debug/cxl/<memdev>/inject_poison or clear_poison (a DPA, kstrtou64). */
export function cxlDebugfsWrite(bus: CxlBus, memdev: string, attr: string, value: string): void {
  const m = bus.memdev(memdev);
  let dpa: number;
  try {
    dpa = kstrtoull(value);
  } catch (e) {
    if (e instanceof KernelError) throw new KernelError(e.errno, `${memdev}: ${attr}: "${value.trim()}" is not a number`);
    throw e;
  }
  if (attr === 'inject_poison') return cxlInjectPoison(bus, m, dpa);
  if (attr === 'clear_poison') return cxlClearPoison(bus, m, dpa);
  throw new KernelError(ENOENT, `/sys/kernel/debug/cxl/${memdev}/${attr}: no such file`);
}

/** The steps applied straight to a bus (tests, and whatever needs no log). */
export function directSysfs(bus: CxlBus): CxlSysfs {
  return {
    write: (dev, attr, value) => cxlSysfsWrite(bus, dev, attr, value),
    bind: (dev) => cxlDriverBind(bus, dev),
    unbind: (dev) => cxlDriverUnbind(bus, dev),
    debugfs: (memdev, attr, value) => cxlDebugfsWrite(bus, memdev, attr, value),
  };
}
