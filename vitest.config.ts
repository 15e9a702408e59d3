import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// One root config; every package and app is a project of its own (named after
// its package). Inside the workspace, packages resolve to their TypeScript
// sources through the "@daxsim/source" export condition, so tests need no
// build step; plain Node.js gets their dist/.
const conditions = ['@daxsim/source', 'import', 'module', 'node', 'default'];

// The packages that boot whole kernels (createKernel): after each of their
// tests the invariant sweep runs on every machine the test made.
const SWEPT = ['@daxsim/memremap', '@daxsim/gup', '@daxsim/device-dax', '@daxsim/memory-failure', '@daxsim/debug-vm', '@daxsim/nvdimm', '@daxsim/machine', '@daxsim/fuzz', 'daxsim'];
const sweepSetup = resolve('scripts', 'vitest', 'sweep-after-file.ts');

function project(dir: string) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string };
  const extra =
    pkg.name === 'daxsim'
      ? // the CLI tests run the built CLI as a subprocess: build it once first
        { globalSetup: [resolve(dir, 'test', 'build-cli.ts')], testTimeout: 60_000 }
      : {};
  const setupFiles = SWEPT.includes(pkg.name) ? [sweepSetup] : [];
  return { extends: true as const, test: { name: pkg.name, root: dir, include: ['src/**/*.test.ts'], setupFiles, ...extra } };
}

const dirs = ['packages', 'apps'].flatMap((d) => readdirSync(d).map((n) => join(d, n))).filter((d) => existsSync(join(d, 'package.json')));

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: { projects: dirs.map(project) },
});
