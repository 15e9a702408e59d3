import type { DaxBus } from '@daxsim/device-dax';
import type { DaxKmem } from '@daxsim/kmem';
import { EINVAL, ENODEV, KernelError, hex } from '@daxsim/mm';
import {
  type CxlDecoder,
  CxlDport,
  CxlEndpointDecoder,
  type CxlHdmCaps,
  CxlMemdev,
  CxlPort,
  type CxlRegion,
  CxlRootDecoder,
  CxlSwitchDecoder,
  type CxlWindowCaps,
  SZ_256M,
} from './objects.js';
import { granularityToEig, waysToEiw } from './interleave.js';

/** A CXL host bridge: QEMU's `-device pxb-cxl,bus_nr=N` with its `-device cxl-rp` root ports. */
export interface CxlHostBridgeConfig {
  /** bus_nr: the host bridge's PCI bus (its _UID too). */
  readonly busNr: number;
  /** How many cxl-rp root ports it has (port=0..n-1). */
  readonly rootPorts: number;
}

/** A type-3 memdev: QEMU's `-device cxl-type3,bus=rpN,volatile-memdev=...,persistent-memdev=...`. */
export interface CxlMemdevConfig {
  readonly ramSize: number;
  readonly pmemSize: number;
  /** Index of its host bridge and root port. */
  readonly hostBridge: number;
  readonly rootPort: number;
  /** The device serial number (QEMU's `sn`, default 0). */
  readonly serial?: number;
}

/** A CFMWS window: QEMU's `-M cxl-fmw.N.targets.i=<hb>,cxl-fmw.N.size=...,cxl-fmw.N.interleave-granularity=...`. */
export interface CxlWindowConfig {
  /** Host physical base (QEMU places windows above the hotplug area). */
  readonly base: number;
  readonly size: number;
  /** Host bridge indices, in interleave order (the window's ways is their count). */
  readonly targets: readonly number[];
  readonly granularity: number;
  /** What the window may hold (QEMU's CFMWS allows all three). */
  readonly caps?: Partial<CxlWindowCaps>;
  /** The NUMA node the kernel makes for the window (acpi_parse_cfmws(): a new node per window SRAT leaves out). */
  readonly nid: number;
}

export interface CxlTopology {
  readonly hostBridges: readonly CxlHostBridgeConfig[];
  readonly memdevs: readonly CxlMemdevConfig[];
  readonly windows: readonly CxlWindowConfig[];
}

/**
 * What the kernel release offers (a row of the kernel registry decides):
 * - `ramRegions`: the root decoder's create_ram_region attribute (v6.3);
 * - `daxCxl`: drivers/dax/cxl.c, DEV_DAX_CXL (v6.3) — a RAM region becomes a dax region;
 * - `daxCxlMemmapOnMemory`: dax_cxl creates its device with memmap_on_memory (v6.8, 73954d379efd);
 * - `rootDecoderQosClass`: the root decoder's qos_class attribute (absent on 6.1, present on 7.3: measured).
 */
export interface CxlFeatures {
  readonly ramRegions: boolean;
  readonly daxCxl: boolean;
  readonly daxCxlMemmapOnMemory: boolean;
  readonly rootDecoderQosClass: boolean;
}

/** 7.3's (measured on 7.3-rc7). */
export const CXL_FEATURES_7_3: CxlFeatures = Object.freeze({ ramRegions: true, daxCxl: true, daxCxlMemmapOnMemory: true, rootDecoderQosClass: true });

/**
 * What a release offers, from its version and its registry row's
 * daxMemmapOnMemory: RAM regions and dax_cxl from v6.3 (the merge window
 * of create_ram_region and drivers/dax/cxl.c), memmap_on_memory where dax_kmem has it (v6.8);
 * qos_class as measured (absent on 6.1, present on 7.3; from v6.9 not confirmed).
 */
export function cxlFeaturesFor(version: string, daxMemmapOnMemory: boolean): CxlFeatures {
  const [maj, min] = version.split('.').map(Number) as [number, number];
  const atLeast = (a: number, b: number) => maj > a || (maj === a && min >= b);
  return Object.freeze({
    ramRegions: atLeast(6, 3),
    daxCxl: atLeast(6, 3),
    daxCxlMemmapOnMemory: atLeast(6, 3) && daxMemmapOnMemory,
    rootDecoderQosClass: atLeast(6, 9),
  });
}

