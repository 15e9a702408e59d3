import { describe, expect, it } from 'vitest';
import { SZ_1G } from '@daxsim/mm';
import { daxsim, scratch } from '../test/cli.js';

type Row = { kernel?: string; arch: string; align?: number; errno?: string; error?: string; vmemmap_data_bytes?: number; device_reserved_bytes?: number; share_of_ram?: Record<string, number> };

describe('plan: a configuration the kernel refuses is a row, not the end of the command', () => {
  it('--arch x86_64,arm64-64k --align 2M: x86_64 planned, arm64-64k refused with EINVAL and the aligns it has (exit 0)', () => {
    const r = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--map', 'mem', '--arch', 'x86_64,arm64-64k', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rows: Row[] = r.json();
    expect(rows.filter((x) => x.arch === 'x86_64').every((x) => x.errno === undefined)).toBe(true);
    const arm = rows.filter((x) => x.arch === 'arm64-64k');
    expect(arm.length).toBeGreaterThan(0);
    for (const x of arm) {
      expect(x.errno).toBe('EINVAL');
      expect(x.error).toContain('--align 2M: arm64-64k supports 64 KiB, 512 MiB');
    }
    // every configuration refused: the first refusal's errno is the status; the table says why once, not once per row
    const t = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--arch', 'arm64-64k']);
    expect(t.status).toBe(256 - 22);
    expect(t.stdout.match(/refused: EINVAL/g)?.length).toBeGreaterThan(1);
    expect(t.stderr.match(/arm64-64k supports 64 KiB, 512 MiB/g)?.length).toBe(1);
  });

  it('--kernel 6.1,7.3 on arm64-4k: 7.3 builds no ARCH_WANT_OPTIMIZE_DAX_VMEMMAP, so 2M pages keep all 8 vmemmap pages (4x 6.1)', () => {
    const rows: Row[] = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--map', 'mem', '--arch', 'arm64-4k,x86_64', '--kernel', '6.1,7.3', '--json']).json();
    const data = Object.fromEntries(rows.map((x) => [`${x.kernel} ${x.arch}`, x.vmemmap_data_bytes]));
    expect(data).toEqual({
      '6.1 arm64-4k': 4 * SZ_1G,
      '6.1 x86_64-la57': 4 * SZ_1G,
      '7.3 arm64-4k': 16 * SZ_1G,
      '7.3 x86_64-la57': 4 * SZ_1G,
    });
  });

  it('--ram: each cost also as a share of the RAM, and the namespace placed after it', () => {
    const r = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--map', 'mem,dev', '--kernel', '7.3', '--ram', '256G', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const [mem, dev]: Row[] = r.json();
    expect(mem!.share_of_ram!['vmemmap_data_bytes']).toBe(mem!.vmemmap_data_bytes! / (256 * SZ_1G));
    expect(mem!.share_of_ram!['vmemmap_data_bytes']).toBeCloseTo(4 / 256, 12);
    expect(dev!.share_of_ram!['device_reserved_bytes']).toBe(dev!.device_reserved_bytes! / (256 * SZ_1G));
    const text = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--map', 'mem', '--kernel', '7.3', '--ram', '256G']).stdout;
    expect(text).toContain('4 GiB (1.56%)');
    // without --ram: no shares
    expect(daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--map', 'mem', '--json']).json()[0].share_of_ram).toBeUndefined();
  });

  it("--memmap-on-memory is dax_kmem's: refused in devdax mode with EINVAL", () => {
    const r = daxsim(scratch(), ['plan', '--size', '1T', '--memmap-on-memory']);
    expect(r.status).toBe(256 - 22);
    expect(r.stderr).toContain('--memmap-on-memory');
  });
});

describe('plan --mode system-ram: --kernel, --align and --map are honoured or refused', () => {
  it('--kernel 5.15 --memmap-on-memory: no memmap_on_memory attribute before 6.8, ENOENT, the memmap not put on the device', () => {
    const r = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--kernel', '5.15,7.3', '--memmap-on-memory', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const [old, now]: Row[] = r.json();
    expect(old).toMatchObject({ kernel: '5.15', errno: 'ENOENT' });
    expect(old!.error).toContain('memmap_on_memory');
    expect(old!.device_reserved_bytes).toBeUndefined();
    expect(now).toMatchObject({ kernel: '7.3', memmap_on_memory: true, vmemmap_data_bytes: 0, device_reserved_bytes: 16 * SZ_1G });
    const alone = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--kernel', '5.15', '--memmap-on-memory']);
    expect(alone.status).toBe(256 - 2);
    // without --memmap-on-memory 5.15 plans the memmap in RAM
    expect(daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--kernel', '5.15', '--json']).json()[0]).toMatchObject({ memmap_on_memory: false, vmemmap_data_bytes: 16 * SZ_1G });
  });

  it('--align is the dax device align: checked by dax_align_valid() and alloc_is_aligned(); --map, --generation refused with EINVAL', () => {
    const ok = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--align', '1G', '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.json()[0]).toMatchObject({ align: SZ_1G, hotplug_size: 2 ** 40 });
    const bad = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--align', '3M', '--json']);
    expect(bad.status).toBe(256 - 22);
    expect(bad.json()[0]).toMatchObject({ errno: 'EINVAL' });
    expect(daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '3G', '--align', '1G', '--arch', 'arm64-4k']).status).toBe(256 - 22); // no 1G align on arm64
    for (const opt of [['--map', 'mem'], ['--generation', 'tail-reuse'], ['--vmemmap-optimize-rule', 'seed']]) {
      const r = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', ...opt]);
      expect(r.status).toBe(256 - 22);
      expect(r.stderr).toContain(opt[0]);
    }
  });

  it('--ram: shares of the RAM', () => {
    const [row]: Row[] = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--ram', '64G', '--json']).json();
    expect(row!.share_of_ram!['vmemmap_data_bytes']).toBe(0.25);
  });
});

describe('dmesg: one ring, timestamps that never decrease across commands', () => {
  for (const daemon of ['1', '0'])
    it(`${daemon === '1' ? 'in the state file daemon' : 'each command booting from the file (DAXSIM_DAEMON=0)'}: create, destroy, create again (compacted)`, () => {
      const dir = scratch();
      const env = { DAXSIM_DAEMON: daemon };
      const run = (...a: string[]) => {
        const r = daxsim(dir, a, env);
        expect(r.status, `${a.join(' ')}: ${r.stderr}`).toBe(0);
        return r;
      };
      run('machine', 'create', '--ram', '4G', '--pmem', '4G');
      run('ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem');
      run('ndctl', 'destroy-namespace', '-f', 'namespace0.0');
      run('ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem');
      run('ndctl', 'destroy-namespace', '-f', 'namespace0.0');
      run('ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '1G', '-M', 'mem');
      const lines = run('dmesg').stdout.trim().split('\n');
      const stamps = lines.map((l) => Number(/^\[ *([0-9.]+)\]/.exec(l)![1]));
      expect(lines.length).toBe(8);
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThanOrEqual(stamps[i - 1]!);
      expect(stamps[4]!).toBeGreaterThan(stamps[1]!);
      run('machine', 'stop');
    }, 60_000);
});
