import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, cliEnv, daxsim, scratch } from '../test/cli.js';
import { planMemmap } from '@daxsim/machine';
import { SZ_1G, SZ_1M, ALL_VMEMMAP_GENERATIONS, X86_64 } from '@daxsim/mm';
import { COMMANDS } from './cli.js';


describe('daxsim --help', () => {
  it('lists every command', () => {
    const r = daxsim(scratch(), ['--help']);
    expect(r.status).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.path.join(' '));
  });
  for (const c of COMMANDS)
    it(`${c.path.join(' ')} --help prints its usage`, () => {
      const r = daxsim(scratch(), [...c.path, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('usage: ');
    });
  it('refuses an unknown command with status 1', () => {
    const r = daxsim(scratch(), ['frobnicate']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Unknown command: 'frobnicate'");
  });
});

describe('daxsim (the default run)', () => {
  it('prints each row as soon as it is measured, also into a pipe', async () => {
    const child = spawn(process.execPath, [CLI, '--quick'], { cwd: scratch(), env: { ...process.env, DAXSIM_MACHINE: '' } });
    let seen = '';
    let firstRowAlone: boolean | undefined;
    child.stdout.on('data', (d) => {
      seen += d;
      // the first memmap row arrives while the later rows and gup_test are still being measured
      if (firstRowAlone === undefined && /^ *4 KiB {2}mem {2}pre-series .*$/m.test(seen)) firstRowAlone = !seen.includes('dev  tail-reuse-pmd') && !seen.includes('gup_test -m');
    });
    const status = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    expect(status).toBe(0);
    expect(firstRowAlone).toBe(true);
    expect(seen).toContain('invariants: ');
  }, 120_000);

  it('measures every align, map and generation and gup_test per GUP generation (--quick --json)', () => {
    const r = daxsim(scratch(), ['--quick', '--json']);
    expect(r.status).toBe(0);
    const j = r.json();
    // every generation (shared-tail too) x map x align, but tail-reuse-pmd only at 1G (patch 14 changes nothing else)
    const rows = ALL_VMEMMAP_GENERATIONS.length * 2 * 3 - 2 * 2;
    expect(j.memmap).toHaveLength(rows);
    const row = (align: number, map: string, generation: string) =>
      j.memmap.find((x: { align: number; map: string; generation: string }) => x.align === align && x.map === map && x.generation === generation);
    const t2 = row(2 * SZ_1M, 'mem', 'tail-reuse');
    expect(t2.struct_pages_initialised / (t2.namespace_size / (2 * SZ_1M))).toBe(128);
    expect(t2.vmemmap_data_bytes).toBe((t2.namespace_size / (2 * SZ_1M)) * 2 * 4096);
    // per TiB: the planner at exactly 1 TiB on the same machine (QEMU pc: 64 GiB of RAM ends at 65 GiB), not the 16 GiB row scaled
    const plan = planMemmap({ arch: X86_64, size: 2 ** 40, align: 2 * SZ_1M, map: 'mem', generation: 'tail-reuse', start: 65 * SZ_1G, ram: [{ start: 0, size: 3 * SZ_1G }, { start: 4 * SZ_1G, size: 61 * SZ_1G }] });
    expect(t2.plan_tib_ram_bytes).toBe(plan.vmemmap_data_bytes + plan.vmemmap_pagetable_bytes);
    expect(t2.plan_tib_data_bytes).toBe(4 * SZ_1G);
    expect(row(2 * SZ_1M, 'mem', 'pre-series').vmemmap_data_bytes).toBe((16 * SZ_1G) / 64);
    expect(row(SZ_1G, 'dev', 'tail-reuse').vmemmap_data_bytes).toBe(0);
    const pmd = row(SZ_1G, 'mem', 'tail-reuse-pmd');
    const pte = row(SZ_1G, 'mem', 'tail-reuse');
    expect(pmd.vmemmap_pagetable_bytes).toBeLessThan(pte.vmemmap_pagetable_bytes);
    // 3 devmap generations x 2 maps x -u/-a on the letter's kernel, and 7.3's folio GUP (-u/-a, mem)
    expect(j.gup).toHaveLength(14);
    const g = (test: string, map: string, gen: string) =>
      j.gup.find((x: { test: string; map: string; generation: string }) => x.test === test && x.map === map && x.generation === gen);
    // 4096 MB in calls of 512 pages
    expect(g('GUP_FAST_BENCHMARK', 'mem', 'folio').get_atomics_per_loop).toBe(2048); // one try_grab_folio_fast per 2 MiB folio
    expect(g('PIN_FAST_BENCHMARK', 'mem', 'folio')).toMatchObject({ get_atomics_per_loop: 4096, put_atomics_per_loop: 4096 });
    expect(g('GUP_FAST_BENCHMARK', 'mem', 'per-page').get_atomics_per_loop).toBe(1048576);
    expect(g('GUP_FAST_BENCHMARK', 'mem', 'head-once').get_atomics_per_loop).toBe(2048);
    // grab-first as the review sketched it: one reference on the head, compound_order under it, npages - 1 more (x2 for a pin)
    expect(g('GUP_FAST_BENCHMARK', 'mem', 'grab-first').get_atomics_per_loop).toBe(4096);
    expect(g('PIN_FAST_BENCHMARK', 'dev', 'grab-first').get_atomics_per_loop).toBe(8192);
    // the letter's "before" on 5.15's base struct pages, the rest on the series' memmap
    expect(g('GUP_FAST_BENCHMARK', 'mem', 'per-page').memmap).toBe('pre-series');
    expect(g('GUP_FAST_BENCHMARK', 'dev', 'head-once').memmap).toBe('tail-reuse');
    // modelled times follow the events: before, every page's struct page dirtied on Optane bounds the loop
    expect(g('GUP_FAST_BENCHMARK', 'dev', 'per-page').get_ms_median).toBeGreaterThan(4 * g('GUP_FAST_BENCHMARK', 'mem', 'per-page').get_ms_median);
    expect(g('GUP_FAST_BENCHMARK', 'mem', 'head-once').get_ms_median).toBeLessThan(g('GUP_FAST_BENCHMARK', 'mem', 'per-page').get_ms_median / 5);
    expect(g('PIN_FAST_BENCHMARK', 'mem', 'per-page').get_ms_median).toBeGreaterThan(g('GUP_FAST_BENCHMARK', 'mem', 'per-page').get_ms_median);
    // the machine passed its invariant sweeps after every namespace and after gup_test
    // shared-tail beside them: one vmemmap page per 2M compound page plus the zone's shared tail, 64 struct pages written per compound page
    const s2 = row(2 * SZ_1M, 'mem', 'shared-tail');
    expect(s2.vmemmap_data_bytes).toBe((s2.namespace_size / (2 * SZ_1M) + 1) * 4096);
    expect(s2.struct_pages_initialised / (s2.namespace_size / (2 * SZ_1M))).toBe(64);
    expect(s2.plan_tib_data_bytes).toBe(2 * SZ_1G + 4096);
    expect(row(SZ_1G, 'mem', 'shared-tail').plan_tib_data_bytes).toBe(4 * SZ_1M + 4096);
    expect(j.invariants).toMatchObject({ cheap: rows, full: 6, violations: [] }); // the time model's sweeps, and 7.3's machine
  });
});

describe('machine', () => {
  it('creates, persists and shows a machine', () => {
    const dir = scratch();
    const c = daxsim(dir, ['machine', 'create', '--ram', '8G', '--ram', '8G', '--pmem', '16G', '--soft-reserved', '4G']);
    expect(c.status).toBe(0);
    const s = daxsim(dir, ['machine', 'show', '--json']).json();
    expect(s.config).toEqual({ arch: 'x86_64', ram: [8 * SZ_1G, 8 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: false }], softReserved: [4 * SZ_1G] });
    expect(daxsim(dir, ['machine', 'create', '--pmem', '1G']).status).toBe(256 - 17); // another machine: EEXIST without --force
    // the same machine again (a script run twice): left as it is, exit 0
    const again = daxsim(dir, ['machine', 'create', '--ram', '8G', '--ram', '8G', '--pmem', '16G', '--soft-reserved', '4G']);
    expect([again.status, again.stderr]).toEqual([0, expect.stringContaining('already holds this machine')]);
    expect(daxsim(dir, ['machine', 'show', '--json']).json().config).toEqual(s.config);
  });
  it('refuses bad options as usage errors (129) and leaves no state behind', () => {
    const dir = scratch();
    for (const args of [['--arch', 'sparc'], ['--ram', '12Q'], ['--generation', 'new']]) {
      const r = daxsim(dir, ['machine', 'create', ...args]);
      expect(r.status, args.join(' ')).toBe(129);
      expect(r.stderr).toMatch(/arch|ram|generation/);
    }
    expect(daxsim(dir, ['machine', 'show', '--json']).json().saved).toBe(false);
  });
  it('refuses a region that is not a multiple of 1G with EINVAL', () => {
    const r = daxsim(scratch(), ['machine', 'create', '--pmem', '100M']);
    expect(r.status).toBe(256 - 22);
    expect(r.stderr).toContain('--pmem');
  });
});

describe('the kernel axis (--kernel)', () => {
  it('machine create --kernel 7.3 --ram 8G --pmem 16G: the dax sizes and vmemmap RAM measured on 7.3-rc7 (-M mem), 5-level paging', () => {
    const measured = { '2M': { size: 17_177_772_032, ram: 67_633_152 }, '1G': { size: 16_106_127_360, ram: 655_360 } };
    for (const [align, want] of Object.entries(measured)) {
      const dir = scratch();
      expect(daxsim(dir, ['machine', 'create', '--kernel', '7.3', '--ram', '8G', '--pmem', '16G']).status).toBe(0);
      // the figures are of --map=mem (ndctl's default is dev: the struct pages then live on the namespace)
      const ns = daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', align, '-M', 'mem']);
      expect(ns.status, ns.stderr).toBe(0);
      const dev = ns.json().daxregion.devices[0];
      const stat = daxsim(dir, ['stat', '--json']).json().devices[0];
      expect({ size: dev.size, ram: stat.vmemmap_data_bytes + stat.vmemmap_pagetable_bytes, arch: stat.arch }).toEqual({ ...want, arch: 'x86_64-la57' });
    }
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--kernel', '7.3', '--no-cpu-la57', '--generation', 'shared-tail', '--pmem', '16G']);
    const show = daxsim(dir, ['machine', 'show']).stdout;
    expect(show).toContain('kernel: 7.3');
    expect(show).toContain('vmemmap generation: shared-tail (--generation)');
    expect(show).toMatch(/paging: 4-level, CPU without LA57/);
    expect(daxsim(dir, ['machine', 'show', '--json']).json().config).toMatchObject({ kernel: '7.3', cpuLa57: false, generation: 'shared-tail' });
  });

  it('refuses a release it does not know and a proposal named as a kernel (129), and --cpu-la57 on an arch that is not x86-64', () => {
    const dir = scratch();
    for (const args of [['--kernel', '4.19'], ['--kernel', 'shared-tail'], ['--vmemmap-optimize-rule', 'always'], ['--ppc64-mmu', 'book3e']]) {
      const r = daxsim(dir, ['machine', 'create', ...args]);
      expect(r.status, args.join(' ')).toBe(129);
      expect(r.stderr).toContain(args[0]);
    }
    expect(daxsim(dir, ['machine', 'create', '--arch', 'arm64-4k', '--cpu-la57']).status).toBe(256 - 22);
    expect(daxsim(dir, ['machine', 'create', '--ppc64-mmu', 'hash']).status).toBe(256 - 22); // not a ppc64 machine
    expect(daxsim(dir, ['machine', 'show', '--json']).json().saved).toBe(false);
  });

  it('plan --kernel 5.15,5.19 --kernel 7.3: configurations side by side; --generation shared-tail plans the proposal', () => {
    const rows = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M', '--map', 'mem', '--kernel', '5.15,5.19', '--kernel', '7.3', '--json']).json();
    expect(rows.map((r: { kernel: string; arch: string; generation: string; vmemmap_optimize_rule: string }) => [r.kernel, r.arch, r.generation, r.vmemmap_optimize_rule])).toEqual([
      // every release pages 5-level on the default (LA57) CPU: Debian builds them with CONFIG_X86_5LEVEL=y
      ['5.15', 'x86_64-la57', 'pre-series', 'seed'],
      ['5.19', 'x86_64-la57', 'tail-reuse', 'seed'],
      ['7.3', 'x86_64-la57', 'tail-reuse', 'reserve-nr'],
    ]);
    expect(rows.map((r: { vmemmap_data_bytes: number }) => r.vmemmap_data_bytes)).toEqual([16 * SZ_1G, 4 * SZ_1G, 4 * SZ_1G]);
    // Done when: 2 GiB of head vmemmap pages per TiB at 2M plus only the shared tail page; 4 MiB at 1G plus the shared tail
    const st = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M,1G', '--map', 'mem', '--generation', 'shared-tail', '--json']).json();
    expect(st.map((r: { vmemmap_data_bytes: number }) => r.vmemmap_data_bytes)).toEqual([2 * SZ_1G + 4096, 4 * SZ_1M + 4096]);
    // ppc64-64k at 2M: 5.19's rule would overrun compound_nr_pages() (a refused row); 6.6's keeps every struct page
    const ppc = daxsim(scratch(), ['plan', '--size', '1T', '--arch', 'ppc64-64k', '--align', '2M', '--map', 'mem', '--kernel', '5.19,6.6', '--json']).json();
    expect(ppc[0]).toMatchObject({ kernel: '5.19', errno: 'EOPNOTSUPP' });
    expect(ppc[1]).toMatchObject({ kernel: '6.6', struct_pages_initialised: 2 ** 40 / 65536 });
    expect(daxsim(scratch(), ['plan', '--size', '1T', '--kernel', '7.3,8.0']).status).toBe(129);
    expect(daxsim(scratch(), ['plan', '--size', '1T', '--cpu-la57']).status).toBe(129);
  });
});

describe('ndctl', () => {
  it('creates a devdax namespace with ndctl JSON and lists it across invocations', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '8G:labels']);
    const r = daxsim(dir, ['ndctl', 'create-namespace', '-m', 'devdax', '-a', '2M', '-M', 'mem', '-s', '4G']);
    expect(r.status).toBe(0);
    const ns = r.json();
    expect(ns).toMatchObject({ dev: 'namespace0.0', mode: 'devdax', map: 'mem', align: 2 * SZ_1M, size: 4 * SZ_1G - 2 * SZ_1M });
    expect(ns.daxregion.devices[0]).toMatchObject({ chardev: 'dax0.0', size: 4 * SZ_1G - 2 * SZ_1M, align: 2 * SZ_1M, mode: 'devdax' });
    expect(Object.keys(ns)).toEqual(['dev', 'mode', 'map', 'size', 'uuid', 'daxregion', 'align']);
    // regions and namespaces asked for: ndctl prints an object keyed by kind, the namespaces nested (ndctl-ref: -R -v)
    const list = daxsim(dir, ['ndctl', 'list', '-R', '-N']).json().regions;
    expect(list[0]).toMatchObject({ dev: 'region0', size: 8 * SZ_1G, available_size: 4 * SZ_1G, type: 'pmem' });
    expect(list[0].namespaces[0]).toMatchObject({ dev: 'namespace0.0', chardev: 'dax0.0' });
    // the same uuid after a replay
    expect(daxsim(dir, ['ndctl', 'list']).json()[0].uuid).toBe(ns.uuid);
  });

  it('reserves the struct pages on the device with --map=dev as nd_pfn_init does', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '16G']);
    const ns = daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'dev']).json();
    // 16 GiB: 8 KiB info block + 64 bytes per page, rounded up to 2 MiB = 258 MiB before the data
    expect(ns.size).toBe(16 * SZ_1G - 258 * SZ_1M);
    const stat = daxsim(dir, ['stat', '--json']).json();
    expect(stat.devices[0]).toMatchObject({ device: 'dax0.0', map: 'dev', vmemmap_data_bytes: 0, device_reserved_bytes: 256 * SZ_1M });
  });

  it('gives ndctl errors and exit statuses and changes nothing', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G:labels']);
    const state = () => readFileSync(join(dir, 'daxsim-machine.json'), 'utf8');
    const before = state();
    const cases: [string[], number, RegExp][] = [
      [['-m', 'devdax', '-a', '3M'], 129, /align must be a power-of-2/],
      // error() (not err()) then no namespace named: cmd_create_namespace() returns -ENODEV (ndctl v81 ndctl/namespace.c)
      [['-m', 'devdax', '-a', '8K'], 256 - 19, /  Error: unsupported align: 8K\n\nfailed to create namespace: No such device or address/],
      [['-m', 'bogus'], 129, /invalid mode 'bogus'/],
      [['-m', 'raw', '-M', 'dev'], 129, /--map only valid for an devdax mode pmem namespace/],
      // err(): err_count, so no "failed to create" line and the errno as it is (EINVAL; measured: ndctl-ref flow 3 row 24)
      [['-m', 'devdax', '-s', '100M'], 256 - 22, /^  Error: create namespace: region0: align setting is 0x1000000 size 0x6400000 is misaligned\n\n$/],
      [['-m', 'devdax', '-a', '1G', '-s', '1536M'], 256 - 22, /^  Error: create namespace: '--size=' must align to interleave-width: 1 and alignment: 1073741824\ndid you intend --size=2048M\?\n\n$/],
      [['-m', 'devdax', '-s', '64G'], 256 - 19, /failed to create namespace: No space left on device/],
      [['-m', 'devdax', '-s', 'lots'], 129, /failed to parse namespace size 'lots'/],
    ];
    for (const [args, status, msg] of cases) {
      const r = daxsim(dir, ['ndctl', 'create-namespace', ...args]);
      expect(r.status, args.join(' ')).toBe(status);
      expect(r.stderr, args.join(' ')).toMatch(msg);
    }
    expect(state()).toBe(before);
  });

  it('gives each devdax namespace of a region its own device: dax0.0, dax0.1', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '8G:labels']);
    for (const n of [0, 1]) {
      const ns = daxsim(dir, ['ndctl', 'create-namespace', '-m', 'devdax', '-M', 'mem', '-s', '2G']).json();
      expect(ns.dev).toBe(`namespace0.${n}`);
      expect(ns.daxregion).toMatchObject({ id: 0, devices: [{ chardev: `dax0.${n}` }] });
    }
    expect(daxsim(dir, ['daxctl', 'list']).json().map((d: { chardev: string }) => d.chardev)).toEqual(['dax0.0', 'dax0.1']);
    expect(daxsim(dir, ['ndctl', 'destroy-namespace', '-f', 'namespace0.0']).status).toBe(0);
    expect(daxsim(dir, ['daxctl', 'list']).json().map((d: { chardev: string }) => d.chardev)).toEqual(['dax0.1']);
  });

  it('reconfigures (-e -f) and destroys namespaces', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G:labels']);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-m', 'fsdax', '-s', '2G']).status).toBe(0);
    const busy = daxsim(dir, ['ndctl', 'create-namespace', '-m', 'devdax', '-e', 'namespace0.0']);
    expect(busy.status).toBe(256 - 16);
    expect(busy.stderr).toContain('is active, specify --force');
    const r = daxsim(dir, ['ndctl', 'create-namespace', '-m', 'devdax', '-e', 'namespace0.0', '-f']).json();
    expect(r).toMatchObject({ dev: 'namespace0.0', mode: 'devdax' });
    expect(daxsim(dir, ['ndctl', 'destroy-namespace', 'namespace0.0']).status).toBe(256 - 16);
    const d = daxsim(dir, ['ndctl', 'destroy-namespace', 'namespace0.0', '-f']);
    expect(d.status).toBe(0);
    expect(d.stderr).toContain('destroyed 1 namespace');
    expect(daxsim(dir, ['ndctl', 'list']).stdout).toBe('');
  });
});

