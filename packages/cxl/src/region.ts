import { kstrtoull } from '@daxsim/device-dax';
import { EACCES, EBUSY, EINVAL, ENODEV, ENOENT, ENXIO, ERANGE, KernelError, hex } from '@daxsim/mm';
import type { CxlBus } from './cxl-bus.js';
import { cxlDaxRegionProbe, cxlDaxRegionRemove, cxlDaxRegionRemovable } from './dax-cxl.js';
import { attrError, cxlDecoderCommit, cxlDecoderReset } from './hdm.js';
import { eigToGranularity, granularityToEig, isPowerOf2, waysToEiw } from './interleave.js';
import {
  CXL_CONFIG_ACTIVE,
  CXL_CONFIG_COMMIT,
  CXL_CONFIG_IDLE,
  CXL_CONFIG_INTERLEAVE_ACTIVE,
  CXL_CONFIG_RESET_PENDING,
  type CxlDecoder,
  CxlEndpointDecoder,
  type CxlEp,
  type CxlPort,
  CxlRegion,
  CxlRegionRef,
  type CxlRootDecoder,
  CxlSwitchDecoder,
  type HpaRange,
  SZ_256M,
  rangeLen,
} from './objects.js';

// ------------------------------------------------------------ sysfs number parsing

/** kstrtouint(buf, 0): EINVAL for anything but an unsigned number, ERANGE above 2^32-1. */
function kstrtouint(dev: string, attr: string, buf: string): number {
  const v = parseU64(dev, attr, buf);
  if (v > 0xffffffff) throw attrError(dev, attr, ERANGE, `"${buf.trim()}" is out of range`);
  return v;
}

/** kstrtoint(buf, 0): a signed 32-bit number. */
function kstrtoint(dev: string, attr: string, buf: string): number {
  const s = buf.endsWith('\n') ? buf.slice(0, -1) : buf;
  const neg = s.startsWith('-');
  const v = parseU64(dev, attr, neg ? s.slice(1) : s.replace(/^\+/, ''));
  const n = neg ? -v : v;
  if (n > 0x7fffffff || n < -0x80000000) throw attrError(dev, attr, ERANGE, `"${s}" is out of range`);
  return n;
}

function parseU64(dev: string, attr: string, buf: string): number {
  try {
    return kstrtoull(buf);
  } catch (e) {
    if (e instanceof KernelError) throw attrError(dev, attr, e.errno, `"${buf.trim()}" is not a number`);
    throw e;
  }
}

/** kstrtobool(): 1/y/Y/on, 0/n/N/off. */
function kstrtobool(dev: string, attr: string, buf: string): boolean {
  const s = buf.trim().toLowerCase();
  if (['1', 'y', 'yes', 'on', 'true'].includes(s) || s.startsWith('y')) return true;
  if (['0', 'n', 'no', 'off', 'false'].includes(s) || s.startsWith('n')) return false;
  throw attrError(dev, attr, EINVAL, `"${buf.trim()}" is not a boolean`);
}

// ------------------------------------------------------------ topology walks

/** The ports from the endpoint up to (not including) the root: iter = cxled_to_port(); !is_cxl_root(iter); parent. */
function portsUp(cxled: CxlEndpointDecoder): CxlPort[] {
  const out: CxlPort[] = [];
  for (let p: CxlPort | null = cxled.port; p && p.kind !== 'root'; p = p.parent) out.push(p);
  return out;
}

/**
 * The switch ports from the top (the host bridge) down, following each
 * port's cxl_ep for the memdev (ep->next), as the decode setup and reset
 * loops walk them.
 */
function portsDown(bus: CxlBus, cxled: CxlEndpointDecoder): { port: CxlPort; ep: CxlEp }[] {
  const md = cxled.memdev;
  const out: { port: CxlPort; ep: CxlEp }[] = [];
  let iter: CxlPort | null = bus.root.eps.get(md)?.next ?? null;
  while (iter) {
    const ep = iter.eps.get(md);
    if (!ep) break;
    out.push({ port: iter, ep });
    iter = ep.next;
  }
  return out;
}

// ------------------------------------------------------------ create / delete

/** The attribute for a mode: create_ram_region or create_pmem_region; ENOENT when the kernel has none. */
function createAttr(bus: CxlBus, cxlrd: CxlRootDecoder, mode: 'ram' | 'pmem'): string {
  const attr = `create_${mode}_region`;
  if (mode === 'ram' && !bus.features.ramRegions)
    throw new KernelError(ENOENT, `${cxlrd.name}: ${attr}: no such attribute (this kernel cannot create volatile regions)`);
  return attr;
}

/** create_ram_region_show() / create_pmem_region_show(): the name the next region will have. */
export function createRegionShow(bus: CxlBus, cxlrd: CxlRootDecoder, mode: 'ram' | 'pmem'): string {
  createAttr(bus, cxlrd, mode);
  return `region${cxlrd.regionId}`;
}

