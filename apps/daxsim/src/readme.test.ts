import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, cliEnv, scratch } from '../test/cli.js';

/**
 * Every code block of every README (the root's, apps/*, packages/*) runs as
 * written, from where a reader would put it:
 * - ```sh: each line in order, in a fresh folder (so a fresh
 *   ./daxsim-machine.json); a daxsim line (`npm run daxsim -- ...`,
 *   `npm run -s daxsim -- ...`, `daxsim ...`, `npx daxsim ...`,
 *   `node apps/daxsim/dist/cli.js ...`, with any VAR=value before it) runs the
 *   built CLI through bash, so quoting is the shell's, and must exit 0. A
 *   line that runs the workspace's own tooling (`npm test`, `npm run
 *   explorer`, `pnpm --filter PKG SCRIPT` ...) is not run here (the whole
 *   suite, a web server, a million-operation fuzz): the script it names must
 *   exist in the package.json it names.
 * - ```scenario: saved to a file in a fresh folder and run with `daxsim run`:
 *   exit 0, no line malformed.
 * - ```js / ```ts: saved in the README's folder (the repository root, or the
 *   package's folder, where its own name resolves to itself) and run with
 *   Node.js over the TypeScript sources (tsx, the "@daxsim/source"
 *   condition); exit 0. A `// N` or `// { ... }` comment right after a
 *   console.log line is what it must print.
 * - ```text / ```console: output, not run.
 * An unlabelled block fails the test: a reader cannot tell how to run it.
 *
 * The default run (`npm run daxsim` with no arguments: a 128 GiB region,
 * 20 memmaps of 33 million struct pages, ~25 s and 2.3 GB) is run with
 * --quick, the same experiments on a 16 GiB region; its full size is a
 * benchmark (apps/daxsim's README measures it).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly code: string;
}

function readmes(): string[] {
  const out = [join(root, 'README.md')];
  for (const d of ['apps', 'packages'])
    for (const n of readdirSync(join(root, d)).sort()) {
      const f = join(root, d, n, 'README.md');
      if (existsSync(f)) out.push(f);
    }
  return out;
}

function blocks(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ file, line: start + 1, lang: open[1]!.trim().split(/\s+/)[0] ?? '', code: body.join('\n') + '\n' });
  }
  return out;
}

const ALL = readmes().flatMap(blocks);
const where = (b: Block) => `${relative(root, b.file)}:${b.line}`;

// `VAR=v ... npm run daxsim -- ARGS` and its spellings; group 1: the assignments, group 3: the arguments
const DAXSIM_LINE = /^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)(npm run (?:-s )?daxsim(?:\s+--)?|npx daxsim|daxsim|node apps\/daxsim\/dist\/cli\.js)(?:\s+(.*))?$/;
// the workspace's tooling: `npm test`, `npm run SCRIPT`, `[npx -y] pnpm[@V] [--filter PKG] SCRIPT`
const TOOL_LINE = /^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:npm (test)|npm run (\S+)|(?:npx -y )?pnpm(?:@\S+)?(?: --filter (\S+))? (\S+))(?:\s|$)/;

/** A line without its comment (a # outside quotes, at the start or after a blank). */
function uncomment(line: string): string {
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trim();
  }
  return line.trim();
}

function packageJsonOf(name: string | undefined): { scripts?: Record<string, string> } {
  if (name === undefined) return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const d of ['apps', 'packages'])
    for (const n of readdirSync(join(root, d))) {
      const f = join(root, d, n, 'package.json');
      if (!existsSync(f)) continue;
      const pj = JSON.parse(readFileSync(f, 'utf8'));
      if (pj.name === name) return pj;
    }
  throw new Error(`no workspace package named ${name}`);
}

/** The default run's result by its arguments: it reads no state file, so the blocks that show it run it once. */
const defaultRuns = new Map<string, { status: number | null; stdout: string; stderr: string }>();

