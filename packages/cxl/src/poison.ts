import { EINVAL, ENOENT, KERN_WARNING, KernelError, hex } from '@daxsim/mm';
import type { CxlBus } from './cxl-bus.js';
import { granularityToEig, waysToEiw } from './interleave.js';
import type { CxlEndpointDecoder, CxlMemdev, CxlPoisonRecord, CxlRegion } from './objects.js';

/** QEMU's poison list length (CXL_POISON_LIST_LIMIT); records beyond it set the overflow flag. */
export const CXL_POISON_LIST_LIMIT = 256;
/** A poison record's granularity: one cache line. */
export const CXL_POISON_LEN = 64;

/** cxl_validate_poison_dpa(): inside the device's DPA and 64-byte aligned (EINVAL). */
function cxlValidatePoisonDpa(md: CxlMemdev, attr: string, dpa: number): void {
  if (!md.dpaSize) throw new KernelError(EINVAL, `${md.name}: ${attr}: the device has no DPA resource`);
  if (!Number.isSafeInteger(dpa) || dpa < 0 || dpa >= md.dpaSize)
    throw new KernelError(EINVAL, `${md.name}: ${attr}: dpa:${hex(dpa)} not in resource [0x0-${hex(md.dpaSize - 1)}]`);
  if (dpa % CXL_POISON_LEN) throw new KernelError(EINVAL, `${md.name}: ${attr}: dpa:${hex(dpa)} is not 64-byte aligned`);
}

/** The debugfs files exist while cxl_mem is bound (cxl_mem_probe() creates them). */
function checkDebugfs(md: CxlMemdev, attr: string): void {
  if (!md.enabled) throw new KernelError(ENOENT, `/sys/kernel/debug/cxl/${md.name}/${attr}: no such file (${md.name} is disabled)`);
}

/** cxl_dpa_to_region(): the region whose endpoint decoder maps `dpa`, if any. */
export function cxlDpaToRegion(md: CxlMemdev, dpa: number): CxlRegion | null {
  const d = endpointDecoderOf(md, dpa);
  return d?.region ?? null;
}

function endpointDecoderOf(md: CxlMemdev, dpa: number): CxlEndpointDecoder | null {
  if (!md.endpoint || !md.endpoint.decodersCommitted) return null;
  for (const d of md.endpoint.decoders as CxlEndpointDecoder[])
    if (d.dpaRes && d.dpaRes.size && dpa >= d.dpaRes.start && dpa < d.dpaRes.start + d.dpaRes.size) return d;
  return null;
}

/**
 * cxl_dpa_to_hpa(): the host physical address a memdev's DPA decodes at in
 * the region — the DPA offset in its decoder, its upper bits shifted up by
 * the interleave ways (x3 for 3/6/12 ways) with the position inserted above
 * the granularity bits. null when the memdev is not a target or the result
 * leaves the region.
 */
export function cxlDpaToHpa(cxlr: CxlRegion, md: CxlMemdev, dpa: number): number | null {
  const p = cxlr.params;
  const cxled = p.targets.find((t) => t && t.memdev === md);
  if (!cxled || !cxled.dpaRes || !p.res) return null;
  const eiw = waysToEiw(p.interleaveWays)!;
  const eig = granularityToEig(p.interleaveGranularity)!;
  const off = BigInt(dpa - cxled.dpaRes.start);
  const gshift = BigInt(eig + 8);
  const upper = (off >> gshift) << gshift;
  const pos = BigInt(cxled.pos);
  let hpaOff: bigint;
  if (eiw < 8) hpaOff = (upper << BigInt(eiw)) | (pos << gshift);
  else hpaOff = (((upper >> gshift) * 3n << BigInt(eiw - 8)) + pos) << gshift;
  hpaOff |= off & ((1n << gshift) - 1n);
  const hpa = Number(hpaOff) + p.res.start;
  if (hpa < p.res.start || hpa > p.res.end) return null;
  // cxl_is_hpa_in_chunk()
  const chunk = (hpa - p.res.start) % (p.interleaveGranularity * p.interleaveWays);
  if (chunk < cxled.pos * p.interleaveGranularity || chunk >= (cxled.pos + 1) * p.interleaveGranularity) return null;
  return hpa;
}

/**
 * cxl_inject_poison() (debugfs inject_poison): the device adds a 64-byte
 * record at `dpa` to its poison list (QEMU: once; the list holds 256).
 * dev_warn_once() names the region the DPA maps to.
 */
export function cxlInjectPoison(bus: CxlBus, md: CxlMemdev, dpa: number): void {
  checkDebugfs(md, 'inject_poison');
  cxlValidatePoisonDpa(md, 'inject_poison', dpa);
  const cxlr = cxlDpaToRegion(md, dpa);
  if (cxlr && bus.once('poison inject')) bus.dax.k.log.printk(KERN_WARNING, `cxl_pci ${md.host}: poison inject dpa:${hex(dpa)} region: ${cxlr.name}`);
  if (md.poison.some((r) => dpa >= r.dpa && dpa < r.dpa + r.length)) return;
  if (md.poison.length >= CXL_POISON_LIST_LIMIT) return;
  const rec: CxlPoisonRecord = { dpa, length: CXL_POISON_LEN, source: 'Injected' };
  let i = 0;
  while (i < md.poison.length && md.poison[i]!.dpa < dpa) i++;
  md.poison.splice(i, 0, rec);
}

/** cxl_clear_poison() (debugfs clear_poison): the record holding `dpa` leaves the list (nothing there: nothing to do). */
export function cxlClearPoison(bus: CxlBus, md: CxlMemdev, dpa: number): void {
  checkDebugfs(md, 'clear_poison');
  cxlValidatePoisonDpa(md, 'clear_poison', dpa);
  const cxlr = cxlDpaToRegion(md, dpa);
  if (cxlr && bus.once('poison clear')) bus.dax.k.log.printk(KERN_WARNING, `cxl_pci ${md.host}: poison clear dpa:${hex(dpa)} region: ${cxlr.name}`);
  const i = md.poison.findIndex((r) => dpa >= r.dpa && dpa < r.dpa + r.length);
  if (i >= 0) md.poison.splice(i, 1);
}

/** What the cxl_poison trace events of a poison-list read report: by memdev the DPA, by region the offset into the region. */
export interface CxlPoisonEntry {
  readonly offset: number;
  readonly length: number;
  readonly source: CxlPoisonRecord['source'];
}

/** cxl_trigger_poison_list() of a memdev: every record, at its DPA. */
export function cxlMemdevPoison(md: CxlMemdev): CxlPoisonEntry[] {
  return md.poison.map((r) => ({ offset: r.dpa, length: r.length, source: r.source }));
}

/** cxl_region's trigger_poison_list: each target's records inside its decoder, at their offset into the region (by HPA). */
export function cxlRegionPoison(cxlr: CxlRegion): CxlPoisonEntry[] {
  const p = cxlr.params;
  const out: CxlPoisonEntry[] = [];
  for (const t of p.targets) {
    if (!t || !t.dpaRes || !p.res) continue;
    for (const r of t.memdev.poison) {
      if (r.dpa < t.dpaRes.start || r.dpa >= t.dpaRes.start + t.dpaRes.size) continue;
      const hpa = cxlDpaToHpa(cxlr, t.memdev, r.dpa);
      if (hpa !== null) out.push({ offset: hpa - p.res.start, length: r.length, source: r.source });
    }
  }
  return out;
}