/**
 * create_region_store() → __create_region(): "regionN", N the name the
 * attribute offers; memregion_alloc() takes the next one (EBUSY when N is
 * not the offered name, as when another writer won the race).
 */
export function createRegionStore(bus: CxlBus, cxlrd: CxlRootDecoder, mode: 'ram' | 'pmem', buf: string): CxlRegion {
  const attr = createAttr(bus, cxlrd, mode);
  const m = /^region(-?\d+)/.exec(buf);
  if (!m) throw attrError(cxlrd.name, attr, EINVAL, `"${buf.trim()}" is not a region name (regionN)`);
  const id = Number(m[1]);
  if (id !== cxlrd.regionId) throw attrError(cxlrd.name, attr, EBUSY, `region${id} is not the region it offers (region${cxlrd.regionId})`);
  cxlrd.regionId = bus.memregion.alloc();
  const cxlr = new CxlRegion(id, cxlrd, mode);
  cxlrd.regions.push(cxlr);
  return cxlr;
}

/**
 * delete_region_store() → unregister_region(): the region's driver is
 * released, every target detached, its HPA given back to the window, and
 * its id recycled (cxl_region_release(): a lower id becomes the next one
 * offered, so regions restart at region0). ENODEV when the window has no
 * such region.
 */
export function deleteRegionStore(bus: CxlBus, cxlrd: CxlRootDecoder, buf: string): void {
  const name = buf.trim();
  const cxlr = cxlrd.regions.find((r) => r.name === name);
  if (!cxlr) throw attrError(cxlrd.name, 'delete_region', ENODEV, `no region "${name}" under ${cxlrd.name}`);
  checkReleaseDriver(bus, cxlr, 'delete_region');
  releaseDriver(bus, cxlr);
  const p = cxlr.params;
  for (let i = 0; i < p.interleaveWays; i++) if (p.targets[i]) cxlRegionDetach(bus, p.targets[i]!);
  // cxl_region_iomem_release()
  p.res = null;
  cxlrd.regions.splice(cxlrd.regions.indexOf(cxlr), 1);
  // cxl_region_release()
  const next = cxlrd.regionId;
  if (cxlr.id < next) {
    cxlrd.regionId = cxlr.id;
    bus.memregion.free(next);
  } else bus.memregion.free(cxlr.id);
}

// ------------------------------------------------------------ interleave and size

/**
 * interleave_ways_store(): 1, 2, 3, 4, 6, 8, 12 or 16 (ways_to_eiw()), and a
 * power-of-2 multiple of the root decoder's ways; EBUSY once the HPA is set.
 */
export function interleaveWaysStore(cxlr: CxlRegion, buf: string): void {
  const attr = 'interleave_ways';
  const val = kstrtouint(cxlr.name, attr, buf);
  if (waysToEiw(val) === undefined) throw attrError(cxlr.name, attr, EINVAL, `${val} is not one of 1, 2, 3, 4, 6, 8, 12, 16`);
  const rootWays = cxlr.decoder.interleaveWays;
  if (!isPowerOf2(Math.floor(val / rootWays)) || val % rootWays)
    throw attrError(cxlr.name, attr, EINVAL, `${val} is not a power-of-2 multiple of ${cxlr.decoder.name}'s ${rootWays} ways`);
  const p = cxlr.params;
  if (p.state >= CXL_CONFIG_INTERLEAVE_ACTIVE) throw attrError(cxlr.name, attr, EBUSY, 'the region has its size (write 0 to size first)');
  p.interleaveWays = val;
  p.targets.length = val;
  for (let i = 0; i < val; i++) p.targets[i] ??= null;
}

/**
 * interleave_granularity_store(): a power of two from 256 to 16K
 * (granularity_to_eig()); with an interleaved root decoder only the root's
 * granularity; EBUSY once the HPA is set.
 */
export function interleaveGranularityStore(cxlr: CxlRegion, buf: string): void {
  const attr = 'interleave_granularity';
  const val = kstrtoint(cxlr.name, attr, buf);
  if (granularityToEig(val) === undefined) throw attrError(cxlr.name, attr, EINVAL, `${val} is not a power of two from 256 to 16384`);
  const root = cxlr.decoder;
  if (root.interleaveWays > 1 && val !== root.interleaveGranularity)
    throw attrError(cxlr.name, attr, EINVAL, `${root.name} interleaves ${root.interleaveWays} ways: only its granularity ${root.interleaveGranularity} is allowed`);
  const p = cxlr.params;
  if (p.state >= CXL_CONFIG_INTERLEAVE_ACTIVE) throw attrError(cxlr.name, attr, EBUSY, 'the region has its size (write 0 to size first)');
  p.interleaveGranularity = val;
}

