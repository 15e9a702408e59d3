import type { DaxRegion, DevDax } from '@daxsim/device-dax';
import type { MemoryBlock } from '@daxsim/kmem';
import { EACCES, KernelError, ZONE_MOVABLE, ZONE_NORMAL } from '@daxsim/mm';
import { type Namespace, type PmemRegion, REGION_ALIGN, availableSize, isConfigured, maxAvailableExtent, namespaceName } from '@daxsim/nvdimm';
import type { Machine } from './machine.js';
import { type VDir, type VNode, dir, file, link } from './vfs.js';
import { ZONE_NAMES, bootZones } from './zones.js';

/**
 * The machine's sysfs, each attribute a show function over its state:
 * /sys/devices/system/memory (drivers/base/memory.c), /sys/devices/system/node
 * (drivers/base/node.c), /sys/bus/dax/devices (drivers/dax/bus.c) and
 * /sys/bus/nd/devices (drivers/nvdimm). Attributes the model has no state
 * for (dev numbers, uevent, power/) are left out.
 */

const RW = '-rw-r--r--';
const RO_ROOT = '-r--------';
const WO = '--w-------';
const hex = (n: number) => `0x${n.toString(16)}`;

/** A memory block device as sysfs shows it: a hot-added one of dax_kmem, or one of boot RAM (always online). */
interface BlockView {
  readonly id: number;
  readonly nid: number;
  readonly online: boolean;
  readonly validZones: string;
}

/** The memory blocks of boot RAM (memory_dev_init() → add_boot_memory_block()): a block for every block-sized stretch holding present sections. */
function bootBlocks(m: Machine): BlockView[] {
  const ppb = m.kmem.hotplug.pagesPerBlock;
  const zones = bootZones(m.arch, m.layout.ram);
  const out = new Map<number, { nid: number; zones: Set<number> }>();
  for (const z of zones)
    for (const r of z.ranges)
      for (let id = Math.floor(r.start / ppb); id * ppb < r.end; id++) {
        const b = out.get(id) ?? { nid: z.nid, zones: new Set<number>() };
        b.zones.add(z.zone);
        out.set(id, b);
      }
  // valid_zones of an online block: its zone, or "none" when it spans more than one (test_pages_in_a_zone())
  return [...out].map(([id, b]) => ({ id, nid: b.nid, online: true, validZones: b.zones.size === 1 ? ZONE_NAMES[[...b.zones][0]!]! : 'none' }));
}

// valid_zones_show(): an online block's zone; an offline block's choices, the default (zone_for_pfn_range(MMOP_ONLINE)) first
function hotplugBlockView(m: Machine, b: MemoryBlock): BlockView {
  const hp = m.kmem.hotplug;
  if (b.state === 'online') return { id: b.id, nid: b.nid, online: true, validZones: ZONE_NAMES[b.zone]! };
  const dflt = hp.zoneForPfnRange('online', b.nid, b.startPfn, b.nrPages);
  const zones = [dflt, ...[ZONE_NORMAL, ZONE_MOVABLE].filter((z) => z !== dflt)];
  return { id: b.id, nid: b.nid, online: false, validZones: zones.map((z) => ZONE_NAMES[z]).join(' ') };
}

function blockViews(m: Machine): BlockView[] {
  const all = new Map<number, BlockView>();
  for (const b of bootBlocks(m)) all.set(b.id, b);
  for (const b of m.kmem.hotplug.blocks.values()) all.set(b.id, hotplugBlockView(m, b));
  return [...all.values()].sort((a, b) => a.id - b.id);
}

function memoryBlockDir(b: BlockView): VDir {
  return dir(() => ({
    [`node${b.nid}`]: link(`/sys/devices/system/node/node${b.nid}`),
    online: file(() => (b.online ? '1\n' : '0\n'), RW),
    phys_device: file(() => '0\n'),
    phys_index: file(() => `${b.id.toString(16).padStart(8, '0')}\n`),
    // removable_show() answers 1 for every block since 5.8
    removable: file(() => '1\n'),
    state: file(() => (b.online ? 'online\n' : 'offline\n'), RW),
    valid_zones: file(() => `${b.validZones}\n`),
  }));
}

function systemMemoryDir(m: Machine): VDir {
  return dir(() => {
    const e = new Map<string, VNode>();
    e.set('auto_online_blocks', file(() => `${m.kmem.hotplug.autoOnline}\n`, RW));
    e.set('block_size_bytes', file(() => `${m.kmem.hotplug.blockSize.toString(16)}\n`));
    for (const b of blockViews(m)) e.set(`memory${b.id}`, memoryBlockDir(b));
    return e;
  });
}

