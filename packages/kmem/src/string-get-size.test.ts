import { describe, expect, it } from 'vitest';
import { stringGetSize } from './string-get-size.js';

describe('string_get_size(size, 1, STRING_UNITS_2)', () => {
  it('prints three significant figures and a binary unit, as the kernel log does', () => {
    // 7.3's kmem warning for a 16 GiB NVDIMM, devdax 2M -M mem: 126 MiB trimmed (kmem-ref)
    expect(stringGetSize(126 * 2 ** 20)).toBe('126 MiB');
    expect(stringGetSize(62 * 2 ** 20)).toBe('62.0 MiB');
    expect(stringGetSize(2 * 2 ** 30)).toBe('2.00 GiB');
    expect(stringGetSize(1536)).toBe('1.50 KiB');
    expect(stringGetSize(512)).toBe('512 B');
    expect(stringGetSize(0)).toBe('0 B');
    expect(() => stringGetSize(-1)).toThrowError(RangeError);
  });
});
