/**
 * string_get_size() (lib/string_helpers.c) with STRING_UNITS_2 and a block
 * size of 1: `size` bytes as the kernel's logs print them, three significant
 * figures and a binary unit ("126 MiB", "62.0 MiB", "2.00 GiB", "512 B").
 */
export function stringGetSize(size: number): string {
  const UNITS = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'];
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`stringGetSize: ${size} is not a byte count`);
  let n = size;
  let i = 0;
  let remainder = 0;
  // divide down to below 1024, keeping the last remainder (of 1024)
  while (n >= 1024) {
    remainder = n % 1024;
    n = Math.floor(n / 1024);
    i++;
  }
  if (size === 0) return '0 B';
  // digits after the point that make three significant figures
  let digits = 0;
  for (let cap = n; cap * 10 < 1000; cap *= 10) digits++;
  // the remainder as thousandths, rounded at the first digit not printed
  let frac = Math.floor((remainder * 1000) / 1024) + [500, 50, 5][digits]!;
  if (frac >= 1000) {
    frac -= 1000;
    n += 1;
  }
  const tail = digits ? '.' + String(frac).padStart(3, '0').slice(0, digits) : '';
  return `${n}${tail} ${UNITS[i] ?? 'UNK'}B`;
}
