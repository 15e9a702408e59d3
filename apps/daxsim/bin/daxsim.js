#!/usr/bin/env node
// The installed `daxsim` command. npm and pnpm link it as node_modules/.bin/daxsim,
// and dist/cli.js runs its main() only when process.argv[1] names cli.js itself
// (tests import it too), so through the link it would print nothing and exit 0.
// Give it the path Node.js gives a script run directly, then load it.
import { fileURLToPath } from 'node:url';

process.argv[1] = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
await import('../dist/cli.js');
