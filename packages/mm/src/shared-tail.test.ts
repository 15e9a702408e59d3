import { describe, expect, it } from 'vitest';
import { ARCH_PROFILES, X86_64, X86_64_LA57 } from './arch.js';
import { EFAULT, KernelError } from './errno.js';
import { PROPOSED_VMEMMAP_GENERATIONS, VMEMMAP_OPTIMIZE_RULES, isVmemmapGeneration } from './generation.js';
import { KERNELS, KERNEL_VERSIONS, archForKernel, isKernelVersion } from './kernels.js';
import { PAGE_KERNEL_RO_LO } from './pgtable.js';
import {
  PAGE_COMPOUND_HEAD_OFFSET,
  STRUCT_PAGE_COMPOUND_INFO,
  STRUCT_PAGE_V5_15,
  compoundInfoMask,
  isCompoundInfoMask,
  structPageLayout,
} from './struct-page.js';
import { mmFixture } from './test/fixture.js';

const u32 = (b: Uint8Array, off: number) => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, off: number) => BigInt(u32(b, off)) | (BigInt(u32(b, off + 4)) << 32n);

describe('struct page layouts: v5.15 compound_head and the compound_info mask', () => {
  it('the shared-tail generation writes the compound-info layout, every other generation v5.15', () => {
    expect(structPageLayout('shared-tail')).toBe(STRUCT_PAGE_COMPOUND_INFO);
    for (const g of ['pre-series', 'compound', 'tail-reuse', 'tail-reuse-pmd'] as const) expect(structPageLayout(g)).toBe(STRUCT_PAGE_V5_15);
    expect(STRUCT_PAGE_COMPOUND_INFO.compoundHead).toBe(8);
    expect(STRUCT_PAGE_V5_15.compoundHead).toBe(8);
    expect(STRUCT_PAGE_COMPOUND_INFO.tailEncoding).toBe('mask');
    expect(STRUCT_PAGE_V5_15.tailEncoding).toBe('pointer');
  });

  it('a v5.15 tail holds head + 1; a compound-info tail holds GENMASK(63, order + 6) | 1, on raw bytes', () => {
    const f = mmFixture();
    for (let vmi = 8; vmi < 16; vmi++) f.mapVmemmapPage(vmi, f.alloc.alloc());
    const m = f.memmap;
    const head = 512; // an order-9 compound page: vmemmap pages 8..15
    m.setCompoundHead(head + 3, head);
    expect(u64(m.rawBytes(head + 3), PAGE_COMPOUND_HEAD_OFFSET)).toBe(0xffffea0000000000n + BigInt(head * 64) + 1n);
    m.setCompoundInfoMask(head + 300, 9);
    expect(u64(m.rawBytes(head + 300), PAGE_COMPOUND_HEAD_OFFSET)).toBe(0xffffffffffff8001n);
    expect(m.PageTail(head + 3) && m.PageTail(head + 300)).toBe(true);
    expect(m.compoundHead(head + 3)).toBe(head);
    expect(m.compoundHead(head + 300)).toBe(head);
    // the same mask in another compound page names that page's head
    m.setCompoundInfoMask(1023, 9);
    expect(m.compoundHead(1023)).toBe(512);
    expect(compoundInfoMask(X86_64, 18)).toEqual([0xff000001 | 0, -1]);
  });

  it('tells a mask from a head pointer on every architecture profile', () => {
    for (const arch of Object.values(ARCH_PROFILES)) {
      const f = mmFixture({ arch });
      for (const order of [1, 9, 13, 18]) {
        const [lo, hi] = compoundInfoMask(arch, order);
        expect(isCompoundInfoMask(lo, hi)).toBe(true);
      }
      for (const pfn of [0, 1, 2 ** 20, 2 ** 26, 2 ** 30, 2 ** 34]) expect(isCompoundInfoMask(f.memmap.pageVirtLo(pfn) | 1, f.memmap.pageVirtHi(pfn))).toBe(false);
    }
  });
});