describe('daxctl (modelled on ndctl test/daxctl-create.sh)', () => {
  const setup = () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--soft-reserved', '8G']);
    expect(daxsim(dir, ['daxctl', 'disable-device', 'dax0.0']).status).toBe(0);
    expect(daxsim(dir, ['daxctl', 'reconfigure-device', '-s', '0', 'dax0.0']).status).toBe(0);
    return dir;
  };

  it('shrinks dax0.0 to zero and gives the space back to the region', () => {
    const dir = setup();
    const region = daxsim(dir, ['daxctl', 'list', '-r', '0']).json()[0];
    expect(region).toMatchObject({ path: '/platform/hmem.0', id: 0, size: 8 * SZ_1G, available_size: 8 * SZ_1G, align: 2 * SZ_1M });
    const c = daxsim(dir, ['daxctl', 'create-device', '-r', '0']);
    expect(c.status).toBe(0);
    expect(c.stderr).toContain('created 1 device');
    expect(c.json()[0]).toMatchObject({ chardev: 'dax0.1', size: 8 * SZ_1G });
    expect(daxsim(dir, ['daxctl', 'list', '-r', '0']).json()[0].available_size).toBeUndefined();
  });

  it('grows a device into a hole: two mappings, page offsets preserved; --input reproduces it', () => {
    const dir = setup();
    for (let i = 0; i < 3; i++) expect(daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '2G']).status).toBe(0);
    const d = daxsim(dir, ['daxctl', 'destroy-device', 'dax0.1']);
    expect(d.status).toBe(256 - 6); // active: --force needed (-ENXIO)
    expect(d.stderr).toContain('dax0.1 is active, specify --force for deletion');
    expect(daxsim(dir, ['daxctl', 'destroy-device', '-f', 'dax0.1']).stderr).toContain('destroyed 1 device');
    const c = daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '4G']).json()[0];
    expect(c.chardev).toBe('dax0.1');
    const dev = daxsim(dir, ['daxctl', 'list', '-d', 'dax0.1', '-M']).json()[0];
    expect(dev.mappings).toHaveLength(2);
    expect(dev.mappings.reduce((s: number, m: { size: number }) => s + m.size, 0)).toBe(4 * SZ_1G);
    const offsets = dev.mappings.map((m: { page_offset: number }) => m.page_offset).sort((a: number, b: number) => a - b);
    expect(offsets).toEqual([0, (2 * SZ_1G) / 4096]);
    // dump it, destroy it, recreate it from the dump: the same mappings
    writeFileSync(join(dir, 'input.json'), JSON.stringify(dev));
    expect(daxsim(dir, ['daxctl', 'destroy-device', '-f', 'dax0.1']).status).toBe(0);
    const again = daxsim(dir, ['daxctl', 'create-device', '--input', 'input.json']);
    expect(again.status).toBe(0);
    expect(daxsim(dir, ['daxctl', 'list', '-d', 'dax0.1', '-M']).json()[0].mappings).toEqual(dev.mappings);
  });

  it('gives daxctl errors and exit statuses', () => {
    const dir = setup();
    expect(daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '1536M', '-a', '1G']).status).toBe(256 - 6); // size not a multiple of 1G
    expect(daxsim(dir, ['daxctl', 'list', '-i', '-d', 'dax0.1']).json()[0]).toMatchObject({ chardev: 'dax0.1', size: 0 }); // the seed is left behind, as daxctl leaves it
    const busy = daxsim(dir, ['daxctl', 'destroy-device', '-f', 'dax0.0']);
    expect(busy.status).toBe(256 - 16);
    expect(busy.stderr).toContain('error destroying devices: Device or resource busy');
    expect(daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '16G']).status).toBe(256 - 6);
    expect(daxsim(dir, ['daxctl', 'reconfigure-device', 'dax0.0']).status).toBe(129);
    expect(daxsim(dir, ['daxctl', 'destroy-device']).status).toBe(129);
    expect(daxsim(dir, ['daxctl', 'enable-device', 'dax9.9']).status).toBe(256 - 6);
    expect(daxsim(dir, ['daxctl', 'list', '--bogus']).status).toBe(129);
    // the next create sizes the seed dax0.1 (and leaves a new seed dax0.2), as daxctl does
    const c = daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '2G']);
    expect(c.json()[0]).toMatchObject({ chardev: 'dax0.1', size: 2 * SZ_1G });
    // reconfigure while enabled: the kernel's -EBUSY, reported by libdaxctl as -ENXIO
    const r = daxsim(dir, ['daxctl', 'reconfigure-device', '-s', '4G', 'dax0.1']);
    expect(r.status).toBe(256 - 6);
    expect(r.stderr).toMatch(/failed to set size .*EBUSY/);
  });

  it('prints human sizes with -u and a bare object for one result', () => {
    const dir = setup();
    daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '2G']);
    const r = daxsim(dir, ['daxctl', 'list', '-u', '-d', 'dax0.1']).json();
    expect(r).toMatchObject({ chardev: 'dax0.1', size: '2.00 GiB (2.15 GB)' });
  });
});

