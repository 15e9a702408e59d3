import { KERNEL_VERSIONS, SZ_1G, kernelRelease } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { Machine } from './machine.js';
import { type LineOutcome, runScenario } from './scenario.js';

/**
 * Memory failure as the measured kernels do it (shared/real-kernel/poison-ref,
 * Debian 6.1.192 and 7.3-rc7, 2M devdax): late kill by default, MADV_HWPOISON
 * from a process, early kill by prctl, a media poison consumed later. The
 * user-visible behaviour was the same on both kernels; the releases between
 * run the same code paths.
 */
async function run(kernel: string, lines: string[]) {
  const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [], softReserved: [2 * SZ_1G], kernel });
  const r = await runScenario(lines.join('\n'), { machine: m });
  expect(r.error).toBeUndefined();
  const at = (prefix: string): LineOutcome => r.outcomes.find((o) => o.line.startsWith(prefix))!;
  return { m, r, at };
}

const sig = (o: LineOutcome) => o.signals.map((s) => `${s.proc} ${s.info.code === 4 ? 'AR' : s.info.code === 5 ? 'AO' : s.info.code} +0x${(s.info.addr - 0x7f0000000000).toString(16)} lsb ${s.info.addrLsb}`);

// The releases whose dax_set_mapping() rounds the index down (7fcbd9785d4c; 6.1.192 from stable). The
// mainline releases with the seed's ALIGN() (5.19, 6.6, 6.8) index one folio on: memory_failure() looks
// for the mapping there and tells no one (the README's align-up generation; machine.test.ts shows it).
const ALIGN_DOWN = KERNEL_VERSIONS.filter((v) => kernelRelease(v).setMappingIndex === 'align-down');

describe.each(ALIGN_DOWN)('kernel %s', (kernel) => {
  const preSeries = kernelRelease(kernel).vmemmap === 'pre-series';
  const head = preSeries ? 'the pfn' : 'the head';
  // a base-page memmap (5.15) reports the poisoned page's own address; a compound one the folio's (measured)
  const at1 = preSeries ? '+0x305000' : '+0x200000';

  it(`MADV_HWPOISON: AR to the caller at the folio's address (lsb 21), nothing to a late-kill mapper, AO to an early one; reads succeed after; PG_hwpoison on ${head}`, async () => {
    const { m, at } = await run(kernel, [
      'spawn a',
      'spawn b',
      'spawn e',
      'spawn k2',
      'e prctl mce_kill early',
      'k2 prctl mce_kill early',
      ...['a', 'b', 'e', 'k2'].map((p) => `${p} mmap m dax0.0 length=1G offset=0 prot=rw flags=shared`),
      'a touch m 0x300000 write',
      'b touch m 0x300000 write',
      'e touch m 0x300000 write',
      'a madvise m 0x305000 hwpoison',
      'a read m 0x305000 1',
      'b read m 0x305000 1',
      'k2 read m 0x305000 1',
      'a madvise m 0x3f0000 hwpoison',
    ]);
    const first = at('a madvise m 0x305000');
    // K2 maps the window but never touched the folio: its page tables do not map it, it gets nothing
    expect(sig(first)).toEqual([`a AR ${at1} lsb 21`, `e AO ${at1} lsb 21`]);
    expect(first.kernel[0]).toMatch(/^Injecting memory failure for pfn 0x[0-9a-f]+ at process virtual address 0x7f0000305000$/);
    expect(first.kernel.at(-1)).toMatch(/recovery action for dax page: Recovered$/);
    // the folio faults back in whole for everyone, with no signal
    for (const l of ['a read', 'b read', 'k2 read']) {
      expect(at(l).signals).toEqual([]);
      expect(at(l).messages).toEqual(['read: "\\u0000"']);
    }
    // a second page of the same folio: Recovered again, signals again (K2 has faulted it in since)
    const second = at('a madvise m 0x3f0000');
    const at2 = preSeries ? '+0x3f0000' : '+0x200000';
    expect(sig(second)).toEqual([`a AR ${at2} lsb 21`, `k2 AO ${at2} lsb 21`]);
    expect(m.k.counters.get('num_poisoned_pages')).toBe(2);
    const dev = m.daxDevice('dax0.0');
    const folio = dev.ranges[0]!.start / 4096 + 512;
    expect(m.k.memmap.PageHWPoison(preSeries ? folio + 0x105 : folio)).toBe(true);
    expect(m.k.memmap.PageHWPoison(folio + 0x10)).toBe(false);
  });

  it('a media poison stays bad: detection unmaps nothing a late-kill process is told of; a later read of it is BUS_MCEERR_AR to the reader', async () => {
    const { at } = await run(kernel, ['spawn r', 'r mmap m dax0.0 length=1G offset=0 prot=rw flags=shared', 'r touch m 0x300000 write', 'poison dax0.0 0x305000', 'r read m 0x304000 1', 'r read m 0x305000 1']);
    expect(at('poison').signals).toEqual([]);
    expect(at('r read m 0x304000').signals).toEqual([]); // another page of the folio reads fine
    const consumed = at('r read m 0x305000');
    expect(sig(consumed)).toEqual([`r AR ${at1} lsb 21`]);
    expect(consumed.messages).toEqual([]); // the load did not complete
  });
});

describe('hwpoison debugfs and teardown, as measured', () => {
  it('unpoison-pfn is EIO; corrupt-pfn of a never-faulted pfn is EBUSY and counts; 6.1 drops the count at teardown, 7.3 keeps it', async () => {
    for (const [kernel, afterTeardown] of [['6.1', 1], ['7.3', 2]] as const) {
      const { m, at } = await run(kernel, [
        'spawn a',
        'a mmap m dax0.0 length=4M offset=0 prot=rw flags=shared',
        'a touch m 0x0 write',
        'a madvise m 0x5000 hwpoison',
        'a exit',
      ]);
      expect(at('a madvise').signals).toHaveLength(1);
      const dev = m.daxDevice('dax0.0');
      const base = dev.ranges[0]!.start / 4096;
      const more = await runScenario(
        [`sysfs /sys/kernel/debug/hwpoison/unpoison-pfn 0x${(base + 5).toString(16)}`, `sysfs /sys/kernel/debug/hwpoison/corrupt-pfn 0x${(base + 3 * 512).toString(16)}`].join('\n'),
        { machine: m },
      );
      expect(more.outcomes.map((o) => o.errno)).toEqual([5, 16]); // EIO, EBUSY
      expect(more.outcomes[1]!.kernel).toEqual([`Injecting memory failure at pfn 0x${(base + 3 * 512).toString(16)}`, `Memory failure: 0x${(base + 3 * 512).toString(16)}: recovery action for dax page: Failed`]);
      expect(m.k.memmap.PageHWPoison(base)).toBe(true); // unpoison left it
      expect(m.k.counters.get('num_poisoned_pages')).toBe(2); // the madvise and the failed corrupt-pfn
      // destroying the device: the struct pages go with their PG_hwpoison
      m.apply({ op: 'dax.unbind', dev: 'dax0.0' });
      expect(m.k.counters.get('num_poisoned_pages')).toBe(afterTeardown);
    }
  });
});
