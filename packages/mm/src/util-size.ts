/**
 * Sizes as ndctl, daxctl and cxl-cli parse them (ndctl's util/size.c).
 */

const SUFFIX: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * __parse_size64(): a number (decimal, 0x hex or 0 octal) with one optional
 * binary suffix K, M, G or T. Returns undefined for anything else.
 */
export function parseSize(s: string): number | undefined {
  const m = /^\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtT]?)\s*$/.exec(s);
  if (!m) return undefined;
  const digits = m[1]!;
  const n = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : /^0[0-7]+$/.test(digits) ? parseInt(digits, 8) : Number(digits);
  const v = n * (m[2] ? SUFFIX[m[2].toLowerCase()]! : 1);
  return Number.isSafeInteger(v) ? v : undefined;
}
