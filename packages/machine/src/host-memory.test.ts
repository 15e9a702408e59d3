import { SZ_1G, SZ_1M, EINVAL, ENOMEM, KernelError } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { type MachineConfig, layoutMachine } from './config.js';
import { hostMemoryNeed } from './host-memory.js';
import { Machine } from './machine.js';
import { daxctlCreateDevice, daxctlDisableDevice, daxctlReconfigureDevice } from './daxctl.js';
import { ndctlCreateNamespace } from './ndctl.js';

const SZ_1T = 2 ** 40;
// the flat layout: RAM at 0, region0 right after it (QEMU's pc layout would move it past the 4 GiB hole)
const config = (extra: Partial<MachineConfig>): MachineConfig => ({ arch: 'x86_64', ram: [64 * SZ_1G], pmem: [{ size: 16 * SZ_1G, labels: false }], softReserved: [], machineType: 'flat', ...extra });
// layoutMachine()'s refusal: errno and message
const refusal = (extra: Partial<MachineConfig>): string => {
  try {
    layoutMachine(config(extra));
    return 'laid out';
  } catch (e) {
    return `${(e as KernelError).errno} ${(e as Error).message}`;
  }
};

describe('MAX_PHYSMEM_BITS: machines up to the paging mode\'s limit, and no further', () => {
  it('x86-64 4-level (no LA57): 46 bits, 64 TiB of physical address space', () => {
    // RAM at 0, region0 from 64 GiB: a region that ends exactly at 2^46 fits, one 1 GiB more does not
    expect(refusal({ cpuLa57: false, pmem: [{ size: SZ_1T * 64 - 64 * SZ_1G, labels: false }] })).toBe('laid out');
    const r = refusal({ cpuLa57: false, pmem: [{ size: SZ_1T * 64 - 63 * SZ_1G, labels: false }] });
    expect(r).toMatch(new RegExp(`^${EINVAL} machine: --pmem .*region0 would end at 0x400040000000 .*MAX_PHYSMEM_BITS 46 of x86_64: at most 0x400000000000 \\(64 TiB\\)`));
    expect(r).toMatch(/--cpu-la57/);
    // --ram counts too
    expect(refusal({ cpuLa57: false, ram: [SZ_1T * 64 + SZ_1G] })).toMatch(/^-?\d+ machine: --ram 64.0 TiB: node0 .*MAX_PHYSMEM_BITS 46/);
  });

  it('x86-64 5-level (7.3 on an LA57 CPU, the default): 52 bits, 4 PiB', () => {
    expect(refusal({ pmem: [{ size: SZ_1T * 64, labels: false }] })).toBe('laid out');
    expect(refusal({ pmem: [{ size: 2 ** 52 - 64 * SZ_1G, labels: false }] })).toBe('laid out');
    expect(refusal({ pmem: [{ size: 2 ** 52 - 63 * SZ_1G, labels: false }] })).toMatch(/MAX_PHYSMEM_BITS 52 of x86_64-la57: at most 0x10000000000000 \(4 PiB\)/);
    // a 64 TiB machine boots (its pfns reach 2^34: beyond what a 32-bit pfn could hold)
    const m = Machine.create(config({ pmem: [{ size: SZ_1T * 64, labels: false }] }));
    expect(m.arch.name).toBe('x86_64-la57');
    expect((m.pmem[0]!.start + m.pmem[0]!.size) / m.arch.pageSize).toBeGreaterThan(2 ** 32);
  });

  it('arm64 (PA_BITS 48): 256 TiB; ppc64: 51 bits', () => {
    expect(refusal({ arch: 'arm64-4k', pmem: [{ size: 256 * SZ_1T - 64 * SZ_1G, labels: false }] })).toBe('laid out');
    expect(refusal({ arch: 'arm64-4k', pmem: [{ size: 256 * SZ_1T, labels: false }] })).toMatch(/MAX_PHYSMEM_BITS 48 of arm64-4k/);
    expect(refusal({ arch: 'arm64-64k', pmem: [{ size: 256 * SZ_1T, labels: false }] })).toMatch(/MAX_PHYSMEM_BITS 48 of arm64-64k/);
    expect(refusal({ arch: 'ppc64-64k', pmem: [{ size: 2 ** 51 - 64 * SZ_1G, labels: false }] })).toBe('laid out');
    expect(refusal({ arch: 'ppc64-64k', pmem: [{ size: 2 ** 51, labels: false }] })).toMatch(/MAX_PHYSMEM_BITS 51 of ppc64-64k/);
    // the hint about 5-level paging is x86-64's only
    expect(refusal({ arch: 'arm64-4k', pmem: [{ size: 256 * SZ_1T, labels: false }] })).not.toMatch(/la57/);
  });
});

