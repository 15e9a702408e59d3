import type { DevDax } from '@daxsim/device-dax';
import { EBUSY, EINVAL, ENOSPC, ENXIO, KernelError, hex, parseSize, strerror } from '@daxsim/mm';
import type { CxlBus } from '../cxl-bus.js';
import { CxlEndpointDecoder, type CxlMemdev, type CxlRegion, type CxlRootDecoder, SZ_256M } from '../objects.js';
import { maxAvailableExtent } from '../region.js';
import { type CxlSysfs, cxlSysfsRead } from '../sysfs.js';
import { type CxlJsonHooks, regionToJson } from './json.js';
import { type CxlCmdResult, decoderFilter, memdevFilter, regionFilter } from './list.js';

/** What `cxl create-region` was given (cxl/region.c struct region_params; -w/-g already parsed as integers). */
export interface CreateRegionParams {
  readonly bus?: string | undefined;
  readonly decoder?: string | undefined;
  readonly size?: string | undefined;
  readonly type?: string | undefined;
  readonly uuid?: string | undefined;
  readonly ways?: number | undefined;
  readonly granularity?: number | undefined;
  readonly memdevs?: boolean;
  readonly enforceQos?: boolean;
  /** The non-option arguments: memdevs (each may itself be a comma- or space-separated list). */
  readonly targets: readonly string[];
}

/** What the region verbs need of libdaxctl (disable-region offlines a region's memory first) and of the terminal. */
export interface CxlRegionHooks extends CxlJsonHooks {
  /** daxctl_memory_is_online() */
  readonly memoryIsOnline?: (dev: DevDax) => boolean;
  /** daxctl_memory_offline(): the blocks offlined (>= 0) or -errno, and what libdaxctl printed. */
  readonly offlineMemory?: (dev: DevDax) => { rc: number; messages: readonly string[] };
  /** isatty(1): create-region then prints human sizes. */
  readonly isatty?: boolean;
}

/** log_err(&rl, ...) of cxl/region.c: "cxl region: <function>: <message>". */
class Log {
  readonly lines: string[] = [];
  constructor(private readonly prefix: string) {}
  err(fn: string, msg: string): void {
    this.lines.push(`${this.prefix}: ${fn}: ${msg}`);
  }
  /** libcxl's err(ctx, ...) */
  lib(fn: string, msg: string): void {
    this.lines.push(`libcxl: ${fn}: ${msg}`);
  }
  raw(...lines: readonly string[]): void {
    this.lines.push(...lines);
  }
}

/** A kernel step through sysfs: 0, or -errno (libcxl returns the write's error). */
function step(f: () => void): number {
  try {
    f();
    return 0;
  } catch (e) {
    if (e instanceof KernelError) return -e.errno;
    throw e;
  }
}

/** to_csv(): the arguments flattened into one comma-separated filter, and how many names it holds. */
function toCsv(args: readonly string[]): { csv: string | null; count: number } {
  const names: string[] = [];
  for (const a of args) {
    const sep = a.includes(' ') ? ' ' : a.includes(',') ? ',' : ' ';
    names.push(...a.split(sep).filter((t) => t.length));
  }
  return { csv: names.length ? names.join(',') : null, count: names.length };
}

/** cxl_decoder_mode_from_ident() */
function modeFromIdent(s: string): 'ram' | 'pmem' | null {
  if (s === 'ram' || s === 'volatile') return 'ram';
  if (s === 'pmem') return 'pmem';
  return null;
}

/** The memdevs under a root decoder filter (collect_memdevs()'s cxl_filter_walk with -m and -d): enabled, in topology order. */
function memdevsUnder(bus: CxlBus, decoderIdent: string, csv: string | null): CxlMemdev[] {
  const ports = [bus.root, ...bus.hostBridges, ...bus.endpoints];
  const targetsMemdev = (md: CxlMemdev) =>
    ports.some((port) =>
      port.decoders.some((d) => {
        if (!decoderFilter(d, decoderIdent)) return false;
        if (!('target' in d)) return false;
        const n = d.port.kind === 'root' ? (d as CxlRootDecoder).nrTargets : d.interleaveWays;
        const t = (d as CxlRootDecoder).target.slice(0, n);
        return t.some((dp) => dp && (dp.port.kind === 'root' ? md.rootPort.port.parentDport === dp : md.rootPort === dp));
      }),
    );
  return bus.endpoints.map((e) => e.memdev!).filter((md) => memdevFilter(md, csv ?? undefined) && targetsMemdev(md));
}