/** uuid_store(): pmem regions only (a ram region's uuid reads empty and is read-only). */
export function uuidStore(bus: CxlBus, cxlr: CxlRegion, buf: string): void {
  const attr = 'uuid';
  if (cxlr.mode !== 'pmem') throw attrError(cxlr.name, attr, EACCES, 'read-only for a ram region');
  const s = buf.endsWith('\n') ? buf.slice(0, -1) : buf;
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s)) throw attrError(cxlr.name, attr, EINVAL, `"${s}" is not a uuid`);
  const uuid = s.toLowerCase();
  if (/^[0-]+$/.test(uuid)) throw attrError(cxlr.name, attr, EINVAL, 'the null uuid');
  const p = cxlr.params;
  if (p.uuid === uuid) return;
  if (p.state >= CXL_CONFIG_ACTIVE) throw attrError(cxlr.name, attr, EBUSY, 'the region is active');
  for (const r of bus.regions) if (r.params.uuid === uuid) throw attrError(cxlr.name, attr, EBUSY, `${r.name} already has uuid ${uuid}`);
  p.uuid = uuid;
}

/**
 * The free extents of a window (its resource's gaps between regions), in
 * address order.
 */
export function windowGaps(cxlrd: CxlRootDecoder): HpaRange[] {
  const taken = cxlrd.regions.flatMap((r) => (r.params.res ? [r.params.res] : [])).sort((a, b) => a.start - b.start);
  const out: HpaRange[] = [];
  let at = cxlrd.res.start;
  for (const t of taken) {
    if (t.start > at) out.push({ start: at, end: t.start - 1 });
    at = Math.max(at, t.end + 1);
  }
  if (at <= cxlrd.res.end) out.push({ start: at, end: cxlrd.res.end });
  return out;
}

/** max_available_extent_show(): the largest free extent of the window. */
export function maxAvailableExtent(cxlrd: CxlRootDecoder): number {
  return Math.max(0, ...windowGaps(cxlrd).map(rangeLen));
}

/**
 * alloc_hpa(): ways, granularity (and a pmem region's uuid) first (ENXIO);
 * a multiple of 256M x ways (EINVAL); then alloc_free_mem_region(): the
 * lowest 256M-aligned free extent of the window that fits (ERANGE when none).
 */
function allocHpa(cxlr: CxlRegion, size: number): void {
  const attr = 'size';
  const p = cxlr.params;
  if (p.res && rangeLen(p.res) === size) return;
  if (p.res) throw attrError(cxlr.name, attr, EBUSY, `the region already has ${hex(rangeLen(p.res))} (write 0 first)`);
  if (p.state >= CXL_CONFIG_INTERLEAVE_ACTIVE) throw attrError(cxlr.name, attr, EBUSY, 'the region is active');
  if (!p.interleaveWays || !p.interleaveGranularity || (cxlr.mode === 'pmem' && !p.uuid))
    throw attrError(cxlr.name, attr, ENXIO, `set interleave_ways, interleave_granularity${cxlr.mode === 'pmem' ? ' and uuid' : ''} first`);
  if (size % (SZ_256M * p.interleaveWays)) throw attrError(cxlr.name, attr, EINVAL, `${hex(size)} is not a multiple of 256M x ${p.interleaveWays} ways`);
  for (const g of windowGaps(cxlr.decoder)) {
    const start = Math.ceil(g.start / SZ_256M) * SZ_256M;
    if (start + size - 1 <= g.end) {
      p.res = { start, end: start + size - 1 };
      p.state = CXL_CONFIG_INTERLEAVE_ACTIVE;
      return;
    }
  }
  throw attrError(cxlr.name, attr, ERANGE, `no free extent of ${hex(size)} in ${cxlr.decoder.name} (largest ${hex(maxAvailableExtent(cxlr.decoder))})`);
}

/** free_hpa(): EBUSY while the region is active. */
function freeHpa(cxlr: CxlRegion): void {
  const p = cxlr.params;
  if (!p.res) return;
  if (p.state >= CXL_CONFIG_ACTIVE) throw attrError(cxlr.name, 'size', EBUSY, 'the region is active (its targets are set)');
  p.res = null;
  p.state = CXL_CONFIG_IDLE;
}

/** size_store(): allocate (non-zero) or free (0) the region's HPA. */
export function sizeStore(cxlr: CxlRegion, buf: string): void {
  const val = parseU64(cxlr.name, 'size', buf);
  if (val) allocHpa(cxlr, val);
  else freeHpa(cxlr);
}

// ------------------------------------------------------------ targets