describe('gup-test, poison, layout, dmesg, stat, plan, run', () => {
  const withDevice = (align = '2M') => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G']);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-M', 'mem', '-a', align]).status).toBe(0);
    return dir;
  };

  it('runs gup_test with the selftest TAP output', () => {
    const dir = withDevice();
    const r = daxsim(dir, ['gup-test', '-f', '/dev/dax0.0', '-m', '64', '-r', '2', '-n', '512', '-w', '-S', '-a']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^TAP version 13\n1\.\.1\n/);
    expect(r.stdout).toMatch(/# PIN_FAST_BENCHMARK: Time: get:\d+ put:\d+ us/);
    expect(r.stdout).toContain('ok 1 ioctl status 0');
    expect(r.stdout).toContain('# Totals: pass:1 fail:0');
    expect(daxsim(dir, ['gup-test', '-m', '64']).status).toBe(129);
    expect(daxsim(dir, ['gup-test', '--gup=sideways', '-f', '/dev/dax0.0']).status).toBe(129);
  });

  it("gup_test killed in its prefault names the signal, si_addr, the device offset and the failing fault's kernel lines; a poisoned page does not kill it (a store consumes no poison)", () => {
    const dir = withDevice();
    // 8 GiB mapped over a 4 GiB device: the store past its end faults with VM_FAULT_SIGBUS
    const r = daxsim(dir, ['gup-test', '-f', '/dev/dax0.0', '-m', '8192', '-S', '-a', '-n', '512']);
    expect(r.status).toBe(128 + 7);
    expect(r.stderr).toMatch(
      /^gup_test: killed by SIGBUS \(BUS_ADRERR\) at 0x7f00ffe00000: its store to offset 0xffe00000 of \/dev\/dax0\.0 \(past the 4292870144 bytes of dax0\.0: dax_pgoff_to_phys\(\) finds no range, VM_FAULT_SIGBUS\)\n/,
    );
    expect(r.stderr).toMatch(/\nkernel: \[ *\d+\.\d{6}\] device_dax dax0\.0: pgoff_to_phys\(0xffe00\) failed\n?$/);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('kernel: '))).toHaveLength(2);
    // poison-ref: after MADV_HWPOISON or a media error, stores to the poisoned page succeed on 6.1 and 7.3
    expect(daxsim(dir, ['poison', 'dax0.0', '--offset', '3M']).status).toBe(0);
    const ok = daxsim(dir, ['gup-test', '-f', '/dev/dax0.0', '-m', '64', '-S', '-a', '-n', '512']);
    expect([ok.status, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toContain('ok 1 ioctl status 0');
  });

  it('poisons the media at a byte: it stays bad across commands, and the process that later reads it gets BUS_MCEERR_AR for the whole 2 MiB', () => {
    const dir = withDevice();
    // no process maps the unit: memory_failure() finds no mapping ("Failed"), the location stays bad
    const r = daxsim(dir, ['poison', 'dax0.0', '--offset', '3M']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('recovery action for dax page: Failed');
    expect(daxsim(dir, ['dmesg']).stdout).toContain('Memory failure');
    // a later load of it is a machine check on that access; the rest of the unit reads fine
    writeFileSync(join(dir, 's'), 'spawn p\np mmap m dax0.0 length=4M\np read m 0x200000 1\np read m 0x300000 1\n');
    const s = daxsim(dir, ['run', 's']);
    expect(s.stdout).toMatch(/s:3: p read m 0x200000 1\n  read: /);
    expect(s.stdout).toMatch(/s:4: p read m 0x300000 1\n(.*\n)*?  p: SIGBUS BUS_MCEERR_AR addr=0x[0-9a-f]*200000 addr_lsb=21/);
    expect(daxsim(dir, ['poison', 'dax0.0', '--offset', '64G']).status).toBe(256 - 22);
    expect(daxsim(dir, ['poison', 'dax0.0']).status).toBe(129);
  });

  it('draws the vmemmap of a 1G device: one head frame and one shared tail frame', () => {
    const dir = withDevice('1G');
    const r = daxsim(dir, ['layout', 'dax0.0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/page 1 .*shared by \d+ vmemmap pages/);
    expect(r.stdout).toContain('vmemmap pages 2..4095 (4094)');
    expect(daxsim(dir, ['layout', 'dax7.0']).status).toBe(256 - 6);
  });

  it("numbers layout pages from the device's first pfn (after the info block), and draws a pre-series 2 MiB extent on its PMD-mapped vmemmap", () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G', '--generation', 'pre-series']);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-M', 'mem', '-a', '2M']).status).toBe(0);
    const r = daxsim(dir, ['layout', 'dax0.0']);
    expect(r.status, r.stderr).toBe(0);
    // dax0.0 starts at 0x140200000 (the pmem at 0x140000000, then the 2 MiB of info block and padding), as the real kernel's
    expect(r.stdout).toContain('dax0.0: 2 MiB extent 0 of 2047, in base pages (order 0), struct pages of pfns 0x140200-0x1403ff');
    expect(r.stdout).toContain("page 0 is the device's first pfn 0x140200; its pgmap's memmap starts 512 pfns earlier, at 0x140000");
    expect(r.stdout).toMatch(/vmemmap PMD-mapped: these vmemmap pages lie in 2 MiB blocks mapped by pmd entries/);
    expect(r.stdout.match(/page \d ─────▶ pfn 0x[0-9a-f]+ \[pmd\] {2}base pages/g)).toHaveLength(8);
    const bad = daxsim(dir, ['layout', 'dax0.0', '--page', '2047']);
    expect(bad.status).toBe(256 - 22);
    expect(bad.stderr).toContain('page 2047 is not a 2M extent of dax0.0 (0..2046');
  });

  it("draws shared-tail as vmemmap_dedup.rst v7 does: page 0 its own, pages 1-7 on the zone's read-only shared tail", () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G', '--generation', 'shared-tail']);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-M', 'mem', '-a', '2M']).status).toBe(0);
    const r = daxsim(dir, ['layout', 'dax0.0', '--page', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/page 0 ─────▶ pfn 0x[0-9a-f]+ {2}head page \+ tails\n/);
    expect(r.stdout).toMatch(/page 1 ─────▶ pfn 0x[0-9a-f]+ {2}tail pages {2}◀ the zone's shared tail \(node 0, order 9\), read-only: shared by 14336 vmemmap pages/);
    expect(r.stdout).toContain('vmemmap pages 2..7 (6) ──┘ same frame');
    expect(r.stdout).toContain('1 frames are shared, by 14336 vmemmap pages');
  });

  it('reports stat --json fields per device, measured', () => {
    const dir = withDevice();
    const s = daxsim(dir, ['stat', '--json']).json();
    expect(s.devices).toHaveLength(1);
    // 4 GiB namespace, 2M compound pages in RAM with tail reuse: 2 frames per compound page
    expect(s.devices[0]).toMatchObject({ arch: 'x86_64-la57', align: 2 * SZ_1M, map: 'mem', generation: 'tail-reuse', vmemmap_data_bytes: 2048 * 2 * 4096, struct_pages_initialised: 2048 * 128 });
    for (const f of ['vmemmap_data_bytes', 'vmemmap_pagetable_bytes', 'device_reserved_bytes', 'struct_pages_initialised']) expect(Number.isInteger(s.devices[0][f])).toBe(true);
  });

  it("prints the modelled kernel's time (stat, dmesg, gup_test) on the machine's --platform, and the host's with --host-time", () => {
    const dir = scratch();
    expect(daxsim(dir, ['machine', 'create', '--kernel', '5.15', '--platform', 'cascadelake-optane', '--ram', '4G', '--pmem', '4G']).status).toBe(0);
    expect(daxsim(dir, ['machine', 'show']).stdout).toMatch(/platform: cascadelake-optane: 2nd-gen Xeon Scalable/);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-M', 'mem', '-a', '2M']).status).toBe(0);
    // 5.15's base struct pages: 1048576 of them, each a calibrated init (4.6 ns) plus its line read for ownership: ~10 ms
    // (the seed's 128G: 268-358 ms, a 32nd of it is 8-11 ms)
    const init = Number(/memmap_init_zone_device initialised 1048576 pages in (\d+)ms/.exec(daxsim(dir, ['dmesg']).stdout)![1]);
    expect(init).toBeGreaterThanOrEqual(8);
    expect(init).toBeLessThanOrEqual(12);
    expect(daxsim(dir, ['dmesg', '--host-time']).stdout).toMatch(/memmap_init_zone_device initialised \d+ pages in \d+ms/);
    const s = daxsim(dir, ['stat', '--json']).json();
    expect(s.modelled_time).toMatchObject({ platform: 'cascadelake-optane', bound: 'cpu' });
    expect(s.modelled_time.ms).toBeGreaterThanOrEqual(init);
    expect(daxsim(dir, ['stat']).stdout).toMatch(/modelled kernel time of the events counted since boot on cascadelake-optane: [\d.]+ ms, bound by cpu/);
    // the same gup_test twice prints the same modelled time; 1 GiB per-page: 262144 atomics and 512 calls, a 16th of the seed's 59 ms
    const get = (args: string[]) => /Time: get:(\d+) put:(\d+) us/.exec(daxsim(dir, ['gup-test', ...args, '-f', '/dev/dax0.0', '-m', '1024', '-r', '1', '-n', '512', '-w', '-S', '-u']).stdout)!.slice(1).map(Number);
    const [g1, p1] = get([]);
    expect(get([])).toEqual([g1, p1]);
    expect(g1).toBeGreaterThan(3000);
    expect(g1).toBeLessThan(4500);
    expect(get(['--host-time'])[0]).toBeGreaterThanOrEqual(0);
    expect(daxsim(scratch(), ['machine', 'create', '--platform', 'pdp-11']).status).toBe(129);
  });

  it('plans in JSON with the documented fields', () => {
    const r = daxsim(scratch(), ['plan', '--size', '1T', '--align', '2M,1G', '--map', 'mem', '--generation', 'pre-series,tail-reuse', '--json']);
    expect(r.status).toBe(0);
    const rows = r.json();
    expect(rows).toHaveLength(4);
    expect(rows[1]).toMatchObject({ arch: 'x86_64', size: 2 ** 40, align: 2 * SZ_1M, map: 'mem', generation: 'tail-reuse', vmemmap_data_bytes: 4 * SZ_1G });
    expect(daxsim(scratch(), ['plan', '--size', '1T', '--align', '3Q']).status).toBe(129);
    // the same device hot-added as System RAM by dax_kmem: 64 bytes per 4 KiB page, in RAM or (memmap_on_memory) on the device
    const ram = daxsim(scratch(), ['plan', '--mode', 'system-ram', '--size', '1T', '--json']);
    expect(ram.status, ram.stderr).toBe(0);
    expect(JSON.stringify(ram.json())).toContain(String(16 * SZ_1G));
    expect(daxsim(scratch(), ['plan', '--mode', 'sideways', '--size', '1T']).status).toBe(129);
    expect(daxsim(scratch(), ['plan', '--size', '1T', '--align', '3M']).status).toBe(256 - 22);
    expect(daxsim(scratch(), ['plan', '--size', '1T', '--arch', 'arm64-4k', '--align', '1G']).status).toBe(256 - 22);
  });
});

