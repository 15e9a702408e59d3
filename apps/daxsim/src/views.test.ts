import { Machine } from '@daxsim/machine';
import { SZ_1G } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { main } from './cli.js';
import { BufferOutput, jsonC } from './output.js';

/**
 * Issue 23, in process (one Machine, no state file): the flows of
 * shared/real-kernel/ndctl-ref and kmem-ref on a 4 GiB + 16 GiB 7.3 QEMU
 * pc guest, each answer as ndctl 81, daxctl 81 and the kernel gave it.
 */
const guest = (extra: Record<string, unknown> = {}) =>
  Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: false }], softReserved: [], kernel: '7.3', ...extra });

async function run(m: Machine, line: string) {
  const out = new BufferOutput();
  const rc = await main(line.split(' '), out, {}, m);
  return { rc, stdout: out.stdout, stderr: out.stderr };
}

describe('json-c output', () => {
  it('prints "key":value with two-space indent, / escaped, empty containers bare', () => {
    expect(jsonC([{ dev: 'namespace0.0', size: 1, path: '/a/b', list: [], o: {} }])).toBe(
      '[\n  {\n    "dev":"namespace0.0",\n    "size":1,\n    "path":"\\/a\\/b",\n    "list":[],\n    "o":{}\n  }\n]',
    );
  });

  it('ndctl list prints an array even for one namespace; create-namespace one bare object (ndctl-ref flow 1)', async () => {
    const m = guest();
    const list = await run(m, 'ndctl list');
    expect(list.stdout).toBe(
      '[\n  {\n    "dev":"namespace0.0",\n    "mode":"raw",\n    "size":17179869184,\n    "sector_size":512,\n    "blockdev":"pmem0"\n  }\n]\n',
    );
    const c = await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    expect(c.rc).toBe(0);
    expect(c.stdout.startsWith('{\n  "dev":"namespace0.0",\n  "mode":"devdax",\n  "map":"mem",\n  "size":17177772032,\n')).toBe(true);
  });
});

describe('daxsim cat and ls', () => {
  it('the kmem-ref figures: vmstat 16384 → 65024, boot 16384, block size 8000000, Movable present 4161536, nested iomem', async () => {
    const m = guest({ autoOnline: 'offline' });
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    expect((await run(m, 'cat /proc/vmstat')).stdout).toMatch(/^nr_memmap_pages 16384$/m);
    expect((await run(m, 'daxctl reconfigure-device --mode=system-ram dax0.0')).rc).toBe(0);
    const vm = (await run(m, 'cat /proc/vmstat')).stdout;
    expect(vm).toMatch(/^nr_memmap_pages 65024$/m);
    expect(vm).toMatch(/^nr_memmap_boot_pages 16384$/m);
    expect((await run(m, 'cat /sys/devices/system/memory/block_size_bytes')).stdout).toBe('8000000\n');
    const zi = (await run(m, 'cat /proc/zoneinfo')).stdout;
    expect(zi.slice(zi.indexOf('zone  Movable')).match(/present +(\d+)/)![1]).toBe('4161536');
    expect((await run(m, 'cat /proc/iomem')).stdout).toContain(
      '140000000-53fffffff : Persistent Memory\n  140000000-1401fffff : namespace0.0\n  148000000-53fffffff : dax0.0\n    148000000-53fffffff : System RAM (kmem)\n',
    );
    expect((await run(m, 'dmesg')).stdout).toContain('kmem dax0.0: DAX region truncated by 126 MiB due to alignment');
    expect((await run(m, 'cat /proc/meminfo')).stdout).toMatch(/^MemTotal: +\d+ kB\n/);
  });

  it('a missing path: "No such file or directory", exit 1; a directory: exit 1 "Is a directory"', async () => {
    const m = guest();
    const r = await run(m, 'cat /proc/nosuch');
    expect(r).toEqual({ rc: 1, stdout: '', stderr: 'cat: /proc/nosuch: No such file or directory\n' });
    expect(await run(m, 'cat /sys')).toMatchObject({ rc: 1, stderr: 'cat: /sys: Is a directory\n' });
    expect((await run(m, 'ls /sys/bus/dax/devices/dax0.0')).stderr).toBe("ls: cannot access '/sys/bus/dax/devices/dax0.0': No such file or directory\n");
  });

  it('ls lists a directory in name order; ls -l shows modes and link targets', async () => {
    const m = guest();
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    expect((await run(m, 'ls /proc')).stdout).toBe('iomem\nmeminfo\nvmstat\nzoneinfo\n');
    const l = (await run(m, 'ls -l /sys/bus/dax/devices/dax0.0')).stdout;
    expect(l).toContain('lrwxrwxrwx driver -> /sys/bus/dax/drivers/device_dax\n');
    expect(l).toContain('-rw-r--r-- memmap_on_memory\n');
    expect((await run(m, 'cat /sys/bus/dax/devices/dax0.0/align /sys/bus/dax/devices/dax0.0/target_node')).stdout).toBe('2097152\n0\n');
  });

  it('Linux 6.1 has no dax memmap_on_memory attribute', async () => {
    const m = guest({ kernel: '6.1' });
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    expect((await run(m, 'cat /sys/bus/dax/devices/dax0.0/memmap_on_memory')).rc).toBe(1);
    expect((await run(m, 'cat /sys/bus/dax/devices/dax0.0/align')).stdout).toBe('2097152\n');
  });
});

