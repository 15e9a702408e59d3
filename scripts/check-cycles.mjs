#!/usr/bin/env node
// Fails when source files import each other in a circle (type-only imports
// excepted), as Effect's scripts/circular.mjs does it: madge over every
// package's and app's src/, resolving the NodeNext `.js` specifiers to
// their `.ts` files through the base tsconfig.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dirs = ['packages', 'apps']
  .flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n, 'src')) : []))
  .filter((d) => existsSync(d));

const res = await madge(dirs, {
  fileExtensions: ['ts'],
  tsConfig: join(root, 'tsconfig.base.json'),
  detectiveOptions: { ts: { skipTypeImports: true }, tsx: { skipTypeImports: true } },
});
const circular = res.circular();
const files = Object.keys(res.obj()).length;
// Imports of other workspace packages are left to check-layers.mjs (each package imports only those
// below it, so packages cannot form a circle); any other import madge cannot resolve would hide edges.
const unresolved = res.warnings().skipped.filter((s) => !s.startsWith('@daxsim/'));
if (unresolved.length) {
  console.error(`check-cycles: madge could not resolve ${unresolved.length} import(s):\n  ${unresolved.join('\n  ')}`);
  process.exit(1);
}
if (circular.length) {
  console.error(`check-cycles: ${circular.length} circular import chain(s):`);
  for (const c of circular) console.error(`  ${c.join(' -> ')} -> ${c[0]}`);
  process.exit(1);
}
console.log(`check-cycles: ok (${files} files, no circular imports)`);
