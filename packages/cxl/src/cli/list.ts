import type { CxlBus } from '../cxl-bus.js';
import { type CxlDecoder, type CxlDport, CxlEndpointDecoder, type CxlMemdev, type CxlPort, type CxlRegion } from '../objects.js';
import {
  type CxlJsonFlags,
  type CxlJsonHooks,
  type JsonObject,
  busToJson,
  decoderTargets,
  decoderToJson,
  dportMapsMemdev,
  dportsAppend,
  memdevToJson,
  portHostsMemdev,
  portToJson,
  regionToJson,
  targetsAppend,
} from './json.js';

/** struct cxl_filter_params: what `cxl list` was asked for. */
export interface CxlFilterParams {
  memdevFilter?: string | undefined;
  serialFilter?: string | undefined;
  busFilter?: string | undefined;
  portFilter?: string | undefined;
  endpointFilter?: string | undefined;
  decoderFilter?: string | undefined;
  regionFilter?: string | undefined;
  single?: boolean;
  endpoints?: boolean;
  decoders?: boolean;
  regions?: boolean;
  targets?: boolean;
  memdevs?: boolean;
  ports?: boolean;
  buses?: boolean;
  idle?: boolean;
  human?: boolean;
  health?: boolean;
  partition?: boolean;
  firmware?: boolean;
  alertConfig?: boolean;
  dax?: boolean;
  mediaErrors?: boolean;
  verbose?: number;
}

// ------------------------------------------------------------ filters (cxl/filter.c)

/** which_sep(): a filter is a space- or comma-separated list. */
function tokens(filter: string): string[] {
  const sep = filter.includes(' ') ? ' ' : filter.includes(',') ? ',' : ' ';
  return filter.split(sep).filter((t) => t.length);
}

/** sscanf(s, "<prefix>%d") */
function scanId(s: string, prefix: string): number | undefined {
  const m = new RegExp(`^${prefix}\\s*([+-]?\\d+)`).exec(s);
  return m ? Number(m[1]) : undefined;
}

/** cxl_filter_has() */
function filterHas(filter: string | undefined, needle: string): boolean {
  if (!filter) return false;
  return tokens(filter).some((t) => t.includes(needle));
}

function memdevSerialFilter(md: CxlMemdev, serials: string | undefined): boolean {
  if (!serials) return true;
  return tokens(serials).some((t) => /^(0[xX][0-9a-fA-F]+|\d+)$/.test(t) && Number(t) === md.serial);
}

/** util_cxl_memdev_filter(): "all", N, memN, the device name or its host. */
export function memdevFilter(md: CxlMemdev, ident: string | undefined, serials?: string): boolean {
  if (!ident) return memdevSerialFilter(md, serials);
  const hit = tokens(ident).some((n) => n === 'all' || (scanId(n, '') ?? scanId(n, 'mem')) === md.id || n === md.name || n === md.host);
  return hit && memdevSerialFilter(md, serials);
}

/** __util_cxl_port_filter() */
function portFilterOne(p: CxlPort, ident: string): boolean {
  return tokens(ident).some(
    (n) =>
      n === 'all' ||
      (n === 'root' && p.kind === 'root') ||
      (n === 'switch' && p.kind === 'switch') ||
      (n === 'endpoint' && p.kind === 'endpoint') ||
      (scanId(n, '') ?? scanId(n, 'port')) === p.id ||
      n === p.name ||
      n === p.host,
  );
}

/** util_cxl_port_filter(): the port or (ancestry mode) one of its ancestors matches. */
function portFilter(p: CxlPort, ident: string | undefined, single: boolean): boolean {
  if (!ident) return true;
  for (let it: CxlPort | null = p; it; it = it.parent) {
    if (portFilterOne(it, ident)) return true;
    if (single) return false;
  }
  return false;
}

/** util_cxl_bus_filter() */
function busFilter(bus: CxlBus, ident: string | undefined): boolean {
  if (!ident) return true;
  return tokens(ident).some((n) => n === 'all' || (scanId(n, '') ?? scanId(n, 'root')) === bus.root.id || n === bus.root.name || n === 'ACPI.CXL');
}

