import { EBUSY, EINVAL, ENOSPC, ENXIO, KernelError, hex } from '@daxsim/mm';
import {
  CXL_DECODER_F_ENABLE,
  type CxlDecoder,
  type CxlDecoderMode,
  type CxlEndpointDecoder,
  SZ_256M,
} from './objects.js';

/** A refused sysfs write: the errno, and a message naming the device, the attribute and why. */
export function attrError(dev: string, attr: string, errno: number, why: string): KernelError {
  return new KernelError(errno, `${dev}: ${attr}: ${why}`);
}

/** The DPA partitions of a memdev (cxlds->ram_res, cxlds->pmem_res): ram first, then pmem. */
function partition(d: CxlEndpointDecoder, mode: 'ram' | 'pmem'): { start: number; end: number } {
  const md = d.memdev;
  return mode === 'ram' ? { start: 0, end: md.ramSize - 1 } : { start: md.ramSize, end: md.ramSize + md.pmemSize - 1 };
}

/** The endpoint decoders of the memdev holding DPA, in DPA order (the children of cxlds->dpa_res). */
function dpaChildren(d: CxlEndpointDecoder): CxlEndpointDecoder[] {
  return (d.port.decoders as CxlEndpointDecoder[]).filter((x) => x.dpaRes).sort((a, b) => a.dpaRes!.start - b.dpaRes!.start);
}

/** cxl_dpa_size() */
export function cxlDpaSize(d: CxlEndpointDecoder): number {
  return d.dpaRes ? d.dpaRes.size : 0;
}

/** cxl_dpa_resource_start(): -1 (as u64: all ones) when none. */
export function cxlDpaResourceStart(d: CxlEndpointDecoder): number {
  return d.dpaRes ? d.dpaRes.start : -1;
}

/**
 * cxl_dpa_set_part() / cxl_dpa_set_mode(): the partition the decoder will
 * allocate from. EBUSY while the decoder is committed; ENXIO when the
 * memdev has no capacity of that kind.
 */
export function cxlDpaSetMode(d: CxlEndpointDecoder, mode: 'ram' | 'pmem'): void {
  if (d.enabled) throw attrError(d.name, 'mode', EBUSY, 'the decoder is committed');
  const md = d.memdev;
  if (mode === 'pmem' && !md.pmemSize) throw attrError(d.name, 'mode', ENXIO, `${md.name} has no pmem capacity`);
  if (mode === 'ram' && !md.ramSize) throw attrError(d.name, 'mode', ENXIO, `${md.name} has no ram capacity`);
  d.mode = mode;
}

/**
 * cxl_dpa_alloc(): `size` bytes of the decoder's partition after the last
 * allocation there (a pmem allocation skips the unallocated ram before it);
 * decoders allocate in id order (__cxl_dpa_reserve(): the next after
 * hdm_end). EBUSY when attached to a region, committed or out of order;
 * EINVAL without a mode; ENOSPC when the partition has too little left.
 */
export function cxlDpaAlloc(d: CxlEndpointDecoder, size: number): void {
  if (d.region) throw attrError(d.name, 'dpa_size', EBUSY, `the decoder is attached to ${d.region.name}`);
  if (d.enabled) throw attrError(d.name, 'dpa_size', EBUSY, 'the decoder is committed');
  if (d.mode !== 'ram' && d.mode !== 'pmem') throw attrError(d.name, 'dpa_size', EINVAL, 'mode not set (write ram or pmem to mode first)');
  const part = partition(d, d.mode);
  // the resources under cxlds->dpa_res: each allocation, and the ram a pmem allocation skipped
  const reserved = dpaChildren(d).flatMap((c) => [
    ...(c.skip ? [{ start: c.dpaRes!.start - c.skip, end: c.dpaRes!.start }] : []),
    { start: c.dpaRes!.start, end: c.dpaRes!.start + c.dpaRes!.size },
  ]);
  const freeStart = (p: { start: number; end: number }) => {
    let at = p.start;
    for (const r of reserved) if (r.start >= p.start && r.start <= p.end) at = Math.max(at, r.end);
    return at;
  };
  const freeRamStart = freeStart(partition(d, 'ram'));
  let start: number;
  let skip = 0;
  if (d.mode === 'ram') start = freeRamStart;
  else {
    start = freeStart(part);
    // the first pmem allocation skips the ram not yet allocated (later ones follow it)
    if (!reserved.some((r) => r.start >= part.start)) skip = start - freeRamStart;
  }
  const avail = part.end - start + 1;
  if (size > avail)
    throw attrError(d.name, 'dpa_size', ENOSPC, `${hex(size)} exceeds the available ${d.mode} capacity of ${d.memdev.name}: ${hex(Math.max(0, avail))}`);
  // __cxl_dpa_reserve()
  if (d.dpaRes) throw attrError(d.name, 'dpa_size', EBUSY, `existing allocation ${hex(d.dpaRes.start)}+${hex(d.dpaRes.size)} assigned`);
  if (d.port.hdmEnd + 1 !== d.id)
    throw attrError(d.name, 'dpa_size', EBUSY, `decoders allocate in order: expected decoder${d.port.id}.${d.port.hdmEnd + 1}`);
  d.dpaRes = { start, size };
  d.skip = skip;
  d.port.hdmEnd++;
}

