/**
 * Option parsing in the habits of ndctl/daxctl (git's parse-options): short
 * options with a separate or attached value (-s 16G, -s16G), grouped short
 * flags (-RD), long options with = or a separate value, `--` ends options.
 * A usage error exits 129 after printing the command's usage.
 */

export interface OptSpec {
  readonly long: string;
  readonly short?: string;
  /** Name of the value it takes; a flag takes none. */
  readonly arg?: string;
  /** May be given more than once (values collected in order). */
  readonly repeat?: boolean;
  readonly help: string;
}

export type OptValues = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  readonly opts: OptValues;
  readonly positionals: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], specs: readonly OptSpec[]): Parsed {
  const opts: OptValues = {};
  const positionals: string[] = [];
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const set = (spec: OptSpec, value: string | boolean) => {
    if (spec.repeat) {
      const prev = (opts[spec.long] as string[] | undefined) ?? [];
      opts[spec.long] = [...prev, String(value)];
    } else opts[spec.long] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const noName = name.startsWith('no-') ? name.slice(3) : undefined;
      const spec = byLong.get(name) ?? (noName !== undefined ? byLong.get(noName) : undefined);
      if (!spec) throw new UsageError(`unknown option \`${name}'`);
      if (spec.arg) {
        if (spec.long !== name) throw new UsageError(`unknown option \`${name}'`);
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new UsageError(`option \`${name}' requires a value`);
        set(spec, v);
      } else {
        if (eq >= 0) throw new UsageError(`option \`${name}' takes no value`);
        set(spec, spec.long === name);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      for (let j = 1; j < a.length; j++) {
        const spec = byShort.get(a[j]!);
        if (!spec) throw new UsageError(`unknown switch \`${a[j]}'`);
        if (spec.arg) {
          const rest = a.slice(j + 1);
          const v = rest.length ? rest : argv[++i];
          if (v === undefined) throw new UsageError(`switch \`${a[j]}' requires a value`);
          set(spec, v);
          break;
        }
        set(spec, true);
      }
      continue;
    }
    positionals.push(a);
  }
  return { opts, positionals };
}

/** The usage text of a command: its synopsis and one line per option. */
export function formatUsage(synopsis: string, specs: readonly OptSpec[]): string {
  const lines = [`usage: ${synopsis}`, ''];
  for (const s of specs) {
    const head = `${s.short ? `-${s.short}, ` : '    '}--${s.long}${s.arg ? ` <${s.arg}>` : ''}`;
    lines.push(`    ${head.padEnd(30)} ${s.help}`);
  }
  return lines.join('\n');
}

export const str = (v: OptValues[string]): string | undefined => (typeof v === 'string' ? v : undefined);
export const list = (v: OptValues[string]): string[] => (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []);
export const flag = (v: OptValues[string]): boolean => v === true;