/** check_interleave_cap(): the decoder's port supports `iw` ways and the address bits that ways and granularity select. */
function checkInterleaveCap(cxld: CxlDecoder, iw: number, ig: number): boolean {
  const hdm = cxld.port.hdm;
  if (!hdm) return true;
  if (!hdm.iwCap.includes(iw)) return false;
  const eiw = waysToEiw(iw)!;
  if (eiw === 0 || eiw === 8) return true;
  const eig = granularityToEig(ig)!;
  const high = eiw > 8 ? eiw + eig - 1 : eiw + eig + 7;
  const low = eig + 8;
  let mask = 0;
  for (let b = low; b <= high; b++) mask |= 1 << b;
  return (mask & ~hdm.interleaveMask) === 0;
}

/** free_region_ref() */
function freeRegionRef(rr: CxlRegionRef): void {
  if (rr.decoder && rr.decoder.region === rr.region) rr.decoder.region = null;
  rr.port.regions.delete(rr.region);
}

/**
 * cxl_region_find_decoder(): the endpoint decoder itself at its own port;
 * elsewhere the next decoder to commit (match_free_decoder(): id
 * commit_end + 1, not reserved, every lower one committed).
 */
function cxlRegionFindDecoder(port: CxlPort, cxled: CxlEndpointDecoder): CxlDecoder | null {
  if (port === cxled.port) return cxled;
  for (const d of port.decoders) {
    if (!(d instanceof CxlSwitchDecoder)) continue;
    if (d.id !== port.commitEnd + 1) continue;
    if (d.region) continue;
    if (port.decoders.some((x) => x.id < d.id && !x.enabled)) continue;
    return d;
  }
  return null;
}

/**
 * cxl_port_attach_region(): the region's reference on the port (new ones
 * must not sit below a region already decoded there: HPA order), the
 * decoder that hosts it, the endpoint counted, and how many targets the
 * decoder needs (a new one per distinct next port, or per endpoint right
 * below). EBUSY / ENXIO, the port left as it was.
 */
function cxlPortAttachRegion(port: CxlPort, cxlr: CxlRegion, cxled: CxlEndpointDecoder): void {
  const ep = port.eps.get(cxled.memdev);
  let rr = port.regions.get(cxlr);
  let inc = false;
  let created = false;
  const fail = (errno: number, why: string): never => {
    if (inc) rr!.nrTargets--;
    if (rr!.nrEps === 0) freeRegionRef(rr!);
    throw new KernelError(errno, `${port.name}: ${why}`);
  };
  if (rr) {
    let found = false;
    for (const it of rr.endpoints.values())
      if (it !== ep && it.next === ep?.next) {
        found = true;
        break;
      }
    if (!found || !ep?.next) {
      rr.nrTargets++;
      inc = true;
    }
  } else {
    // alloc_region_ref()
    for (const other of port.regions.values()) {
      const ip = other.region.params;
      if (!ip.res || ip.res.start < cxlr.params.res!.start) continue;
      throw new KernelError(EBUSY, `${port.name}: HPA order violation: ${other.region.name} at ${hex(ip.res.start)} is above ${hex(cxlr.params.res!.start)}`);
    }
    rr = new CxlRegionRef(port, cxlr);
    port.regions.set(cxlr, rr);
    inc = true;
    created = true;
    // cxl_rr_alloc_decoder()
    const cxld = cxlRegionFindDecoder(port, cxled);
    if (!cxld) fail(EBUSY, 'no decoder available');
    if (cxld!.region) fail(EBUSY, `${cxld!.name} already attached to ${cxld!.region!.name}`);
    rr.decoder = cxld;
  }
  const cxld = rr.decoder!;
  if (cxld instanceof CxlSwitchDecoder && rr.nrTargets > cxld.nrTargets)
    fail(ENXIO, `${cxld.name} add: ${cxled.memdev.name}:${cxled.name} overflows targets: ${cxld.nrTargets}`);
  // cxl_rr_ep_add()
  if (ep) rr.endpoints.set(cxled, ep);
  rr.nrEps++;
  if (!cxld.region) cxld.region = cxlr;
  void created;
}

/** cxl_port_detach_region() */
function cxlPortDetachRegion(port: CxlPort, cxlr: CxlRegion, cxled: CxlEndpointDecoder): void {
  const rr = port.regions.get(cxlr);
  if (!rr) return;
  let ep: CxlEp | undefined;
  if (rr.decoder === cxled) rr.nrEps--;
  else {
    ep = rr.endpoints.get(cxled);
    rr.endpoints.delete(cxled);
  }
  if (ep) {
    rr.nrEps--;
    let found = false;
    for (const it of rr.endpoints.values()) if (it.next === ep.next) found = true;
    if (!found) rr.nrTargets--;
  }
  if (rr.nrEps === 0) freeRegionRef(rr);
}

