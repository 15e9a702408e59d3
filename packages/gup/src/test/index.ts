export { DaxFixture, createDaxFixture } from './fixture.js';
export type { DaxFixtureOptions } from './fixture.js';
