#!/usr/bin/env node
// Serves the built explorer (dist/) on 127.0.0.1 and prints its address.
// `node scripts/serve.mjs [--port N]` (default: 4173, or a free port when that is taken; --port 0: any free port).
// A plain static server: the explorer needs nothing else (no API, no headers of its own).
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
};

if (!existsSync(join(root, 'index.html'))) {
  process.stderr.write(`explorer: ${root} has no index.html: build it first (pnpm --filter @daxsim/explorer build)\n`);
  process.exit(1);
}
const i = process.argv.indexOf('--port');
const asked = i > 0 ? Number(process.argv[i + 1]) : undefined;
if (asked !== undefined && !(Number.isInteger(asked) && asked >= 0 && asked < 65536)) {
  process.stderr.write(`explorer: --port ${process.argv[i + 1]}: a port number, 0 for any free one\n`);
  process.exit(2);
}

const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
  if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
  createReadStream(file).pipe(res);
});

function listen(port) {
  server.once('error', (e) => {
    if (e.code === 'EADDRINUSE' && asked === undefined) listen(0);
    else {
      process.stderr.write(`explorer: cannot listen on 127.0.0.1:${port}: ${e.message}\n`);
      process.exit(1);
    }
  });
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`daxsim explorer: http://127.0.0.1:${server.address().port}/\n`);
  });
}
listen(asked ?? 4173);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
