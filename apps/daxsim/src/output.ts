import { type MemmapCost, humanBytes } from '@daxsim/machine';

/** Where a command writes: JSON and tables to stdout, summaries and errors to stderr (as ndctl/daxctl do). */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal (progress and human sizes by default). */
  readonly isTTY: boolean;
}

export const processOutput: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
  isTTY: Boolean(process.stdout.isTTY),
};

/** Collects output in memory (for tests and for --json runs that embed it). */
export class BufferOutput implements Output {
  stdout = '';
  stderr = '';
  readonly isTTY = false;
  out(t: string): void {
    this.stdout += t.endsWith('\n') ? t : t + '\n';
  }
  err(t: string): void {
    this.stderr += t.endsWith('\n') ? t : t + '\n';
  }
}

// json_escape_str(): '"', '\\' and '/' escaped (no JSON_C_TO_STRING_NOSLASHESCAPE), control characters as \b \n \r \t \f or \u00XX
function jsonCString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\' || ch === '/') out += '\\' + ch;
    else if (ch === '\b') out += '\\b';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20) out += `\\u00${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/**
 * json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY), as ndctl
 * and daxctl print: `"key":value` with no space after the colon, two spaces
 * of indent per level, '/' escaped as `\/`, empty arrays and objects `[]`
 * and `{}`. Keys whose value is undefined are left out (as JSON.stringify).
 */
export function jsonC(value: unknown, depth = 0): string {
  const pad = (d: number) => '  '.repeat(d);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return jsonCString(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return `[\n${value.map((v) => pad(depth + 1) + jsonC(v, depth + 1)).join(',\n')}\n${pad(depth)}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (!entries.length) return '{}';
  return `{\n${entries.map(([k, v]) => `${pad(depth + 1)}${jsonCString(k)}:${jsonC(v, depth + 1)}`).join(',\n')}\n${pad(depth)}}`;
}

/** util_display_json_array(): json-c's pretty JSON; with human output (-u) and a single element, the bare object. */
export function jsonList(items: unknown[], human: boolean): string | undefined {
  if (items.length === 0) return undefined;
  if (human && items.length === 1) return jsonC(items[0]);
  return jsonC(items);
}

/** A fixed-width table: the first row is the header. */
export function table(rows: (string | number)[][], align: ('l' | 'r')[] = []): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => String(r[c] ?? '').length)));
  return rows
    .map((r, ri) => {
      const line = r.map((cell, c) => {
        const s = String(cell ?? '');
        return (align[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? s.padEnd(widths[c]!) : s.padStart(widths[c]!);
      });
      const text = line.join('  ').trimEnd();
      return ri === 0 ? `${text}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : text;
    })
    .join('\n');
}

/**
 * A table printed a row at a time, as each row is measured: the columns have
 * fixed widths (at least the header's), so the first row can be printed
 * before the last one exists. A cell wider than its column widens that row only.
 */
export class StreamTable {
  private readonly widths: number[];
  constructor(
    private readonly headers: string[],
    minWidths: number[],
    private readonly align: ('l' | 'r')[] = [],
  ) {
    this.widths = headers.map((h, i) => Math.max(h.length, minWidths[i] ?? 0));
  }
  private line(cells: (string | number)[]): string {
    return cells
      .map((cell, c) => {
        const s = String(cell ?? '');
        return (this.align[c] ?? (c === 0 ? 'l' : 'r')) === 'l' ? s.padEnd(this.widths[c]!) : s.padStart(this.widths[c]!);
      })
      .join('  ')
      .trimEnd();
  }
  /** The header and the rule under it. */
  head(): string {
    return `${this.line(this.headers)}\n${this.widths.map((w) => '-'.repeat(w)).join('  ')}`;
  }
  row(cells: (string | number)[]): string {
    return this.line(cells);
  }
}

/** The measured part of a memmap cost as table cells: RAM for struct pages, RAM for page tables, device pfns, struct pages written. */
export function memmapCostCells(c: MemmapCost): (string | number)[] {
  return [humanBytes(c.vmemmap_data_bytes), humanBytes(c.vmemmap_pagetable_bytes), humanBytes(c.device_reserved_bytes), c.struct_pages_initialised];
}
