import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TOOL_WORDS } from './scenario.js';
import { SCENARIO_LINE_KINDS, SCENARIO_TOUR, formatScenarioLanguage } from './scenario-language.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The line kinds scenario.ts dispatches on: its `w0 === '...'` words, its process verbs (`case '...'`) and TOOL_WORDS. */
function interpreterKinds(): string[] {
  const src = readFileSync(join(here, 'scenario.ts'), 'utf8');
  const run = src.slice(src.indexOf('async function runLine('));
  const words = [...run.matchAll(/w0 === '([a-z-]+)'/g)].map((m) => m[1]!);
  const verbs = [...run.matchAll(/case '([a-z-]+)':/g)].map((m) => m[1]!);
  return [...new Set(['machine', ...TOOL_WORDS, ...words, ...verbs])].sort();
}

describe('the scenario language table (daxsim run --help, apps/daxsim README)', () => {
  it('lists every kind of line the interpreter knows, and none it does not', () => {
    expect(SCENARIO_LINE_KINDS.map((k) => k.kind).sort()).toEqual(interpreterKinds());
  });

  it('gives each kind a syntax that starts with its word and an example that uses it', () => {
    for (const k of SCENARIO_LINE_KINDS) {
      expect(k.syntax, k.kind).toMatch(new RegExp(`^(P )?${k.kind}\\b`));
      expect(
        k.example.some((e) => e.split(/\s+/)[0] === k.kind || e.split(/\s+/)[1] === k.kind),
        `${k.kind}: an example line of its own kind`,
      ).toBe(true);
    }
  });

  it('makes one scenario of the examples, a machine line first, and prints every syntax in the help', () => {
    expect(SCENARIO_TOUR.split('\n')[0]).toMatch(/^machine /);
    const help = formatScenarioLanguage();
    for (const k of SCENARIO_LINE_KINDS) {
      expect(help).toContain(`  ${k.syntax}\n`);
      for (const e of k.example) expect(help).toContain(`e.g. ${e}\n`);
    }
  });
});
