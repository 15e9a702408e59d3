import { defineConfig } from 'tsup';

/** The build every package shares: ESM and declarations from its entry points into dist/. */
export function packageConfig(entry: string[] = ['src/index.ts']) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
  });
}
