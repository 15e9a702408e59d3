export { DaxBus, DaxRegion } from './dax-region.js';
export type { DaxBusOptions, DaxResource, SetMappingIndex } from './dax-region.js';
export { DevDax } from './dev-dax.js';
export type { DaxMappingInfo, DevDaxRange } from './dev-dax.js';
export {
  alignStore,
  createDynamicRegion,
  createStaticRegion,
  createStore,
  daxAlignValid,
  daxRegionCreate,
  daxRegionDelete,
  deleteStore,
  devDaxAddMapping,
  devDaxSetAlign,
  devDaxSetSize,
  devmCreateDevDax,
  kstrtoull,
  mappingStore,
  memremapCompatAlign,
  sizeStore,
  unregisterDaxRegion,
  unregisterDevDax,
} from './bus.js';
export type { DaxRegionInit } from './bus.js';
export {
  bindDevDax,
  checkVma,
  daxPgoffToPhys,
  daxSetMapping,
  daxVmOps,
  devDaxFault,
  devDaxHugeFault,
  killDevDax,
  unbindDevDax,
} from './device.js';
export { createTask, daxMmap, exitTask, munmap, taskExited, userPageTableAllocator } from './process.js';
export type { MmapArgs } from './process.js';
export {
  BUS_ADRERR,
  SEGV_ACCERR,
  SEGV_MAPERR,
  doUserFault,
  touch,
  userMapping,
  userRead,
  userWrite,
} from './user-access.js';
