export {
  NR_PAGEBLOCK_BITS,
  SECTION_HAS_MEM_MAP,
  SECTION_IS_EARLY,
  SECTION_IS_ONLINE,
  SECTION_MARKED_PRESENT,
  SECTION_TAINT_ZONE_DEVICE,
  SparseMem,
} from './sparse.js';
export {
  altmapAllocBlockBuf,
  altmapFailPending,
  failNthAltmap,
  compoundSectionTailHugePage,
  compoundSectionTailPage,
  pfnToVmemmap,
  populateSectionMemmap,
  reuseCompoundSection,
  vmemAltmapFree,
  vmemAltmapOffset,
  vmemmapAllocBlockBuf,
  vmemmapFree,
  vmemmapPopulate,
  vmemmapPopulateAddress,
  vmemmapPopulateBasepages,
  vmemmapPopulateCompoundPages,
  vmemmapPopulateHugepages,
  vmemmapPopulatePmdRange,
  vmemmapPopulateRange,
  vmemmapPopulateSharedTail,
  isSharedTail,
  sharedTails,
} from './vmemmap.js';
export type { SharedTail, VmemmapKernel, VmemmapPgmapCtx } from './vmemmap.js';
export {
  addPages,
  checkPfnSpan,
  removePages,
  sectionActivate,
  sectionDeactivate,
  sparseAddSection,
  sparseRemoveSection,
} from './hotplug.js';
export type { MhpParams, SparseKernel } from './hotplug.js';
export { sparseInitBootMemory } from './boot-memmap.js';
export type { BootMemoryRange } from './boot-memmap.js';
export type { VmemmapPopulated } from './vmemmap.js';
