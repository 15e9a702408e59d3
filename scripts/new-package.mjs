#!/usr/bin/env node
// Scaffolds packages/NAME with the repo's conventions: node scripts/new-package.mjs NAME "description" [dep ...]
// The publishing fields, LICENSE and CHANGELOG.md come from scripts/package-meta.mjs.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, syncPackage } from './package-meta.mjs';

const [name, description, ...deps] = process.argv.slice(2);
if (!name || !description) {
  console.error('usage: new-package.mjs NAME "description" [dep ...]');
  process.exit(2);
}
const rel = `packages/${name}`;
const dir = join(ROOT, rel);
if (existsSync(dir)) {
  console.error(`${rel} exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
const pkg = {
  name: `@daxsim/${name}`,
  version: '0.0.0',
  description,
  license: 'MIT',
  type: 'module',
  sideEffects: false,
  // inside the workspace the "@daxsim/source" condition gives the TypeScript sources; Node.js gets dist/
  exports: {
    '.': { '@daxsim/source': './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' },
    './package.json': './package.json',
  },
  files: ['dist', 'README.md', 'CHANGELOG.md'],
  scripts: {
    build: 'tsup',
    typecheck: 'tsc --noEmit -p tsconfig.json',
    test: 'vitest run --root ../.. --project @daxsim/' + name,
  },
  dependencies: Object.fromEntries(deps.map((d) => [`@daxsim/${d}`, 'workspace:*'])),
};
writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src'] }, null, 2) + '\n',
);
writeFileSync(
  join(dir, 'tsup.config.ts'),
  `import { packageConfig } from '../../scripts/tsup-package.ts';\n\nexport default packageConfig();\n`,
);
syncPackage(rel, true);
console.log(`created ${rel}`);
