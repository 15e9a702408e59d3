#!/usr/bin/env node
// `npm run daxsim -- ARGS`: install if needed, build the CLI, then run it with ARGS.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(process.execPath, [join(root, 'scripts', 'bootstrap.mjs')], { stdio: 'inherit' });
// The CLI is one bundle (tsup inlines the workspace packages): building it is all the main job needs.
execFileSync(join(root, 'node_modules', '.bin', 'tsup'), ['--silent'], {
  cwd: join(root, 'apps', 'daxsim'),
  stdio: ['ignore', 'ignore', 'inherit'],
});
const cli = join(root, 'apps', 'daxsim', 'dist', 'cli.js');
const r = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
