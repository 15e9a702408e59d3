#!/usr/bin/env node
// `npm run daxsim -- ARGS`: install if needed, build the CLI and what it
// depends on (turbo skips what is already built), then run it with ARGS.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(process.execPath, [join(root, 'scripts', 'bootstrap.mjs')], { stdio: 'inherit' });
const turbo = join(root, 'node_modules', '.bin', 'turbo');
execFileSync(turbo, ['run', 'build', '--filter=daxsim...', '--output-logs=errors-only'], {
  cwd: root,
  stdio: ['ignore', process.stderr, 'inherit'],
  env: {
    ...process.env,
    // turbo runs the packages' build scripts through the pinned pnpm in node_modules/.bin
    PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    TURBO_NO_UPDATE_NOTIFIER: '1',
  },
});
const cli = join(root, 'apps', 'daxsim', 'dist', 'cli.js');
const r = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