describe('run', () => {
  it('runs a workload: shared data, pins that keep a device bound, poison signals to every mapper', () => {
    const dir = scratch();
    writeFileSync(
      join(dir, 'w'),
      [
        'machine --ram 4G --soft-reserved 2G',
        'daxctl disable-device dax0.0',
        'daxctl reconfigure-device -s 0 dax0.0',
        'daxctl create-device -r 0 -s 1G -a 2M',
        'spawn a',
        'spawn b',
        'sysctl vm.memory_failure_early_kill 1',
        'a mmap m dax0.1 length=8M',
        'b mmap m dax0.1 length=8M',
        'a write m 0x1000 hello',
        'b read m 0x1000 5',
        'a pin m 0 4M',
        'daxctl disable-device dax0.1',
        'a unpin',
        'b poison m 0x200000',
        'a touch m 0x200000',
        'a exit',
        'b exit',
        'daxctl disable-device dax0.1',
      ].join('\n'),
    );
    const r = daxsim(dir, ['run', 'w']);
    expect(r.status).toBe(0);
    const lines = r.stdout;
    expect(lines).toContain('read: "hello"');
    expect(lines).toContain('pinned 1024 of 1024 pages');
    expect(lines).toMatch(/w:13: daxctl disable-device dax0.1\n.*still pinned[^\n]*\n.*\n.*\n  exit status 240/);
    expect(lines).toContain('a: SIGBUS BUS_MCEERR_AO addr=0x7f0000200000 addr_lsb=21');
    expect(lines).toContain('b: SIGBUS BUS_MCEERR_AR addr=0x7f0000200000 addr_lsb=21');
    // the poisoned folio faults straight back in: device-dax's fault path never looks at PG_hwpoison (6.1 and 7.3 measured)
    expect(lines).toMatch(/w:16: a touch m 0x200000\n  faults: 1 pmd[^\n]*\nw:17: a exit/);
    expect(lines).toContain('done, 1 command refused');
    // the file held no machine: the one the scenario made is saved, its processes gone
    const saved = daxsim(dir, ['machine', 'show', '--json']).json();
    expect([saved.saved, saved.config.softReserved]).toEqual([true, [2 * SZ_1G]]);
    // a scenario that makes its own machine beside a saved one leaves the file as it was
    const before = readFileSync(join(dir, 'daxsim-machine.json'), 'utf8');
    const again = daxsim(dir, ['run', 'w']);
    expect([again.status, again.stderr]).toEqual([0, expect.stringContaining('left as it was')]);
    expect(readFileSync(join(dir, 'daxsim-machine.json'), 'utf8')).toBe(before);
  });

  it("selects the seed's dax_set_mapping (ALIGN up) and shows the bug the 2024 fix removed", () => {
    const dir = scratch();
    const script = (smi: string) =>
      [`machine --ram 4G --soft-reserved 2G ${smi}`, 'spawn p', 'p mmap m dax0.0 length=8M', 'p touch m 0x201000', 'p poison m 0x201000', 'p touch m 0x201000'].join('\n');
    writeFileSync(join(dir, 'fixed'), script(''));
    writeFileSync(join(dir, 'seed'), script('--set-mapping-index align-up'));
    // a scenario's machine line names the kernel: 5.19 had the seed's ALIGN(), 7.3 has the fix
    writeFileSync(join(dir, 'k5.19'), script('--kernel 5.19'));
    writeFileSync(join(dir, 'k7.3'), script('--kernel 7.3'));
    const after = (name: string, as: string) => daxsim(dir, ['run', name]).stdout.replaceAll(`${name}:`, `${as}:`).split('\n').slice(1).join('\n');
    expect(after('k5.19', 'seed')).toBe(after('seed', 'seed'));
    expect(after('k7.3', 'fixed')).toBe(after('fixed', 'fixed'));
    const fixedRun = daxsim(dir, ['run', 'fixed']);
    const seedRun = daxsim(dir, ['run', 'seed']);
    expect([fixedRun.status, seedRun.status]).toEqual([0, 0]);
    const fixed = fixedRun.stdout;
    const seed = seedRun.stdout;
    // the fix: page->index names the unit that was faulted, memory_failure() finds and unmaps it
    expect(fixed).toContain('p: SIGBUS BUS_MCEERR_AR addr=0x7f0000200000 addr_lsb=21');
    expect(fixed).toMatch(/fixed:6: p touch m 0x201000\n  faults: 1 pmd[^\n]*\nfixed: done/); // unmapped, then faulted back in
    // the seed: the index points one unit further on; the consumer is not told and the poisoned unit stays mapped
    expect(seed).not.toContain('BUS_MCEERR_AR');
    expect(seed).not.toContain('BUS_ADRERR');
    // ... yet memory_failure() ran and poisoned the unit, and the next access still reaches it without a fault
    expect(seed).toMatch(/seed:5: p poison m 0x201000\n {2}memory_failure: 1\n( {2}kernel: [^\n]*\n)*seed:6: p touch m 0x201000\nseed: done, 0 commands refused\n$/);
  });

  it('stops at a malformed line with a usage error', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'w'), 'spawn a\na fly m\n');
    const r = daxsim(dir, ['run', 'w']);
    expect(r.status).toBe(129);
    expect(r.stderr).toContain("w:2: unknown command 'a fly'");
  });
});

