import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'daxsim',
    // the CLI tests run the built CLI as a subprocess: build it once first
    globalSetup: ['./test/build-cli.ts'],
    testTimeout: 60_000,
  },
});
