#!/usr/bin/env node
// Packs every publishable package of the workspace, with npm pack and with pnpm
// pack (what `changeset publish` runs), and fails if a tarball's package.json
// names a file the tarball lacks: an exports target under any condition, bin,
// main/module/types, or an entry of `files`; or if pnpm's tarball still has a
// workspace: range, or if a shipped dist/ module imports a package the
// manifest does not list in dependencies. Run it after the build (dist/ must exist).
//
//   node scripts/check-pack.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, exportTargets, readJson, syncPackage, workspaceDirs } from './package-meta.mjs';

const PNPM = join(ROOT, 'node_modules', '.bin', 'pnpm');

/** A package.json path or `files` pattern as a test on the tarball's file list (paths relative to package/). */
function matcher(pattern) {
  const p = pattern.replace(/^\.\//, '').replace(/\/$/, '');
  if (!p.includes('*')) return (f) => f === p || f.startsWith(p + '/');
  const re = new RegExp(
    '^' +
      p
        .split(/(\*\*\/|\*\*|\*)/)
        .map((s) => (s === '**/' ? '(?:.*/)?' : s === '**' ? '.*' : s === '*' ? '[^/]*' : s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '(?:/.*)?$',
  );
  return (f) => re.test(f);
}

/** What `manifest` names that `files` (the tarball's list) lacks. */
function missingFiles(manifest, files) {
  const named = [];
  for (const { target, path } of exportTargets(manifest.exports)) named.push([`exports ${path.join(' > ')}`, target]);
  const bin = typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {});
  for (const [k, v] of Object.entries(bin)) named.push([`bin ${k}`, v]);
  for (const k of ['main', 'module', 'types', 'typings']) if (typeof manifest[k] === 'string') named.push([k, manifest[k]]);
  for (const f of manifest.files ?? []) if (!f.startsWith('!')) named.push(['files', f]);
  return named.filter(([, target]) => !files.some(matcher(target))).map(([where, target]) => `${where}: ${target}`);
}

/** The packages that the shipped dist/ modules import and the manifest does not list as dependencies. */
function undeclaredImports(manifest, files, dir) {
  const listed = new Set([manifest.name, ...Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies })]);
  const missing = new Set();
  for (const f of files.filter((f) => /^dist\/.*\.js$/.test(f))) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"'./][^"']*)["']/g)) {
      const spec = m[1];
      if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0])) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!listed.has(name)) missing.add(`${f} imports ${name}`);
    }
  }
  return [...missing];
}

function tarball(dir, tool, parent) {
  const dest = mkdtempSync(join(parent, `${tool}-`));
  const cmd = tool === 'npm' ? 'npm' : PNPM;
  execFileSync(cmd, ['pack', '--pack-destination', dest], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const made = readdirSync(dest);
  if (made.length !== 1) throw new Error(`${tool} pack in ${dir} made ${made.length} tarballs`);
  const file = join(dest, made[0]);
  const files = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }));
  return { files, manifest };
}

{
  const problems = workspaceDirs().flatMap((rel) => syncPackage(rel, false));
  if (problems.length) problems.push('run `node scripts/package-meta.mjs` and commit what it writes');
  const dest = mkdtempSync(join(tmpdir(), 'daxsim-pack-'));
  try {
    for (const rel of workspaceDirs()) {
      if (readJson(join(ROOT, rel, 'package.json')).private) continue;
      for (const tool of ['npm', 'pnpm']) {
        const { files, manifest } = tarball(join(ROOT, rel), tool, dest);
        for (const m of missingFiles(manifest, files)) problems.push(`${rel} (${tool} pack) names a file it does not ship: ${m}`);
        for (const m of undeclaredImports(manifest, files, join(ROOT, rel))) problems.push(`${rel} (${tool} pack): ${m}, not in its dependencies`);
        if (tool === 'pnpm')
          for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'])
            for (const [dep, range] of Object.entries(manifest[field] ?? {}))
              if (String(range).startsWith('workspace:')) problems.push(`${rel} (pnpm pack) keeps ${field} ${dep}@${range}`);
        console.log(`${rel}: ${tool} pack ${manifest.name}@${manifest.version}, ${files.length} files`);
      }
    }
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
}
