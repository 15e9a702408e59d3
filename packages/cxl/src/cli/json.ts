import type { DaxRegion } from '@daxsim/device-dax';
import { displayHex, displaySize } from '@daxsim/mm';
import type { CxlBus } from '../cxl-bus.js';
import { cxlDpaSize } from '../hdm.js';
import {
  type CxlDecoder,
  type CxlDport,
  CxlEndpointDecoder,
  type CxlMemdev,
  type CxlPort,
  type CxlRegion,
  CxlRootDecoder,
  CxlSwitchDecoder,
  rangeLen,
} from '../objects.js';
import { cxlMemdevPoison, cxlRegionPoison } from '../poison.js';
import { maxAvailableExtent } from '../region.js';

/** The UTIL_JSON_* flags a listing passes down (cxl_filter_to_flags()). */
export interface CxlJsonFlags {
  readonly human?: boolean;
  readonly idle?: boolean;
  readonly targets?: boolean;
  readonly health?: boolean;
  readonly partition?: boolean;
  readonly firmware?: boolean;
  readonly alertConfig?: boolean;
  readonly dax?: boolean;
  readonly mediaErrors?: boolean;
}

export type JsonObject = Record<string, unknown>;

/** What cxl-cli asks of other tools' libraries: libdaxctl's region JSON for `-X`. */
export interface CxlJsonHooks {
  /** util_daxctl_region_to_json(region, NULL, flags): the dax region nested in a region listing. */
  readonly daxRegionJson?: (region: DaxRegion, flags: CxlJsonFlags) => JsonObject;
}

/** util_json_object_size() */
export const jsonSize = (n: number, f: CxlJsonFlags): number | string => (f.human ? displaySize(n) : n);
/** util_json_object_hex() */
export const jsonHex = (n: number, f: CxlJsonFlags): number | string => (f.human ? displayHex(n) : n);

/** CXL_QOS_CLASS_NONE */
const QOS_NONE = -1;

/** The QEMU type-3 device's firmware slots (what its Get FW Info returns). */
function firmwareJson(): JsonObject {
  return { num_slots: 2, active_slot: 1, online_activate_capable: true, slot_1_version: 'BWFW VERSION 0', fw_update_in_progress: false };
}

/** util_cxl_memdev_partition_to_json(): a device without a partition alignment reports its fixed split. */
function partitionJson(md: CxlMemdev, f: CxlJsonFlags): JsonObject {
  return {
    total_size: jsonSize(md.dpaSize, f),
    volatile_only_size: jsonSize(md.ramSize, f),
    persistent_only_size: jsonSize(md.pmemSize, f),
    partition_alignment_size: jsonSize(0, f),
  };
}

/** util_cxl_memdev_to_json() */
export function memdevToJson(md: CxlMemdev, f: CxlJsonFlags): JsonObject {
  const o: JsonObject = { memdev: md.name };
  if (md.pmemSize) o['pmem_size'] = jsonSize(md.pmemSize, f);
  if (md.ramSize) o['ram_size'] = jsonSize(md.ramSize, f);
  o['serial'] = jsonHex(md.serial, f);
  o['host'] = md.host;
  o['firmware_version'] = md.firmwareVersion;
  if (!md.enabled) o['state'] = 'disabled';
  if (f.partition) o['partition_info'] = partitionJson(md, f);
  if (f.firmware) o['firmware'] = firmwareJson();
  if (f.mediaErrors) {
    const errs = cxlMemdevPoison(md);
    if (errs.length) o['media_errors'] = errs.map((e) => ({ offset: jsonHex(e.offset, f), length: jsonSize(e.length, f), source: e.source }));
  }
  return o;
}

/** The dports of a port that lead to a memdev (cxl_dport_maps_memdev()). */
export function dportMapsMemdev(d: CxlDport, md: CxlMemdev): boolean {
  if (d.port.kind === 'root') return md.rootPort.port.parentDport === d;
  return md.rootPort === d;
}

/** cxl_port_hosts_memdev() */
export function portHostsMemdev(p: CxlPort, md: CxlMemdev): boolean {
  if (p.kind === 'root') return true;
  if (p.kind === 'endpoint') return p.memdev === md;
  return md.rootPort.port === p;
}

/** util_cxl_dports_append_json() */
export function dportsAppend(o: JsonObject, port: CxlPort, match: (d: CxlDport) => boolean, f: CxlJsonFlags): void {
  if (!port.dports.length || !f.targets) return;
  o['nr_dports'] = port.dports.length;
  o['dports'] = port.dports.filter(match).map((d) => ({ dport: d.name, ...(d.alias ? { alias: d.alias } : {}), id: jsonHex(d.id, f) }));
}

/** util_cxl_bus_to_json() */
export function busToJson(bus: CxlBus): JsonObject {
  return { bus: bus.root.name, provider: 'ACPI.CXL' };
}

