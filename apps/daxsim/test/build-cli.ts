import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Builds dist/cli.js (tsup bundles the workspace packages into it) before the CLI tests spawn it. */
export default function setup(): () => void {
  const app = join(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(join(app, '..', '..', 'node_modules', '.bin', 'tsup'), [], { cwd: app, stdio: 'ignore' });
  return stopTestDaemons;
}

/**
 * After the tests: the daemons the CLI started for the tests' scratch
 * machines (state files under $TMPDIR/daxsim-test-*) are stopped (SIGTERM),
 * rather than left to their idle time. Each is found by its pid file and
 * recognised by its command line.
 */
function stopTestDaemons(): void {
  const dirs = [join(tmpdir(), `daxsim-${process.getuid?.() ?? 0}`), join('/tmp', `daxsim-${process.getuid?.() ?? 0}`)];
  const scratch = [join(tmpdir(), 'daxsim-test-'), join(realpathSync(tmpdir()), 'daxsim-test-')];
  for (const dir of new Set(dirs)) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.pid'));
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        const pid = Number(readFileSync(join(dir, n), 'utf8'));
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const i = argv.indexOf('--daxsim-daemon');
        if (i >= 0 && scratch.some((s) => (argv[i + 2] ?? '').startsWith(s))) process.kill(pid, 'SIGTERM');
      } catch {}
    }
  }
}
