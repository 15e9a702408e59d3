import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type ScenarioOp, ScenarioSyntaxError, formatScenarioOp, parseScenarioLine } from './scenario-op.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

// one line of every kind the language has, as a reader would write it
const EVERY_KIND: Record<ScenarioOp['op'], string> = {
  machine: 'machine --kernel 7.3 --ram 4G --pmem 4G',
  tool: 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M',
  fail: 'fail page_alloc:3,grab:2',
  poison: 'poison dax0.1 0x200000',
  sysctl: 'sysctl vm.memory_failure_early_kill 1',
  'hwpoison-inject': 'sysfs /sys/kernel/debug/hwpoison/corrupt-pfn 0x140505',
  'memmap-on-memory': 'sysfs dax0.0 memmap_on_memory y',
  page: 'page dax0.0:0 --json',
  spawn: 'spawn p1',
  mmap: 'p1 mmap m1 dax0.1 length=4M offset=0 prot=r flags=private',
  munmap: 'p1 munmap m1',
  touch: 'p1 touch m1 0x1000 write',
  read: 'p1 read m1 0x1000 5',
  write: 'p1 write m1 0x1000 hello world',
  pin: 'p1 pin m1 0 2M gen=head-once longterm',
  unpin: 'p1 unpin',
  'consume-poison': 'p1 poison m1 0x200000',
  'madvise-hwpoison': 'p1 madvise m1 0x305000 hwpoison 8K',
  'prctl-mce-kill': 'p1 prctl mce_kill early',
  alloc: 'p1 alloc buf 4M node=1 kernel',
  free: 'p1 free buf',
  exit: 'p1 exit',
};

describe('the scenario op language', () => {
  it('reads one line of every kind into its op, and writes each op back as a line that reads the same', () => {
    for (const [kind, line] of Object.entries(EVERY_KIND)) {
      const op = parseScenarioLine(line)!;
      expect(op.op, line).toBe(kind);
      expect(parseScenarioLine(formatScenarioOp(op)), formatScenarioOp(op)).toEqual(op);
    }
    expect(parseScenarioLine('p1 longterm m1 0x0 2M')).toEqual({ op: 'pin', p: 'p1', m: 'm1', off: 0, len: 2 * 2 ** 20, kind: 'longterm' });
    expect(parseScenarioLine('p1 mmap m1 dax0.0 length=2M')).toEqual({ op: 'mmap', p: 'p1', m: 'm1', dev: 'dax0.0', length: 2 * 2 ** 20, offset: 0, write: true, shared: true });
    expect(parseScenarioLine('  # only a comment')).toBeNull();
  });

  it('refuses a malformed line with the syntax it expects', () => {
    expect(() => parseScenarioLine('p1 pin m1 0 2M gen=fast')).toThrow(ScenarioSyntaxError);
    expect(() => parseScenarioLine('p1 pin m1 0 2M gen=fast')).toThrow(/gen=fast: one of per-page/);
    expect(() => parseScenarioLine('p1 touch m1 lots')).toThrow(/touch offset: 'lots'/);
    expect(() => parseScenarioLine('spawn')).toThrow(/spawn NAME/);
    expect(() => parseScenarioLine('sysctl vm.memory_failure_early_kill 2')).toThrow(/0\|1/);
    expect(() => parseScenarioLine('p1 frobnicate')).toThrow(/unknown command 'p1 frobnicate'/);
  });

  it('every line of the scenarios shipped with daxsim reads, and reads the same once written back', () => {
    const dir = join(root, 'apps', 'daxsim', 'scenarios');
    let lines = 0;
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.scn')))
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
        const op = parseScenarioLine(line);
        if (!op) continue;
        expect(parseScenarioLine(formatScenarioOp(op)), `${f}: ${line}`).toEqual(op);
        lines++;
      }
    expect(lines).toBeGreaterThan(20);
  });
});