/** check_last_peer(): a position sharing a dport with an earlier one must be `distance` after a peer on that dport. */
function checkLastPeer(cxlr: CxlRegion, port: CxlPort, cxled: CxlEndpointDecoder, ep: CxlEp, distance: number): void {
  const pos = cxled.pos;
  if (pos < distance) throw new KernelError(ENXIO, `${port.name}: cannot host ${cxled.memdev.name}:${cxled.name} at ${pos}`);
  const peer = cxlr.params.targets[pos - distance]!;
  const epPeer = port.eps.get(peer.memdev)!;
  if (ep.dport !== epPeer.dport)
    throw new KernelError(ENXIO, `${port.name}: ${cxled.memdev.name}:${cxled.name} pos ${pos} mismatched peer ${peer.memdev.name}:${peer.name}`);
}

/**
 * cxl_port_setup_targets(): the switch decoder's ways (its region
 * reference's target count, a power of two up to 8 and its capacity) and
 * granularity (the parent's granularity x the parent's ways), its HPA
 * range, and the dport of this endpoint at the next target slot (or, for a
 * dport already there, the check that this position may share it).
 */
function cxlPortSetupTargets(bus: CxlBus, port: CxlPort, ep: CxlEp, cxlr: CxlRegion, cxled: CxlEndpointDecoder): void {
  const rr = port.regions.get(cxlr)!;
  const cxld = rr.decoder as CxlSwitchDecoder;
  const p = cxlr.params;
  const cxlrd = cxlr.decoder;
  const err = (errno: number, why: string): never => {
    throw new KernelError(errno, `${port.host}:${port.name}: ${why}`);
  };
  if (!isPowerOf2(rr.nrTargets)) err(EINVAL, `invalid target count ${rr.nrTargets}`);
  if (rr.nrTargetsSet) {
    let distance = 1;
    for (let it: CxlPort = port; it.kind !== 'root'; it = it.parent!) distance *= it.regions.get(cxlr)!.nrTargets;
    distance *= cxlrd.interleaveWays;
    for (let i = 0; i < rr.nrTargetsSet; i++)
      if (ep.dport === cxld.target[i]) {
        checkLastPeer(cxlr, port, cxled, ep, distance);
        return;
      }
  } else {
    const parent = port.parent!;
    let parentIg: number;
    let parentIw: number;
    if (parent.kind === 'root') {
      // the root's granularity is the region's (interleave_granularity_store() allows no other with interleaved host bridges)
      parentIg = p.interleaveGranularity;
      parentIw = cxlrd.interleaveWays;
      if (!isPowerOf2(parentIw)) parentIw /= 3;
    } else {
      const prr = parent.regions.get(cxlr)!;
      parentIg = prr.decoder!.interleaveGranularity;
      parentIw = prr.decoder!.interleaveWays;
    }
    if (granularityToEig(parentIg) === undefined) err(EINVAL, `invalid parent granularity: ${parentIg}`);
    if (waysToEiw(parentIw) === undefined) err(EINVAL, `invalid parent interleave: ${parentIw}`);
    const iw = rr.nrTargets;
    if (waysToEiw(iw) === undefined) err(EINVAL, `invalid port interleave: ${iw}`);
    const eig = granularityToEig(parentIg * parentIw);
    if (eig === undefined) err(EINVAL, `invalid granularity calculation (${parentIg} * ${parentIw})`);
    const ig = eigToGranularity(eig!)!;
    if (iw > 8 || iw > cxld.nrTargets) err(ENXIO, `${cxld.name}: ways: ${iw} overflows targets: ${cxld.nrTargets}`);
    if (!checkInterleaveCap(cxld, iw, ig)) err(ENXIO, `iw: ${iw} ig: ${ig} is not supported`);
    cxld.interleaveWays = iw;
    cxld.interleaveGranularity = ig;
    cxld.hpaRange = { ...p.res! };
  }
  // add_target:
  if (rr.nrTargetsSet === rr.nrTargets) err(ENXIO, `targets full trying to add ${cxled.memdev.name}:${cxled.name} at ${cxled.pos}`);
  cxld.target[rr.nrTargetsSet] = ep.dport;
  rr.nrTargetsSet++;
  void bus;
}

/** cxl_port_reset_targets() */
function cxlPortResetTargets(port: CxlPort, cxlr: CxlRegion): void {
  const rr = port.regions.get(cxlr);
  if (!rr) return;
  rr.nrTargetsSet = 0;
  rr.decoder!.hpaRange = { start: 0, end: -1 };
}

/** cxl_region_teardown_targets() */
function cxlRegionTeardownTargets(bus: CxlBus, cxlr: CxlRegion): void {
  const p = cxlr.params;
  for (let i = 0; i < p.interleaveWays; i++) {
    const cxled = p.targets[i];
    if (!cxled) continue;
    for (const { port } of portsDown(bus, cxled)) cxlPortResetTargets(port, cxlr);
  }
}

