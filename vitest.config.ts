import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Every path below is taken from this file's own folder, never from the working
// directory: a package's `test` script (`vitest run --root ../..`) starts in the
// package folder, `pnpm --filter` too, and `npm test` at the root.
const root = dirname(fileURLToPath(import.meta.url));

// One root config; every package and app is a project of its own (named after
// its package). Inside the workspace, packages resolve to their TypeScript
// sources through the "@daxsim/source" export condition, so tests need no
// build step; plain Node.js gets their dist/.
const conditions = ['@daxsim/source', 'import', 'module', 'node', 'default'];

// The packages that boot whole kernels (createKernel): after each of their
// tests the invariant sweep runs on every machine the test made.
const SWEPT = ['@daxsim/memremap', '@daxsim/gup', '@daxsim/device-dax', '@daxsim/memory-failure', '@daxsim/kmem', '@daxsim/cxl', '@daxsim/debug-vm', '@daxsim/nvdimm', '@daxsim/machine', '@daxsim/fuzz', 'daxsim'];
const sweepSetup = join(root, 'scripts', 'vitest', 'sweep-after-file.ts');

function project(dir: string) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string };
  const extra =
    pkg.name === 'daxsim'
      ? // the CLI tests run the built CLI as a subprocess: build it once first
        { globalSetup: [join(dir, 'test', 'build-cli.ts')], testTimeout: 60_000 }
      : {};
  const setupFiles = SWEPT.includes(pkg.name) ? [sweepSetup] : [];
  return { extends: true as const, test: { name: pkg.name, root: dir, include: ['src/**/*.test.ts'], setupFiles, ...extra } };
}

const dirs = ['packages', 'apps']
  .map((d) => join(root, d))
  .flatMap((d) => readdirSync(d).map((n) => join(d, n)))
  .filter((d) => existsSync(join(d, 'package.json')));

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  // Speed is measured by the bench scripts, not by test timeouts: vitest's 5 s
  // default failed correct tests (debug-vm's fault-injection sweeps, 3-6 s each)
  // when the 2 cores were shared with other test runs.
  test: { testTimeout: 30_000, projects: dirs.map(project) },
});
