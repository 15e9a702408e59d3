import { defineConfig } from 'vitest/config';

// One root config; every package and app is a project of its own.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
  },
});