describe('in-use refusals (ndctl-ref flow 4: system-ram memory online)', () => {
  it('disable-namespace, destroy-namespace [-f] and create-namespace -f -e -m raw exit 240, daxctl disable-/destroy-device 250, and nothing changes; after offline-memory they work', async () => {
    const m = guest({ autoOnline: 'offline' });
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    await run(m, 'daxctl reconfigure-device --mode=system-ram dax0.0');
    const ops = m.ops.length;
    const iomem = (await run(m, 'cat /proc/iomem')).stdout;
    expect(await run(m, 'ndctl disable-namespace namespace0.0')).toEqual({
      rc: 240,
      stdout: '',
      stderr: 'error disabling namespaces: Device or resource busy\ndisabled 0 namespaces\n',
    });
    expect(await run(m, 'ndctl destroy-namespace namespace0.0')).toEqual({
      rc: 240,
      stdout: '',
      stderr: '  Error: namespace0.0 is active, specify --force for re-configuration\n\nerror destroying namespaces: Device or resource busy\ndestroyed 0 namespaces\n',
    });
    expect(await run(m, 'ndctl destroy-namespace -f namespace0.0')).toEqual({
      rc: 240,
      stdout: '',
      stderr: 'error destroying namespaces: Device or resource busy\ndestroyed 0 namespaces\n',
    });
    expect(await run(m, 'ndctl create-namespace -f -e namespace0.0 -m raw')).toEqual({
      rc: 240,
      stdout: '',
      stderr: 'failed to reconfigure namespace: Device or resource busy\n',
    });
    const dd = await run(m, 'daxctl disable-device dax0.0');
    expect(dd.rc).toBe(250);
    expect(dd.stderr).toContain('dax0.0: status operations are only applicable in devdax mode');
    expect((await run(m, 'daxctl destroy-device dax0.0')).rc).toBe(250);
    expect(m.ops.length).toBe(ops);
    expect((await run(m, 'cat /proc/iomem')).stdout).toBe(iomem);
    // offline the memory: disable-namespace removes it (32 blocks again) and disables the namespace
    expect((await run(m, 'daxctl offline-memory dax0.0')).rc).toBe(0);
    expect(await run(m, 'ndctl disable-namespace namespace0.0')).toMatchObject({ rc: 0, stderr: 'disabled 1 namespace\n' });
    expect((await run(m, 'ls /sys/devices/system/memory')).stdout.split('\n').filter((n) => n.startsWith('memory')).length).toBe(32);
  });

  it("reconfigure-device --mode=devdax with memory online: daxctl's rc 240 and lines (with -v its reasons), then daxsim's hint naming offline-memory and -f; nothing changes; each way out works", async () => {
    const m = guest({ autoOnline: 'offline' });
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    await run(m, 'daxctl reconfigure-device --mode=system-ram dax0.0');
    const ops = m.ops.length;
    const meminfo = (await run(m, 'cat /proc/meminfo')).stdout;
    const hint =
      "daxsim: hint: dax0.0 has 127 of 127 memory blocks online: run 'daxctl offline-memory dax0.0' first, or 'daxctl reconfigure-device --mode=devdax -f dax0.0' to offline them as part of it (either fails with EBUSY if a block cannot go offline)\n";
    // kmem-ref results-6.1: rc 240, `error reconfiguring devices: Device or resource busy` / `reconfigured 0 devices`
    expect(await run(m, 'daxctl reconfigure-device --mode=devdax dax0.0')).toEqual({
      rc: 240,
      stdout: '',
      stderr: `error reconfiguring devices: Device or resource busy\nreconfigured 0 devices\n${hint}`,
    });
    // disable_system_ram_device() with param.verbose (daxctl/device.c, v81)
    expect((await run(m, 'daxctl reconfigure-device --mode=devdax -v dax0.0')).stderr).toBe(
      `dax0.0: found 127 memory sections online\ndax0.0: refusing to change modes\nerror reconfiguring devices: Device or resource busy\nreconfigured 0 devices\n${hint}`,
    );
    expect(m.ops.length).toBe(ops);
    expect((await run(m, 'cat /proc/meminfo')).stdout).toBe(meminfo);
    // the ways out the hint names
    const off = guest({ autoOnline: 'offline' });
    await run(off, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    await run(off, 'daxctl reconfigure-device --mode=system-ram dax0.0');
    expect((await run(off, 'daxctl offline-memory dax0.0')).rc).toBe(0);
    expect(await run(off, 'daxctl reconfigure-device --mode=devdax dax0.0')).toMatchObject({ rc: 0, stderr: 'reconfigured 1 device\n' });
    const f = await run(m, 'daxctl reconfigure-device --mode=devdax -f dax0.0');
    expect(f.rc).toBe(0);
    expect(JSON.parse(f.stdout)[0].mode).toBe('devdax');
    expect(f.stderr).not.toContain('hint');
  });
});

describe("7.3's auto_online_blocks=online", () => {
  it('plain --mode=system-ram is refused (rc 240, "kernel policy will auto-online memory, aborting"); -f proceeds, the kernel onlines into Normal', async () => {
    const m = guest();
    expect((await run(m, 'cat /sys/devices/system/memory/auto_online_blocks')).stdout).toBe('online\n');
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    const r = await run(m, 'daxctl reconfigure-device --mode=system-ram dax0.0');
    expect(r.rc).toBe(240);
    expect(r.stderr).toBe('dax0.0: error: kernel policy will auto-online memory, aborting\nerror reconfiguring devices: Device or resource busy\nreconfigured 0 devices\n');
    const f = await run(m, 'daxctl reconfigure-device --mode=system-ram -f dax0.0');
    expect(f.rc).toBe(0);
    expect(f.stdout).toContain('"online_memblocks":127,\n    "total_memblocks":127,\n    "movable":false');
    // machine create --auto-online offline (memhp_default_state=offline) lets plain system-ram through
    const off = guest({ autoOnline: 'offline' });
    await run(off, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    expect((await run(off, 'daxctl reconfigure-device --mode=system-ram dax0.0')).rc).toBe(0);
  });
});

describe('ndctl list filters and kinds (ndctl-ref flow 1)', () => {
  const NS = '    "dev":"namespace0.0",\n    "mode":"raw",\n';
  it('-n, -r, -d, -b, -t, -m select; a filter matching nothing prints nothing, rc 0', async () => {
    const m = guest();
    for (const f of ['-n namespace0.0', '-t pmem', '-m raw', '-N -n 0.0']) expect((await run(m, `ndctl list ${f}`)).stdout).toContain(NS);
    expect((await run(m, 'ndctl list -r region0')).stdout).toMatch(/^\[\n  \{\n    "dev":"region0",/);
    expect((await run(m, 'ndctl list -r 0')).stdout).toMatch(/"dev":"region0"/);
    expect((await run(m, 'ndctl list -d nmem0')).stdout).toBe('[\n  {\n    "dev":"nmem0",\n    "id":"8680-56341200",\n    "handle":1,\n    "phys_id":0\n  }\n]\n');
    expect((await run(m, 'ndctl list -b ACPI.NFIT')).stdout).toBe('[\n  {\n    "provider":"ACPI.NFIT",\n    "dev":"ndbus0"\n  }\n]\n');
    for (const f of ['-b nfit_test.0', '-t blk', '-m devdax', '-N -n nosuch', '-n test1', '-X'])
      expect(await run(m, `ndctl list ${f}`)).toEqual({ rc: 0, stdout: '', stderr: '' });
  });

  it('-R -N -D -i prints an object keyed by kind, the region with its DIMM mapping; -BDRN nests under the bus', async () => {
    const m = guest();
    const o = JSON.parse((await run(m, 'ndctl list -R -N -D -i')).stdout);
    expect(Object.keys(o)).toEqual(['dimms', 'regions']);
    expect(o.regions[0]).toEqual({
      dev: 'region0',
      size: 17179869184,
      align: 16777216,
      available_size: 0,
      max_available_extent: 0,
      type: 'pmem',
      mappings: [{ dimm: 'nmem0', offset: 0, length: 17179869184, position: 0 }],
      persistence_domain: 'unknown',
      namespaces: [{ dev: 'namespace0.0', mode: 'raw', size: 17179869184, sector_size: 512, blockdev: 'pmem0' }],
    });
    const b = JSON.parse((await run(m, 'ndctl list -BDRN')).stdout);
    expect(b).toHaveLength(1);
    expect(Object.keys(b[0])).toEqual(['provider', 'dev', 'dimms', 'regions']);
    expect((await run(m, 'ndctl list -N -u')).stdout.startsWith('{\n')).toBe(true);
    // -v lists namespaces too, with numa_node and target_node; regions and namespaces are two kinds: an object
    expect(JSON.parse((await run(m, 'ndctl list -N -v')).stdout)[0]).toEqual({
      dev: 'namespace0.0',
      mode: 'raw',
      size: 17179869184,
      sector_size: 512,
      blockdev: 'pmem0',
      numa_node: 0,
      target_node: 0,
    });
    const rv = JSON.parse((await run(m, 'ndctl list -R -v')).stdout);
    expect(Object.keys(rv)).toEqual(['regions']);
    expect(Object.keys(rv.regions[0])).toEqual(['dev', 'size', 'align', 'available_size', 'max_available_extent', 'type', 'numa_node', 'target_node', 'persistence_domain', 'namespaces']);
    expect(Object.keys(JSON.parse((await run(m, 'ndctl list -D -v')).stdout))).toEqual(['dimms', 'namespaces']);
  });

  it("-vv lists the bus with its DIMMs, regions (numa_node before mappings) and namespaces; -vvv adds the region's capabilities; -H and -F add nothing for QEMU's NVDIMM", async () => {
    const m = guest();
    const dimm = { dev: 'nmem0', id: '8680-56341200', handle: 1, phys_id: 0 };
    const ns = { dev: 'namespace0.0', mode: 'raw', size: 17179869184, sector_size: 512, blockdev: 'pmem0', numa_node: 0, target_node: 0 };
    const mappings = [{ dimm: 'nmem0', offset: 0, length: 17179869184, position: 0 }];
    const region = { dev: 'region0', size: 17179869184, align: 16777216, available_size: 0, max_available_extent: 0, type: 'pmem', numa_node: 0, target_node: 0, mappings };
    // ndctl-ref flow 1, [S8] and [S9], key order included
    const vv = (await run(m, 'ndctl list -N -vv')).stdout;
    expect(vv).toBe(jsonC([{ provider: 'ACPI.NFIT', dev: 'ndbus0', dimms: [dimm], regions: [{ ...region, persistence_domain: 'unknown', namespaces: [ns] }] }]) + '\n');
    const capabilities = [
      { mode: 'sector', sector_sizes: [512, 520, 528, 4096, 4104, 4160, 4224] },
      { mode: 'fsdax', alignments: [4096, 2097152, 1073741824] },
      { mode: 'devdax', alignments: [4096, 2097152, 1073741824] },
    ];
    const vvv = (await run(m, 'ndctl list -N -vvv')).stdout;
    expect(vvv).toBe(jsonC([{ provider: 'ACPI.NFIT', dev: 'ndbus0', dimms: [dimm], regions: [{ ...region, capabilities, persistence_domain: 'unknown', namespaces: [ns] }] }]) + '\n');
    // -C alone: the region's capabilities; on arm64-4k no PUD mapping, so no 1 GiB alignment
    expect(JSON.parse((await run(m, 'ndctl list -R -C')).stdout)[0].capabilities).toEqual(capabilities);
    const arm = guest({ arch: 'arm64-4k' });
    expect(JSON.parse((await run(arm, 'ndctl list -R -C')).stdout)[0].capabilities[2]).toEqual({ mode: 'devdax', alignments: [4096, 2097152] });
    // [S14]: -D -H prints the DIMM as -D does; -F and -M add no key either
    for (const f of ['-D -H', '-D -F', '-D -H -F']) expect((await run(m, `ndctl list ${f}`)).stdout).toBe(jsonC([dimm]) + '\n');
    expect(await run(m, 'ndctl list -N -M')).toEqual(await run(m, 'ndctl list -N'));
    // [S11]: -u prints the region's align human too
    expect(JSON.parse((await run(m, 'ndctl list -R -u')).stdout).align).toBe('16.00 MiB (16.78 MB)');
  });
});

describe('ndctl create-namespace options (ndctl-ref flow 3, a labelled NVDIMM)', () => {
  const labelled = () => Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: true }], softReserved: [], kernel: '7.3' });
  it('-n names the label and -t pmem is accepted; --no-autorecover is the negation of -R', async () => {
    const m = labelled();
    const a = await run(m, 'ndctl create-namespace -s 4G -n test1 -m devdax');
    expect(a.rc).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ dev: 'namespace0.0', mode: 'devdax', name: 'test1' });
    expect((await run(m, 'ndctl create-namespace -t pmem -m fsdax -s 1G')).rc).toBe(0);
    const c = await run(m, 'ndctl create-namespace --no-autorecover -s 16M -n subsection-test');
    expect(c.rc).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ dev: 'namespace0.2', mode: 'fsdax', size: 14680064, name: 'subsection-test' });
    // names are not unique, and ndctl list -n filters by device, not by name
    expect((await run(m, 'ndctl create-namespace -s 16M -n subsection-test')).rc).toBe(0);
    expect((await run(m, 'ndctl list -n test1')).stdout).toBe('');
    expect(JSON.parse((await run(m, 'ndctl list -n namespace0.0')).stdout)[0].name).toBe('test1');
  });

  it('a name of 64 characters or more overflows the label (rc 234), and nothing is created', async () => {
    const m = labelled();
    const ops = m.ops.length;
    const r = await run(m, `ndctl create-namespace -s 1G -n ${'0123456789'.repeat(7)}`);
    expect(r).toEqual({ rc: 234, stdout: '', stderr: '  Error: create namespace: validate_namespace_options: alt name overflow\n\n' });
    expect(m.ops.length).toBe(ops);
  });

  it('a region that does not exist, -t blk or another bus: "failed to create namespace: No such device or address", rc 237', async () => {
    const m = labelled();
    for (const f of ['-r region9', '-t blk', '-b nfit_test.0'])
      expect(await run(m, `ndctl create-namespace -s 1G ${f}`)).toEqual({ rc: 237, stdout: '', stderr: 'failed to create namespace: No such device or address\n' });
  });
});

