export {
  PgmapRegistry,
  createKernel,
  forEachDevicePfn,
  getDevPagemap,
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
export type { CreateKernelOptions, Kernel, MemmapStats } from './memremap.js';
