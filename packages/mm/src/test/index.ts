export { BumpAllocator } from './bump-allocator.js';
export { mmFixture } from './fixture.js';