/** util_cxl_endpoint_filter() */
function endpointFilter(ep: CxlPort, ident: string | undefined): boolean {
  if (!ident) return true;
  return tokens(ident).some((n) => n === 'all' || (scanId(n, '') ?? scanId(n, 'endpoint')) === ep.id || n === ep.name || n === ep.host);
}

/** util_cxl_decoder_filter(): "all", root/switch/endpoint, X.Y, decoderX.Y, the name. */
export function decoderFilter(d: CxlDecoder, ident: string | undefined): boolean {
  if (!ident) return true;
  const p = d.port;
  return tokens(ident).some((n) => {
    if (n === 'all' || (n === 'root' && p.kind === 'root') || (n === 'switch' && p.kind === 'switch') || (n === 'endpoint' && p.kind === 'endpoint')) return true;
    const m = /^(?:decoder)?\s*([+-]?\d+)\.\s*([+-]?\d+)/.exec(n);
    if (m && Number(m[1]) === p.id && Number(m[2]) === d.id) return true;
    return n === d.name;
  });
}

/** util_cxl_region_filter() */
export function regionFilter(r: CxlRegion, ident: string | undefined): boolean {
  if (!ident) return true;
  return tokens(ident).some((n) => n === 'all' || (scanId(n, '') ?? scanId(n, 'region')) === r.id || n === r.name);
}

/** cxl_decoder_get_target_by_memdev(): one of the decoder's targets leads to the memdev. */
function decoderTargetsMemdev(d: CxlDecoder, md: CxlMemdev): boolean {
  return decoderTargets(d).some((t) => dportMapsMemdev(t.dport, md));
}

export class CxlFilterWalk {
  private readonly memdevsMatching: CxlMemdev[];
  constructor(
    private readonly bus: CxlBus,
    private readonly p: CxlFilterParams,
    private readonly hooks: CxlJsonHooks,
  ) {
    this.memdevsMatching = bus.memdevs.filter((m) => memdevFilter(m, p.memdevFilter, p.serialFilter));
  }

  private get single(): boolean {
    return this.p.single ?? false;
  }

  private get flags(): CxlJsonFlags {
    const p = this.p;
    return {
      human: p.human ?? false,
      idle: p.idle ?? false,
      targets: p.targets ?? false,
      health: p.health ?? false,
      partition: p.partition ?? false,
      firmware: p.firmware ?? false,
      alertConfig: p.alertConfig ?? false,
      dax: p.dax ?? false,
      mediaErrors: p.mediaErrors ?? false,
    };
  }

  private get memdevFiltered(): boolean {
    return Boolean(this.p.memdevFilter || this.p.serialFilter);
  }

  /** util_cxl_decoder_filter_by_memdev() */
  private decoderByMemdev(d: CxlDecoder): boolean {
    if (!this.memdevFiltered) return true;
    return this.memdevsMatching.some((md) => decoderTargetsMemdev(d, md) || (d.port.kind === 'endpoint' && d.port.memdev === md));
  }

  /** util_cxl_memdev_filter_by_decoder(): a matching decoder (root or switch) targets the memdev. */
  private memdevByDecoder(md: CxlMemdev): boolean {
    const ident = this.p.decoderFilter;
    if (!ident) return true;
    const ports = [this.bus.root, ...this.bus.hostBridges, ...this.bus.endpoints];
    return ports.some((port) => port.decoders.some((d) => decoderFilter(d, ident) && decoderTargetsMemdev(d, md)));
  }

  /** util_cxl_memdev_filter_by_port(): a matching port (or the matching bus's root) has a dport leading to the memdev. */
  private memdevByPort(md: CxlMemdev): boolean {
    const { busFilter: b, portFilter: pf } = this.p;
    if (!b && !pf) return true;
    const hasDport = (port: CxlPort) => port.dports.some((d) => dportMapsMemdev(d, md));
    if (b && busFilter(this.bus, b) && portFilter(this.bus.root, this.bus.root.name, true) && hasDport(this.bus.root)) return true;
    for (const port of [this.bus.root, ...this.bus.hostBridges]) if (pf && portFilter(port, pf, true) && hasDport(port)) return true;
    return false;
  }

  /** util_cxl_port_filter_by_memdev() */
  private portByMemdev(port: CxlPort): boolean {
    if (!this.memdevFiltered) return true;
    return this.memdevsMatching.some((md) => portHostsMemdev(port, md));
  }

