import { EBUSY, ENODEV, KernelError } from '@daxsim/mm';
import type { CxlBus } from './cxl-bus.js';
import { cxlDaxRegionRemovable } from './dax-cxl.js';
import { cxlDpaRelease } from './hdm.js';
import type { CxlEndpointDecoder, CxlMemdev } from './objects.js';
import { cxlDecoderKillRegion } from './region.js';

/** cxl_mem_probe(): the memdev's endpoint port and decoders come back (EBUSY when already bound). */
export function cxlMemdevBind(bus: CxlBus, md: CxlMemdev): void {
  if (md.enabled) throw new KernelError(EBUSY, `${md.name}: bind: already bound to cxl_mem`);
  bus.addEndpoint(md);
}

/**
 * cxl_mem's removal: the endpoint port goes, and with it its decoders —
 * each leaves its region (cxl_decoder_kill_region(): the region's decode is
 * reset and its driver released) and gives its DPA back. Refused (EBUSY,
 * nothing changed) while such a region has memory online: the kernel would
 * reset the decode under it.
 */
export function cxlMemdevUnbind(bus: CxlBus, md: CxlMemdev): void {
  const ep = md.endpoint;
  if (!ep) throw new KernelError(ENODEV, `${md.name}: unbind: not bound to cxl_mem`);
  const decoders = ep.decoders as CxlEndpointDecoder[];
  for (const d of decoders) {
    const why = d.region && d.region.bound ? cxlDaxRegionRemovable(bus, d.region) : null;
    if (why) throw new KernelError(EBUSY, `${md.name}: unbind: ${d.name} decodes ${d.region!.name}, whose ${why}`);
  }
  for (const d of [...decoders].reverse()) {
    if (d.region) cxlDecoderKillRegion(bus, d);
    if (d.dpaRes) cxlDpaRelease(d);
  }
  bus.removeEndpoint(md);
}
