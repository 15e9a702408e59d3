import { describe, expect, it } from 'vitest';
import { displayHex, displaySize } from './util-json.js';

describe("ndctl's util/json.c number formats", () => {
  it('display_size() prints what cxl-cli 81 printed on the rig: 4.00 GiB (4.29 GB), 16.00 GiB (17.18 GB)', () => {
    expect(displaySize(4 * 2 ** 30)).toBe('4.00 GiB (4.29 GB)');
    expect(displaySize(8 * 2 ** 30)).toBe('8.00 GiB (8.59 GB)');
    expect(displaySize(16 * 2 ** 30)).toBe('16.00 GiB (17.18 GB)');
    expect(displaySize(256 * 2 ** 20)).toBe('256.00 MiB (268.44 MB)');
    expect(displaySize(4096)).toBe(4096);
    expect(displaySize(3 * 2 ** 40)).toBe('3.00 TiB (3.30 TB)');
  });

  it('display_hex() is printf %#llx: no prefix for zero', () => {
    expect(displayHex(0)).toBe('0');
    expect(displayHex(0xa90000000)).toBe('0xa90000000');
  });
});