  /** util_cxl_port_filter_by_bus(): one bus, so the bus filter decides for every port. */
  private portByBus(): boolean {
    return busFilter(this.bus, this.p.busFilter);
  }

  private dportMatch = (d: CxlDport): boolean => !this.memdevFiltered || this.memdevsMatching.some((md) => dportMapsMemdev(d, md));

  private regionMatches(r: CxlRegion): boolean {
    const p = this.p;
    if (!regionFilter(r, p.regionFilter)) return false;
    if (!busFilter(this.bus, p.busFilter)) return false;
    if (!portFilter(r.decoder.port, p.portFilter, false)) return false;
    if (!decoderFilter(r.decoder, p.decoderFilter)) return false;
    if (!p.idle && !r.bound) return false;
    return true;
  }

  /** util_cxl_decoder_filter_by_region(): a root decoder by its regions, others by the region they decode. */
  private decoderByRegion(d: CxlDecoder): boolean {
    const ident = this.p.regionFilter;
    if (!ident) return true;
    if ('regions' in d && (d as { regions: CxlRegion[] }).regions.some((r) => regionFilter(r, ident))) return true;
    return d.region !== null && regionFilter(d.region, ident);
  }

  /** walk_regions() */
  private walkRegions(d: CxlDecoder, out: JsonObject[]): void {
    if (!('regions' in d)) return;
    for (const r of [...(d as { regions: CxlRegion[] }).regions].sort((a, b) => a.id - b.id))
      if (this.regionMatches(r)) out.push(regionToJson(r, this.flags, this.hooks));
  }

  /** walk_decoders() */
  private walkDecoders(port: CxlPort, jdecoders: JsonObject[], jregions: JsonObject[] | null): void {
    const p = this.p;
    for (const d of port.decoders) {
      let jdecoder: JsonObject | null = null;
      let jchildregions: JsonObject[] | null = null;
      const listed =
        p.decoders &&
        decoderFilter(d, p.decoderFilter) &&
        this.portByBus() &&
        portFilter(port, p.portFilter, this.single) &&
        this.decoderByMemdev(d) &&
        this.decoderByRegion(d);
      if (listed) {
        if (!p.idle && d.size === 0) continue;
        jdecoder = decoderToJson(this.bus, d, this.flags);
        targetsAppend(jdecoder, d, this.memdevFiltered ? this.dportMatch : null, this.flags);
        if (p.regions) jchildregions = [];
        jdecoders.push(jdecoder);
      }
      if (!p.regions || port.kind !== 'root') continue;
      const into = jchildregions ?? jregions;
      if (into) this.walkRegions(d, into);
      if (jdecoder && jchildregions && jchildregions.length) jdecoder[`regions:${d.name}`] = jchildregions;
    }
  }

  /** walk_endpoints() */
  private walkEndpoints(port: CxlPort, jeps: JsonObject[], jdevs: JsonObject[], jdecoders: JsonObject[]): void {
    const p = this.p;
    for (const ep of this.bus.endpoints.filter((e) => e.parent === port)) {
      if (!endpointFilter(ep, p.endpointFilter)) continue;
      if (!this.portByBus()) continue;
      // util_cxl_endpoint_filter_by_port(): the endpoint's port alone, then its parent in the walk's mode
      if (p.portFilter && !portFilter(ep, p.portFilter, true) && !portFilter(ep.parent!, p.portFilter, this.single)) continue;
      if (this.memdevFiltered && !this.memdevsMatching.includes(ep.memdev!)) continue;
      let jendpoint: JsonObject | null = null;
      if (p.endpoints) {
        jendpoint = portToJson(ep, 'endpoint');
        jeps.push(jendpoint);
      }
      if (p.memdevs) {
        const md = ep.memdev!;
        if (memdevFilter(md, p.memdevFilter, p.serialFilter) && this.memdevByDecoder(md) && this.memdevByPort(md)) {
          const jobj = memdevToJson(md, this.flags);
          if (jendpoint) jendpoint['memdev'] = jobj;
          else jdevs.push(jobj);
        }
      }
      if (!p.decoders) continue;
      const jchild: JsonObject[] | null = p.endpoints ? [] : null;
      this.walkDecoders(ep, jchild ?? jdecoders, null);
      if (jendpoint && jchild && jchild.length) jendpoint[`decoders:${ep.name}`] = jchild;
    }
  }

