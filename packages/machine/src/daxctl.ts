import type { DaxRegion, DevDax } from '@daxsim/device-dax';
import { EINVAL, ENOSPC, ENXIO, KernelError } from '@daxsim/mm';
import { checkHostMemory } from './host-memory.js';
import type { Machine } from './machine.js';
import type { Op } from './ops.js';

/**
 * daxctl's device verbs (daxctl/device.c over libdaxctl's sysfs protocol)
 * down to the kernel-level operations they make. Argument syntax and JSON
 * are the command line's.
 */

/** Dax regions in id order (then address: each devdax namespace of a pmem region has a static region of that id). */
export function daxRegions(m: Machine, filter?: number): DaxRegion[] {
  return [...m.bus.regions].filter((r) => filter === undefined || r.id === filter).sort((a, b) => a.id - b.id || a.start - b.start);
}

/** A libdaxctl sysfs write: any refusal becomes -ENXIO with "<dev>: failed to set <attr>", as libdaxctl reports it. */
export function sysfsWrite(m: Machine, op: Op, dev: string, attr: string): void {
  try {
    m.apply(op);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    throw new KernelError(ENXIO, `libdaxctl: daxctl_dev_set_${attr}: ${dev}: failed to set ${attr} (${e.message})`);
  }
}

/** One mapping of a device to reproduce (daxctl list -M's page_offset/start/end). */
export interface DeviceMapping {
  readonly page_offset: number;
  readonly start: number;
  readonly end: number;
}

export interface CreateDeviceRequest {
  readonly region?: number;
  /** Default: all the region has available (or the total of `mappings`). */
  readonly size?: number;
  readonly align?: number;
  /** --input: mappings to reproduce instead of a size. */
  readonly mappings?: readonly DeviceMapping[];
}

export interface CreateDeviceResult {
  /** The device made and enabled, or null. */
  readonly device: DevDax | null;
  /** 0, or the errno of the last region's refusal. */
  readonly errno: number;
  /** Each region's refusal, in order (daxctl prints them with -v). */
  readonly errors: readonly string[];
}

/** Observers of create-device's steps (the fuzzer snapshots the machine before the enable). */
export interface CreateDeviceHooks {
  readonly beforeEnable?: (dev: DevDax) => void;
}

/** `daxctl create-device`: do_create() on each candidate region until one succeeds. */
export function daxctlCreateDevice(m: Machine, req: CreateDeviceRequest, hooks: CreateDeviceHooks = {}): CreateDeviceResult {
  let errno = ENXIO;
  const errors: string[] = [];
  for (const region of daxRegions(m, req.region)) {
    try {
      return { device: createIn(m, region, req, hooks), errno: 0, errors };
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      errors.push(e.message);
      errno = e.errno;
    }
  }
  return { device: null, errno, errors };
}

/** do_create() on one region: seed device, align, mappings or size, then enable. A failed step leaves the earlier ones done. */
function createIn(m: Machine, region: DaxRegion, req: CreateDeviceRequest, hooks: CreateDeviceHooks): DevDax {
  // the memmap the enable would build: refused before the first step when the host cannot hold it
  const want = req.size ?? region.availableSize;
  if (want > 0 && want <= region.availableSize) checkHostMemory(m, `region${region.id}`, { start: region.start, size: want, align: req.align || region.align, map: 'mem', mode: 'devdax' });
  try {
    m.apply({ op: 'dax.create', region: region.id });
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    throw new KernelError(ENOSPC, `region${region.id}: cannot create a device: ${e.message}`);
  }
  // daxctl_region_get_dev_seed(): the first device without a size, not necessarily the one just made
  const dev = region.seed ?? region.youngest;
  if (!dev) throw new KernelError(ENOSPC, `region${region.id}: no seed device`);
  const val = req.size ?? region.availableSize;
  if (!(val > 0)) throw new KernelError(ENOSPC, `${dev.name}: no space to give the device`);
  if (req.align !== undefined && req.align > 0) sysfsWrite(m, { op: 'dax.align', dev: dev.name, align: req.align }, dev.name, 'align');
  if (req.mappings) {
    let total = 0;
    for (const mp of [...req.mappings].sort((a, b) => a.page_offset - b.page_offset)) {
      sysfsWrite(m, { op: 'dax.mapping', dev: dev.name, start: mp.start, end: mp.end }, dev.name, 'mapping');
      total += mp.end - mp.start + 1;
    }
    if (total !== val) throw new KernelError(EINVAL, `${dev.name}: allocated ${total} but specified size ${val}`);
  } else {
    sysfsWrite(m, { op: 'dax.size', dev: dev.name, size: val }, dev.name, 'size');
  }
  hooks.beforeEnable?.(dev);
  try {
    m.apply({ op: 'dax.bind', dev: dev.name });
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    throw new KernelError(e.errno, `${dev.name}: enable failed: ${e.message}`);
  }
  return dev;
}

/** The devices a per-device verb names ("all", or one name), filtered by region. */
export function daxctlDevices(m: Machine, target: string, region?: number): DevDax[] {
  if (target === 'all') return daxRegions(m, region).flatMap((r) => r.devicesById());
  const d = m.bus.device(target);
  return d && (region === undefined || d.region.id === region) ? [d] : [];
}

/** `daxctl destroy-device`: disable (-f), size 0, delete. */
export function daxctlDestroyDevice(m: Machine, d: DevDax, force: boolean): void {
  if (m.enabled(d) && !force) throw new KernelError(ENXIO, `${d.name} is active, specify --force for deletion`);
  if (m.enabled(d)) m.apply({ op: 'dax.unbind', dev: d.name });
  if (d.size) sysfsWrite(m, { op: 'dax.size', dev: d.name, size: 0 }, d.name, 'size');
  m.apply({ op: 'dax.delete', region: d.region.id, dev: d.name });
}

/** `daxctl reconfigure-device -a/-s`: the align, then the size, each a sysfs write. */
export function daxctlReconfigureDevice(m: Machine, d: DevDax, req: { size?: number; align?: number }): void {
  if (req.align !== undefined) sysfsWrite(m, { op: 'dax.align', dev: d.name, align: req.align }, d.name, 'align');
  if (req.size !== undefined) sysfsWrite(m, { op: 'dax.size', dev: d.name, size: req.size }, d.name, 'size');
}

/** `daxctl enable-device`: binds a device that is not (enabling an enabled one succeeds). */
export function daxctlEnableDevice(m: Machine, d: DevDax): void {
  if (m.kmem.isBound(d)) throw new KernelError(ENXIO, `${d.name}: status operations are only applicable in devdax mode`);
  if (!d.bound) m.apply({ op: 'dax.bind', dev: d.name });
}

/** `daxctl disable-device`: unbinds a device that is bound. */
export function daxctlDisableDevice(m: Machine, d: DevDax): void {
  if (m.kmem.isBound(d)) throw new KernelError(ENXIO, `${d.name}: status operations are only applicable in devdax mode`);
  if (d.bound) m.apply({ op: 'dax.unbind', dev: d.name });
}
