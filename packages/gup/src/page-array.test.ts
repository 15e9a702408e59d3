import { describe, expect, it } from 'vitest';
import { allocPageArray, pfnRunLengthJs, storePfnRunJs } from './page-array.js';

describe('pages arrays and the pfn-run store', () => {
  it('allocPageArray gives a zeroed array in a WebAssembly.Memory, with a store that writes what the JS loop writes', () => {
    const a = allocPageArray(3000);
    expect(a.seq).not.toBeNull(); // node >= 20 has WebAssembly SIMD
    expect(a.pages.length).toBe(3000);
    expect(a.pages.every((x) => x === 0)).toBe(true);
    const ref = new Float64Array(3000);
    let at = 0;
    // runs of every length 0..40 at every alignment, and one past 2^32
    for (let n = 0; n <= 40; n++) {
      const first = n === 17 ? 2 ** 32 - 5 : 1000 * n + 7;
      a.seq!(at * 8, n, first);
      storePfnRunJs(ref, at, first, n);
      at += n + 1;
    }
    expect(Array.from(a.pages)).toEqual(Array.from(ref));
    expect(a.pages[at]).toBe(0); // nothing past the last run
  });


  it('the run scan answers what the JS loop answers, wherever the run breaks', () => {
    const a = allocPageArray(200);
    expect(a.run).not.toBeNull();
    for (let bad = 0; bad < 24; bad++) {
      a.seq!(0, 200, 77);
      a.pages[5 + bad] = bad % 2 ? 0 : 78 + bad; // a different pfn, or one off by one
      for (let n = 0; n < 40; n++) expect(a.run!(5 * 8, n, 82)).toBe(pfnRunLengthJs(a.pages, 5, n, 82));
    }
    expect(a.run!(0, 3, 1)).toBe(0);
  });
});
