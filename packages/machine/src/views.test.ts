import { SZ_1G, EISDIR, ENOENT, ENOTDIR, KernelError } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import type { MachineConfig } from './config.js';
import { daxctlReconfigureMode } from './daxctl-memory.js';
import { Machine } from './machine.js';
import { ndctlCreateNamespace } from './ndctl.js';
import { catPath, lsPath } from './views.js';

/** shared/real-kernel/kmem-ref boot B: 4 GiB of RAM and a label-less 16 GiB NVDIMM under QEMU pc, 7.3 with memhp_default_state=offline. */
const booted = (extra: Partial<MachineConfig> = {}) =>
  Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: false }], softReserved: [], kernel: '7.3', ...extra });
const qemu = (extra: Partial<MachineConfig> = {}) => booted({ autoOnline: 'offline', ...extra });

const devdax2M = (m: Machine) => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * 2 ** 20, map: 'mem', force: true });
const vmstat = (m: Machine, key: string) => Number(catPath(m, '/proc/vmstat').match(new RegExp(`^${key} (\\d+)$`, 'm'))?.[1]);
const errnoOf = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return undefined;
};

describe('the QEMU pc layout', () => {
  it('a 4 GiB guest keeps 3 GiB below 4 GiB, 1 GiB above, and its NVDIMM at 0x140000000', () => {
    const m = qemu();
    expect(m.layout.ram.map((r) => [r.start, r.size])).toEqual([
      [0, 3 * SZ_1G],
      [4 * SZ_1G, SZ_1G],
    ]);
    expect(m.pmem[0]!.start).toBe(0x140000000);
    expect(catPath(m, '/proc/iomem')).toBe(
      ['00000000-bfffffff : System RAM', '100000000-13fffffff : System RAM', '140000000-53fffffff : Persistent Memory', '  140000000-53fffffff : namespace0.0', ''].join('\n'),
    );
  });

  it('/proc/zoneinfo: DMA32 spans the PCI hole (1044480 pages from pfn 4096) and holds the RAM below it; Normal the GiB above 4 GiB', () => {
    const zi = catPath(qemu(), '/proc/zoneinfo');
    const zone = (name: string) => {
      const z = zi.slice(zi.indexOf(`zone ${name.padStart(8)}`));
      return { spanned: Number(z.match(/spanned +(\d+)/)![1]), present: Number(z.match(/present +(\d+)/)![1]) };
    };
    expect(zone('DMA32')).toEqual({ spanned: 1044480, present: 782336 });
    expect(zone('Normal')).toEqual({ spanned: 262144, present: 262144 });
  });

  it('q35 keeps 2 GiB below 4 GiB; flat keeps RAM in one piece from 0', () => {
    expect(qemu({ machineType: 'q35' }).layout.ram.map((r) => r.size)).toEqual([2 * SZ_1G, 2 * SZ_1G]);
    const flat = qemu({ machineType: 'flat' });
    expect(flat.layout.ram.map((r) => [r.start, r.size])).toEqual([[0, 4 * SZ_1G]]);
    expect(flat.pmem[0]!.start).toBe(4 * SZ_1G);
    expect(() => qemu({ machineType: 'isapc' })).toThrowError(/--machine-type isapc is not one of pc, q35, flat/);
  });
});