  /** walk_child_ports(): the host bridges (no switches in the model) */
  private walkChildPorts(parent: CxlPort, jports: JsonObject[], jportdecoders: JsonObject[], jeps: JsonObject[], jepdecoders: JsonObject[], jdevs: JsonObject[]): void {
    const p = this.p;
    for (const port of this.bus.hostBridges.filter((h) => h.parent === parent)) {
      if (!this.portByMemdev(port)) continue;
      let jport: JsonObject | null = null;
      let jchildports: JsonObject[] | null = null;
      let jchilddevs: JsonObject[] | null = null;
      let jchildeps: JsonObject[] | null = null;
      let jchilddecoders: JsonObject[] | null = null;
      if (portFilter(port, p.portFilter, this.single) && this.portByBus() && p.ports) {
        jport = portToJson(port, 'port');
        dportsAppend(jport, port, this.dportMatch, this.flags);
        jports.push(jport);
        jchildports = [];
        if (p.memdevs) jchilddevs = [];
        if (p.endpoints) jchildeps = [];
        if (p.decoders) jchilddecoders = [];
      }
      if (p.endpoints || p.memdevs || p.decoders)
        this.walkEndpoints(port, jchildeps ?? jeps, jchilddevs ?? jdevs, jchilddecoders ?? jepdecoders);
      this.walkDecoders(port, jchilddecoders ?? jportdecoders, null);
      if (jport) {
        if (jchildeps?.length) jport[`endpoints:${port.name}`] = jchildeps;
        if (jchilddecoders?.length) jport[`decoders:${port.name}`] = jchilddecoders;
        if (jchilddevs?.length) jport[`memdevs:${port.name}`] = jchilddevs;
        void jchildports;
      }
    }
  }

  /** cxl_filter_walk(): the listing, spliced into containers when it holds more than one kind. */
  walk(): JsonObject[] {
    const p = this.p;
    const janondevs: JsonObject[] = [];
    const jbuses: JsonObject[] = [];
    const jports: JsonObject[] = [];
    const jeps: JsonObject[] = [];
    const jdevs: JsonObject[] = [];
    const jbusdecoders: JsonObject[] = [];
    const jportdecoders: JsonObject[] = [];
    const jepdecoders: JsonObject[] = [];
    const jregions: JsonObject[] = [];
    // disabled memdevs have no endpoint: listed on their own with -i
    for (const md of this.bus.memdevs) {
      if (!memdevFilter(md, p.memdevFilter, p.serialFilter) || md.enabled || !p.idle) continue;
      if (p.memdevs) janondevs.push(memdevToJson(md, this.flags));
    }
    const bus = this.bus;
    const root = bus.root;
    if (!this.memdevFiltered || this.memdevsMatching.length) {
      let jbus: JsonObject | null = null;
      let jchildports: JsonObject[] | null = null;
      let jchildeps: JsonObject[] | null = null;
      let jchilddevs: JsonObject[] | null = null;
      let jchilddecoders: JsonObject[] | null = null;
      let jchildregions: JsonObject[] | null = null;
      if (busFilter(bus, p.busFilter) && portFilter(root, p.portFilter, this.single) && p.buses) {
        jbus = busToJson(bus);
        dportsAppend(jbus, root, this.dportMatch, this.flags);
        jbuses.push(jbus);
        if (p.ports) jchildports = [];
        if (p.endpoints) jchildeps = [];
        if (p.memdevs) jchilddevs = [];
        if (p.decoders) jchilddecoders = [];
        if (p.regions) jchildregions = [];
      }
      this.walkDecoders(root, jchilddecoders ?? jbusdecoders, jchildregions ?? jregions);
      this.walkChildPorts(root, jchildports ?? jports, jchilddecoders ?? jportdecoders, jchildeps ?? jeps, jchilddecoders ?? jepdecoders, jchilddevs ?? jdevs);
      if (jbus) {
        if (jchildports?.length) jbus[`ports:${root.name}`] = jchildports;
        if (jchildeps?.length) jbus[`endpoints:${root.name}`] = jchildeps;
        if (jchilddecoders?.length) jbus[`decoders:${root.name}`] = jchilddecoders;
        if (jchildregions?.length) jbus[`regions:${root.name}`] = jchildregions;
        if (jchilddevs?.length) jbus[`memdevs:${root.name}`] = jchilddevs;
      }
    }
    const kinds: [string, JsonObject[]][] = [
      ['anon memdevs', janondevs],
      ['buses', jbuses],
      ['ports', jports],
      ['endpoints', jeps],
      ['memdevs', jdevs],
      ['root decoders', jbusdecoders],
      ['port decoders', jportdecoders],
      ['endpoint decoders', jepdecoders],
      ['regions', jregions],
    ];
    const top = kinds.filter(([, a]) => a.length).length;
    const platform: JsonObject[] = [];
    for (const [name, arr] of kinds) {
      if (!arr.length) continue;
      if (top > 1) platform.push({ [name]: arr });
      else platform.push(...arr);
    }
    return platform;
  }
}

