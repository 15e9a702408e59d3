import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Builds dist/cli.js (tsup bundles the workspace packages into it) before the CLI tests spawn it. */
export default function setup(): void {
  const app = join(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(join(app, '..', '..', 'node_modules', '.bin', 'tsup'), [], { cwd: app, stdio: 'ignore' });
}
