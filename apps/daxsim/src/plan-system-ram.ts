import { ARCH_PROFILES, type ArchProfile } from '@daxsim/mm';
import { humanBytes, parseSize, planSystemRam } from '@daxsim/machine';
import { type OptSpec, UsageError, flag, str } from './args.js';
import type { CommandContext } from './command.js';
import { table } from './output.js';
import { reportError } from './session.js';

/**
 * The options `plan` gains for `--mode system-ram` (to be added to plan's
 * own: --size, --arch and --json are shared).
 */
export const PLAN_SYSTEM_RAM_OPTS: OptSpec[] = [
  { long: 'mode', arg: 'devdax|system-ram', help: 'devdax (default): a devdax namespace; system-ram: the device hot-added by dax_kmem' },
  { long: 'memmap-on-memory', help: 'system-ram: memory_hotplug.memmap_on_memory and the device attribute on' },
  { long: 'ram', arg: 'size', help: 'system-ram: the boot RAM, which sets the memory block size (default 64G)' },
];

/**
 * `daxsim plan --mode system-ram --size S [--arch A,...] [--memmap-on-memory] [--ram R] [--json]`:
 * planSystemRam() per architecture, for a device placed after the RAM on the
 * next 1 GiB boundary (as `machine create` places it).
 */
export function planSystemRamCommand(ctx: CommandContext): number {
  const o = ctx.parsed.opts;
  let rows;
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    const sizeText = str(o['size']);
    if (sizeText === undefined) throw new UsageError('--size is required');
    const size = parseSize(sizeText);
    if (size === undefined || size <= 0) throw new UsageError(`failed to parse --size '${sizeText}'`);
    const ramText = str(o['ram']);
    const ram = ramText === undefined ? 64 * 2 ** 30 : parseSize(ramText);
    if (ram === undefined || ram <= 0) throw new UsageError(`failed to parse --ram '${ramText}'`);
    const arches = (str(o['arch']) ?? 'x86_64').split(',').map((a) => {
      const p = (ARCH_PROFILES as Record<string, ArchProfile>)[a.trim()];
      if (!p) throw new UsageError(`invalid --arch '${a}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
      return p;
    });
    const start = Math.ceil(ram / 2 ** 30) * 2 ** 30;
    rows = arches.map((arch) => planSystemRam({ arch, size, start, ram: [{ start: 0, size: ram }], memmapOnMemory: flag(o['memmap-on-memory']) }));
  } catch (e) {
    return reportError(ctx, e);
  }
  if (flag(o['json'])) {
    ctx.out.out(JSON.stringify(rows, null, 2));
    return 0;
  }
  ctx.out.out(
    table([
      ['arch', 'size', 'hot-added', 'block size', 'memmap on memory', 'RAM: struct pages', 'RAM: page tables', 'device', 'struct pages written'],
      ...rows.map((r) => [
        r.arch,
        humanBytes(r.size),
        humanBytes(r.hotplug_size),
        humanBytes(r.block_size),
        r.memmap_on_memory ? 'yes' : 'no',
        humanBytes(r.vmemmap_data_bytes),
        humanBytes(r.vmemmap_pagetable_bytes),
        humanBytes(r.device_reserved_bytes),
        r.struct_pages_initialised,
      ]),
    ]),
  );
  return 0;
}
