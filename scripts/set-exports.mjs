#!/usr/bin/env node
// Rewrites a package's exports so that inside the workspace the
// "@daxsim/source" condition resolves to TypeScript sources (vitest, tsc,
// tsup's bundling of the CLI) while plain Node.js and consumers get dist/.
import { readFileSync, writeFileSync } from 'node:fs';

for (const file of process.argv.slice(2)) {
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  const out = {};
  for (const [key, value] of Object.entries(pkg.exports ?? {})) {
    if (typeof value === 'string' && value.startsWith('./src/') && value.endsWith('.ts')) {
      const rel = value.slice('./src/'.length, -'.ts'.length);
      out[key] = { '@daxsim/source': value, types: `./dist/${rel}.d.ts`, import: `./dist/${rel}.js` };
    } else out[key] = value;
  }
  pkg.exports = out;
  if (pkg.publishConfig) delete pkg.publishConfig.exports;
  if (pkg.publishConfig && Object.keys(pkg.publishConfig).length === 0) delete pkg.publishConfig;
  writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
}
