import { ARM64_64K, KERNELS, PE_SIZE_PMD, PE_SIZE_PTE, PE_SIZE_PUD, PROT_READ, PROT_WRITE, MAP_SHARED, SZ_1G, SZ_1M, X86_64 } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { devDaxFaultDbg } from './device.js';
import { createTask, daxMmap } from './process.js';
import { testDaxDevice } from './test/kernel.js';
import { touch } from './user-access.js';

describe("dev_dax_huge_fault()'s dev_dbg line, as each release prints it", () => {
  const vma = [0x7f0000000000, 0x7f0040000000] as const;
  const addr = 0x7f0000212345;

  it('up to v6.5: the enum page_entry_size (0 PTE, 1 PMD, 2 PUD) and the VMA', () => {
    expect(devDaxFaultDbg('pe-size', 'app', 'write', ...vma, addr, PE_SIZE_PMD, X86_64)).toBe('app: write (0x7f0000000000 - 0x7f0040000000) size = 1');
    expect(devDaxFaultDbg('pe-size', 'app', 'read', ...vma, addr, PE_SIZE_PUD, X86_64)).toBe('app: read (0x7f0000000000 - 0x7f0040000000) size = 2');
  });

  it('v6.6 (1d024e7a8dab): the order the handler is called with, and the VMA', () => {
    expect(devDaxFaultDbg('order', 'app', 'write', ...vma, addr, PE_SIZE_PTE, X86_64)).toBe('app: write (0x7f0000000000 - 0x7f0040000000) order:0');
    expect(devDaxFaultDbg('order', 'app', 'write', ...vma, addr, PE_SIZE_PMD, X86_64)).toBe('app: write (0x7f0000000000 - 0x7f0040000000) order:9');
    expect(devDaxFaultDbg('order', 'app', 'write', ...vma, addr, PE_SIZE_PUD, X86_64)).toBe('app: write (0x7f0000000000 - 0x7f0040000000) order:18');
    // arm64 with 64K pages: PMD_ORDER 13
    expect(devDaxFaultDbg('order', 'app', 'read', ...vma, addr, PE_SIZE_PMD, ARM64_64K)).toBe('app: read (0x7f0000000000 - 0x7f0040000000) order:13');
  });

  it("by 7.3 (Peter Xu's 'mm/dax: dump start address in fault handler'): op=, the address aligned to the order, order=", () => {
    expect(devDaxFaultDbg('op-addr-order', 'app', 'write', ...vma, addr, PE_SIZE_PMD, X86_64)).toBe('app: op=write addr=0x7f0000200000 order=9');
    expect(devDaxFaultDbg('op-addr-order', 'app', 'read', ...vma, addr, PE_SIZE_PTE, X86_64)).toBe('app: op=read addr=0x7f0000212000 order=0');
    expect(devDaxFaultDbg('op-addr-order', 'app', 'read', ...vma, addr, PE_SIZE_PUD, X86_64)).toBe('app: op=read addr=0x7f0000000000 order=18');
  });

  it("a fault logs the line of the kernel's release (the test kernel runs the seed's 5.15: pe_size)", () => {
    const { k, dev } = testDaxDevice({ align: 2 * SZ_1M, size: SZ_1G });
    expect(k.release.klog.daxFaultDbg).toBe(KERNELS['5.15'].klog.daxFaultDbg);
    const t = createTask(k, 100, 'app');
    const a = daxMmap(k, t, dev, { length: 4 * SZ_1M, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
    const from = k.log.entries.length;
    touch(t, a + 4096, true);
    const lines = k.log.entries.slice(from).map((r) => r.text);
    expect(lines).toContain(`device_dax dax0.0: app: write (${'0x' + a.toString(16)} - ${'0x' + (a + 4 * SZ_1M).toString(16)}) size = 1`);
  });

  it("alloc range lines print the range with %pa: 16 hex digits (as the real kernel's '[mem %pa-%pa]' lines)", () => {
    const { k } = testDaxDevice({ align: 2 * SZ_1M, size: SZ_1G });
    // dax_hmem's dax0.0 takes the whole 4 GiB, then is sized down to 1 GiB
    expect(k.log.entries.slice(0, 2).map((r) => r.text)).toEqual([
      'dax dax0.0: alloc range[0]: 0x0000000100000000:0x00000001ffffffff',
      'dax dax0.0: shrink range[0]: 0x0000000100000000:0x000000013fffffff',
    ]);
  });
});
