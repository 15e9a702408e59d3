import type { DaxRegion } from '@daxsim/device-dax';

/** SZ_256M: HPA and DPA allocations are multiples of it (CXL_DECODER_MIN_GRANULARITY is 256 bytes). */
export const SZ_256M = 256 * 2 ** 20;
/** CXL_DECODER_MAX_INTERLEAVE */
export const CXL_DECODER_MAX_INTERLEAVE = 16;

/** enum cxl_decoder_mode, as its sysfs `mode` attribute names it. */
export type CxlDecoderMode = 'none' | 'ram' | 'pmem' | 'mixed' | 'dead';

/** enum cxl_config_state (drivers/cxl/cxl.h): how far a region's configuration has come. */
export const CXL_CONFIG_IDLE = 0;
export const CXL_CONFIG_INTERLEAVE_ACTIVE = 1;
export const CXL_CONFIG_ACTIVE = 2;
export const CXL_CONFIG_RESET_PENDING = 3;
export const CXL_CONFIG_COMMIT = 4;

/** A physical address range, end inclusive (struct range / struct resource). */
export interface HpaRange {
  start: number;
  end: number;
}

/** range_len(): 0 for the empty range {0, -1}. */
export const rangeLen = (r: HpaRange): number => r.end - r.start + 1;

/**
 * struct cxl_dport: a downstream port of a CXL port. For the root: a host
 * bridge (`pci0000:0c`, alias ACPI0016:00, id its _UID); for a host bridge:
 * a root port (`0000:0c:00.0`, id its port number).
 */
export class CxlDport {
  constructor(
    readonly port: CxlPort,
    readonly name: string,
    readonly id: number,
    readonly alias: string | null,
  ) {}
}

/**
 * struct cxl_ep: what a port knows of one memdev below it — the dport that
 * leads to it and the next port down (null at the last switch above the
 * endpoint).
 */
export interface CxlEp {
  readonly memdev: CxlMemdev;
  readonly dport: CxlDport;
  readonly next: CxlPort | null;
}

export type CxlPortKind = 'root' | 'switch' | 'endpoint';

/** struct cxl_hdm: the HDM decoder capability of a port (what QEMU's registers advertise). */
export interface CxlHdmCaps {
  /** Interleave ways the decoders accept (iw_cap_mask): 1, 2, 4, 8 on QEMU; 3/6/12 and 16 not. */
  readonly iwCap: readonly number[];
  /** Address bits usable for interleave selection (interleave_mask): 8-14 on QEMU (A11to8 and A14to12). */
  readonly interleaveMask: number;
}

/**
 * struct cxl_port: the CXL root (`root0`, the ACPI0017 device), a host
 * bridge port (`portN`), or an endpoint port (`endpointN`, one per memdev).
 */
export class CxlPort {
  /** Its decoders, by id. */
  readonly decoders: CxlDecoder[] = [];
  readonly dports: CxlDport[] = [];
  /** cxl_ep per memdev below (port->endpoints). */
  readonly eps = new Map<CxlMemdev, CxlEp>();
  /** port->regions: a region reference per region that decodes through this port. */
  readonly regions = new Map<CxlRegion, CxlRegionRef>();
  /** port->commit_end: the highest committed decoder id (-1: none). */
  commitEnd = -1;
  /** port->hdm_end: the highest endpoint decoder id with DPA allocated (-1: none). */
  hdmEnd = -1;
  /** The endpoint's memdev (endpoint ports only). */
  memdev: CxlMemdev | null = null;
  constructor(
    readonly kind: CxlPortKind,
    readonly id: number,
    /** The uport device's name: ACPI0017:00, pci0000:0c, mem0. */
    readonly host: string,
    readonly parent: CxlPort | null,
    readonly parentDport: CxlDport | null,
    readonly hdm: CxlHdmCaps | null,
  ) {}

  /** dev_name(&port->dev) */
  get name(): string {
    return this.kind === 'root' ? `root${this.id}` : this.kind === 'endpoint' ? `endpoint${this.id}` : `port${this.id}`;
  }

  get depth(): number {
    return this.parent ? this.parent.depth + 1 : 0;
  }

