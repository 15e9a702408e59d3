import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Machine, ndctlCreateNamespace, resolvePageSpec } from '@daxsim/machine';
import { SZ_1G } from '@daxsim/mm';
import { daxsim, scratch } from '../test/cli.js';
import { main } from './cli.js';
import { BufferOutput } from './output.js';

/** The scenario: one 2M devdax folio mapped and touched once, then dump_page() of its head. */
const scenario = (kernel: string) =>
  [
    `machine --kernel ${kernel} --ram 4G --pmem 4G`,
    'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem',
    'spawn p',
    'p mmap m dax0.0 length=2M offset=0 prot=rw flags=shared',
    'p touch m 0 write',
    'page dax0.0:0 --json',
    'page dax0.0:1',
  ].join('\n');

/** The JSON object a `run` printed under its line `name:N:`. */
function jsonUnder(stdout: string, line: number, name: string): Record<string, unknown> {
  const block = stdout.split(`${name}:${line}: `)[1]!.split('\n').slice(1);
  const end = block.findIndex((l) => l === '  }');
  return JSON.parse(block.slice(0, end + 1).join('\n'));
}

describe('daxsim page', () => {
  it('in a scenario: the 7.3 head holds refcount 2 and entire mapcount 1 after one mapping, 5.15 refcount 1 (as the real kernels do)', () => {
    const dir = scratch();
    for (const k of ['7.3', '5.15']) writeFileSync(join(dir, k), scenario(k));
    const r73 = daxsim(dir, ['--machine', join(dir, 'm73.json'), 'run', '7.3']);
    expect(r73.status).toBe(0);
    const h73 = jsonUnder(r73.stdout, 6, '7.3');
    expect(h73).toMatchObject({ kernel: '7.3', kind: 'head', refcount: 2, mapcount: 0, entire_mapcount: 1, folio_mapcount: 1, order: 9, pincount: 0 });
    // the page's own refcount is the first key that names one
    expect(Object.keys(h73).find((k) => /refcount/i.test(k))).toBe('refcount');
    // a tail: dump_page() prints the folio's refcount and the "head:" line
    expect(r73.stdout).toMatch(/7\.3:7: page dax0\.0:1\n {2}page: refcount:2 mapcount:0 mapping:[0-9a-f]{16} index:0x1 pfn:0x140201\n {2}head: order:9 mapcount:1 entire_mapcount:1 nr_pages_mapped:0 pincount:0\n/);
    const r515 = daxsim(dir, ['--machine', join(dir, 'm515.json'), 'run', '5.15']);
    expect(r515.status).toBe(0);
    expect(jsonUnder(r515.stdout, 6, '5.15')).toMatchObject({ kernel: '5.15', kind: 'small', refcount: 1, mapcount: 0 });
  });

  it('on the state file: text and --json; bad inputs give the errno naming the argument and leave the file as it was', () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--kernel', '7.3', '--ram', '4G', '--pmem', '4G']).status).toBe(0);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem']).status).toBe(0);
    const file = join(dir, 'daxsim-machine.json');
    const before = readFileSync(file, 'utf8');
    const text = daxsim(dir, ['page', 'dax0.0:0']);
    expect(text.status).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe('page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x140200');
    // the same page by pfn, in hex or decimal
    expect(daxsim(dir, ['page', '0x140200']).stdout).toBe(text.stdout);
    expect(daxsim(dir, ['page', String(0x140200)]).stdout).toBe(text.stdout);
    const tail = daxsim(dir, ['page', 'dax0.0:513', '--json']);
    expect(tail.status).toBe(0);
    expect(tail.json()).toMatchObject({ pfn: 0x140401, kind: 'tail', refcount: 0, head_pfn: 0x140400, folio: { pfn: 0x140400, refcount: 1, entire_mapcount: 0, order: 9 } });
    const bad: [string[], number, string][] = [
      [['page', 'garbage'], 234, "page 'garbage': not a pfn"],
      [['page', 'dax0.0:zz'], 234, "page 'dax0.0:zz': index 'zz' is not a page number"],
      [['page', 'dax3.0:0'], 250, 'dax device: "dax3.0" does not exist'],
      [['page', 'dax0.0:1048064'], 250, "page 'dax0.0:1048064': index 1048064 is past the end of dax0.0 (1048064 pages of 4096 bytes)"],
      [['page', '0x10000000'], 250, "page '0x10000000': pfn 0x10000000 has no struct page"],
      [['page', '0x1000'], 161, "page '0x1000': pfn 0x1000 is boot memory"],
      [['page'], 129, 'specify one page'],
      [['page', '1', '2'], 129, 'specify one page'],
    ];
    for (const [args, status, msg] of bad) {
      const r = daxsim(dir, args);
      expect([args, r.status, r.stderr]).toEqual([args, status, expect.stringContaining(msg)]);
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});

describe('daxsim check', () => {
  it('exits 0 on a fresh machine and on one a scenario ran on, printing what was swept', () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G']).status).toBe(0);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem']).status).toBe(0);
    const r = daxsim(dir, ['check']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('no violation');
    const j = daxsim(dir, ['check', '--json']).json();
    // the pgmap spans the namespace's 4 GiB: 2048 folios of 512 pages, every struct page read by the full sweep
    expect(j).toMatchObject({ sweep: 'full', ok: true, violations: [], pgmaps: 1, heads: 2048, tails: 2048 * 511, daxRegions: 1, daxDevices: 1, tasks: 0 });
    const cheap = daxsim(dir, ['check', '--cheap', '--json']).json();
    expect(cheap).toMatchObject({ sweep: 'cheap', ok: true, heads: 10, tails: 30 });
    writeFileSync(join(dir, 'w'), ['spawn p', 'p mmap m dax0.0 length=4M', 'p touch m 0 write', 'p pin m 0 2M', 'p exit'].join('\n'));
    expect(daxsim(dir, ['run', 'w']).status).toBe(0);
    expect(daxsim(dir, ['check']).status).toBe(0);
  });

  it('exits 1 with the first violation when a struct page is not what the kernel left', async () => {
    const m = Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 2 * SZ_1G, labels: false }], softReserved: [], kernel: '7.3' });
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 ** 21, map: 'mem', force: true });
    const ok = new BufferOutput();
    expect(await main(['check'], ok, {}, m)).toBe(0);
    // a reference nobody holds on the head of folio 3
    const head = resolvePageSpec(m, 'dax0.0:1536').pfn;
    m.k.memmap.setPageCount(head, 7);
    const bad = new BufferOutput();
    expect(await main(['check'], bad, {}, m)).toBe(1);
    expect(bad.stderr).toBe(`daxsim check: page-refcount: head 0x${head.toString(16)} of namespace0.0: _refcount 7, expected 1 (0 gets, 0 pins)\n`);
    const json = new BufferOutput();
    expect(await main(['check', '--json'], json, {}, m)).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, violations: [{ invariant: 'page-refcount' }] });
  });
});
