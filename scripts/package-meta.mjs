#!/usr/bin/env node
// What every published package of the workspace carries besides its code, taken
// from the root package.json and LICENSE so that it is written in one place:
// license, repository (with the package's directory), engines, publishConfig,
// the `files` that ship (dist, the TypeScript sources its "@daxsim/source"
// export condition names, minus tests, README, CHANGELOG, LICENSE), a copy of
// the root LICENSE and a CHANGELOG.md for `changeset version` to fill.
//
//   node scripts/package-meta.mjs          write it into every package under packages/ and apps/
//   node scripts/package-meta.mjs --check  change nothing; exit 1 naming every package that is out of date
//
// Packages are found by scanning packages/* and apps/*, so new ones are covered
// without a list to update; scripts/new-package.mjs runs it for the package it makes.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The folders (relative to the root) of the workspace's packages and apps. */
export function workspaceDirs() {
  return ['packages', 'apps']
    .flatMap((d) => (existsSync(join(ROOT, d)) ? readdirSync(join(ROOT, d)).map((n) => `${d}/${n}`) : []))
    .filter((d) => existsSync(join(ROOT, d, 'package.json')))
    .sort();
}

export function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Every string an exports map can resolve to, with the conditions that lead to it. */
export function exportTargets(exports, path = []) {
  if (typeof exports === 'string') return [{ target: exports, path }];
  if (!exports || typeof exports !== 'object') return [];
  return Object.entries(exports).flatMap(([k, v]) => exportTargets(v, [...path, k]));
}

/** `pkg` with the publishing fields the root prescribes; `rel` is its folder relative to the root. */
export function withPublishMeta(pkg, rel) {
  const root = readJson(join(ROOT, 'package.json'));
  const shipsSources = exportTargets(pkg.exports).some(({ target }) => target.startsWith('./src/'));
  const files = [...(pkg.files ?? [])];
  const want = ['dist', ...(shipsSources ? ['src', '!src/**/*.test.ts'] : []), 'README.md', 'CHANGELOG.md', 'LICENSE'];
  for (const f of want) if (!files.includes(f)) files.push(f);

  let exports = pkg.exports;
  if (exports && typeof exports === 'object' && exports['./internal/*'] === null && !existsSync(join(ROOT, rel, 'src', 'internal'))) {
    // a guard for a folder the package does not have
    exports = Object.fromEntries(Object.entries(exports).filter(([k]) => k !== './internal/*'));
  }

  const set = {
    license: root.license,
    repository: { type: root.repository.type, url: root.repository.url, directory: rel },
    engines: root.engines,
    exports,
    files,
    publishConfig: { ...pkg.publishConfig, access: 'public' },
  };
  const out = {};
  for (const [k, v] of Object.entries(pkg)) {
    if (k === 'repository' || k === 'engines' || k === 'publishConfig') continue;
    out[k] = k in set ? set[k] : v;
    if (k === 'license') Object.assign(out, { repository: set.repository, engines: set.engines });
  }
  if (exports === undefined) delete out.exports;
  for (const k of ['license', 'repository', 'engines', 'files']) if (!(k in out)) out[k] = set[k];
  out.publishConfig = set.publishConfig;
  return out;
}

/** Brings one package up to date (or, with write=false, says what is not). */
export function syncPackage(rel, write) {
  const dir = join(ROOT, rel);
  const file = join(dir, 'package.json');
  const pkg = readJson(file);
  if (pkg.private) return [];
  const problems = [];
  const wanted = {
    'package.json': JSON.stringify(withPublishMeta(pkg, rel), null, 2) + '\n',
    LICENSE: readFileSync(join(ROOT, 'LICENSE'), 'utf8'),
  };
  for (const [name, text] of Object.entries(wanted)) {
    const path = join(dir, name);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    problems.push(`${rel}/${name} is not what scripts/package-meta.mjs writes`);
    if (write) writeFileSync(path, text);
  }
  const changelog = join(dir, 'CHANGELOG.md');
  if (!existsSync(changelog)) {
    problems.push(`${rel}/CHANGELOG.md is missing`);
    // `changeset version` adds each release below this title line
    if (write) writeFileSync(changelog, `# ${pkg.name}\n`);
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const problems = workspaceDirs().flatMap((rel) => syncPackage(rel, !check));
  if (check && problems.length) {
    console.error(problems.join('\n'));
    console.error('run `node scripts/package-meta.mjs` and commit what it writes');
    process.exit(1);
  }
  if (!check) for (const p of problems) console.log(`updated: ${p}`);
}
