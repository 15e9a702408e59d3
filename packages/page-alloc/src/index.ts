export { BuddyAllocator, FRAME_PURPOSES } from './buddy.js';
export type { BuddySnapshot } from './buddy.js';
export { createKernelCore } from './kernel-core.js';
export type { DeviceSpec, KernelCoreOptions, PageAllocKernel, RamSpec } from './kernel-core.js';
export { prepCompoundHead, prepCompoundPage, prepCompoundTail } from './compound.js';
export {
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
  compoundNrPages,
  initSinglePage,
  initZoneDevicePage,
  memmapInitCompound,
  memmapInitRange,
  memmapInitZoneDevice,
  vmemmapCanOptimize,
} from './memmap-init.js';
export type { MemmapInitKernel, MemmapInitPath, MemmapInitResult, PageblockFlags, Ppc64Mmu } from './memmap-init.js';
export { compoundTailFrameIntact, compoundTailWords, initCompoundTailFrame } from './compound-tail.js';
