export { BumpAllocator } from './bump-allocator.js';
export { mmFixture } from './fixture.js';
export { errnoOf } from './errno-of.js';
