import { defineConfig } from 'tsup';

// The CLI is one file: the workspace packages (whose exports point at their
// TypeScript sources) are bundled into it.
export default defineConfig({
  entry: { cli: 'src/bin.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  clean: true,
  dts: false,
  noExternal: [/^@daxsim\//],
  // bundle the workspace packages from their sources (their "@daxsim/source" export condition)
  esbuildOptions(options) {
    options.conditions = ['@daxsim/source'];
  },
  banner: { js: '#!/usr/bin/env node' },
});