/** An id allocator (include/linux/idr.h ida): the lowest free id. */
export class Ida {
  private readonly used = new Set<number>();
  constructor(reserved: Iterable<number> = []) {
    for (const id of reserved) this.used.add(id);
  }
  alloc(): number {
    let id = 0;
    while (this.used.has(id)) id++;
    this.used.add(id);
    return id;
  }
  free(id: number): void {
    this.used.delete(id);
  }
  has(id: number): boolean {
    return this.used.has(id);
  }
}

export interface CxlBusOptions {
  readonly topology: CxlTopology;
  readonly features?: CxlFeatures;
  /** The dax bus dax_cxl makes its regions on, and dax_kmem that claims their devices. */
  readonly dax: DaxBus;
  readonly kmem: DaxKmem;
  /**
   * memregion ids already taken (memregion_alloc() is shared with nvdimm
   * regions and hmem devices): the model's pmem and soft-reserved regions.
   */
  readonly memregionsInUse?: readonly number[];
}

/** QEMU's HDM decoder capability (hw/cxl/cxl-component-utils.c): 1/2/4/8 ways, address bits 8-14. */
const QEMU_HDM: CxlHdmCaps = Object.freeze({ iwCap: [1, 2, 4, 8], interleaveMask: 0x7f00 });
/** QEMU's HDM decoder count (CXL_HDM_DECODER_COUNT) for host bridges and type-3 devices. */
const QEMU_DECODERS = 4;
/** QEMU's pxb-cxl TARGET_COUNT */
const QEMU_HB_TARGETS = 8;
/** What QEMU's type-3 device reports as its firmware revision. */
const QEMU_FW_VERSION = 'BWFW VERSION 00';

const pciBus = (n: number) => n.toString(16).padStart(2, '0');

/**
 * The CXL bus of one machine: the topology cxl_acpi, cxl_pci and cxl_mem
 * enumerate at boot (root0, a port per host bridge, an endpoint port per
 * memdev, their HDM decoders, a root decoder per CFMWS window), the regions
 * userspace makes, and the drivers regions bind to (dax_cxl into the dax
 * bus, dax_kmem for its devices).
 */
export class CxlBus {
  readonly features: CxlFeatures;
  readonly dax: DaxBus;
  readonly kmem: DaxKmem;
  readonly root: CxlPort;
  readonly hostBridges: CxlPort[] = [];
  readonly memdevs: CxlMemdev[] = [];
  readonly rootDecoders: CxlRootDecoder[] = [];
  /** The node of each window (its root decoder's index). */
  readonly windowNids: number[] = [];
  /** memregion_alloc() */
  readonly memregion: Ida;
  /** The cxl_port ida (ports and endpoints share it). */
  readonly portIda = new Ida();
  /** dev_warn_once() sites that have fired. */
  readonly warnedOnce = new Set<string>();
  private readonly topology: CxlTopology;