/**
 * cxl_dpa_free(): gives the decoder's DPA back. EBUSY while attached to a
 * region, committed, or when a later decoder still holds DPA (frees go in
 * reverse order).
 */
export function cxlDpaFree(d: CxlEndpointDecoder): void {
  if (!d.dpaRes) return;
  if (d.region) throw attrError(d.name, 'dpa_size', EBUSY, `the decoder is assigned to ${d.region.name}`);
  if (d.enabled) throw attrError(d.name, 'dpa_size', EBUSY, 'the decoder is committed');
  if (d.id !== d.port.hdmEnd) throw attrError(d.name, 'dpa_size', EBUSY, `decoders free in reverse order: expected decoder${d.port.id}.${d.port.hdmEnd}`);
  cxlDpaRelease(d);
}

/** __cxl_dpa_release() */
export function cxlDpaRelease(d: CxlEndpointDecoder): void {
  d.dpaRes = null;
  d.skip = 0;
  d.port.hdmEnd--;
}

/** mode_store() of an endpoint decoder: "ram" or "pmem". */
export function decoderModeStore(d: CxlEndpointDecoder, buf: string): void {
  const s = buf.trim();
  if (s !== 'ram' && s !== 'pmem') throw attrError(d.name, 'mode', EINVAL, `"${s}" is not ram or pmem`);
  cxlDpaSetMode(d, s);
}

/**
 * dpa_size_store(): a multiple of 256M; the current allocation is freed
 * first, then `size` allocated (0 only frees). A refused allocation leaves
 * the old one in place.
 */
export function dpaSizeStore(d: CxlEndpointDecoder, size: number): void {
  if (size % SZ_256M) throw attrError(d.name, 'dpa_size', EINVAL, `${hex(size)} is not a multiple of 256M`);
  if (size === 0) {
    cxlDpaFree(d);
    return;
  }
  const old = d.dpaRes ? { ...d.dpaRes, skip: d.skip } : null;
  cxlDpaFree(d);
  try {
    cxlDpaAlloc(d, size);
  } catch (e) {
    if (old) {
      // the model's failed write changes nothing: the allocation it freed is restored
      d.dpaRes = { start: old.start, size: old.size };
      d.skip = old.skip;
      d.port.hdmEnd++;
    }
    throw e;
  }
}

/** cxl_decoder_mode_name() */
export function decoderModeName(mode: CxlDecoderMode): string {
  return mode;
}

/**
 * cxl_decoder_commit(): programs the decoder and sets it committed;
 * decoders commit in id order (EBUSY "out of order commit"). A decoder
 * already committed is left as it is.
 */
export function cxlDecoderCommit(d: CxlDecoder): void {
  if (d.enabled) return;
  if (d.port.decodersCommitted !== d.id)
    throw new KernelError(EBUSY, `${d.name}: out of order commit, expected decoder${d.port.id}.${d.port.decodersCommitted}`);
  d.port.commitEnd++;
  d.flags |= CXL_DECODER_F_ENABLE;
}

/**
 * cxl_decoder_reset(): the decoder stops decoding. Out of order (not the
 * port's last committed decoder) it is still reset, and commit_end stays
 * until the decoders above it are reset too (cxl_port_commit_reap()).
 */
export function cxlDecoderReset(d: CxlDecoder): void {
  if (!d.enabled) return;
  d.flags &= ~CXL_DECODER_F_ENABLE;
  if ('state' in d) (d as CxlEndpointDecoder).state = 'manual';
  const port = d.port;
  if (port.commitEnd !== d.id) return;
  // cxl_port_commit_reap()
  while (port.commitEnd >= 0 && !port.decoders[port.commitEnd]!.enabled) port.commitEnd--;
}
