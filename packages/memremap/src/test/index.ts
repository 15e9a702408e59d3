/**
 * Test kit for the layers above memremap (as `@ai-sdk/provider-utils/test`
 * serves vercel/ai's providers): a small kernel with device memory and a
 * pgmap over it, so that tests do not each build their own.
 */
import { type ArchProfile, MEMORY_DEVICE_GENERIC, SZ_1G, SZ_1M, type DevPagemap, type VmemmapOptimizeRule } from '@daxsim/mm';
import { type Kernel, createKernel, newDevPagemap } from '../memremap.js';

/** Where the kit's device memory starts unless a test says otherwise (4 GiB: above any kit RAM). */
export const TEST_DEV_BASE = 4 * SZ_1G;

export interface TestKernelOptions {
  readonly arch?: ArchProfile;
  /** RAM of node 0 (default 256 MiB). */
  readonly ram?: number;
  /** Device memory (default 4 GiB at TEST_DEV_BASE, named 'pmem0'). */
  readonly dev?: { readonly start?: number; readonly size?: number; readonly name?: string };
  readonly rule?: VmemmapOptimizeRule;
  readonly ppc64Mmu?: 'radix' | 'hash';
}

/** createKernel() with one RAM node and one device range. */
export function testKernel(opts: TestKernelOptions = {}): Kernel {
  const dev = { start: opts.dev?.start ?? TEST_DEV_BASE, size: opts.dev?.size ?? 4 * SZ_1G, name: opts.dev?.name ?? 'pmem0' };
  return createKernel({
    ...(opts.arch ? { arch: opts.arch } : {}),
    ...(opts.rule ? { vmemmapOptimizeRule: opts.rule } : {}),
    ...(opts.ppc64Mmu ? { ppc64Mmu: opts.ppc64Mmu } : {}),
    ram: [{ nid: 0, size: opts.ram ?? 256 * SZ_1M }],
    devices: [dev],
  });
}

/** A MEMORY_DEVICE_GENERIC pgmap of `size` bytes at `start` with vmemmap_shift `shift`. */
export function testPagemap(size: number, shift: number, start = TEST_DEV_BASE, name = 'pmem0'): DevPagemap {
  return newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start, end: start + size - 1 }], vmemmapShift: shift, name });
}
