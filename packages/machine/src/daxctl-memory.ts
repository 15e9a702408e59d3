import type { DevDax } from '@daxsim/device-dax';
import type { MemoryBlock } from '@daxsim/kmem';
import { EBUSY, EINVAL, ENXIO, KernelError, ZONE_MOVABLE, strerror } from '@daxsim/mm';
import type { Machine } from './machine.js';

/**
 * daxctl's system-ram verbs (daxctl/device.c and libdaxctl's memory ops of
 * ndctl v81) down to the sysfs writes they make: a bind to kmem, writes to
 * memoryN/state. Each returns daxctl's return code (0; 1: nothing to do;
 * -errno) and the lines daxctl and libdaxctl print on stderr.
 */
export interface DaxctlMemoryResult {
  rc: number;
  readonly messages: string[];
}

/** What `daxctl list` shows of a device's memory: null when the device is not in system-ram mode. */
export interface DaxctlMemoryInfo {
  readonly online_memblocks: number;
  readonly total_memblocks: number;
  /** daxctl_memory_is_movable(): absent (undefined) when a block is offline (libdaxctl's zone scan fails with ENXIO). */
  readonly movable?: boolean;
}

/**
 * The memory blocks libdaxctl counts as the device's: those of the target
 * node whose start lies in [resource, resource + size] — the end inclusive,
 * as memblock_in_dev() compares — in memoryN order.
 */
function memblocks(m: Machine, d: DevDax): MemoryBlock[] {
  const ps = m.arch.pageSize;
  const start = d.resource;
  const end = start + d.size;
  return [...m.kmem.hotplug.blocks.values()]
    .filter((b) => b.nid === d.targetNode && b.startPfn * ps >= start && b.startPfn * ps <= end)
    .sort((a, b) => a.id - b.id);
}

const statePath = (b: MemoryBlock) => `/sys/devices/system/node/node${b.nid}/memory${b.id}/state`;

export function daxctlMemoryInfo(m: Machine, d: DevDax): DaxctlMemoryInfo | null {
  if (!m.kmem.isBound(d)) return null;
  const blocks = memblocks(m, d);
  const online = blocks.filter((b) => b.state === 'online');
  const info = { online_memblocks: online.length, total_memblocks: blocks.length };
  if (online.length < blocks.length) return info;
  return { ...info, movable: online.length > 0 && online.every((b) => b.zone === ZONE_MOVABLE) };
}

// daxctl_memory_online() / _no_movable(): "online_movable" (or "online") to each offline block; the first refusal stops it
function memoryOnline(m: Machine, d: DevDax, noMovable: boolean, out: string[]): number {
  let count = 0;
  for (const b of memblocks(m, d)) {
    if (b.state === 'online') continue;
    try {
      m.apply({ op: 'memory.state', block: b.id, state: noMovable ? 'online' : 'online_movable' });
      count++;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      out.push(`libdaxctl: online_one_memblock: ${d.name}: ${e.message}`);
      return -e.errno;
    }
  }
  return count;
}

// daxctl_memory_offline(): "offline" to each online block; the first refusal stops it
function memoryOffline(m: Machine, d: DevDax, out: string[]): number {
  let count = 0;
  for (const b of memblocks(m, d)) {
    if (b.state === 'offline') continue;
    try {
      m.apply({ op: 'memory.state', block: b.id, state: 'offline' });
      count++;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      out.push(`libdaxctl: offline_one_memblock: ${d.name}: Failed to offline ${statePath(b)}: ${strerror(-e.errno)}`);
      out.push(`  (kernel: ${e.message})`);
      return -e.errno;
    }
  }
  return count;
}

/** dev_online_memory() */
function devOnlineMemory(m: Machine, d: DevDax, o: { noMovable: boolean; verbose: boolean }, out: string[]): number {
  const info = daxctlMemoryInfo(m, d);
  if (!info) {
    out.push(`${d.name}: failed to get the memory object`);
    return -ENXIO;
  }
  const total = info.total_memblocks;
  let on = info.online_memblocks;
  if (on)
    out.push(
      `${d.name}:\n  WARNING: detected a race while onlining memory\n  Some memory may not be in the expected zone. It is\n  recommended to disable any other onlining mechanisms,\n  and retry. If onlining is to be left to other agents,\n  use the --no-online option to suppress this warning`,
    );
  if (on === total) {
    out.push(`${d.name}: all memory sections (${on}) already online`);
    return 1;
  }
  if (on > 0) out.push(`${d.name}: ${on} memory section${on === 1 ? '' : 's'} already online`);
  const rc = memoryOnline(m, d, o.noMovable, out);
  if (rc < 0) {
    out.push(`${d.name}: failed to online memory: ${strerror(rc)}`);
    return rc;
  }
  if (o.verbose) out.push(`${d.name}: ${rc} memory section${rc === 1 ? '' : 's'} onlined`);
  on = daxctlMemoryInfo(m, d)!.online_memblocks;
  if (on < total) {
    out.push(`${d.name}: failed to online ${total - on} memory sections`);
    return -ENXIO;
  }
  return 0;
}