describe("the kernel's views of a 4 GiB + 16 GiB 7.3 machine (kmem-ref boot B)", () => {
  it('devdax 2M then system-ram: nr_memmap_pages 16384 → 65024, boot 16384, Movable present 4161536, System RAM (kmem) at 148000000', () => {
    const m = qemu();
    expect(catPath(m, '/sys/devices/system/memory/auto_online_blocks')).toBe('offline\n');
    expect(catPath(m, '/sys/devices/system/memory/block_size_bytes')).toBe('8000000\n');
    devdax2M(m);
    expect(vmstat(m, 'nr_memmap_pages')).toBe(16384);
    expect(daxctlReconfigureMode(m, m.daxDevice('dax0.0'), { mode: 'system-ram' }).rc).toBe(0);
    expect(vmstat(m, 'nr_memmap_pages')).toBe(65024);
    expect(vmstat(m, 'nr_memmap_boot_pages')).toBe(16384);
    const zi = catPath(m, '/proc/zoneinfo');
    const movable = zi.slice(zi.indexOf('zone  Movable'));
    expect(movable.match(/present +(\d+)/)![1]).toBe('4161536');
    const io = catPath(m, '/proc/iomem');
    expect(io).toContain('140000000-53fffffff : Persistent Memory\n  140000000-1401fffff : namespace0.0\n');
    expect(io).toContain('  148000000-53fffffff : dax0.0\n    148000000-53fffffff : System RAM (kmem)\n');
    expect(m.k.log.entries.map((e) => e.text)).toContain('kmem dax0.0: DAX region truncated by 126 MiB due to alignment');
    // daxctl onlines the blocks movable (memory41-167); offlined, a block offers Normal and Movable
    expect(catPath(m, '/sys/devices/system/memory/memory41/state')).toBe('online\n');
    expect(catPath(m, '/sys/devices/system/memory/memory41/valid_zones')).toBe('Movable\n');
    expect(lsPath(m, '/sys/devices/system/memory').filter((e) => e.name.startsWith('memory')).length).toBe(32 + 127);
    m.apply({ op: 'memory.state', block: 167, state: 'offline' });
    expect(catPath(m, '/sys/devices/system/memory/memory167/valid_zones')).toBe('Normal Movable\n');
    expect(catPath(m, '/sys/devices/system/memory/memory41/phys_device')).toBe('0\n');
  });

  it('/proc/meminfo prints 7.3 lines in the kernel order, MemTotal measured from the zones', () => {
    const m = qemu();
    const lines = catPath(m, '/proc/meminfo').trimEnd().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual([...m.kernel.release.procfs.meminfoFields]);
    expect(lines[0]).toMatch(/^MemTotal: +\d+ kB$/);
  });

  it('/sys/bus/dax/devices/dax0.0: align, size, target_node, memmap_on_memory (7.3)', () => {
    const m = qemu();
    devdax2M(m);
    const dax = '/sys/bus/dax/devices/dax0.0';
    expect(catPath(m, `${dax}/align`)).toBe('2097152\n');
    expect(catPath(m, `${dax}/size`)).toBe(`${m.daxDevice('dax0.0').size}\n`);
    expect(catPath(m, `${dax}/target_node`)).toBe('0\n');
    expect(catPath(m, `${dax}/memmap_on_memory`)).toBe('0\n');
    expect(lsPath(m, dax).map((e) => e.name)).toContain('memmap_on_memory');
  });

  it('Linux 6.1: no memmap_on_memory attribute, no nr_memmap counters, no truncation warning', () => {
    const m = qemu({ kernel: '6.1' });
    devdax2M(m);
    expect(catPath(m, '/sys/bus/dax/devices/dax0.0/align')).toBe('2097152\n');
    expect(errnoOf(() => catPath(m, '/sys/bus/dax/devices/dax0.0/memmap_on_memory'))).toBe(ENOENT);
    expect(errnoOf(() => m.apply({ op: 'dax.memmap_on_memory', dev: 'dax0.0', value: true }))).toBe(ENOENT);
    expect(catPath(m, '/proc/vmstat')).not.toMatch(/nr_memmap/);
    expect(daxctlReconfigureMode(m, m.daxDevice('dax0.0'), { mode: 'system-ram' }).rc).toBe(0);
    expect(m.k.log.entries.map((e) => e.text).join('\n')).not.toMatch(/truncated/);
  });

  it('a missing path is ENOENT, a directory read is EISDIR, a file as a directory ENOTDIR', () => {
    const m = qemu();
    expect(errnoOf(() => catPath(m, '/proc/nosuch'))).toBe(ENOENT);
    expect(errnoOf(() => catPath(m, '/sys/bus/dax/devices/dax0.0/align'))).toBe(ENOENT);
    expect(errnoOf(() => catPath(m, '/proc'))).toBe(EISDIR);
    expect(errnoOf(() => lsPath(m, '/proc/vmstat/x'))).toBe(ENOTDIR);
    expect(lsPath(m, '/proc').map((e) => e.name)).toEqual(['iomem', 'meminfo', 'vmstat', 'zoneinfo']);
  });
});

describe('auto_online_blocks per kernel', () => {
  it("a named 7.3 boots with Debian's online; daxctl refuses plain system-ram with EBUSY and changes nothing", () => {
    const m = booted();
    expect(catPath(m, '/sys/devices/system/memory/auto_online_blocks')).toBe('online\n');
    devdax2M(m);
    const ops = m.ops.length;
    const r = daxctlReconfigureMode(m, m.daxDevice('dax0.0'), { mode: 'system-ram' });
    expect(r.rc).toBe(-16);
    expect(r.messages.join('\n')).toContain('kernel policy will auto-online memory, aborting');
    expect(m.ops.length).toBe(ops);
  });

  it('6.1 boots offline', () => {
    expect(catPath(booted({ kernel: '6.1' }), '/sys/devices/system/memory/auto_online_blocks')).toBe('offline\n');
  });
});