  /** cxl_num_decoders_committed(): commit_end + 1 */
  get decodersCommitted(): number {
    return this.commitEnd + 1;
  }

  /** The host bridge port this port hangs under (port->host_bridge: the child of the root). */
  get hostBridge(): CxlPort {
    let p: CxlPort = this;
    while (p.parent && p.parent.kind !== 'root') p = p.parent;
    return p;
  }
}

/** CXL_DECODER_F_ENABLE */
export const CXL_DECODER_F_ENABLE = 1;

/** struct cxl_decoder: what root, switch and endpoint decoders share. */
export abstract class CxlDecoder {
  interleaveWays = 1;
  interleaveGranularity = 256;
  /** hpa_range; {0, -1} while it decodes nothing. */
  hpaRange: HpaRange = { start: 0, end: -1 };
  flags = 0;
  region: CxlRegion | null = null;
  constructor(
    readonly port: CxlPort,
    readonly id: number,
  ) {}

  get name(): string {
    return `decoder${this.port.id}.${this.id}`;
  }

  /** The decoder's `size` attribute: range_len(&cxld->hpa_range). */
  get size(): number {
    return Math.max(0, rangeLen(this.hpaRange));
  }

  get enabled(): boolean {
    return (this.flags & CXL_DECODER_F_ENABLE) !== 0;
  }

  /** Whether commit/reset program HDM registers (false for a passthrough decoder: cxld->commit is NULL). */
  abstract get programmable(): boolean;
}

/** struct cxl_switch_decoder: a decoder with a target list of dports (host bridges, switches). */
export class CxlSwitchDecoder extends CxlDecoder {
  /** cxlsd->target[]: the dport at each interleave position. */
  readonly target: (CxlDport | null)[];
  constructor(
    port: CxlPort,
    id: number,
    /** cxlsd->nr_targets: how many targets the HDM decoder can hold. */
    readonly nrTargets: number,
    /** A host bridge with one root port has no HDM decoders: one passthrough decoder (devm_cxl_add_passthrough_decoder()). */
    readonly passthrough: boolean,
  ) {
    super(port, id);
    this.target = new Array<CxlDport | null>(nrTargets).fill(null);
  }

  get programmable(): boolean {
    return !this.passthrough;
  }
}

/** What a CFMWS window may hold (its restrictions), as the root decoder's *_capable attributes say. */
export interface CxlWindowCaps {
  readonly volatile: boolean;
  readonly pmem: boolean;
  readonly accelmem: boolean;
}

/**
 * struct cxl_root_decoder: one CFMWS window (decoder0.N): its HPA range, the
 * host bridges it interleaves across and at what granularity, what it may
 * hold, and the regions carved from it.
 */
export class CxlRootDecoder extends CxlSwitchDecoder {
  /** atomic region_id: the name create_*_region offers next. */
  regionId: number;
  /** The regions under it (children of cxlrd->res, by name). */
  readonly regions: CxlRegion[] = [];
  constructor(
    port: CxlPort,
    id: number,
    targets: CxlDport[],
    granularity: number,
    readonly res: HpaRange,
    readonly caps: CxlWindowCaps,
    /** The QTG id the platform gives the window (_DSM): 0 on QEMU; null when the kernel has no qos_class attribute. */
    readonly qosClass: number | null,
    regionId: number,
  ) {
    super(port, id, targets.length, false);
    targets.forEach((t, i) => (this.target[i] = t));
    this.interleaveWays = targets.length;
    this.interleaveGranularity = granularity;
    this.hpaRange = { ...res };
    this.flags = CXL_DECODER_F_ENABLE;
    this.regionId = regionId;
  }

  /** The iomem name of the window. */
  get resName(): string {
    return `CXL Window ${this.id}`;
  }
}

/** enum cxl_decoder_state */
export type CxlDecoderState = 'manual' | 'auto';

/** struct cxl_endpoint_decoder: a memdev's HDM decoder, with its DPA allocation. */
export class CxlEndpointDecoder extends CxlDecoder {
  /** dpa_res: the device-physical range it maps, or null. */
  dpaRes: { start: number; size: number } | null = null;
  /** DPA skipped before dpa_res (a pmem allocation after unallocated ram). */
  skip = 0;
  mode: CxlDecoderMode = 'none';
  /** The interleave position in its region (-1: none). */
  pos = -1;
  state: CxlDecoderState = 'manual';