  constructor(opts: CxlBusOptions) {
    this.features = opts.features ?? CXL_FEATURES_7_3;
    this.dax = opts.dax;
    this.kmem = opts.kmem;
    this.memregion = new Ida(opts.memregionsInUse ?? []);
    this.topology = opts.topology;
    validateTopology(opts.topology);
    // cxl_acpi_probe(): the root, a dport and a port per host bridge (ACPI0016), a root decoder per CFMWS
    this.root = new CxlPort('root', this.portIda.alloc(), 'ACPI0017:00', null, null, null);
    const hbDports = opts.topology.hostBridges.map((hb, i) => {
      const d = new CxlDport(this.root, `pci0000:${pciBus(hb.busNr)}`, hb.busNr, `ACPI0016:${i.toString(16).padStart(2, '0')}`);
      this.root.dports.push(d);
      return d;
    });
    opts.topology.hostBridges.forEach((hb, i) => {
      const port = new CxlPort('switch', this.portIda.alloc(), hbDports[i]!.name, this.root, hbDports[i]!, QEMU_HDM);
      for (let rp = 0; rp < hb.rootPorts; rp++) port.dports.push(new CxlDport(port, `0000:${pciBus(hb.busNr)}:${pciBus(rp)}.0`, rp, null));
      // cxl_port_probe(): one root port is a passthrough decode, else the HDM decoders
      if (hb.rootPorts === 1) {
        const d = new CxlSwitchDecoder(port, 0, 1, true);
        d.target[0] = port.dports[0]!;
        port.decoders.push(d);
      } else {
        for (let id = 0; id < QEMU_DECODERS; id++) {
          const d = new CxlSwitchDecoder(port, id, QEMU_HB_TARGETS, false);
          // an unprogrammed decoder's target list reads back port 0 (the register's reset value)
          d.target[0] = port.dports[0]!;
          port.decoders.push(d);
        }
      }
      this.hostBridges.push(port);
    });
    opts.topology.windows.forEach((w, i) => {
      const caps = { volatile: w.caps?.volatile ?? true, pmem: w.caps?.pmem ?? true, accelmem: w.caps?.accelmem ?? true };
      const d = new CxlRootDecoder(
        this.root,
        i,
        w.targets.map((t) => hbDports[t]!),
        w.granularity,
        { start: w.base, end: w.base + w.size - 1 },
        caps,
        this.features.rootDecoderQosClass ? 0 : null,
        this.memregion.alloc(),
      );
      this.root.decoders.push(d);
      this.rootDecoders.push(d);
      this.windowNids.push(w.nid);
    });
    // cxl_pci_probe(): the memdevs, in PCI order (host bridge, root port); secondary buses follow the root ports
    const order = [...opts.topology.memdevs.entries()].sort((a, b) => a[1].hostBridge - b[1].hostBridge || a[1].rootPort - b[1].rootPort);
    for (const [, m] of order) {
      const hb = opts.topology.hostBridges[m.hostBridge]!;
      const rp = this.hostBridges[m.hostBridge]!.dports[m.rootPort]!;
      const md = new CxlMemdev(this.memdevs.length, `0000:${pciBus(hb.busNr + 1 + m.rootPort)}:00.0`, m.ramSize, m.pmemSize, m.serial ?? 0, rp, QEMU_FW_VERSION);
      this.memdevs.push(md);
    }
    // cxl_mem_probe(): an endpoint port per memdev
    for (const md of this.memdevs) this.addEndpoint(md);
  }

  /**
   * devm_cxl_add_endpoint() + devm_cxl_enumerate_decoders(): the memdev's
   * endpoint port (the lowest free port id) under its host bridge, the
   * cxl_ep records along the way, and its HDM decoders (mode none, no DPA).
   */
  addEndpoint(md: CxlMemdev): CxlPort {
    const hb = md.rootPort.port;
    const ep = new CxlPort('endpoint', this.portIda.alloc(), md.name, hb, md.rootPort, QEMU_HDM);
    ep.memdev = md;
    for (let id = 0; id < QEMU_DECODERS; id++) ep.decoders.push(new CxlEndpointDecoder(ep, id));
    hb.eps.set(md, { memdev: md, dport: md.rootPort, next: null });
    this.root.eps.set(md, { memdev: md, dport: hb.parentDport!, next: hb });
    md.endpoint = ep;
    return ep;
  }

  /** The endpoint's removal (cxl_mem unbind): its port id is free again; the caller has detached its decoders. */
  removeEndpoint(md: CxlMemdev): void {
    const ep = md.endpoint;
    if (!ep) return;
    md.rootPort.port.eps.delete(md);
    this.root.eps.delete(md);
    this.portIda.free(ep.id);
    md.endpoint = null;
  }

  /** Every port below the root, in port id order (host bridges, then endpoints). */
  get ports(): CxlPort[] {
    return [...this.hostBridges, ...this.endpoints].sort((a, b) => a.id - b.id);
  }

  /** The endpoint ports of the enabled memdevs, by port id. */
  get endpoints(): CxlPort[] {
    return this.memdevs.flatMap((m) => (m.endpoint ? [m.endpoint] : [])).sort((a, b) => a.id - b.id);
  }

  /** Every region, by id. */
  get regions(): CxlRegion[] {
    return this.rootDecoders.flatMap((d) => d.regions).sort((a, b) => a.id - b.id);
  }

