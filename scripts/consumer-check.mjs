#!/usr/bin/env node
// The packages as a consumer gets them, from a real registry: starts Verdaccio
// on 127.0.0.1 (no uplinks: no other registry is contacted, storage in a temp
// folder), publishes every package to it with the release flow (turbo build,
// then `changeset publish`), and in fresh folders outside the workspace
//   - installs what the root README's "Using a package" example imports and runs
//     the example: it must print what it prints in the workspace, and the
//     numbers the README shows beside it;
//   - installs the daxsim CLI (which must bring no @daxsim package with it: they
//     are bundled) and runs `daxsim plan --size 1T --align 2M --json`: it must print
//     what the workspace's CLI prints.
// The registry is stopped at the end, on failure too. Works for whatever version
// the packages have. Run it after `node scripts/bootstrap.mjs`.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, readJson, workspaceDirs } from './package-meta.mjs';

const BIN = join(ROOT, 'node_modules', '.bin');
const PLAN = ['plan', '--size', '1T', '--align', '2M', '--json'];

function step(msg) {
  console.log(`-- ${msg}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForRegistry(url, child, logFile) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited (${child.exitCode}):\n${readFileSync(logFile, 'utf8')}`);
    try {
      if ((await fetch(`${url}-/ping`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`verdaccio did not answer on ${url} within 30 s:\n${readFileSync(logFile, 'utf8')}`);
}

/** The root README's "Using a package" example: its code, the packages it imports, and the numbers its last comment shows. */
function readmeExample() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Using a package'));
  const code = section && /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('README.md has no ```js example under "## Using a package"');
  const lines = code.trimEnd().split('\n');
  const last = /^(.*?);\s*\/\/\s*(.*)$/.exec(lines.at(-1));
  if (!last) throw new Error(`the example's last line should be "EXPR; // RESULT", not: ${lines.at(-1)}`);
  // print the value the README shows in the comment
  lines[lines.length - 1] = `console.log(JSON.stringify(${last[1]}));`;
  const imports = [...new Set([...code.matchAll(/from '([^']+)'/g)].map((m) => m[1]))];
  const shown = Object.fromEntries([...last[2].matchAll(/(\w+): (-?\d+)/g)].map((m) => [m[1], Number(m[2])]));
  return { code: lines.join('\n') + '\n', imports, shown };
}

/** A printed JSON value without its wall-clock fields (`initMs`, ...): those differ from run to run. */
function withoutTimes(json) {
  return JSON.stringify(JSON.parse(json), (k, v) => (/Ms$/.test(k) ? undefined : v));
}

/** Where Node.js would find package `name` required from folder `from`. */
function installedDir(name, from) {
  for (let d = from; ; d = dirname(d)) {
    const at = join(d, 'node_modules', name);
    if (existsSync(join(at, 'package.json'))) return realpathSync(at);
    if (dirname(d) === d) return null;
  }
}

/**
 * The third-party packages the published packages need at run time, as the
 * workspace installed them from its lockfile: name@version -> folder. The
 * registry has no uplinks, so these are published to it too.
 */
function thirdPartyRuntime(workspace) {
  const found = new Map();
  const queue = [...workspace.values()];
  while (queue.length) {
    const { dir, manifest } = queue.shift();
    const optional = manifest.optionalDependencies ?? {};
    for (const name of Object.keys({ ...manifest.dependencies, ...optional })) {
      if (workspace.has(name)) continue;
      const at = installedDir(name, dir);
      if (!at) {
        if (name in optional) continue;
        throw new Error(`${manifest.name} depends on ${name}, which the workspace has not installed`);
      }
      const m = readJson(join(at, 'package.json'));
      if (found.has(`${m.name}@${m.version}`)) continue;
      found.set(`${m.name}@${m.version}`, at);
      queue.push({ dir: at, manifest: m });
    }
  }
  return found;
}

function run(cmd, args, opts) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });
}

const work = mkdtempSync(join(tmpdir(), 'daxsim-consumer-'));
let registry;
function stopRegistry() {
  if (registry && registry.exitCode === null) registry.kill('SIGTERM');
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    stopRegistry();
    rmSync(work, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

try {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const storage = join(work, 'storage');
  mkdirSync(storage);
  // no uplinks and no proxy: whatever is not published here does not exist; no audit middleware (it would ask npm)
  const config = join(work, 'verdaccio.yaml');
  writeFileSync(
    config,
    [
      `storage: ${storage}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(work, 'htpasswd')}`,
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      'web:',
      '  enable: false',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const logFile = join(work, 'verdaccio.log');
  const log = openSync(logFile, 'a');
  step(`verdaccio on ${url} (storage ${storage})`);
  registry = spawn(join(BIN, 'verdaccio'), ['--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', log, log],
    env: { ...process.env, VERDACCIO_HANDLE_KILL_SIGNALS: 'true' },
  });
  await waitForRegistry(url, registry, logFile);

  // a user for publishing, its token in a throwaway userconfig (~/.npmrc is not read)
  const password = randomBytes(12).toString('hex');
  const res = await fetch(`${url}-/user/org.couchdb.user:daxsim`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'daxsim', password }),
  });
  const { token } = await res.json();
  if (!res.ok || !token) throw new Error(`verdaccio did not register a user: ${res.status}`);
  const npmrc = join(work, 'npmrc');
  writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  const env = {
    ...process.env,
    PATH: `${BIN}:${process.env.PATH}`,
    npm_config_userconfig: npmrc,
    npm_config_registry: url,
    npm_config_cache: join(work, 'npm-cache'),
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    TURBO_TELEMETRY_DISABLED: '1',
  };

  step('publish: turbo run build, changeset publish');
  run(join(BIN, 'turbo'), ['run', 'build', '--output-logs=errors-only'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  run(join(BIN, 'changeset'), ['publish', '--no-git-tag'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const workspace = new Map();
  for (const rel of workspaceDirs()) {
    const manifest = readJson(join(ROOT, rel, 'package.json'));
    if (manifest.private) continue;
    workspace.set(manifest.name, { dir: join(ROOT, rel), manifest });
    const got = run('npm', ['view', `${manifest.name}@${manifest.version}`, 'version'], { cwd: work, env }).trim();
    if (got !== manifest.version) throw new Error(`${manifest.name}@${manifest.version} is not on the registry after changeset publish`);
  }
  const third = thirdPartyRuntime(workspace);
  if (third.size) step(`publish the third-party packages they need, as installed: ${[...third.keys()].join(' ')}`);
  for (const [id, at] of third) {
    // a copy without lifecycle scripts or a publishConfig that could send it to another registry
    const copy = join(work, 'third-party', id.replace('/', '+'));
    cpSync(at, copy, { recursive: true, filter: (src) => !src.slice(at.length).includes('/node_modules') });
    const manifest = readJson(join(copy, 'package.json'));
    delete manifest.publishConfig;
    delete manifest.scripts;
    writeFileSync(join(copy, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
    run('npm', ['publish', copy, '--ignore-scripts', '--tag', 'third-party', '--loglevel', 'error'], { cwd: work, env, stdio: ['ignore', 'ignore', 'inherit'] });
  }

  // the README's example, in the workspace (plain Node.js: dist/) and from the registry
  const { code, imports, shown } = readmeExample();
  const home = workspaceDirs().find((rel) => {
    const pkg = readJson(join(ROOT, rel, 'package.json'));
    return imports.every((i) => i === pkg.name || i in (pkg.dependencies ?? {}));
  });
  if (!home) throw new Error(`no workspace package depends on all of ${imports.join(', ')}`);
  const inWorkspace = run(process.execPath, ['--input-type=module', '-e', code], { cwd: join(ROOT, home) }).trim();

  step(`fresh folder: npm install ${imports.join(' ')}`);
  const lib = join(work, 'lib-consumer');
  mkdirSync(lib);
  writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: 'lib-consumer', private: true, type: 'module' }) + '\n');
  run('npm', ['install', '--no-package-lock', ...imports], { cwd: lib, env, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(join(lib, 'example.mjs'), code);
  const installed = run(process.execPath, ['example.mjs'], { cwd: lib, env }).trim();
  console.log(`   README example prints ${installed}`);
  if (withoutTimes(installed) !== withoutTimes(inWorkspace)) throw new Error(`the README example prints\n${installed}\nfrom the registry but\n${inWorkspace}\nin the workspace`);
  const printed = JSON.parse(installed);
  for (const [k, v] of Object.entries(shown))
    if (printed[k] !== v) throw new Error(`README.md shows ${k}: ${v} beside its example, which prints ${k}: ${printed[k]}`);
  if (Object.keys(shown).length === 0) throw new Error("the README example's comment shows no numbers to check");

  step('fresh folder: npm install daxsim');
  const cli = join(work, 'cli-consumer');
  mkdirSync(cli);
  writeFileSync(join(cli, 'package.json'), JSON.stringify({ name: 'cli-consumer', private: true }) + '\n');
  run('npm', ['install', '--no-package-lock', 'daxsim'], { cwd: cli, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const brought = run('npm', ['ls', '--all', '--parseable'], { cwd: cli, env })
    .split('\n')
    .filter((p) => p.includes('/node_modules/@daxsim/'));
  if (brought.length) throw new Error(`installing daxsim installed ${brought.join(', ')}: the CLI bundles them`);
  const planned = run('npx', ['--no-install', 'daxsim', ...PLAN], { cwd: cli, env }).trim();
  const scratch = mkdtempSync(join(work, 'ws-'));
  const expected = run(process.execPath, [join(ROOT, 'apps', 'daxsim', 'dist', 'cli.js'), ...PLAN], { cwd: scratch }).trim();
  JSON.parse(planned);
  if (planned !== expected) throw new Error(`daxsim ${PLAN.join(' ')} prints\n${planned}\nfrom the registry but\n${expected}\nin the workspace`);
  console.log(`   daxsim ${PLAN.join(' ')}: ${planned.length} bytes of JSON, as in the workspace`);
  step('consumer check passed');
} finally {
  if (registry && registry.exitCode === null) {
    const exited = new Promise((r) => registry.once('exit', r));
    registry.kill('SIGTERM');
    const timer = setTimeout(() => registry.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(work, { recursive: true, force: true });
}
