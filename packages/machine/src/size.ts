/**
 * Sizes as ndctl and daxctl parse and print them (util/size.c).
 */

/** __parse_size64() (ndctl's util/size.c): see @daxsim/mm. */
export { parseSize } from '@daxsim/mm';

/** display_size() with -u (ndctl's util/json.c): see @daxsim/mm. */
export { displaySize } from '@daxsim/mm';

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