function runShBlock(b: Block): void {
  const cwd = scratch();
  for (const raw of b.code.split('\n')) {
    const line = uncomment(raw);
    if (!line) continue;
    const d = DAXSIM_LINE.exec(line);
    if (d) {
      let args = d[3] ?? '';
      // the default run at its full size is a benchmark, not a test
      const defaultRun = !args.trim() || args.trim() === '--json';
      if (defaultRun) args = `${args} --quick`;
      const run = () => spawnSync('bash', ['-c', `${d[1]}exec node "$DAXSIM_CLI" ${args}`], { cwd, encoding: 'utf8', env: cliEnv({ DAXSIM_CLI: CLI }) });
      const r = defaultRun && !d[1] ? (defaultRuns.get(args) ?? defaultRuns.set(args, run()).get(args)!) : run();
      expect(r.status, `${where(b)}: \`${line}\` exited ${r.status}:\n${r.stderr}${r.stdout.slice(-2000)}`).toBe(0);
      continue;
    }
    const t = TOOL_LINE.exec(line);
    expect(t, `${where(b)}: \`${line}\` is neither a daxsim command nor the workspace's tooling`).not.toBeNull();
    const script = t![1] ?? t![2] ?? t![4]!;
    const pkg = t![3];
    // pnpm's own verbs that need no script
    if (!t![1] && !t![2] && ['install', 'exec', 'changeset'].includes(script)) continue;
    expect(Object.keys(packageJsonOf(pkg).scripts ?? {}), `${where(b)}: \`${line}\`: ${pkg ?? 'the root'} has no script '${script}'`).toContain(script);
  }
}

function runScenarioBlock(b: Block): void {
  const cwd = scratch();
  writeFileSync(join(cwd, 'readme.scn'), b.code);
  const r = spawnSync(process.execPath, [CLI, 'run', 'readme.scn'], { cwd, encoding: 'utf8', env: cliEnv() });
  expect(r.status, `${where(b)}: daxsim run exited ${r.status}:\n${r.stderr}${r.stdout.slice(-2000)}`).toBe(0);
  expect(r.stdout).toMatch(/readme\.scn: done, \d+ commands? refused/);
}

/** The values a block shows right after its console.log lines (`// 4292870144`), in order. */
function shown(code: string): string[] {
  const lines = code.split('\n');
  const out: string[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!/^\s*console\.log\(/.test(lines[i]!)) continue;
    const c = /^\s*\/\/\s*(.*)$/.exec(lines[i + 1]!);
    if (c) out.push(c[1]!.split(/\s+—\s+/)[0]!.trim());
  }
  return out;
}

function runProgramBlock(b: Block): void {
  // saved in the README's folder: at the root every package resolves (the root depends on each), in a package its own name does
  const dir = dirname(b.file);
  const file = join(dir, `.readme-block-${basename(dirname(b.file))}-${b.line}-${process.pid}.${b.lang === 'ts' ? 'ts' : 'mjs'}`);
  writeFileSync(file, b.code);
  try {
    const r = spawnSync(process.execPath, ['--conditions=@daxsim/source', '--import', 'tsx', file], { cwd: dir, encoding: 'utf8', env: { ...process.env } });
    expect(r.status, `${where(b)}: exited ${r.status}:\n${r.stderr}`).toBe(0);
    const want = shown(b.code);
    if (want.length) expect(r.stdout.trim().split('\n').slice(-want.length).join('\n'), where(b)).toBe(want.join('\n'));
  } finally {
    rmSync(file, { force: true });
  }
}

describe('every README code block runs as written', () => {
  it('finds the blocks, each labelled with how to run it (sh, scenario, js, ts) or as output (text, console)', () => {
    expect(ALL.length).toBeGreaterThan(20);
    const bad = ALL.filter((b) => !['sh', 'scenario', 'js', 'ts', 'text', 'console'].includes(b.lang)).map((b) => `${where(b)} (\`\`\`${b.lang})`);
    expect(bad, 'blocks without a label the README test knows').toEqual([]);
  });

  for (const b of ALL) {
    if (b.lang === 'sh') it(`${where(b)}: its commands run in a fresh folder`, () => runShBlock(b), 180_000);
    else if (b.lang === 'scenario') it(`${where(b)}: the scenario runs with daxsim run`, () => runScenarioBlock(b), 120_000);
    else if (b.lang === 'js' || b.lang === 'ts') it(`${where(b)}: the program runs from ${relative(root, dirname(b.file)) || 'the repository root'}`, () => runProgramBlock(b), 120_000);
  }
});
