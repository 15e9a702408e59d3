#!/usr/bin/env node
// Makes a fresh clone usable with nothing but Node.js 20 and npm: installs the
// workspace from the lockfile with the pinned pnpm (fetched by npx when it is
// not on PATH), and does nothing when node_modules already matches the lockfile.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lockfile = join(root, 'pnpm-lock.yaml');
const installed = join(root, 'node_modules', '.pnpm', 'lock.yaml');
const PNPM = 'pnpm@10.34.8';

function upToDate() {
  if (!existsSync(lockfile) || !existsSync(installed)) return false;
  return readFileSync(lockfile, 'utf8') === readFileSync(installed, 'utf8');
}

if (!upToDate()) {
  const args = ['-y', PNPM, 'install', '--frozen-lockfile', '--reporter=append-only'];
  process.stderr.write(`daxsim: installing the workspace (npx ${args.join(' ')})\n`);
  execFileSync('npx', args, {
    cwd: root,
    stdio: ['ignore', process.stderr, 'inherit'],
    env: { ...process.env, COREPACK_ENABLE_STRICT: '0', npm_config_update_notifier: 'false' },
  });
}
