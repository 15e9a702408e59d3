import { describe, expect, it } from 'vitest';
import { ARCH_PROFILES, X86_64 } from './arch.js';
import { EFAULT, KernelError } from './errno.js';
import { PAGE_KERNEL_RO_LO } from './pgtable.js';
import { PAGE_COMPOUND_HEAD_OFFSET, STRUCT_PAGE_V5_15, STRUCT_PAGE_V6_1, STRUCT_PAGE_V6_6, STRUCT_PAGE_V7_3, compoundInfoMask, isCompoundInfoMask } from './struct-page.js';
import { mmFixture } from './test/fixture.js';

const u32 = (b: Uint8Array, off: number) => (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
const u64 = (b: Uint8Array, off: number) => BigInt(u32(b, off)) | (BigInt(u32(b, off + 4)) << 32n);

describe('struct page layouts: v5.15 compound_head and the compound_info mask', () => {
  it('tails encode their head as a pointer until the compound_info series (v7.1), as a mask after', () => {
    for (const l of [STRUCT_PAGE_V5_15, STRUCT_PAGE_V6_1, STRUCT_PAGE_V6_6]) expect(l.tailEncoding).toBe('pointer');
    expect(STRUCT_PAGE_V7_3.tailEncoding).toBe('mask');
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