/** nodemask_t printed as a list ("0", "0-1", "0,2"). */
function nodeList(nids: number[]): string {
  const s = [...new Set(nids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(j > i ? `${s[i]}-${s[j]}` : `${s[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

function systemNodeDir(m: Machine): VDir {
  return dir(() => {
    const blocks = blockViews(m);
    const withMemory = [...new Set([...m.layout.ram.map((r) => r.nid), ...blocks.filter((b) => b.online).map((b) => b.nid)])];
    const e = new Map<string, VNode>();
    e.set('has_memory', file(() => `${nodeList(withMemory)}\n`));
    e.set('has_normal_memory', file(() => `${nodeList(m.layout.ram.map((r) => r.nid))}\n`));
    e.set('online', file(() => `${nodeList(withMemory)}\n`));
    for (const nid of [...new Set([...withMemory, ...blocks.map((b) => b.nid)])].sort((a, b) => a - b))
      e.set(
        `node${nid}`,
        dir(() => Object.fromEntries(blockViews(m).filter((b) => b.nid === nid).map((b) => [`memory${b.id}`, link(`/sys/devices/system/memory/memory${b.id}`)]))),
      );
    return e;
  });
}

function daxDeviceDir(m: Machine, d: DevDax): VDir {
  return dir(() => {
    const region = d.region;
    const e = new Map<string, VNode>();
    // a static region's devices are sized by their namespace: align and size are read-only there
    e.set('align', file(() => `${d.align}\n`, region.isStatic ? undefined : RW));
    const kmem = m.kmem.isBound(d);
    if (d.bound || kmem) e.set('driver', link(`/sys/bus/dax/drivers/${kmem ? 'kmem' : 'device_dax'}`));
    if (!region.isStatic)
      e.set(
        'mapping',
        file(() => {
          throw new KernelError(EACCES, `${d.name}/mapping: write-only`);
        }, WO),
      );
    for (const mp of d.mappings())
      e.set(
        mp.name,
        dir(() => ({
          end: file(() => `${hex(mp.end)}\n`, RO_ROOT),
          page_offset: file(() => `${hex(mp.pageOffset)}\n`, RO_ROOT),
          start: file(() => `${hex(mp.start)}\n`, RO_ROOT),
        })),
      );
    if (m.kernel.release.hotplug.daxMemmapOnMemory) e.set('memmap_on_memory', file(() => (m.kmem.memmapOnMemory(d) ? '1\n' : '0\n'), RW));
    e.set('resource', file(() => `${hex(d.resource)}\n`, RO_ROOT));
    e.set('size', file(() => `${d.size}\n`, region.isStatic ? undefined : RW));
    e.set('target_node', file(() => `${d.targetNode}\n`));
    return e;
  });
}

function daxDevices(m: Machine): [string, DevDax][] {
  return [...m.bus.regions]
    .filter((r: DaxRegion) => !r.dead)
    .sort((a, b) => a.id - b.id || a.start - b.start)
    .flatMap((r) => r.devicesById().map((d) => [d.name, d] as [string, DevDax]));
}

// ---------------------------------------------------------------- nd bus

/** QEMU's NVDIMM of slot N: the serial nvdimm_build_structure_dcr() gives it (0x123456 + slot), as ndctl prints it (little-endian bytes). */
function dimmSerial(slot: number): number {
  return 0x123456 + slot;
}
const le32hex = (v: number) => [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, '0')).join('');

/** A QEMU NVDIMM of the nd bus (one per pmem region): ndctl's dimm object fields. */
export interface NdDimm {
  readonly dev: string;
  /** "<vendor>-<serial>": vendor 0x8086 and the serial, each as little-endian hex bytes. */
  readonly id: string;
  readonly handle: number;
  readonly physId: number;
  readonly region: number;
}

/** The nmemN of the machine: QEMU gives each NVDIMM slot its own DIMM and region (handle slot + 1). */
export function ndDimms(m: Machine): NdDimm[] {
  return m.pmem.map((r) => ({ dev: `nmem${r.id}`, id: `8680-${le32hex(dimmSerial(r.id))}`, handle: r.id + 1, physId: r.id, region: r.id }));
}

/**
 * The interleave-set cookie of a labelled region (acpi_nfit_init_interleave_set(),
 * v1.1 labels): fletcher64 over each mapping's { u64 region_offset; u32
 * serial_number; u32 pad }. QEMU's one-DIMM region: 0x2468ac00123456 (measured).
 */
export function regionSetCookie(r: PmemRegion): bigint {
  const words = [0, 0, dimmSerial(r.id), 0];
  let lo = 0n;
  let hi = 0n;
  for (const w of words) {
    lo = (lo + BigInt(w)) & 0xffffffffn;
    hi = (hi + lo) & 0xffffffffn;
  }
  return (hi << 32n) | lo;
}

/** A namespace's `mode` attribute (the kernel's names: memory, dax, raw). */
const nsModeAttr = (ns: Namespace) => (ns.mode === 'fsdax' ? 'memory' : ns.mode === 'devdax' ? 'dax' : 'raw');

function namespaceDir(m: Machine, ns: Namespace): VDir {
  return dir(() => {
    const e = new Map<string, VNode>();
    if (ns.enabled) e.set('driver', link(`/sys/bus/nd/drivers/${ns.mode === 'devdax' ? 'dax_pmem' : 'nd_pmem'}`));
    e.set('mode', file(() => `${nsModeAttr(ns)}\n`));
    e.set('nstype', file(() => (ns.type === 'io' ? '4\n' : '5\n')));
    e.set('numa_node', file(() => `${m.pmem[ns.region]!.nid}\n`));
    if (isConfigured(ns)) e.set('resource', file(() => `${hex(ns.start)}\n`, RO_ROOT));
    e.set('size', file(() => `${ns.size}\n`, ns.type === 'pmem' ? RW : undefined));
    e.set('target_node', file(() => `${m.pmem[ns.region]!.nid}\n`));
    if (ns.type === 'pmem') e.set('uuid', file(() => `${ns.uuid ?? ''}\n`, RW));
    return e;
  });
}

function regionDir(m: Machine, r: PmemRegion): VDir {
  return dir(() => {
    const e = new Map<string, VNode>();
    e.set('align', file(() => `${hex(REGION_ALIGN)}\n`, RW));
    e.set('available_size', file(() => `${availableSize(r)}\n`));
    e.set('driver', link('/sys/bus/nd/drivers/nd_region'));
    e.set('mapping0', file(() => `nmem${r.id},0,${r.size},0\n`));
    e.set('mappings', file(() => '1\n'));
    e.set('max_available_extent', file(() => `${maxAvailableExtent(r)}\n`));
    for (const ns of r.namespaces) e.set(namespaceName(ns), namespaceDir(m, ns));
    if (r.seed !== null) e.set('namespace_seed', file(() => `namespace${r.id}.${r.seed}\n`));
    e.set('nstype', file(() => (r.nstype === 'io' ? '4\n' : '5\n')));
    e.set('numa_node', file(() => `${r.nid}\n`));
    e.set('resource', file(() => `${hex(r.start)}\n`, RO_ROOT));
    e.set('set_cookie', file(() => `0x${regionSetCookie(r).toString(16)}\n`));
    e.set('size', file(() => `${r.size}\n`));
    e.set('target_node', file(() => `${r.nid}\n`));
    return e;
  });
}

function ndDevices(m: Machine): VDir {
  return dir(() => {
    const e = new Map<string, VNode>();
    if (m.pmem.length) e.set('ndbus0', dir(() => ({ provider: file(() => 'ACPI.NFIT\n') })));
    for (const d of ndDimms(m)) e.set(d.dev, dir(() => ({ handle: file(() => `${hex(d.handle)}\n`), id: file(() => `${d.id}\n`), phys_id: file(() => `${hex(d.physId)}\n`) })));
    for (const r of m.pmem) {
      e.set(`region${r.id}`, regionDir(m, r));
      for (const ns of r.namespaces) e.set(namespaceName(ns), namespaceDir(m, ns));
    }
    return e;
  });
}

/** /sys of the machine. */
export function sysfsRoot(m: Machine): VDir {
  return dir(() => ({
    bus: dir(() => ({
      dax: dir(() => ({
        devices: dir(() => new Map(daxDevices(m).map(([name, d]) => [name, daxDeviceDir(m, d)]))),
        drivers: dir(() => ({ device_dax: dir(() => ({})), kmem: dir(() => ({})) })),
      })),
      nd: dir(() => ({ devices: ndDevices(m), drivers: dir(() => ({ dax_pmem: dir(() => ({})), nd_pmem: dir(() => ({})), nd_region: dir(() => ({})) })) })),
    })),
    devices: dir(() => ({ system: dir(() => ({ memory: systemMemoryDir(m), node: systemNodeDir(m) })) })),
  }));
}