/** cxl_region_setup_targets(): program every switch decoder's targets, top down; on failure none stays set up. */
function cxlRegionSetupTargets(bus: CxlBus, cxlr: CxlRegion): void {
  const p = cxlr.params;
  try {
    for (let i = 0; i < p.interleaveWays; i++) {
      const cxled = p.targets[i]!;
      for (const { port, ep } of portsDown(bus, cxled)) cxlPortSetupTargets(bus, port, ep, cxlr, cxled);
    }
  } catch (e) {
    cxlRegionTeardownTargets(bus, cxlr);
    throw e;
  }
}

/**
 * cxl_region_attach(): checks the endpoint decoder against the region
 * (interleave capability, mode, state, free slot, its host bridge under the
 * window, DPA allocated and sized region size / ways, position free and
 * memdev not already a target, the window's target for the position), takes
 * the region's reference on every port up to the root, and with the last
 * target programs the switch decoders (cxl_region_setup_targets()) and
 * makes the region active.
 */
export function cxlRegionAttach(bus: CxlBus, cxlr: CxlRegion, cxled: CxlEndpointDecoder, pos: number): void {
  const p = cxlr.params;
  const attr = `target${pos}`;
  const fail = (errno: number, why: string): never => {
    throw attrError(cxlr.name, attr, errno, why);
  };
  if (!checkInterleaveCap(cxled, p.interleaveWays, p.interleaveGranularity))
    fail(ENXIO, `${cxled.name} cannot interleave ${p.interleaveWays} ways at ${p.interleaveGranularity}`);
  if (cxled.mode !== cxlr.mode) fail(EINVAL, `${cxled.name} mode ${cxled.mode} does not match the ${cxlr.mode} region`);
  if (cxled.mode === 'dead') fail(ENODEV, `${cxled.name} is dead`);
  if (p.state > CXL_CONFIG_INTERLEAVE_ACTIVE) fail(EBUSY, 'the region is already active');
  if (p.state < CXL_CONFIG_INTERLEAVE_ACTIVE) fail(ENXIO, 'interleave config missing (set interleave_ways, interleave_granularity and size first)');
  if (p.nrTargets >= p.interleaveWays) fail(EINVAL, `the region already has ${p.nrTargets} endpoints`);
  const rootEp = bus.root.eps.get(cxled.memdev);
  const dport = rootEp?.dport;
  if (!dport || !bus.root.dports.includes(dport)) fail(ENXIO, `${cxled.memdev.name}:${cxled.name} invalid target for ${cxlr.decoder.name}`);
  if (!cxled.dpaRes) fail(ENXIO, `${cxled.memdev.name}:${cxled.name}: missing DPA allocation`);
  if (cxled.dpaRes!.size * p.interleaveWays !== rangeLen(p.res!))
    fail(EINVAL, `${cxled.memdev.name}:${cxled.name}: decoder-size-${hex(cxled.dpaRes!.size)} * ways-${p.interleaveWays} != region-size-${hex(rangeLen(p.res!))}`);
  // cxl_region_validate_position()
  if (pos < 0 || pos >= p.interleaveWays) fail(ENXIO, `position ${pos} out of range ${p.interleaveWays}`);
  if (p.targets[pos] === cxled) return;
  if (p.targets[pos]) fail(EBUSY, `position ${pos} already assigned to ${p.targets[pos]!.memdev.name}:${p.targets[pos]!.name}`);
  for (let i = 0; i < p.interleaveWays; i++) {
    const t = p.targets[i];
    if (t && t.memdev === cxled.memdev) fail(EBUSY, `${cxled.memdev.name} already specified at position ${i} via: ${t.name}`);
  }
  // cxl_region_attach_position()
  const cxlrd = cxlr.decoder;
  if (dport !== cxlrd.target[pos % cxlrd.interleaveWays])
    fail(ENXIO, `${cxled.memdev.name}:${cxled.name} invalid target position for ${cxlrd.name} (position ${pos} must be under ${cxlrd.target[pos % cxlrd.interleaveWays]!.name}, it is under ${dport!.name})`);
  const ports = portsUp(cxled);
  const attached: CxlPort[] = [];
  try {
    for (const port of ports) {
      cxlPortAttachRegion(port, cxlr, cxled);
      attached.push(port);
    }
  } catch (e) {
    for (const port of ports) cxlPortDetachRegion(port, cxlr, cxled);
    if (e instanceof KernelError) fail(e.errno, e.message);
    throw e;
  }
  p.targets[pos] = cxled;
  cxled.pos = pos;
  p.nrTargets++;
  if (p.nrTargets === p.interleaveWays) {
    try {
      cxlRegionSetupTargets(bus, cxlr);
    } catch (e) {
      // the kernel leaves the endpoint attached after a failed setup; the model's refused write changes nothing
      p.targets[pos] = null;
      cxled.pos = -1;
      p.nrTargets--;
      for (const port of ports) cxlPortDetachRegion(port, cxlr, cxled);
      if (e instanceof KernelError) fail(e.errno, e.message);
      throw e;
    }
    p.state = CXL_CONFIG_ACTIVE;
  }
  cxled.interleaveWays = p.interleaveWays;
  cxled.interleaveGranularity = p.interleaveGranularity;
  cxled.hpaRange = { ...p.res! };
}

