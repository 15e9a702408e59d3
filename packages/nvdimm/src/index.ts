export { NSLABEL_NAME_LEN, NvdimmBus } from './nd-bus.js';
export type { NamespaceConfig, NdRegionDesc } from './nd-bus.js';
export { MEMREMAP_COMPAT_ALIGN, infoBlockReserve, ndPfnInit, pfnAltmap } from './pfn-devs.js';
export type { MapLocation, PfnAltmap, PfnInfo } from './pfn-devs.js';
export {
  NULL_UUID,
  REGION_ALIGN,
  availableSize,
  freeExtents,
  isConfigurationIdle,
  isConfigured,
  lowestFreeNamespaceId,
  maxAvailableExtent,
  namespaceName,
  namespaceResizeError,
  namespaceUuid,
  regionGetNamespace,
} from './region.js';
export type { Namespace, NamespaceMode, NamespaceType, PmemRegion } from './region.js';
