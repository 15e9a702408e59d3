import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIO_LINE_KINDS, SCENARIO_TOUR } from '@daxsim/machine';
import { describe, expect, it } from 'vitest';
import { daxsim, scratch } from '../test/cli.js';

describe('daxsim run --help: the scenario language', () => {
  it('lists every line kind with its syntax and an example', () => {
    const r = daxsim(scratch(), ['run', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^run a workload scenario/);
    for (const k of SCENARIO_LINE_KINDS) {
      expect(r.stdout, k.kind).toContain(`  ${k.syntax}\n`);
      for (const e of k.example) expect(r.stdout, k.kind).toContain(`e.g. ${e}\n`);
    }
    // the words a newcomer looks for
    for (const w of ['spawn', 'mmap', 'touch', 'pin', 'unpin', 'poison', 'alloc', 'sysfs', 'munmap', 'exit']) expect(r.stdout).toMatch(new RegExp(`\\b${w}\\b`));
  });

  it('runs its examples, in order, as one scenario on a fresh machine, each line doing what the help says', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'tour.scn'), SCENARIO_TOUR);
    const r = daxsim(dir, ['run', 'tour.scn']);
    expect(r.status, r.stderr).toBe(0);
    const after = (line: string): string => {
      const i = r.stdout.indexOf(`: ${line}\n`);
      expect(i, line).toBeGreaterThan(0);
      const rest = r.stdout.slice(i + line.length + 3);
      return rest.slice(0, rest.search(/^tour\.scn:/m));
    };
    // fail pgtable:1: the PMD fault cannot allocate its page table, VM_FAULT_OOM, nothing mapped; the next touch maps 2 MiB
    expect(after('p touch m 0')).toContain('fault failed (vm_fault_t 0x1)');
    expect(after('p touch m 0 write')).toMatch(/faults: 1 pmd/);
    expect(after('p read m 0x1000 5')).toContain('read: "hello"');
    expect(after('p pin m 0 2M')).toContain('pinned 512 of 512 pages');
    expect(after('p get m 0x200000 8K')).toContain('got 2 of 2 pages');
    expect(after('p longterm m 0 4K')).toContain('pinned 1 of 1 pages');
    expect(after('p unpin')).toContain('released 515 pages');
    // early kill by prctl: the device poison signals the mapper at once (AO); its own load is AR
    expect(after('poison dax0.0 0x200000')).toMatch(/p: SIGBUS BUS_MCEERR_AO/);
    expect(after('p poison m 0x300000')).toMatch(/p: SIGBUS BUS_MCEERR_AR/);
    expect(after('p madvise m 0x100000 hwpoison')).toContain('Injecting memory failure for pfn');
    // a device pfn never faulted in: memory_failure() "Failed", -EBUSY (hwpoison_inject, measured)
    expect(after('sysfs /sys/kernel/debug/hwpoison/corrupt-pfn 0x140600')).toMatch(/-EBUSY/);
    expect(after('daxctl reconfigure-device --mode=system-ram dax1.0')).toContain('"mode":"system-ram"');
    expect(after('p alloc buf 4M node=0')).toMatch(/p: buf: 1024 anonymous pages/);
    expect(r.stdout).toMatch(/tour\.scn: done, 1 command refused\n$/);
  });
});