/** __util_cxl_port_to_json(): `name_key` is "port" or "endpoint". */
export function portToJson(port: CxlPort, nameKey: 'port' | 'endpoint'): JsonObject {
  const o: JsonObject = { [nameKey]: port.name, host: port.host };
  // libcxl knows a parent dport below the root only
  if (port.parent && port.parent.kind !== 'root' && port.parentDport) o['parent_dport'] = port.parentDport.name;
  o['depth'] = port.depth;
  o['decoders_committed'] = port.decodersCommitted;
  return o;
}

/** The decoder's target list as sysfs target_list shows it: the first interleave_ways targets (a root decoder's all). */
export function decoderTargets(d: CxlDecoder): { dport: CxlDport; position: number }[] {
  if (!(d instanceof CxlSwitchDecoder)) return [];
  const n = d instanceof CxlRootDecoder ? d.nrTargets : d.interleaveWays;
  const out: { dport: CxlDport; position: number }[] = [];
  for (let i = 0; i < n; i++) if (d.target[i]) out.push({ dport: d.target[i]!, position: i });
  return out;
}

/** util_cxl_decoder_to_json() */
export function decoderToJson(bus: CxlBus, d: CxlDecoder, f: CxlJsonFlags): JsonObject {
  const o: JsonObject = { decoder: d.name };
  const size = d.size;
  if (size) {
    o['resource'] = jsonHex(d.hpaRange.start, f);
    o['size'] = jsonSize(size, f);
  }
  o['interleave_ways'] = d.interleaveWays;
  // granularity is a don't care if not interleaving
  if (d.interleaveWays > 1) o['interleave_granularity'] = d.interleaveGranularity;
  if (d.region) o['region'] = d.region.name;
  if (size === 0) o['state'] = 'disabled';
  if (d instanceof CxlEndpointDecoder) {
    const dpa = cxlDpaSize(d);
    if (dpa) {
      o['dpa_resource'] = jsonHex(d.dpaRes!.start, f);
      o['dpa_size'] = jsonSize(dpa, f);
    }
    if (d.mode !== 'none') o['mode'] = d.mode;
  }
  if (d instanceof CxlRootDecoder) {
    if (d.caps.pmem || d.caps.volatile) {
      o['max_available_extent'] = jsonSize(maxAvailableExtent(d), f);
      if (d.caps.pmem) o['pmem_capable'] = true;
      if (d.caps.volatile) o['volatile_capable'] = true;
    }
    if (d.caps.accelmem) o['accelmem_capable'] = true;
    if (d.qosClass !== null) o['qos_class'] = d.qosClass;
  }
  void bus;
  return o;
}

/** util_cxl_targets_append_json(): a switch or root decoder's nr_targets, and with -T its targets (libcxl lists them last position first). */
export function targetsAppend(o: JsonObject, d: CxlDecoder, memdevMatch: ((dport: CxlDport) => boolean) | null, f: CxlJsonFlags): void {
  if (d instanceof CxlEndpointDecoder) return;
  const targets = decoderTargets(d);
  o['nr_targets'] = targets.length;
  if (!f.targets || !targets.length) return;
  o['targets'] = [...targets]
    .reverse()
    .filter((t) => !memdevMatch || memdevMatch(t.dport))
    .map((t) => ({ target: t.dport.name, ...(t.dport.alias ? { alias: t.dport.alias } : {}), position: t.position, id: jsonHex(t.dport.id, f) }));
}

/** cxl_region_qos_class_mismatch(): a mapped memdev's qos class (QEMU's have none) differs from the window's. */
function qosClassMismatch(r: CxlRegion): boolean {
  const root = r.decoder.qosClass ?? QOS_NONE;
  for (const t of r.params.targets) if (t && QOS_NONE !== root) return true;
  return false;
}

/** util_cxl_region_to_json(); mappings with -T (libcxl lists them last position first). */
export function regionToJson(r: CxlRegion, f: CxlJsonFlags, hooks: CxlJsonHooks = {}): JsonObject {
  const p = r.params;
  const o: JsonObject = { region: r.name };
  if (p.res) o['resource'] = jsonHex(p.res.start, f);
  o['size'] = jsonSize(p.res ? rangeLen(p.res) : 0, f);
  o['type'] = r.mode;
  o['interleave_ways'] = p.interleaveWays;
  o['interleave_granularity'] = p.interleaveGranularity;
  o['decode_state'] = r.committed ? 'commit' : 'reset';
  if (!r.bound) o['state'] = 'disabled';
  if (f.mediaErrors) {
    const errs = cxlRegionPoison(r);
    if (errs.length) o['media_errors'] = errs.map((e) => ({ offset: jsonHex(e.offset, f), length: jsonSize(e.length, f), source: e.source }));
  }
  if (f.targets && p.interleaveWays) {
    const maps: JsonObject[] = [];
    for (let i = p.interleaveWays - 1; i >= 0; i--) {
      const t = p.targets[i];
      if (t) maps.push({ position: i, memdev: t.memdev.name, decoder: t.name });
    }
    o['mappings'] = maps;
  }
  if (f.dax && r.daxRegion && hooks.daxRegionJson) o['daxregion'] = hooks.daxRegionJson(r.daxRegion, f);
  if (qosClassMismatch(r)) o['qos_class_mismatch'] = true;
  return o;
}
