import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { daxsim, scratch } from '../test/cli.js';
import { SZ_1G } from '@daxsim/mm';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCENARIOS = join(HERE, '..', 'scenarios');
const run = (name: string) => daxsim(scratch(), ['run', join(SCENARIOS, name)]);
/** The lines a scenario line printed, up to the next echoed scenario line. */
function after(stdout: string, lineText: string, nth = 0): string {
  const parts = stdout.split(/\n(?=\S+\.scn:\d+: )/);
  const hits = parts.filter((p) => p.replace(/^\S+\.scn:\d+: /, '').startsWith(lineText));
  return hits[nth] ?? '';
}

describe('daxctl system-ram across invocations (the issue\'s "done when")', () => {
  it('8G RAM + 16G soft-reserved: system-ram with 128 online blocks, offline-memory to 0, back to devdax', () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--ram', '8G', '--soft-reserved', '16G', '--auto-online', 'offline']).status).toBe(0);
    const r = daxsim(dir, ['daxctl', 'reconfigure-device', '--mode=system-ram', 'dax0.0']);
    expect(r.status).toBe(0);
    // 16 GiB in 128 MiB blocks (boot memory below 64 GiB: x86-64's smallest block)
    expect(r.json()).toEqual([
      { chardev: 'dax0.0', size: 16 * SZ_1G, target_node: 0, align: 2 ** 21, mode: 'system-ram', online_memblocks: 128, total_memblocks: 128, movable: true },
    ]);
    expect(r.stderr).toBe('reconfigured 1 device\n');
    const s = daxsim(dir, ['stat', '--json']).json();
    // the memmap of 16 GiB of hot-added memory: 64 B per 4 KiB page, PMD-mapped, from RAM
    expect(s.system_ram).toEqual([
      expect.objectContaining({ device: 'dax0.0', size: 16 * SZ_1G, block_size: 128 * 2 ** 20, memmap_on_memory: false, vmemmap_data_bytes: 256 * 2 ** 20, device_reserved_bytes: 0, struct_pages_initialised: 4 * 2 ** 20 }),
    ]);
    const off = daxsim(dir, ['daxctl', 'offline-memory', 'dax0.0']);
    expect(off.status).toBe(0);
    expect(off.stderr).toBe('offlined memory for 1 device\n');
    expect(daxsim(dir, ['daxctl', 'list']).json()[0]).toMatchObject({ mode: 'system-ram', online_memblocks: 0, total_memblocks: 128 });
    expect(daxsim(dir, ['daxctl', 'list']).json()[0].movable).toBeUndefined();
    const back = daxsim(dir, ['daxctl', 'reconfigure-device', '--mode=devdax', 'dax0.0']);
    expect(back.status).toBe(0);
    expect(back.json()).toEqual([{ chardev: 'dax0.0', size: 16 * SZ_1G, target_node: 0, align: 2 ** 21, mode: 'devdax' }]);
    expect(daxsim(dir, ['stat', '--json']).json().system_ram).toBeUndefined();
  });

  it('refuses bad options as daxctl does', () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--ram', '2G', '--soft-reserved', '1G', '--auto-online', 'offline']).status).toBe(0);
    const r = daxsim(dir, ['daxctl', 'reconfigure-device', '--mode=devdax', '--no-online', 'dax0.0']);
    expect(r.status).toBe(129);
    expect(r.stderr).toContain('--no-online is incompatible with --mode=devdax');
    expect(daxsim(dir, ['daxctl', 'reconfigure-device', '--mode=famfs', 'dax0.0']).status).toBe(129);
    const on = daxsim(dir, ['daxctl', 'online-memory', 'dax0.0']);
    expect(on.status).toBe(250);
    expect(on.stderr).toBe('dax0.0: memory operations are not applicable in devdax mode\nerror onlining memory: No such device or address\nonlined memory for 0 devices\n');
    expect(daxsim(dir, ['machine', 'create', '-f', '--auto-online', 'sometimes']).status).toBe(129);
  });
});

describe('the tracker\'s cases as daxsim run scenarios', () => {
  it('ndctl#243: a 256M device on a machine with 2G blocks is refused with EINVAL, and left disabled', () => {
    const r = run('kmem-too-small.scn');
    expect(r.status).toBe(0);
    const line = after(r.stdout, 'daxctl reconfigure-device');
    expect(line).toContain('rejecting DAX region without any memory after alignment (size 0x10000000, memory block size 0x80000000)');
    expect(line).toContain('error reconfiguring devices: Invalid argument');
    expect(line).toContain('exit status 234');
    expect(after(r.stdout, 'daxctl list')).toContain('"state":"disabled"');
  });

  it('ndctl#246/#171: --no-online under auto_online_blocks=online is EBUSY; with -f the kernel onlines it anyway, into ZONE_NORMAL', () => {
    const r = run('kmem-no-online.scn');
    const refused = after(r.stdout, 'daxctl reconfigure-device --mode=system-ram --no-online dax0.0');
    expect(refused).toContain('dax0.0: error: kernel policy will auto-online memory, aborting');
    expect(refused).toContain('exit status 240');
    const forced = after(r.stdout, 'daxctl reconfigure-device --mode=system-ram --no-online -f');
    expect(forced).toMatch(/"online_memblocks":8,\s+"total_memblocks":8,\s+"movable":false/);
  });

  it('ndctl#256: offline is EBUSY while a kernel buffer sits in a ZONE_NORMAL block, and succeeds once it is freed', () => {
    const r = run('kmem-offline-busy.scn');
    const busy = after(r.stdout, 'daxctl reconfigure-device --mode=devdax -f dax0.0', 0);
    expect(busy).toMatch(/Failed to offline \/sys\/devices\/system\/node\/node1\/memory32\/state: Device or resource busy/);
    expect(busy).toContain('failure to isolate range');
    expect(busy).toContain('exit status 240');
    const ok = after(r.stdout, 'daxctl reconfigure-device --mode=devdax -f dax0.0', 1);
    expect(ok).toContain('"mode":"devdax"');
    expect(ok).not.toContain('exit status');
    expect(r.stdout).toMatch(/done, 1 command refused/);
  });

  it('ndctl#110: daxctl onlines into ZONE_MOVABLE by default (its pages migrate on offline); --no-movable gives ZONE_NORMAL', () => {
    const r = run('kmem-zones.scn');
    expect(after(r.stdout, 'daxctl reconfigure-device')).toContain('"movable":true');
    expect(after(r.stdout, 'daxctl offline-memory')).toContain('offlined memory for 1 device');
    expect(after(r.stdout, 'daxctl list')).toContain('"movable":false');
    expect(r.stdout).toMatch(/done, 0 commands refused/);
  });

  it('memmap_on_memory: the struct pages of hot-added memory come out of its own blocks', () => {
    const r = run('kmem-memmap-on-memory.scn');
    const text = after(r.stdout, 'stat --json');
    const stat = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1));
    expect(stat.system_ram).toEqual([
      expect.objectContaining({ device: 'dax0.0', memmap_on_memory: true, vmemmap_data_bytes: 0, device_reserved_bytes: 8 * 2 * 2 ** 20, struct_pages_initialised: SZ_1G / 4096 }),
    ]);
  });

  it('every scenario of the README is one of these files, verbatim', () => {
    const readme = readFileSync(join(HERE, '..', 'README.md'), 'utf8');
    for (const f of readdirSync(SCENARIOS).filter((n) => n.startsWith('kmem-'))) expect(readme).toContain(readFileSync(join(SCENARIOS, f), 'utf8').trim());
  });
});