/** dev_offline_memory() */
function devOfflineMemory(m: Machine, d: DevDax, o: { verbose: boolean }, out: string[]): number {
  const info = daxctlMemoryInfo(m, d);
  if (!info) {
    out.push(`${d.name}: failed to get the memory object`);
    return -ENXIO;
  }
  const total = info.total_memblocks;
  const off = total - info.online_memblocks;
  if (off === total) {
    out.push(`${d.name}: all memory sections (${off}) already offline`);
    return 1;
  }
  if (off) out.push(`${d.name}: ${off} memory section${off === 1 ? '' : 's'} already offline`);
  const rc = memoryOffline(m, d, out);
  if (rc < 0) {
    out.push(`${d.name}: failed to offline memory: ${strerror(rc)}`);
    return rc;
  }
  if (o.verbose) out.push(`${d.name}: ${rc} memory section${rc === 1 ? '' : 's'} offlined`);
  const on = daxctlMemoryInfo(m, d)!.online_memblocks;
  if (on) {
    out.push(`${d.name}: failed to offline ${on} memory sections`);
    return -ENXIO;
  }
  return 0;
}

/** `daxctl online-memory` / `offline-memory` on one device: do_xline(). */
export function daxctlOnlineMemory(m: Machine, d: DevDax, o: { noMovable: boolean; verbose: boolean }): DaxctlMemoryResult {
  const messages: string[] = [];
  if (!m.kmem.isBound(d)) {
    messages.push(`${d.name}: memory operations are not applicable in devdax mode`);
    return { rc: -ENXIO, messages };
  }
  return { rc: devOnlineMemory(m, d, o, messages), messages };
}

export function daxctlOfflineMemory(m: Machine, d: DevDax, o: { verbose: boolean }): DaxctlMemoryResult {
  const messages: string[] = [];
  if (!m.kmem.isBound(d)) {
    messages.push(`${d.name}: memory operations are not applicable in devdax mode`);
    return { rc: -ENXIO, messages };
  }
  return { rc: devOfflineMemory(m, d, o, messages), messages };
}

export interface ReconfigureModeRequest {
  readonly mode: 'system-ram' | 'devdax';
  readonly noOnline?: boolean;
  readonly noMovable?: boolean;
  readonly force?: boolean;
  readonly verbose?: boolean;
}

// daxctl_dev_enable(): the bind; a refused probe is "failed to enable" with the bind's errno
function devEnable(m: Machine, d: DevDax, op: 'kmem.bind' | 'dax.bind', out: string[]): number {
  if (m.enabled(d)) return 0;
  try {
    m.apply({ op, dev: d.name });
    return 0;
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    out.push(`  (kernel: ${e.message})`);
    out.push(`libdaxctl: daxctl_dev_enable: ${d.name}: failed to enable`);
    return -e.errno;
  }
}

// daxctl_dev_disable()
function devDisable(m: Machine, d: DevDax, out: string[]): number {
  if (!m.enabled(d)) return 0;
  try {
    m.apply({ op: 'dax.unbind', dev: d.name });
    return 0;
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    out.push(`${d.name}: disable failed: ${strerror(-e.errno)} (${e.message})`);
    return -e.errno;
  }
}

/**
 * `daxctl reconfigure-device --mode=system-ram|devdax` on one device:
 * reconfig_mode_system_ram() (refused with EBUSY when the kernel's
 * auto-online policy would online the memory and --no-online, or the
 * default movable onlining, was asked for, unless -f) or
 * reconfig_mode_devdax() (EBUSY while memory is online; -f offlines it
 * first).
 */
export function daxctlReconfigureMode(m: Machine, d: DevDax, req: ReconfigureModeRequest, hooks: { beforeEnable?: (dev: DevDax) => void } = {}): DaxctlMemoryResult {
  const out: string[] = [];
  const verbose = req.verbose ?? false;
  if (req.mode === 'system-ram') {
    if ((req.noOnline || !req.noMovable) && !req.force && m.kmem.hotplug.autoOnline !== 'offline') {
      out.push(`${d.name}: error: kernel policy will auto-online memory, aborting`);
      return { rc: -EBUSY, messages: out };
    }
    let skipEnable = false;
    if (m.enabled(d)) {
      if (m.kmem.isBound(d)) {
        out.push(`${d.name} was already in system-ram mode`);
        skipEnable = true;
      } else {
        const rc = devDisable(m, d, out);
        if (rc < 0) return { rc, messages: out };
      }
    }
    if (!skipEnable) {
      hooks.beforeEnable?.(d);
      const rc = devEnable(m, d, 'kmem.bind', out);
      if (rc) return { rc, messages: out };
    }
    if (req.noOnline) return { rc: 0, messages: out };
    return { rc: devOnlineMemory(m, d, { noMovable: req.noMovable ?? false, verbose }, out), messages: out };
  }
  if (req.mode !== 'devdax') throw new KernelError(EINVAL, `${d.name}: unknown mode requested: ${String(req.mode)}`);
  if (m.enabled(d)) {
    // disable_system_ram_device()
    if (!m.kmem.isBound(d)) {
      out.push(`${d.name} was already in devdax mode`);
      return { rc: 1, messages: out };
    }
    if (req.force) {
      const rc = devOfflineMemory(m, d, { verbose }, out);
      if (rc < 0) return { rc, messages: out };
    }
    const on = daxctlMemoryInfo(m, d)!.online_memblocks;
    if (on > 0) {
      if (verbose) out.push(`${d.name}: found ${on} memory sections online`, `${d.name}: refusing to change modes`);
      return { rc: -EBUSY, messages: out };
    }
    const rc = devDisable(m, d, out);
    if (rc) return { rc, messages: out };
  }
  hooks.beforeEnable?.(d);
  return { rc: devEnable(m, d, 'dax.bind', out), messages: out };
}