/**
 * cxl_region_detach(): a committed region's decode is reset first; the
 * endpoint leaves every port, an active region goes back to
 * interleave-active with its switch targets torn down, and the region's
 * driver is released.
 */
export function cxlRegionDetach(bus: CxlBus, cxled: CxlEndpointDecoder): void {
  const cxlr = cxled.region;
  if (!cxlr) return;
  const p = cxlr.params;
  if (p.state > CXL_CONFIG_ACTIVE) {
    cxlRegionDecodeReset(bus, cxlr, p.interleaveWays);
    p.state = CXL_CONFIG_ACTIVE;
  }
  for (const port of portsUp(cxled)) cxlPortDetachRegion(port, cxlr, cxled);
  if (cxled.pos < 0 || cxled.pos >= p.interleaveWays || p.targets[cxled.pos] !== cxled) return;
  if (p.state === CXL_CONFIG_ACTIVE) {
    p.state = CXL_CONFIG_INTERLEAVE_ACTIVE;
    cxlRegionTeardownTargets(bus, cxlr);
  }
  p.targets[cxled.pos] = null;
  p.nrTargets--;
  cxled.pos = -1;
  cxled.hpaRange = { start: 0, end: -1 };
  releaseDriver(bus, cxlr);
}

/**
 * store_targetN(): an endpoint decoder's name attaches it at position N
 * (ENODEV: no such device, EINVAL: not an endpoint decoder); an empty
 * string detaches whatever is there. A targetN beyond interleave_ways does
 * not exist (ENOENT).
 */
export function targetStore(bus: CxlBus, cxlr: CxlRegion, pos: number, buf: string): void {
  const attr = `target${pos}`;
  const p = cxlr.params;
  if (!Number.isInteger(pos) || pos < 0 || pos >= Math.min(16, p.interleaveWays))
    throw attrError(cxlr.name, attr, ENOENT, `no such attribute (interleave_ways is ${p.interleaveWays})`);
  const name = buf.trim();
  if (name === '') {
    const t = p.targets[pos];
    if (!t) return;
    checkReleaseDriver(bus, cxlr, attr);
    cxlRegionDetach(bus, t);
    return;
  }
  let dev: CxlDecoder;
  try {
    dev = bus.decoder(name);
  } catch (e) {
    if (e instanceof KernelError) throw attrError(cxlr.name, attr, ENODEV, `no device "${name}"`);
    throw e;
  }
  if (!(dev instanceof CxlEndpointDecoder)) throw attrError(cxlr.name, attr, EINVAL, `${name} is not an endpoint decoder`);
  cxlRegionAttach(bus, cxlr, dev, pos);
}

/** show_targetN() */
export function targetShow(cxlr: CxlRegion, pos: number): string {
  return cxlr.params.targets[pos]?.name ?? '';
}

// ------------------------------------------------------------ commit

/**
 * cxl_region_decode_reset(): for each target from the last, the switch
 * decoders top down, then the endpoint decoder.
 */
function cxlRegionDecodeReset(bus: CxlBus, cxlr: CxlRegion, count: number): void {
  const p = cxlr.params;
  for (let i = count - 1; i >= 0; i--) {
    const cxled = p.targets[i];
    if (!cxled) continue;
    for (const { port } of portsDown(bus, cxled)) {
      const rr = port.regions.get(cxlr);
      if (rr?.decoder?.programmable) cxlDecoderReset(rr.decoder);
    }
    cxlDecoderReset(cxled);
  }
  cxlr.needsReset = false;
}

/** commit_decoder(): a passthrough decoder needs no programming as long as it has one target. */
function commitDecoder(cxld: CxlDecoder): void {
  if (cxld.programmable) return cxlDecoderCommit(cxld);
  if (cxld instanceof CxlSwitchDecoder && cxld.nrTargets <= 1) return;
  throw new KernelError(ENXIO, `${cxld.name}: ->commit() is required`);
}

/** cxl_region_decode_commit(): every target's decoders, bottom up; a failure resets what it committed. */
function cxlRegionDecodeCommit(cxlr: CxlRegion): void {
  const p = cxlr.params;
  const done: CxlDecoder[] = [];
  try {
    for (let i = 0; i < p.nrTargets; i++) {
      const cxled = p.targets[i]!;
      for (const port of portsUp(cxled)) {
        const cxld = port.regions.get(cxlr)!.decoder!;
        const was = cxld.enabled;
        commitDecoder(cxld);
        if (!was && cxld.enabled) done.push(cxld);
      }
    }
  } catch (e) {
    for (const d of done.reverse()) cxlDecoderReset(d);
    throw e;
  }
}

