import { defaultClientConditions, defineConfig } from 'vite';

// The workspace packages are bundled from their TypeScript sources (the
// "@daxsim/source" export condition), so the app needs no package build
// first. base './': the built folder works from any path of any static host.
export default defineConfig({
  base: './',
  resolve: { conditions: ['@daxsim/source', ...defaultClientConditions] },
  worker: { format: 'es' },
  build: { outDir: 'dist', target: 'es2022', chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1' },
});
