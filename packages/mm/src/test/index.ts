export { BumpAllocator } from './bump-allocator.js';