/** A uuid for a pmem region (uuid_generate()). */
function uuidGenerate(): string {
  const h = () => Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${h()}${h()}-${h()}-4${h().slice(1)}-${(8 + Math.floor(Math.random() * 4)).toString(16)}${h().slice(1)}-${h()}${h()}${h()}`;
}

interface Parsed {
  size: number;
  epMinSize: number;
  ways: number;
  granularity: number;
  memdevs: CxlMemdev[];
  mode: 'ram' | 'pmem';
  root: CxlRootDecoder | null;
}

/** parse_create_options(): cxl-cli's own checks before the kernel sees anything. */
function parseCreateOptions(bus: CxlBus, prm: CreateRegionParams, log: Log): Parsed | number {
  const fn = 'parse_create_options';
  if (!prm.decoder) {
    log.err(fn, 'no root decoder specified');
    return -EINVAL;
  }
  let memdevsOpt = prm.memdevs ?? false;
  if (!prm.targets.length) memdevsOpt = true;
  if (!memdevsOpt) {
    log.err(fn, 'must specify option for target object types (-m)');
    return -EINVAL;
  }
  // collect_memdevs()
  const { csv, count } = toCsv(prm.targets);
  const found = memdevsUnder(bus, prm.decoder, csv);
  if (!found.length) {
    log.err('collect_memdevs', `no active memdevs found: decoder: ${prm.decoder} filter: ${csv ?? 'none'}`);
    return -ENXIO;
  }
  if (csv) {
    const names = csv.split(',');
    const pos = (md: CxlMemdev) => {
      const i = names.findIndex((n) => memdevFilter(md, n));
      return i < 0 ? names.length : i;
    };
    found.sort((a, b) => pos(a) - pos(b));
  }
  const p: Parsed = { size: 0, epMinSize: 0, ways: 0, granularity: 0, memdevs: found, mode: 'pmem', root: null };
  if (prm.type !== undefined) {
    const mode = modeFromIdent(prm.type);
    if (mode === 'ram' && prm.uuid) {
      log.err(fn, "can't set UUID for ram / volatile regions");
      return -EINVAL;
    }
    if (!mode) {
      log.err(fn, `unsupported type: ${prm.type}`);
      return -EINVAL;
    }
    p.mode = mode;
  }
  if (prm.size !== undefined) {
    const s = parseSize(prm.size);
    if (s === undefined) {
      log.err(fn, `Invalid size: ${prm.size}`);
      return -EINVAL;
    }
    p.size = s;
  }
  // validate_ways()
  const validateWays = () => {
    if (p.ways > found.length || (count && p.ways !== found.length)) {
      log.err('validate_ways', `Interleave ways ${p.ways} is ${p.ways > found.length ? 'greater' : 'less'} than number of memdevs ${count ? 'specified' : 'found'}: ${found.length}`);
      return false;
    }
    return true;
  };
  if (prm.ways !== undefined && prm.ways <= 0) {
    log.err(fn, `Invalid interleave ways: ${prm.ways}`);
    return -EINVAL;
  } else if (prm.ways !== undefined) {
    p.ways = prm.ways;
    if (!validateWays()) return -EINVAL;
  } else if (count) {
    p.ways = count;
    if (!validateWays()) return -EINVAL;
  } else p.ways = found.length;
  if (prm.granularity !== undefined) {
    if (prm.granularity <= 0) {
      log.err(fn, `Invalid interleave granularity: ${prm.granularity}`);
      return -EINVAL;
    }
    p.granularity = prm.granularity;
  }
  if (p.size && p.ways && p.size % p.ways) {
    log.err(fn, `size (${p.size}) is not an integral multiple of interleave-ways (${p.ways})`);
    return -EINVAL;
  }
  if (prm.uuid !== undefined && !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(prm.uuid)) {
    log.raw(`  Error: failed to parse uuid: '${prm.uuid}'`);
    return -EINVAL;
  }
  return p;
}

/** create_region_validate_config(): the root decoder, the type it defaults to, its capabilities, the smallest memdev. */
function validateConfig(bus: CxlBus, prm: CreateRegionParams, p: Parsed, log: Log): number {
  const fn = 'create_region_validate_config';
  if (busMatches(bus, prm.bus)) p.root = bus.rootDecoders.find((d) => decoderFilter(d, prm.decoder)) ?? null;
  if (!p.root) {
    log.err(fn, `${prm.decoder} not found in CXL topology`);
    return -ENXIO;
  }
  // set_type_from_decoder(): pmem when the window allows both
  if (prm.type === undefined) {
    if (p.root.caps.volatile) p.mode = 'ram';
    if (p.root.caps.pmem) p.mode = 'pmem';
  }
  // validate_decoder()
  if (p.mode === 'ram' && !p.root.caps.volatile) {
    log.err('validate_decoder', `${p.root.name} is not volatile capable`);
    return -EINVAL;
  }
  if (p.mode === 'pmem' && !p.root.caps.pmem) {
    log.err('validate_decoder', `${p.root.name} is not pmem capable`);
    return -EINVAL;
  }
  if (prm.enforceQos && p.root.qosClass !== null) {
    // QEMU's memdevs report no qos class: nothing to compare (the check stops at the first memdev without one)
  }
  // collect_minsize()
  for (let i = 0; i < p.ways; i++) {
    const md = p.memdevs[i]!;
    const size = p.mode === 'ram' ? md.ramSize : md.pmemSize;
    p.epMinSize = p.epMinSize ? Math.min(p.epMinSize, size) : size;
  }
  return 0;
}

function busMatches(bus: CxlBus, ident: string | undefined): boolean {
  if (!ident) return true;
  return ident.split(/[ ,]/).some((n) => n === 'all' || n === bus.root.name || n === String(bus.root.id) || n === 'ACPI.CXL');
}

/** cxl_memdev_find_decoder(): the memdev's first endpoint decoder that decodes nothing yet. */
function findDecoder(md: CxlMemdev, log: Log): CxlEndpointDecoder | null {
  if (!md.endpoint) {
    log.err('cxl_memdev_find_decoder', `could not get an endpoint for ${md.name}`);
    return null;
  }
  for (const d of md.endpoint.decoders) if (d instanceof CxlEndpointDecoder && d.size === 0) return d;
  log.err('cxl_memdev_find_decoder', `could not get a free decoder for ${md.name}`);
  return null;
}

/**
 * `cxl create-region` (cmd_create_region() → create_region() of cxl-cli 81):
 * its own checks, then the sysfs protocol — create_{ram,pmem}_region,
 * interleave_granularity, interleave_ways, (uuid), size, per memdev a free
 * endpoint decoder's mode and dpa_size and targetN, commit, and the bind —
 * printing the region (with its mappings) on success. A failed step deletes
 * the region again (the DPA already allocated stays, as cxl-cli 81 leaves
 * it).
 */
export function cxlCreateRegion(bus: CxlBus, sysfs: CxlSysfs, prm: CreateRegionParams, hooks: CxlRegionHooks = {}): CxlCmdResult {
  const log = new Log('cxl region');
  let count = 0;
  let json: unknown;
  const rc = ((): number => {
    const parsed = parseCreateOptions(bus, prm, log);
    if (typeof parsed === 'number') return parsed;
    const p = parsed;
    let rc = validateConfig(bus, prm, p, log);
    if (rc) return rc;
    const root = p.root!;
    const fn = 'create_region';
    let size: number;
    let defaultSize = true;
    if (p.size) {
      size = p.size;
      defaultSize = false;
    } else if (p.epMinSize) size = p.epMinSize * p.ways;
    else {
      log.err(fn, 'unable to determine region size');
      return -ENXIO;
    }
    const maxExtent = maxAvailableExtent(root);
    if (!defaultSize && size > maxExtent) {
      log.err(fn, `${root.name}: region size ${hex(size)} exceeds max available space (${hex(maxExtent)})`);
      return -ENOSPC;
    }
    if (size > maxExtent) size = Math.floor(maxExtent / (SZ_256M * p.ways)) * SZ_256M * p.ways;
    // cxl_decoder_create_{ram,pmem}_region()
    const attr = `create_${p.mode}_region`;
    let name: string;
    try {
      name = cxlSysfsRead(bus, root.name, attr);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      log.lib('cxl_decoder_create_region', `failed to read new region name: ${strerror(-e.errno)}`);
      log.err(fn, `failed to create region under ${prm.decoder}`);
      return -ENXIO;
    }
    rc = step(() => sysfs.write(root.name, attr, name));
    if (rc) {
      log.lib('cxl_decoder_create_region', `failed to write new region name: ${strerror(rc)}`);
      log.err(fn, `failed to create region under ${prm.decoder}`);
      return -ENXIO;
    }
    const region = bus.region(name);
    const out = (r: number): number => {
      if (r) deleteRegion(bus, sysfs, region, log);
      return r;
    };
    // cxl_region_determine_granularity()
    let granularity = root.interleaveGranularity;
    if (p.granularity && root.interleaveWays !== 1 && p.granularity !== granularity) {
      log.err(fn, `${name}: For an x${root.interleaveWays} root, only root decoder granularity (${granularity}) permitted`);
      return out(-EINVAL);
    }
    if (p.granularity) granularity = p.granularity;
    const tryStep = (dev: string, op: string, f: () => void): boolean => {
      const r = step(f);
      if (r) {
        log.err(fn, `${dev}: ${op} failed: ${strerror(r)}`);
        rc = r;
        return false;
      }
      return true;
    };
    if (!tryStep(name, 'set_interleave_granularity', () => sysfs.write(name, 'interleave_granularity', String(granularity)))) return out(rc);
    if (!tryStep(name, 'set_interleave_ways', () => sysfs.write(name, 'interleave_ways', String(p.ways)))) return out(rc);
    if (p.mode === 'pmem') {
      const uuid = prm.uuid ?? uuidGenerate();
      if (!tryStep(name, 'set_uuid', () => sysfs.write(name, 'uuid', uuid))) return out(rc);
    }
    if (!tryStep(name, 'set_size', () => sysfs.write(name, 'size', hex(size)))) return out(rc);
    for (let i = 0; i < p.ways; i++) {
      const md = p.memdevs[i]!;
      const ep = findDecoder(md, log);
      if (!ep) return out(-ENXIO);
      if (ep.mode !== p.mode) {
        if (!tryStep(ep.name, 'set_dpa_size', () => sysfs.write(ep.name, 'dpa_size', '0'))) return out(rc);
        if (!tryStep(ep.name, 'set_mode', () => sysfs.write(ep.name, 'mode', p.mode))) return out(rc);
      }
      if (!tryStep(ep.name, 'set_dpa_size', () => sysfs.write(ep.name, 'dpa_size', hex(size / p.ways)))) return out(rc);
      const r = step(() => sysfs.write(name, `target${i}`, ep.name));
      if (r) {
        log.err(fn, `${name}: failed to set target${i} to ${md.name}`);
        return out(r);
      }
    }
    let r = step(() => sysfs.write(name, 'commit', '1'));
    if (r) {
      log.err(fn, `${name}: failed to commit decode: ${strerror(r)}`);
      return out(r);
    }
    r = regionEnable(sysfs, region, log);
    if (r) {
      log.err(fn, `${name}: failed to enable: ${strerror(r)}`);
      return out(r);
    }
    count = 1;
    json = regionToJson(region, { targets: true, human: hooks.isatty ?? false }, hooks);
    return 0;
  })();
  log.err('cmd_create_region', `created ${count} region${count === 1 ? '' : 's'}`);
  return { exitCode: rc === 0 ? 0 : 1, ...(json !== undefined ? { json } : {}), stderr: log.lines };
}

/** cxl_region_delete(): refused (EBUSY) while enabled; else a write to the window's delete_region. */
function deleteRegion(bus: CxlBus, sysfs: CxlSysfs, region: CxlRegion, log: Log): number {
  if (region.bound) return -EBUSY;
  const rc = step(() => sysfs.write(region.decoder.name, 'delete_region', region.name));
  if (rc) log.lib('cxl_region_delete_name', `error deleting region: ${strerror(rc)}`);
  void bus;
  return rc;
}

/** cxl_region_enable(): the bind; ENXIO when the region did not come up. */
function regionEnable(sysfs: CxlSysfs, region: CxlRegion, log: Log): number {
  if (region.bound) return 0;
  step(() => sysfs.bind(region.name));
  if (!region.bound) {
    log.lib('cxl_region_enable', `${region.name}: failed to enable`);
    return -ENXIO;
  }
  return 0;
}

/** cxl_region_disable(): the unbind; EBUSY when the region is still bound. */
function regionDisable(sysfs: CxlSysfs, region: CxlRegion, log: Log): number {
  step(() => sysfs.unbind(region.name));
  if (region.bound) {
    log.lib('cxl_region_disable', `${region.name}: failed to disable`);
    return -EBUSY;
  }
  return 0;
}

/** The memory blocks of a device that are online (what daxctl_memory_is_online() sees). */
function onlineBlocks(bus: CxlBus, dev: DevDax): number {
  return bus.kmem.blocksOf(dev).filter((b) => b.state === 'online').length;
}

/**
 * disable_region(): each system-ram device of the region's dax region has
 * its memory offlined through libdaxctl first (a failure stops it, unless
 * -f); then the unbind. Where cxl-cli 81 would force the disable past
 * memory it could not offline — leaking the address space, and on 7.3
 * crashing the kernel when the decode is reset under it — the model
 * refuses with a message that says so.
 */
function disableRegion(bus: CxlBus, sysfs: CxlSysfs, region: CxlRegion, force: boolean, hooks: CxlRegionHooks, log: Log): number {
  const fn = 'disable_region';
  const daxRegion = region.daxRegion;
  if (daxRegion) {
    const failed: DevDax[] = [];
    for (const dev of daxRegion.devicesById()) {
      if (!bus.kmem.isBound(dev)) return -ENXIO;
      const online = hooks.memoryIsOnline ? hooks.memoryIsOnline(dev) : onlineBlocks(bus, dev) > 0;
      if (!online) continue;
      const res = hooks.offlineMemory ? hooks.offlineMemory(dev) : offlineDirect(bus, dev);
      log.raw(...res.messages);
      if (res.rc < 0) {
        log.err(fn, `${region.name}: unable to offline ${dev.name}: ${strerror(res.rc)}`);
        if (!force) return res.rc;
        failed.push(dev);
      }
    }
    if (failed.length) {
      for (const dev of failed)
        log.err(fn, `${region.name}: refusing to force the disable: ${dev.name} still has ${onlineBlocks(bus, dev)} memory blocks online`);
      log.err(fn, `${region.name}: (cxl-cli 81 would disable it anyway and leak the address space; Linux 7.3 then crashes with list_del corruption when the decode is reset under the online memory)`);
      return -EBUSY;
    }
  }
  return regionDisable(sysfs, region, log);
}

/** libdaxctl's offline of every online block, applied to the bus's memory hotplug directly (no machine log). */
function offlineDirect(bus: CxlBus, dev: DevDax): { rc: number; messages: string[] } {
  let n = 0;
  for (const b of bus.kmem.blocksOf(dev)) {
    if (b.state !== 'online') continue;
    try {
      bus.kmem.hotplug.setBlockState(b.id, 'offline');
      n++;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      return {
        rc: -e.errno,
        messages: [`libdaxctl: offline_one_memblock: ${dev.name}: Failed to offline /sys/devices/system/node/node${b.nid}/memory${b.id}/state: ${strerror(-e.errno)}`],
      };
    }
  }
  return { rc: n, messages: [] };
}

/**
 * destroy_region(): an enabled region is refused ("active. Disable it or
 * use --force") unless -f disables it first; then decode reset (commit 0),
 * each target cleared and its endpoint decoder's DPA freed, and the region
 * deleted.
 */
function destroyRegion(bus: CxlBus, sysfs: CxlSysfs, region: CxlRegion, force: boolean, hooks: CxlRegionHooks, log: Log): number {
  const fn = 'destroy_region';
  const name = region.name;
  if (region.bound) {
    if (!force) {
      log.err(fn, `${name} active. Disable it or use --force`);
      return -EBUSY;
    }
    const rc = disableRegion(bus, sysfs, region, true, hooks, log);
    if (rc) {
      log.err(fn, `${name}: error disabling region: ${strerror(rc)}`);
      return rc;
    }
  }
  let rc = step(() => sysfs.write(name, 'commit', '0'));
  if (rc) {
    log.err(fn, `${name}: failed to reset decode: ${strerror(rc)}`);
    return rc;
  }
  const ways = region.params.interleaveWays;
  if (!ways) {
    log.err(fn, `${name}: error getting interleave ways`);
    return -ENXIO;
  }
  for (let i = 0; i < ways; i++) {
    const ep = region.params.targets[i];
    if (!ep) return -ENXIO;
    if (region.bound) {
      log.lib('cxl_region_clear_target', `${name}: can't clear targets on an active region`);
      rc = -EBUSY;
    } else {
      rc = step(() => sysfs.write(name, `target${i}`, ''));
      if (rc) log.lib('cxl_region_clear_target', `${name}: error clearing target${i}: ${strerror(rc)}`);
    }
    if (rc) {
      log.err(fn, `${name}: clearing target${i} failed: ${strerror(rc)}`);
      return rc;
    }
    rc = step(() => sysfs.write(ep.name, 'dpa_size', '0'));
    if (rc) {
      log.err(fn, `${ep.name}: set_dpa_size failed: ${strerror(rc)}`);
      return rc;
    }
  }
  return deleteRegion(bus, sysfs, region, log);
}

