export {
  PgmapRegistry,
  createKernel,
  forEachDevicePfn,
  getDevPagemap,
  kernelBootHooks,
  memmapStats,
  memremapPages,
  memunmapPages,
  newDevPagemap,
  pfnEnd,
  pfnFirst,
  pfnLen,
  pfnNext,
  pgmapGeneration,
  pgmapPfnValid,
  pgmapVmemmapShift,
  putDevPagemap,
} from './memremap.js';
export { devmapManagedKey, putPage, putPageFinal } from './put-page.js';
export type { CreateKernelOptions, Kernel, MemmapStats } from './memremap.js';
