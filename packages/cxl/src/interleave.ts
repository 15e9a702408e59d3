/**
 * The CXL interleave encodings (drivers/cxl/cxl.h): ways and granularity as
 * the HDM decoder registers hold them. undefined where the kernel's helper
 * returns -EINVAL.
 */

/** ways_to_eiw(): 1, 2, 4, 8, 16 → 0..4; 3, 6, 12 → 8..10. */
export function waysToEiw(ways: number): number | undefined {
  if (!Number.isInteger(ways) || ways <= 0 || ways > 16) return undefined;
  if ((ways & (ways - 1)) === 0) return Math.log2(ways);
  if (ways % 3 === 0 && ((ways / 3) & (ways / 3 - 1)) === 0 && ways / 3 <= 4) return Math.log2(ways / 3) + 8;
  return undefined;
}

/** eiw_to_ways() */
export function eiwToWays(eiw: number): number | undefined {
  if (eiw >= 0 && eiw <= 4) return 1 << eiw;
  if (eiw >= 8 && eiw <= 10) return 3 << (eiw - 8);
  return undefined;
}

/** granularity_to_eig(): a power of two from 256 to 16K → 0..6. */
export function granularityToEig(g: number): number | undefined {
  if (!Number.isInteger(g) || g < 256 || g > 16384 || (g & (g - 1)) !== 0) return undefined;
  return Math.log2(g) - 8;
}

/** eig_to_granularity() */
export function eigToGranularity(eig: number): number | undefined {
  if (!Number.isInteger(eig) || eig < 0 || eig > 6) return undefined;
  return 256 << eig;
}

export const isPowerOf2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;