export type RegionAction = 'enable' | 'disable' | 'destroy';

/** What enable-, disable- and destroy-region take (cxl/region.c's BASE_OPTIONS and -f). */
export interface RegionActionParams {
  readonly bus?: string | undefined;
  readonly decoder?: string | undefined;
  readonly force?: boolean;
  readonly regions: readonly string[];
}

/**
 * `cxl enable-region`, `disable-region`, `destroy-region` (region_action()
 * of cxl-cli 81): every region of every matching root decoder that one of
 * the arguments names, acted on in turn; a failure is reported per region
 * and as the last failure; exit status 1 when any failed.
 */
export function cxlRegionAction(bus: CxlBus, sysfs: CxlSysfs, action: RegionAction, prm: RegionActionParams, hooks: CxlRegionHooks = {}): CxlCmdResult {
  const log = new Log('cxl region');
  let count = 0;
  let errRc = 0;
  if (busMatches(bus, prm.bus))
    for (const root of bus.rootDecoders) {
      if (!decoderFilter(root, prm.decoder)) continue;
      // decoder_region_action()
      let err = 0;
      for (const region of [...root.regions].sort((a, b) => a.id - b.id)) {
        if (!prm.regions.some((a) => regionFilter(region, a))) continue;
        const rc =
          action === 'enable'
            ? regionEnable(sysfs, region, log)
            : action === 'disable'
              ? disableRegion(bus, sysfs, region, prm.force ?? false, hooks, log)
              : destroyRegion(bus, sysfs, region, prm.force ?? false, hooks, log);
        if (rc === 0) count++;
        else {
          log.err('decoder_region_action', `${region.name}: failed: ${strerror(rc)}`);
          err = rc;
        }
      }
      if (err) errRc = err;
    }
  if (errRc) log.err('region_action', `one or more failures, last failure: ${strerror(errRc)}`);
  const verb = action === 'enable' ? 'enabled' : action === 'disable' ? 'disabled' : 'destroyed';
  log.err(`cmd_${action}_region`, `${verb} ${count} region${count === 1 ? '' : 's'}`);
  return { exitCode: errRc ? 1 : 0, stderr: log.lines };
}

