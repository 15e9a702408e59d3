import { describe, expect, it } from 'vitest';
import { daxsim, scratch } from '../test/cli.js';

// The cxl verbs end to end through the state file: each command boots the machine from its log.
describe('daxsim cxl (cxl-cli 81)', () => {
  it('create-region -w 2 over two memdevs prints the committed region as cxl-cli does; the region survives a refused destroy', () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--kernel', '7.3', '--ram', '2G', '--cxl-memdev', '1G', '--cxl-memdev', '1G']).status).toBe(0);
    const bad = daxsim(dir, ['cxl', 'create-region', '-m', '-t', 'ram', '-d', 'decoder0.0', '-w', '3', '-g', '256', 'mem0', 'mem1']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('cxl region: validate_ways: Interleave ways 3 is greater than number of memdevs specified: 2');
    const none = daxsim(dir, ['cxl', 'list', '-R']);
    expect([none.stdout, none.stderr]).toEqual(['[]\n', '  Warning: no matching devices found\n']);
    const r = daxsim(dir, ['cxl', 'create-region', '-m', '-t', 'ram', '-d', 'decoder0.0', '-w', '2', '-g', '256', 'mem0', 'mem1']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('cxl region: cmd_create_region: created 1 region\n');
    // json-c's layout: "key":value, two-space indent
    expect(r.stdout).toContain('  "region":"region0",\n');
    expect(r.json()).toMatchObject({ region: 'region0', size: 2 ** 31, type: 'ram', interleave_ways: 2, decode_state: 'commit' });
    const dax = daxsim(dir, ['daxctl', 'list']).json();
    expect(dax).toEqual([expect.objectContaining({ chardev: 'dax0.0', mode: 'system-ram', online_memblocks: 16, total_memblocks: 16, movable: false, target_node: 1 })]);
    const d = daxsim(dir, ['cxl', 'destroy-region', 'region0']);
    expect(d.status).toBe(1);
    expect(d.stderr).toContain('region0 active. Disable it or use --force');
    expect(daxsim(dir, ['cxl', 'list', '-R']).json()).toEqual([expect.objectContaining({ region: 'region0' })]);
    // -vvv: every kind, and the region's dax region with its kmem device
    const find = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(find).find((x) => x) : v && typeof v === 'object' ? ((v as Record<string, unknown>)['daxregion'] ?? find(Object.values(v))) : undefined;
    expect(find(daxsim(dir, ['cxl', 'list', '-vvv']).json())).toMatchObject({ id: 0, size: 2 ** 31, devices: [expect.objectContaining({ chardev: 'dax0.0', mode: 'system-ram' })] });
  });

  it('refuses usage errors with 129 and a machine without memdevs with ENXIO', () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--ram', '2G']).status).toBe(0);
    expect(daxsim(dir, ['cxl', 'destroy-region']).status).toBe(129);
    const r = daxsim(dir, ['cxl', 'list', '-M']);
    expect(r.status).toBe(250);
    expect(r.stderr).toContain('--cxl-memdev');
    expect(daxsim(dir, ['machine', 'create', '-f', '--ram', '2G', '--cxl-memdev', '1X']).status).toBe(129);
  });
});