describe('host memory: a memmap that exact simulation cannot hold is refused before anything changes', () => {
  it('names the figure and daxsim plan, with -ENOMEM, and leaves the machine as it was', () => {
    const m = Machine.create(config({ kernel: '7.3' }));
    const ops = m.ops.length;
    const digest = m.k.mem.digest();
    const frames = m.k.mem.hostFrames;
    // 16 GiB at 2M on 7.3: 8,192 compound pages, each a head vmemmap page of its own (32 MiB; the tail
    // vmemmap pages, alike under 7.3's compound_info mask, share one), with page tables
    m.hostMemoryLimit = 16 * SZ_1M;
    let msg = '';
    expect(
      errnoOf(() => {
        try {
          ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 * SZ_1M, map: 'mem', force: true });
        } catch (e) {
          msg = (e as Error).message;
          throw e;
        }
      }),
    ).toBe(ENOMEM);
    expect(msg).toMatch(/^failed to reconfigure namespace namespace0.0: exact simulation of this memmap \(16 GiB at align 2M, --map mem, tail-reuse\) needs about 32.\d+ MiB of host memory .*more than the 16 MiB daxsim may use .*`daxsim plan --size 16G --align 2M --map mem`/);
    expect([m.ops.length, m.k.mem.digest(), m.k.mem.hostFrames, m.pmem[0]!.namespaces[0]!.mode]).toEqual([ops, digest, frames, 'raw']);
    // the same namespace at 4K: every vmemmap page of base pages alike, one template: it fits
    ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 4096, map: 'mem', force: true });
    expect(m.k.mem.sharedFrames).toBeGreaterThan(60_000);
  });

  it('the estimate follows what the model spends: host frames after the build, within the bookkeeping', () => {
    // 7.3's tails hold the compound_info mask (tail vmemmap pages shared), 6.1's a compound_head pointer (not)
    const cases = [['7.3', 2 * SZ_1M, 'mem'], ['7.3', SZ_1G, 'mem'], ['7.3', 4096, 'mem'], ['7.3', 2 * SZ_1M, 'dev'], ['7.3', 4096, 'dev'], ['6.1', 2 * SZ_1M, 'mem'], ['6.1', SZ_1G, 'dev']] as const;
    for (const [kernel, align, map] of cases) {
      const m = Machine.create(config({ kernel }));
      const before = m.k.mem.hostFrames;
      const need = hostMemoryNeed(m, { start: m.pmem[0]!.start, size: m.pmem[0]!.size, align, map, mode: 'devdax' });
      ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });
      const spent = m.k.mem.hostFrames - before;
      // the planner counts what the kernel writes; the model also keeps templates and partial pages
      expect({ kernel, align, map, ok: spent >= need.ownFrames * 0.9 && spent <= need.ownFrames * 1.1 + 16 }).toEqual({ kernel, align, map, ok: true });
    }
  });

  it('daxctl create-device on a soft-reserved region: refused the same way, before the seed device is touched', () => {
    const m = Machine.create(config({ kernel: '6.1', pmem: [], softReserved: [16 * SZ_1G] }));
    // dax_hmem binds dax0.0 over the whole range at boot: give its capacity back first
    daxctlDisableDevice(m, m.daxDevice('dax0.0'));
    daxctlReconfigureDevice(m, m.daxDevice('dax0.0'), { size: 0 });
    const ops = m.ops.length;
    const digest = m.k.mem.digest();
    // 6.1's tails point at their head: every tail vmemmap page of the 8,192 2M pages is a host page of its own
    m.hostMemoryLimit = 32 * SZ_1M;
    const r = daxctlCreateDevice(m, { size: 16 * SZ_1G, align: 2 * SZ_1M });
    expect([r.device, r.errno]).toEqual([null, ENOMEM]);
    expect(r.errors[0]).toMatch(/^region0: exact simulation of this memmap \(16 GiB at align 2M, --map mem, tail-reuse\) needs about 64.\d MiB/);
    expect([m.ops.length, m.k.mem.digest()]).toEqual([ops, digest]);
    m.hostMemoryLimit = 128 * SZ_1M;
    expect(daxctlCreateDevice(m, { size: 16 * SZ_1G, align: 2 * SZ_1M }).errno).toBe(0);
  });
});