describe("create-namespace's error() paths (ndctl-ref flow 2, bad inputs)", () => {
  it('-a 8K and -m raw -a 2M: "  Error: <why>", a blank line, "failed to reconfigure namespace: No such device or address", rc 250', async () => {
    const m = guest();
    expect(await run(m, 'ndctl create-namespace -f -e namespace0.0 -a 8K')).toEqual({
      rc: 250,
      stdout: '',
      stderr: '  Error: unsupported align: 8K\n\nfailed to reconfigure namespace: No such device or address\n',
    });
    expect(await run(m, 'ndctl create-namespace -f -e namespace0.0 -m raw -a 2M')).toEqual({
      rc: 250,
      stdout: '',
      stderr: '  Error: raw mode does not support setting an alignment\n\nfailed to reconfigure namespace: No such device or address\n',
    });
    expect(await run(m, 'ndctl create-namespace -e namespace0.0 -m raw')).toEqual({
      rc: 240,
      stdout: '',
      stderr: '  Error: namespace0.0 is active, specify --force for re-configuration\n\nfailed to reconfigure namespace: Device or resource busy\n',
    });
  });
});

describe('ndctl clear-errors on QEMU\'s NVDIMM (ndctl v81 namespace_clear_bb(); no ARS on the bus)', () => {
  it('fails in namespace_wait_scrub() with EOPNOTSUPP (rc 161), disables and clears nothing; an unknown namespace is ENXIO (rc 250); no namespace is a usage error', async () => {
    const m = guest();
    await run(m, 'ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem');
    const ops = m.ops.length;
    const before = (await run(m, 'ndctl list -N')).stdout;
    const r = await run(m, 'ndctl clear-errors namespace0.0');
    expect(r.rc).toBe(256 - 95);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^ {2}Error: namespace0\.0: Unable to determine scrub state: Operation not supported\n\nerror clearing namespaces: Operation not supported\ncleared 0 namespaces\ndaxsim: hint: QEMU's NVDIMM has no address range scrub/,
    );
    expect(m.ops.length).toBe(ops);
    expect((await run(m, 'ndctl list -N')).stdout).toBe(before);
    expect(await run(m, 'ndctl clear-errors namespace9.9')).toEqual({ rc: 250, stdout: '', stderr: 'error clearing namespaces: No such device or address\ncleared 0 namespaces\n' });
    expect(await run(m, 'ndctl clear-errors all -r region7')).toEqual({ rc: 0, stdout: '', stderr: 'cleared 0 namespaces\n' });
    expect((await run(m, 'ndctl clear-errors')).rc).toBe(129);
  });
});