describe('the state file', () => {
  it('refuses a corrupted, truncated or foreign file and leaves it untouched', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--soft-reserved', '2G']);
    const path = join(dir, 'daxsim-machine.json');
    const good = readFileSync(path, 'utf8');
    for (const bad of [good.slice(0, good.length >> 1), good.replace('"x86_64"', '"x86_65"'), '{"format":"something-else"}', 'hello']) {
      writeFileSync(path, bad);
      const r = daxsim(dir, ['daxctl', 'list']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/not a daxsim machine state|checksum mismatch|not supported/);
      expect(readFileSync(path, 'utf8')).toBe(bad);
    }
  });

  it('compacts the log when a device is created and destroyed again, keeping dmesg and counters', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--soft-reserved', '4G']);
    daxsim(dir, ['daxctl', 'disable-device', 'dax0.0']);
    daxsim(dir, ['daxctl', 'reconfigure-device', '-s', '0', 'dax0.0']);
    const ops = () => daxsim(dir, ['machine', 'show', '--json']).json().ops.length;
    const base = ops();
    for (let i = 0; i < 3; i++) {
      const c = daxsim(dir, ['daxctl', 'create-device', '-r', '0', '-s', '2G']);
      expect(c.status).toBe(0);
      expect(ops()).toBe(base + 3);
      expect(daxsim(dir, ['daxctl', 'destroy-device', '-f', 'dax0.1']).status).toBe(0);
      expect(ops()).toBe(base);
    }
    // what happened is still there: three creations in the kernel log, their page allocations in the counters
    expect(daxsim(dir, ['dmesg']).stdout.match(/dax dax0\.1: alloc range/g)).toHaveLength(3);
    expect(daxsim(dir, ['stat', '--json']).json().counters.pgalloc_vmemmap_data).toBeGreaterThanOrEqual(3 * 1024);
  });

  it('keeps the previous state when a write is killed halfway', () => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--soft-reserved', '2G']);
    daxsim(dir, ['daxctl', 'disable-device', 'dax0.0']);
    const path = join(dir, 'daxsim-machine.json');
    const before = readFileSync(path, 'utf8');
    const r = daxsim(dir, ['daxctl', 'reconfigure-device', '-s', '0', 'dax0.0'], { DAXSIM_TEST_KILL_IN_WRITE: '1' });
    expect(r.status).not.toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(daxsim(dir, ['daxctl', 'list', '-i']).status).toBe(0);
  });

  // with the daemon the client is killed (the daemon's own SIGKILL: daemon.test.ts); with DAXSIM_DAEMON=0 the process that writes
  it.each([
    ['a client of the daemon', {}],
    ['a command in its own process (DAXSIM_DAEMON=0)', { DAXSIM_DAEMON: '0' }],
  ])('stays readable whenever %s is killed (SIGKILL at random moments)', async (_, env: Record<string, string>) => {
    const dir = scratch();
    daxsim(dir, ['machine', 'create', '--ram', '4G', '--soft-reserved', '4G']);
    daxsim(dir, ['daxctl', 'disable-device', 'dax0.0']);
    for (let i = 0; i < 12; i++) {
      const size = i % 2 ? '0' : '2G';
      await new Promise<void>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'daxctl', 'reconfigure-device', '-s', size, 'dax0.0'], { cwd: dir, stdio: 'ignore', env: cliEnv(env) });
        setTimeout(() => child.kill('SIGKILL'), 20 + ((i * 37) % 200));
        child.on('exit', () => resolve());
      });
      expect(daxsim(dir, ['machine', 'show']).status).toBe(0);
    }
  });
});
