import { describe, expect, it } from 'vitest';
import {
  ARM64_16K,
  ARM64_4K,
  ARM64_64K,
  PPC64_64K,
  X86_64,
  X86_64_LA57,
  pagesPerSection,
  pagesPerSubsection,
  pmdSize,
  pudSize,
  structPagesPerPage,
  subsectionsPerSection,
} from './arch.js';

describe('architecture profiles carry the kernel constants', () => {
  it('x86-64: 4K pages, 128 MiB sections, 2 MiB subsections, PMD 2 MiB, PUD 1 GiB', () => {
    expect(X86_64.pageSize).toBe(4096);
    expect(X86_64.sectionSizeBits).toBe(27);
    expect(pagesPerSection(X86_64)).toBe(32768);
    expect(pagesPerSubsection(X86_64)).toBe(512);
    expect(subsectionsPerSection(X86_64)).toBe(64);
    expect(pmdSize(X86_64)).toBe(2 ** 21);
    expect(pudSize(X86_64)).toBe(2 ** 30);
    expect(X86_64.pageblockOrder).toBe(9);
    expect(X86_64.vmemmapStart).toBe(0xffffea0000000000n);
    expect(X86_64_LA57.vmemmapStart).toBe(0xffd4000000000000n);
    expect(structPagesPerPage(X86_64)).toBe(64);
    expect(X86_64.devdaxAligns).toEqual([4096, 2 ** 21, 2 ** 30]);
  });

  it('arm64 and ppc64 sections: 27/27/29 and 24 bits', () => {
    expect([ARM64_4K, ARM64_16K, ARM64_64K].map((a) => a.sectionSizeBits)).toEqual([27, 27, 29]);
    expect(PPC64_64K.sectionSizeBits).toBe(24);
    expect([ARM64_4K, ARM64_16K, ARM64_64K].map((a) => pmdSize(a))).toEqual([2 ** 21, 2 ** 25, 2 ** 29]);
    expect(pudSize(ARM64_64K)).toBe(0);
    // no THP-PUD on arm64: device-dax stops at the PMD size
    expect(ARM64_4K.devdaxAligns).toEqual([4096, 2 ** 21]);
    expect(PPC64_64K.devdaxAligns).toEqual([65536, 2 ** 21]);
    expect(structPagesPerPage(ARM64_64K)).toBe(1024);
    expect(ARM64_4K.vmemmapStart).toBe(0xfffffdffffe00000n);
  });
});