  get programmable(): boolean {
    return true;
  }

  get memdev(): CxlMemdev {
    return this.port.memdev!;
  }
}

/** One record of a memdev's poison list (Get Poison List output). */
export interface CxlPoisonRecord {
  readonly dpa: number;
  readonly length: number;
  readonly source: 'Injected' | 'External' | 'Internal' | 'Vendor Specific' | 'Unknown';
}

/**
 * struct cxl_memdev with its cxl_dev_state: a type-3 device (QEMU's
 * cxl-type3), its volatile and persistent capacity, its endpoint port while
 * cxl_mem is bound, and the device's poison list.
 */
export class CxlMemdev {
  /** The endpoint port (cxlmd->endpoint) while the cxl_mem driver is bound; null when disabled. */
  endpoint: CxlPort | null = null;
  /** The device's poison list, sorted by DPA (QEMU keeps it in the device). */
  readonly poison: CxlPoisonRecord[] = [];
  constructor(
    readonly id: number,
    /** The PCI function: 0000:0d:00.0 */
    readonly host: string,
    readonly ramSize: number,
    readonly pmemSize: number,
    readonly serial: number,
    /** The root port it sits behind. */
    readonly rootPort: CxlDport,
    readonly firmwareVersion: string,
  ) {}

  get name(): string {
    return `mem${this.id}`;
  }

  get enabled(): boolean {
    return this.endpoint !== null;
  }

  /** cxlds->dpa_res: [0, ram + pmem) */
  get dpaSize(): number {
    return this.ramSize + this.pmemSize;
  }
}

/**
 * struct cxl_region_ref: a region's claim on one port — the decoder that
 * hosts it there, the endpoints below that it maps, and how many targets
 * the decoder needs.
 */
export class CxlRegionRef {
  decoder: CxlDecoder | null = null;
  nrTargets = 1;
  nrTargetsSet = 0;
  nrEps = 0;
  /** cxl_rr->endpoints: endpoint decoder → the port's cxl_ep for its memdev. */
  readonly endpoints = new Map<CxlEndpointDecoder, CxlEp>();
  constructor(
    readonly port: CxlPort,
    readonly region: CxlRegion,
  ) {}
}

/** struct cxl_region_params */
export interface CxlRegionParams {
  state: number;
  uuid: string | null;
  interleaveWays: number;
  interleaveGranularity: number;
  /** The HPA resource (a child of the window), or null. */
  res: HpaRange | null;
  /** targets[pos] */
  targets: (CxlEndpointDecoder | null)[];
  nrTargets: number;
}

/**
 * struct cxl_region: regionN under a root decoder, its parameters, whether
 * the cxl_region driver is bound, and what binding made (the dax region of
 * a RAM region).
 */
export class CxlRegion {
  readonly params: CxlRegionParams = {
    state: CXL_CONFIG_IDLE,
    uuid: null,
    interleaveWays: 0,
    interleaveGranularity: 0,
    res: null,
    targets: [],
    nrTargets: 0,
  };
  /** CXL_REGION_F_NEEDS_RESET */
  needsReset = false;
  /** The cxl_region driver is bound (cxl_region_probe() succeeded). */
  bound = false;
  /** cxl_dax_region's dax region (dax_cxl), while bound. */
  daxRegion: DaxRegion | null = null;
  /** dax_regionN exists under the region (devm_cxl_add_dax_region()), even when no dax_cxl driver binds it. */
  cxlDaxRegion = false;
  /** pmem_regionN exists (devm_cxl_add_pmem_region()). */
  cxlPmemRegion = false;
  constructor(
    readonly id: number,
    readonly decoder: CxlRootDecoder,
    readonly mode: 'ram' | 'pmem',
  ) {}

  get name(): string {
    return `region${this.id}`;
  }

  get committed(): boolean {
    return this.params.state >= CXL_CONFIG_COMMIT;
  }
}
