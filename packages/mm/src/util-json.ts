/**
 * How ndctl, daxctl and cxl-cli print numbers with -u (ndctl's util/json.c,
 * shared by all three tools): the serializers util_json_object_size() and
 * util_json_object_hex() install.
 */

const SZ_1K = 1024;
const SZ_1M = 2 ** 20;
const SZ_1G = 2 ** 30;
const SZ_1T = 2 ** 40;

/** Two decimals of a count of hundredths: 1234 → "12.34". */
const centi = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;

/**
 * display_size(): below 5000 KiB the number itself; else the IEC size in
 * MiB (below 2 GiB), GiB (below 2 TiB) or TiB and the JEDEC size beside it,
 * each rounded to hundredths as the C integer arithmetic rounds them:
 * "8.00 GiB (8.59 GB)".
 */
export function displaySize(bytes: number): number | string {
  if (bytes < 5000 * SZ_1K) return bytes;
  const b = BigInt(bytes);
  const iec = (unit: number) => Number((b * 200n / BigInt(unit) + 1n) / 2n);
  const jedec = (div: number) => Number((b / BigInt(div / 200) + 1n) / 2n);
  if (bytes < 2 * SZ_1G) return `${centi(iec(SZ_1M))} MiB (${centi(jedec(1e6))} MB)`;
  if (bytes < 2 * SZ_1T) return `${centi(iec(SZ_1G))} GiB (${centi(jedec(1e9))} GB)`;
  return `${centi(iec(SZ_1T))} TiB (${centi(jedec(1e12))} TB)`;
}

/** display_hex(): printf("%#llx") — "0xa90000000", and "0" for zero (the # flag adds no prefix to 0). */
export function displayHex(value: number): string {
  return value === 0 ? '0' : '0x' + value.toString(16);
}
