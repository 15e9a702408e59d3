import { describe, expect, it } from 'vitest';
import { SCENARIO_OP_KINDS, TOOL_WORDS, parseScenarioLine, parseScenarioWords } from './scenario-op.js';
import { SCENARIO_LINE_KINDS, SCENARIO_TOUR, formatScenarioLanguage } from './scenario-language.js';

/** The op of every example line, as the op language reads it. */
function exampleOps(): Set<string> {
  const ops = new Set<string>();
  for (const k of SCENARIO_LINE_KINDS) for (const e of k.example) ops.add(parseScenarioLine(e)!.op);
  return ops;
}

describe('the scenario language table (daxsim run --help, apps/daxsim README)', () => {
  it('lists every kind of line the interpreter knows, and none it does not', () => {
    // every op of the language has an example (SCENARIO_OP_KINDS is checked complete by the compiler)
    expect([...exampleOps()].sort()).toEqual([...SCENARIO_OP_KINDS].sort());
    // every tool word, and each kind's word is one the parser takes as that kind
    for (const w of TOOL_WORDS) expect(SCENARIO_LINE_KINDS.map((k) => k.kind)).toContain(w);
    for (const k of SCENARIO_LINE_KINDS) {
      const ops = k.example.map((e) => parseScenarioWords(e.split(/\s+/)));
      expect(ops.length, k.kind).toBeGreaterThan(0);
    }
    expect(() => parseScenarioLine('p frobnicate m')).toThrow(/unknown command/);
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