/**
 * commit_store(): 1 commits an active region's decoders (ENXIO before it is
 * active); 0 releases the region's driver and resets the decode, back to
 * active. Writing the state it is in does nothing.
 */
export function commitStore(bus: CxlBus, cxlr: CxlRegion, buf: string): void {
  const commit = kstrtobool(cxlr.name, 'commit', buf);
  const p = cxlr.params;
  if (commit && p.state >= CXL_CONFIG_COMMIT) return;
  if (!commit && p.state < CXL_CONFIG_COMMIT) return;
  if (commit && p.state < CXL_CONFIG_ACTIVE) throw attrError(cxlr.name, 'commit', ENXIO, 'not ready to commit: the region does not have all its targets');
  if (commit) {
    try {
      cxlRegionDecodeCommit(cxlr);
    } catch (e) {
      if (e instanceof KernelError) throw attrError(cxlr.name, 'commit', e.errno, e.message);
      throw e;
    }
    p.state = CXL_CONFIG_COMMIT;
    return;
  }
  checkReleaseDriver(bus, cxlr, 'commit');
  p.state = CXL_CONFIG_RESET_PENDING;
  releaseDriver(bus, cxlr);
  cxlRegionDecodeReset(bus, cxlr, p.interleaveWays);
  p.state = CXL_CONFIG_ACTIVE;
}

// ------------------------------------------------------------ the cxl_region driver

/**
 * Whether the region's driver can be released without tearing the decode
 * down under memory the kernel still uses: EBUSY naming the online memory.
 * (The kernel releases it regardless — dax_kmem leaves the memory online
 * "until reboot" and a later decode reset crashes the machine; the model
 * refuses instead, changing nothing.)
 */
export function checkReleaseDriver(bus: CxlBus, cxlr: CxlRegion, attr: string): void {
  if (!cxlr.bound || !cxlr.daxRegion) return;
  const why = cxlDaxRegionRemovable(bus, cxlr);
  if (why) throw attrError(cxlr.name, attr, EBUSY, why);
}

/** device_release_driver() of a region: the driver's devm actions (the dax region goes). */
function releaseDriver(bus: CxlBus, cxlr: CxlRegion): void {
  if (!cxlr.bound) return;
  if (cxlr.daxRegion) cxlDaxRegionRemove(bus, cxlr);
  cxlr.cxlDaxRegion = false;
  cxlr.cxlPmemRegion = false;
  cxlr.bound = false;
}

/**
 * cxl_region_probe(), on `cxl enable-region` / the bind cxl-cli makes after
 * commit: ENXIO unless committed (or a reset is pending); a RAM region gets
 * its dax_regionN (devm_cxl_add_dax_region()), which dax_cxl turns into a
 * dax region whose device dax_kmem claims; a pmem region gets its
 * pmem_regionN.
 */
export function cxlRegionBind(bus: CxlBus, cxlr: CxlRegion): void {
  if (cxlr.bound) throw new KernelError(EBUSY, `${cxlr.name}: bind: already bound to cxl_region`);
  if (cxlr.params.state < CXL_CONFIG_COMMIT) throw new KernelError(ENXIO, `${cxlr.name}: bind: config state ${cxlr.params.state}: the region is not committed`);
  if (cxlr.needsReset) throw new KernelError(ENXIO, `${cxlr.name}: failed to activate, re-commit region and retry`);
  cxlr.bound = true;
  if (cxlr.mode === 'pmem') {
    cxlr.cxlPmemRegion = true;
    return;
  }
  cxlr.cxlDaxRegion = true;
  if (bus.features.daxCxl) cxlDaxRegionProbe(bus, cxlr);
}

/** The region's driver unbound (`cxl disable-region` after libdaxctl offlined its memory): EBUSY while memory is online. */
export function cxlRegionUnbind(bus: CxlBus, cxlr: CxlRegion): void {
  if (!cxlr.bound) throw new KernelError(ENODEV, `${cxlr.name}: unbind: not bound to a driver`);
  checkReleaseDriver(bus, cxlr, 'unbind');
  releaseDriver(bus, cxlr);
}

/**
 * cxl_decoder_kill_region(): an endpoint decoder going away (its memdev's
 * endpoint removed) leaves its region: mode dead, detached.
 */
export function cxlDecoderKillRegion(bus: CxlBus, cxled: CxlEndpointDecoder): void {
  cxled.mode = 'dead';
  cxlRegionDetach(bus, cxled);
}