/** What a cxl-cli command leaves: its exit status, the JSON it prints on stdout (if any), and its stderr lines. */
export interface CxlCmdResult {
  readonly exitCode: number;
  /** What stdout shows, as json-c would print it; undefined: nothing. */
  readonly json?: unknown;
  /** Plain stdout lines (v84's poison commands). */
  readonly stdout?: readonly string[];
  readonly stderr: readonly string[];
  /** The command's usage should follow the stderr (a usage error, exit status 129). */
  readonly usage?: boolean;
}

/**
 * cmd_list(): the defaults (no kind asked for: the kinds the filters name,
 * single-port mode; still nothing: memdevs and regions), -v/-vv/-vvv, then
 * the walk, printed as util_display_json_array() does (a bare object for one
 * result with -u; `[]` and a warning for nothing).
 */
export function cxlList(bus: CxlBus, params: CxlFilterParams, positionals: readonly string[] = [], hooks: CxlJsonHooks = {}): CxlCmdResult {
  if (positionals.length) return { exitCode: 129, stderr: positionals.map((a) => `  Error: unknown parameter "${a}"`), usage: true };
  const p: CxlFilterParams = { ...params };
  if (p.single && !p.portFilter) return { exitCode: 129, stderr: ['  Error: -S/--single expects a port filter: -p/--port='], usage: true };
  const kinds = () => Number(!!p.memdevs) + Number(!!p.buses) + Number(!!p.ports) + Number(!!p.endpoints) + Number(!!p.decoders) + Number(!!p.regions);
  if (kinds() === 0) {
    if (p.memdevFilter || p.serialFilter) p.memdevs = true;
    if (p.busFilter) p.buses = true;
    if (p.portFilter) p.ports = true;
    if (p.endpointFilter) p.endpoints = true;
    if (p.decoderFilter) p.decoders = true;
    p.single = true;
    if (p.regionFilter) p.regions = true;
  }
  if (kinds() === 0) {
    p.regions = true;
    p.memdevs = true;
  }
  const v = p.verbose ?? 0;
  if (v >= 3) Object.assign(p, { health: true, partition: true, firmware: true, alertConfig: true, dax: true, mediaErrors: true });
  if (v >= 2) p.idle = true;
  if (v >= 1) Object.assign(p, { buses: true, ports: true, endpoints: true, decoders: true, targets: true, regions: true });
  if (filterHas(p.portFilter, 'root') && p.ports) p.buses = true;
  if (filterHas(p.portFilter, 'endpoint') && p.ports) p.endpoints = true;
  const list = new CxlFilterWalk(bus, p, hooks).walk();
  return displayJsonArray(list, p.human ?? false);
}

/** util_display_json_array() */
export function displayJsonArray(list: JsonObject[], human: boolean): CxlCmdResult {
  if (list.length > 1 || !human) {
    const stderr = list.length === 0 ? ['  Warning: no matching devices found'] : [];
    return { exitCode: 0, json: list, stderr };
  }
  if (list.length) return { exitCode: 0, json: list[0], stderr: [] };
  return { exitCode: 0, stderr: [] };
}

/** The endpoint decoders of a memdev (for tools that act per memdev). */
export function memdevDecoders(md: CxlMemdev): CxlEndpointDecoder[] {
  return (md.endpoint?.decoders ?? []).filter((d): d is CxlEndpointDecoder => d instanceof CxlEndpointDecoder);
}
