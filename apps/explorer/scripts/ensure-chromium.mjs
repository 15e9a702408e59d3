#!/usr/bin/env node
// The browser tests drive Debian's Chromium (playwright cannot download
// browsers here): install it with apt-get when /usr/bin/chromium is missing.
// CI runs as root; elsewhere, say what to run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  if (process.getuid?.() !== 0) {
    process.stderr.write(`explorer tests: ${CHROMIUM} is missing; install it (sudo apt-get install -y chromium) or set CHROMIUM_PATH\n`);
    process.exit(1);
  }
  process.stderr.write(`explorer tests: ${CHROMIUM} is missing: apt-get install -y chromium\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`explorer tests: apt-get installed chromium but ${CHROMIUM} is still missing\n`);
    process.exit(1);
  }
}