describe('the kernel MMU honours the write bit of vmemmap PTEs', () => {
  for (const tlb of [true, false])
    it(`${tlb ? 'through the TLB' : 'without a TLB'}: reads through a read-only PTE work, a write oopses and stores nothing`, () => {
      const f = mmFixture({ tlb });
      const shared = f.alloc.alloc();
      f.mapVmemmapPage(0, f.alloc.alloc());
      f.mapVmemmapPage(1, shared, PAGE_KERNEL_RO_LO);
      f.mapVmemmapPage(2, shared, PAGE_KERNEL_RO_LO);
      f.memmap.setPageCount(3, 5); // writable page
      expect(f.memmap.pageRefCount(64 + 7)).toBe(0); // a read fills the TLB with the read-only entry
      let err: unknown;
      try {
        f.memmap.setPageCount(64 + 7, 9);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KernelError);
      expect((err as KernelError).errno).toBe(EFAULT);
      expect((err as KernelError).message).toMatch(/^BUG: unable to handle page fault for address: ffffea0000001000/);
      expect(() => f.memmap.SetPageHead(128 + 7)).toThrow(/read-only vmemmap PTE/);
      expect(f.counters.get('vmemmap_write_faults')).toBe(2);
      expect(f.memmap.pageRefCount(64 + 7)).toBe(0);
      expect(f.memmap.pageRefCount(128 + 7)).toBe(0);
      expect(f.memmap.pageRefCount(3)).toBe(5);
      expect(f.memmap.rawBytes(64 + 7).every((b) => b === 0)).toBe(true); // no field of the struct page was stored
    });
});

describe('KERNELS: what each kernel release runs', () => {
  it('names every version, with merged generations only and a known rule', () => {
    for (const v of KERNEL_VERSIONS) {
      const k = KERNELS[v];
      expect(k.version).toBe(v);
      expect(isKernelVersion(v)).toBe(true);
      expect(isVmemmapGeneration(k.vmemmapGeneration)).toBe(true);
      expect((PROPOSED_VMEMMAP_GENERATIONS as readonly string[]).includes(k.vmemmapGeneration)).toBe(false);
      expect(k.vmemmapGeneration).not.toBe('tail-reuse-pmd'); // the seed's patch 14 was never merged
      expect(VMEMMAP_OPTIMIZE_RULES).toContain(k.vmemmapOptimizeRule);
    }
    expect(isKernelVersion('7.4')).toBe(false);
  });
  it('7.3 is the 5.19 generation with 5-level paging where the CPU has LA57 (measured on 7.3-rc7)', () => {
    expect(KERNELS['7.3']).toMatchObject({ vmemmapGeneration: 'tail-reuse', paging: '5-level-if-la57', vmemmapOptimizeRule: 'reserve-nr' });
    expect(KERNELS['6.6'].vmemmapOptimizeRule).toBe('reserve-nr');
    expect(KERNELS['5.19'].vmemmapOptimizeRule).toBe('seed');
    expect(KERNELS['5.15'].vmemmapGeneration).toBe('pre-series');
  });
  it('paging: 7.3 on an LA57 CPU is the 5-level profile (vmemmap_base 0xffd4000000000000); older kernels and other CPUs 4-level', () => {
    expect(archForKernel(KERNELS['7.3'], X86_64, true)).toBe(X86_64_LA57);
    expect(X86_64_LA57.vmemmapStart).toBe(0xffd4000000000000n);
    expect(archForKernel(KERNELS['7.3'], X86_64, false)).toBe(X86_64);
    expect(archForKernel(KERNELS['6.6'], X86_64_LA57, true)).toBe(X86_64);
    expect(archForKernel(KERNELS['7.3'], ARCH_PROFILES['ppc64-64k']!, true)).toBe(ARCH_PROFILES['ppc64-64k']);
  });
});
