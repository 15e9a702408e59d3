export { CXL_FEATURES_7_3, CxlBus, cxlFeaturesFor, Ida, validateTopology } from './cxl-bus.js';
export type { CxlBusOptions, CxlFeatures, CxlHostBridgeConfig, CxlMemdevConfig, CxlTopology, CxlWindowConfig } from './cxl-bus.js';
export {
  CXL_CONFIG_ACTIVE,
  CXL_CONFIG_COMMIT,
  CXL_CONFIG_IDLE,
  CXL_CONFIG_INTERLEAVE_ACTIVE,
  CXL_CONFIG_RESET_PENDING,
  CXL_DECODER_MAX_INTERLEAVE,
  CxlDecoder,
  CxlDport,
  CxlEndpointDecoder,
  CxlMemdev,
  CxlPort,
  CxlRegion,
  CxlRegionRef,
  CxlRootDecoder,
  CxlSwitchDecoder,
  SZ_256M,
  rangeLen,
} from './objects.js';
export type { CxlDecoderMode, CxlEp, CxlHdmCaps, CxlPoisonRecord, CxlPortKind, CxlRegionParams, CxlWindowCaps, HpaRange } from './objects.js';
export { eigToGranularity, eiwToWays, granularityToEig, waysToEiw } from './interleave.js';
export { cxlDecoderCommit, cxlDecoderReset, cxlDpaAlloc, cxlDpaFree, cxlDpaSetMode, cxlDpaSize, decoderModeStore, dpaSizeStore } from './hdm.js';
export {
  commitStore,
  createRegionShow,
  createRegionStore,
  cxlRegionAttach,
  cxlRegionBind,
  cxlRegionDetach,
  cxlRegionUnbind,
  deleteRegionStore,
  interleaveGranularityStore,
  interleaveWaysStore,
  maxAvailableExtent,
  sizeStore,
  targetStore,
  uuidStore,
  windowGaps,
} from './region.js';
export { cxlDaxRegionPath, cxlDaxRegionProbe, cxlDaxRegionRemovable, cxlDaxRegionRemove } from './dax-cxl.js';
export { cxlMemdevBind, cxlMemdevUnbind } from './memdev.js';
export { CXL_POISON_LEN, CXL_POISON_LIST_LIMIT, cxlClearPoison, cxlDpaToHpa, cxlDpaToRegion, cxlInjectPoison, cxlMemdevPoison, cxlRegionPoison } from './poison.js';
export type { CxlPoisonEntry } from './poison.js';
export { cxlDebugfsWrite, cxlDriverBind, cxlDriverUnbind, cxlSysfsRead, cxlSysfsWrite, directSysfs } from './sysfs.js';
export type { CxlSysfs } from './sysfs.js';
// cxl-cli (ndctl v81; the poison verbs of v84): what the tool checks, writes and prints
export { busToJson, decoderToJson, memdevToJson, portToJson, regionToJson } from './cli/json.js';
export type { CxlJsonFlags, CxlJsonHooks, JsonObject } from './cli/json.js';
export { CxlFilterWalk, cxlList, displayJsonArray } from './cli/list.js';
export type { CxlCmdResult, CxlFilterParams } from './cli/list.js';
export { cxlCreateRegion, cxlRegionAction } from './cli/region.js';
export type { CreateRegionParams, CxlRegionHooks, RegionAction, RegionActionParams } from './cli/region.js';
export { cxlMediaPoison, cxlMemdevAction } from './cli/memdev.js';
export type { MediaPoisonParams, MemdevActionParams } from './cli/memdev.js';