  /** bus_find_device_by_name() for decoders: -ENODEV when there is none. */
  decoder(name: string): CxlDecoder {
    for (const p of [this.root, ...this.ports]) for (const d of p.decoders) if (d.name === name) return d;
    throw new KernelError(ENODEV, `cxl: no device "${name}" on the cxl bus`);
  }

  /** A region by name; -ENODEV when there is none. */
  region(name: string): CxlRegion {
    const r = this.regions.find((x) => x.name === name);
    if (!r) throw new KernelError(ENODEV, `cxl: no device "${name}" on the cxl bus`);
    return r;
  }

  /** A memdev by name; -ENODEV when there is none. */
  memdev(name: string): CxlMemdev {
    const m = this.memdevs.find((x) => x.name === name);
    if (!m) throw new KernelError(ENODEV, `cxl: no device "${name}" on the cxl bus`);
    return m;
  }

  /** The node of a root decoder's window (phys_to_target_node() of its base). */
  windowNid(d: CxlRootDecoder): number {
    return this.windowNids[this.rootDecoders.indexOf(d)]!;
  }

  /** dev_warn_once(): true the first time a site fires. */
  once(site: string): boolean {
    if (this.warnedOnce.has(site)) return false;
    this.warnedOnce.add(site);
    return true;
  }

  /** The topology the bus was built from. */
  get config(): CxlTopology {
    return this.topology;
  }
}

/** What QEMU and cxl_acpi accept of a topology: EINVAL naming the offending option. */
export function validateTopology(t: CxlTopology): void {
  const bad = (msg: string) => {
    throw new KernelError(EINVAL, `cxl topology: ${msg}`);
  };
  const rps = new Set<string>();
  t.hostBridges.forEach((hb, i) => {
    if (!Number.isInteger(hb.busNr) || hb.busNr < 1 || hb.busNr > 0xfe) bad(`host bridge ${i}: bus_nr ${hb.busNr} is not a PCI bus number 1..254`);
    if (!Number.isInteger(hb.rootPorts) || hb.rootPorts < 1 || hb.rootPorts > 8) bad(`host bridge ${i}: ${hb.rootPorts} root ports (1..8)`);
  });
  t.memdevs.forEach((m, i) => {
    const hb = t.hostBridges[m.hostBridge];
    if (!hb) bad(`memdev ${i}: no host bridge ${m.hostBridge}`);
    if (!Number.isInteger(m.rootPort) || m.rootPort < 0 || m.rootPort >= hb!.rootPorts) bad(`memdev ${i}: host bridge ${m.hostBridge} has no root port ${m.rootPort}`);
    const key = `${m.hostBridge}.${m.rootPort}`;
    if (rps.has(key)) bad(`memdev ${i}: root port ${m.rootPort} of host bridge ${m.hostBridge} already has a memdev`);
    rps.add(key);
    for (const [what, s] of [['volatile', m.ramSize], ['persistent', m.pmemSize]] as const)
      if (!Number.isSafeInteger(s) || s < 0 || s % SZ_256M) bad(`memdev ${i}: ${what} size ${s} is not a multiple of 256M`);
    if (m.ramSize + m.pmemSize === 0) bad(`memdev ${i}: no capacity`);
  });
  t.windows.forEach((w, i) => {
    if (!w.targets.length) bad(`window ${i}: no targets`);
    for (const h of w.targets) if (!t.hostBridges[h]) bad(`window ${i}: target ${h} is not a host bridge`);
    if (new Set(w.targets).size !== w.targets.length) bad(`window ${i}: a host bridge is listed twice`);
    if (waysToEiw(w.targets.length) === undefined) bad(`window ${i}: ${w.targets.length} targets is not an interleave of 1, 2, 3, 4, 6, 8, 12 or 16`);
    if (granularityToEig(w.granularity) === undefined) bad(`window ${i}: interleave-granularity ${w.granularity} is not a power of two from 256 to 16K`);
    if (!Number.isSafeInteger(w.size) || w.size <= 0 || w.size % (SZ_256M * w.targets.length)) bad(`window ${i}: size ${w.size} is not a multiple of 256M x ${w.targets.length} targets`);
    if (!Number.isSafeInteger(w.base) || w.base % SZ_256M) bad(`window ${i}: base ${hex(w.base)} is not 256M aligned`);
  });
}
