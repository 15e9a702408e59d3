import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';
import { BufferOutput } from './output.js';
import { PLAN_SYSTEM_RAM_OPTS, planSystemRamCommand } from './plan-system-ram.js';
import { SZ_1G } from '@daxsim/mm';

const OPTS = [...PLAN_SYSTEM_RAM_OPTS, { long: 'size', arg: 'size', help: '' }, { long: 'arch', arg: 'a', help: '' }, { long: 'json', help: '' }];

function plan(argv: string[]) {
  const out = new BufferOutput();
  const status = planSystemRamCommand({ parsed: parseArgs(argv, OPTS), out, statePath: '/nonexistent', env: {}, dispatch: async () => 0 });
  return { status, out };
}

describe('plan --mode system-ram', () => {
  it('plans 1 TiB on a 64 GiB machine: 2 GiB blocks, 16 GiB of struct pages in RAM, or in the device with memmap_on_memory', () => {
    const off = plan(['--mode', 'system-ram', '--size', '1T', '--json']);
    expect(off.status).toBe(0);
    expect(JSON.parse(off.out.stdout)[0]).toMatchObject({ block_size: 2 * SZ_1G, hotplug_size: 2 ** 40, memmap_on_memory: false, vmemmap_data_bytes: 16 * SZ_1G, device_reserved_bytes: 0 });
    const on = JSON.parse(plan(['--mode', 'system-ram', '--size', '1T', '--memmap-on-memory', '--json']).out.stdout)[0];
    expect(on).toMatchObject({ memmap_on_memory: true, vmemmap_data_bytes: 0, device_reserved_bytes: 16 * SZ_1G });
  });

  it('refuses a device with no whole memory block with EINVAL', () => {
    const r = plan(['--mode', 'system-ram', '--size', '256M']);
    expect(r.status).toBe(234);
    expect(r.out.stderr).toContain('no whole 2147483648-byte memory block');
    expect(plan(['--mode', 'system-ram', '--size', '256M', '--ram', '8G']).out.stdout).toMatch(/128 MiB/);
    expect(plan(['--mode', 'system-ram']).status).toBe(129);
  });
});
