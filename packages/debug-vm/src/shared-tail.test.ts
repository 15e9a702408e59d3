import { describe, expect, it } from 'vitest';
import { SZ_1G, SZ_1M, ENOMEM, KernelError } from '@daxsim/mm';
import { type Kernel, memremapPages, memunmapPages } from '@daxsim/memremap';
import { testKernel, testPagemap } from '@daxsim/memremap/test';
import { sharedTails } from '@daxsim/sparse-vmemmap';
import { armFailures, disarmFailures, pendingFailures } from './fault-inject.js';
import { checkInvariants, formatViolation } from './invariants.js';
import { machineState } from './state.js';

const BASE = 4 * SZ_1G;

const machine = (): Kernel => testKernel({ dev: { start: BASE, size: 2 * SZ_1G, name: 'pmem' } });
const pgmap = (size: number, shift: number) => testPagemap(size, shift, BASE);
const sweep = (k: Kernel) => checkInvariants(k).map(formatViolation);

describe('invariant: no shared tail page ever changes after it is filled', () => {
  it('a clean shared-tail machine passes; a shared tail corrupted through its raw frame is found', () => {
    const k = machine();
    memremapPages(k, pgmap(256 * SZ_1M, 9), 0, { generation: 'shared-tail' });
    expect(sweep(k)).toEqual([]);
    const [t] = sharedTails(k);
    // on purpose, behind the MMU's back: flip PG_dirty in the 10th struct page of the shared frame
    const m = k.mem;
    const slot = m.frameSlot(t!.pfn);
    m.slabI32[slot >>> m.slabShift]![m.slotWord(slot) + 10 * 16] |= 1 << 3;
    const v = checkInvariants(k);
    expect(v.map((x) => x.invariant)).toContain('shared-tail-changed');
    expect(v.find((x) => x.invariant === 'shared-tail-changed')!.message).toMatch(/order 9/);
    // every compound page's tails behind it see the flip: one frame, many addresses
    expect(k.memmap.PageDirty(BASE / 4096 + 64 + 10)).toBe(true);
    expect(k.memmap.PageDirty(BASE / 4096 + 512 * 7 + 128 + 10)).toBe(true);
    Object.assign(k, { corrupted: true }); // the after-test sweep leaves this machine alone
  });

  it('a writable PTE onto a shared tail is a protection violation', () => {
    const k = machine();
    memremapPages(k, pgmap(64 * SZ_1M, 9), 0, { generation: 'shared-tail' });
    const pt = k.mmu.pgtable;
    const va = k.mmu.vmemmapVa(BASE / 4096 + 64);
    pt.walk(va);
    const table = pt.wTable;
    const idx = pt.index(va, k.arch.pteLevel);
    pt.setEntry(table, idx, pt.lo(table, idx) | 2, pt.hi(table, idx), va, k.arch.pteLevel);
    expect(sweep(k).some((s) => s.startsWith('vmemmap-leaf-prot'))).toBe(true);
    Object.assign(k, { corrupted: true });
  });
});

describe('shared-tail memremap_pages under injected failures', () => {
  for (const shift of [9, 18])
    it(`shift ${shift}: a page_alloc failure at every n is -ENOMEM and leaves the machine as it was`, () => {
      const size = shift === 18 ? 2 * SZ_1G : 256 * SZ_1M;
      let fired = 0;
      for (let n = 1; n < 10_000; n++) {
        const k = machine();
        const before = JSON.stringify(machineState(k));
        armFailures({ k }, { page_alloc: n });
        let err: unknown = null;
        try {
          memremapPages(k, pgmap(size, shift), 0, { generation: 'shared-tail' });
        } catch (e) {
          err = e;
        }
        const hit = pendingFailures({ k }).page_alloc === undefined;
        disarmFailures({ k });
        if (!hit) break;
        fired++;
        expect(err).toBeInstanceOf(KernelError);
        expect((err as KernelError).errno).toBe(ENOMEM);
        expect(JSON.stringify(machineState(k))).toBe(before);
        expect(sharedTails(k)).toEqual([]);
        expect(sweep(k)).toEqual([]);
      }
      // the shared tail, the head vmemmap pages and the page tables: every one failed once
      expect(fired).toBeGreaterThan(shift === 18 ? 3 : 64);
    });

  it('memunmap_pages gives everything back, the shared tail with the last user', () => {
    const k = machine();
    const before = JSON.stringify(machineState(k));
    const pg = pgmap(SZ_1G, 18);
    memremapPages(k, pg, 0, { generation: 'shared-tail' });
    memunmapPages(k, pg);
    expect(JSON.stringify(machineState(k))).toBe(before);
  });
});
