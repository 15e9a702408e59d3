export { memoryBlockSizeBytes } from './block-size.js';
export { MemoryHotplug, ONLINE_TYPES, isOnlineType, memoryBlockMemmapPages, mhpSupportsMemmapOnMemory } from './memory-hotplug.js';
export type { HotplugMemmapStats, MemoryBlock, MemoryHotplugOptions, OnlineType } from './memory-hotplug.js';
export { DaxKmem } from './kmem.js';
export type { KmemBinding, KmemRange } from './kmem.js';
export { AnonMemory } from './anon.js';
export { onlinePagesInit, onlinePagesInitReference } from './online-memmap.js';
export { stringGetSize } from './string-get-size.js';
