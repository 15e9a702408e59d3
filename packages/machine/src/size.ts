/**
 * Sizes as ndctl and daxctl parse and print them (util/size.c).
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

/**
 * display_size() with -u: bytes below 5000 KiB stay numbers; below 2 GiB
 * "N.NN MiB (N.NN MB)"; above "N.NN GiB (N.NN GB)".
 */
export function displaySize(bytes: number): number | string {
  if (bytes < 5000 * 1024) return bytes;
  const fmt = (v: number) => (Math.round(v * 100) / 100).toFixed(2);
  if (bytes < 2 * 2 ** 30) return `${fmt(bytes / 2 ** 20)} MiB (${fmt(bytes / 1e6)} MB)`;
  return `${fmt(bytes / 2 ** 30)} GiB (${fmt(bytes / 1e9)} GB)`;
}

/** A size for people: 16 GiB, 2 MiB, 4 KiB, 1.5 TiB. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
  return `${s} ${units[u]}`;
}

/** An align as ndctl users write it: 4K, 2M, 1G. */
export function alignName(bytes: number): string {
  for (const [suf, mul] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const)
    if (bytes >= mul && bytes % mul === 0) return `${bytes / mul}${suf}`;
  return String(bytes);
}
