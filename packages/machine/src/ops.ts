import type { MapLocation, NamespaceMode } from '@daxsim/nvdimm';

/**
 * The kernel-level steps that change a machine: what a command does to the
 * kernel (a namespace given capacity, a sysfs write to a dax device's size,
 * a bind), not the command line. The log of these replays a machine exactly,
 * including a command that failed halfway (daxctl's seed device left behind
 * after a refused resize).
 */
export type Op =
  /** A labelled region's idle namespace given capacity and a mode, then enabled. */
  | { readonly op: 'ns.create'; readonly region: number; readonly id: number; readonly start: number; readonly size: number; readonly mode: NamespaceMode; readonly align: number; readonly map: MapLocation; readonly name?: string }
  /** A disabled, configured namespace given a new claim (mode, align, map) and enabled. */
  | { readonly op: 'ns.reconfig'; readonly dev: string; readonly mode: NamespaceMode; readonly align: number; readonly map: MapLocation }
  /** The info block zeroed: a disabled namespace back to raw, keeping its capacity (namespace_prep_reconfig()). */
  | { readonly op: 'ns.raw'; readonly dev: string }
  /** A write to a disabled labelled namespace's `size` (ndctl's set_size in setup_namespace() on -e -s). */
  | { readonly op: 'ns.resize'; readonly dev: string; readonly size: number }
  /** Disabled, info block zeroed, and (labelled) its capacity given back: idle. */
  | { readonly op: 'ns.destroy'; readonly dev: string }
  | { readonly op: 'ns.disable'; readonly dev: string }
  | { readonly op: 'ns.enable'; readonly dev: string }
  /** A write to a dax region's `create` attribute: a new 0-size device. */
  | { readonly op: 'dax.create'; readonly region: number }
  /** A write to a dax region's `delete` attribute. */
  | { readonly op: 'dax.delete'; readonly region: number; readonly dev: string }
  | { readonly op: 'dax.size'; readonly dev: string; readonly size: number }
  | { readonly op: 'dax.align'; readonly dev: string; readonly align: number }
  | { readonly op: 'dax.mapping'; readonly dev: string; readonly start: number; readonly end: number }
  | { readonly op: 'dax.bind'; readonly dev: string }
  | { readonly op: 'dax.unbind'; readonly dev: string }
  /** A location of a device's media goes bad, and the machine check that detects it runs memory_failure() (see Machine.poison). */
  | { readonly op: 'poison'; readonly dev: string; readonly offset: number }
  /** A write to /proc/sys: vm.memory_failure_early_kill. */
  | { readonly op: 'sysctl'; readonly key: 'vm.memory_failure_early_kill'; readonly value: number }
  /** The device bound to dax_kmem: its memory hot-added as System RAM (and auto-onlined as the policy says). */
  | { readonly op: 'kmem.bind'; readonly dev: string }
  /** The device unbound from dax_kmem: its memory removed (every block offline first). */
  | { readonly op: 'kmem.unbind'; readonly dev: string }
  /** A write to /sys/bus/dax/devices/<dev>/memmap_on_memory. */
  | { readonly op: 'dax.memmap_on_memory'; readonly dev: string; readonly value: boolean }
  /** A write to /sys/devices/system/memory/memory<block>/state. */
  | { readonly op: 'memory.state'; readonly block: number; readonly state: 'offline' | 'online' | 'online_kernel' | 'online_movable' }
  /** echo value > /sys/bus/cxl/devices/<dev>/<attr> (what cxl-cli writes: create_ram_region, interleave_ways, target0, commit, ...). */
  | { readonly op: 'cxl.write'; readonly dev: string; readonly attr: string; readonly value: string }
  /** A CXL device bound to its driver (cxl_region for regionN: dax_cxl and dax_kmem follow; cxl_mem for memN). */
  | { readonly op: 'cxl.bind'; readonly dev: string }
  | { readonly op: 'cxl.unbind'; readonly dev: string }
  /** echo value > /sys/kernel/debug/cxl/<memdev>/<attr> (inject_poison, clear_poison). */
  | { readonly op: 'cxl.debugfs'; readonly memdev: string; readonly attr: string; readonly value: string };

export type OpName = Op['op'];

export const OP_NAMES: readonly OpName[] = [
  'ns.create',
  'ns.reconfig',
  'ns.raw',
  'ns.resize',
  'ns.destroy',
  'ns.disable',
  'ns.enable',
  'dax.create',
  'dax.delete',
  'dax.size',
  'dax.align',
  'dax.mapping',
  'dax.bind',
  'dax.unbind',
  'poison',
  'sysctl',
  'kmem.bind',
  'kmem.unbind',
  'dax.memmap_on_memory',
  'memory.state',
  'cxl.write',
  'cxl.bind',
  'cxl.unbind',
  'cxl.debugfs',
];
