#!/usr/bin/env node
// Guards the layering: a package may depend only on the packages below it,
// and its sources may import only the workspace packages it declares.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Lowest first. A package may import only those listed before it.
const ORDER = [
  '@daxsim/mm',
  '@daxsim/page-alloc',
  '@daxsim/sparse-vmemmap',
  '@daxsim/memremap',
  '@daxsim/gup',
  '@daxsim/device-dax',
  '@daxsim/memory-failure',
  '@daxsim/kmem',
  '@daxsim/debug-vm',
  '@daxsim/nvdimm',
  '@daxsim/cxl',
  '@daxsim/machine',
  '@daxsim/fuzz',
  'daxsim',
  '@daxsim/explorer',
];
const dirs = ['packages', 'apps'].flatMap((d) =>
  existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n)) : [],
);
let bad = 0;
function walk(dir, out = []) {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.ts$/.test(n)) out.push(p);
  }
  return out;
}
for (const dir of dirs) {
  const pj = join(dir, 'package.json');
  if (!existsSync(pj)) continue;
  const pkg = JSON.parse(readFileSync(pj, 'utf8'));
  const rank = ORDER.indexOf(pkg.name);
  if (rank < 0) {
    console.error(`check-layers: ${pkg.name} is not in the layer order`);
    bad++;
    continue;
  }
  const declared = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((d) => d.startsWith('@daxsim/') || d === 'daxsim');
  for (const d of declared) {
    if (ORDER.indexOf(d) >= rank) {
      console.error(`check-layers: ${pkg.name} depends on ${d}, which is not below it`);
      bad++;
    }
  }
  if (!existsSync(join(dir, 'src'))) continue;
  for (const file of walk(join(dir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from\s+'(@daxsim\/[a-z-]+)/g)) {
      if (m[1] !== pkg.name && !declared.includes(m[1])) {
        console.error(`check-layers: ${file} imports ${m[1]}, which ${pkg.name} does not declare`);
        bad++;
      }
    }
  }
}
if (bad) process.exit(1);
console.log('check-layers: ok');
