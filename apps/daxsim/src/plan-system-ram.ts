import { EINVAL, ENOENT, type KernelRelease, KernelError, archForKernel, errnoName } from '@daxsim/mm';
import { DEFAULT_CPU_LA57, type SystemRamPlan, humanBytes, parseSize, planSystemRam } from '@daxsim/machine';
import { type OptSpec, UsageError, flag, str } from './args.js';
import type { CommandContext } from './command.js';
import { archesOption, kernelsOption } from './machine-options.js';
import { table } from './output.js';
import { exitStatus, reportError } from './session.js';

/**
 * The options `plan` gains for `--mode system-ram` (to be added to plan's
 * own: --size, --arch, --kernel, --align and --json are shared).
 */
export const PLAN_SYSTEM_RAM_OPTS: OptSpec[] = [
  { long: 'mode', arg: 'devdax|system-ram', help: 'devdax (default): a devdax namespace; system-ram: the device hot-added by dax_kmem' },
  { long: 'memmap-on-memory', help: 'system-ram: memory_hotplug.memmap_on_memory and the device attribute on (dax_kmem has it from 6.8)' },
  {
    long: 'ram',
    arg: 'size',
    help: "the machine's boot RAM (default 64G): system-ram's memory block size; with it given, each cost is also printed as a share of it",
  },
];

/** Each byte cost of a plan as a fraction of the machine's RAM (`--ram`). */
export interface RamShares {
  vmemmap_data_bytes: number;
  vmemmap_pagetable_bytes: number;
  device_reserved_bytes: number;
}

/** The costs of a planned row as fractions of `ram` bytes. */
export function ramShares(c: { vmemmap_data_bytes: number; vmemmap_pagetable_bytes: number; device_reserved_bytes: number }, ram: number): RamShares {
  return {
    vmemmap_data_bytes: c.vmemmap_data_bytes / ram,
    vmemmap_pagetable_bytes: c.vmemmap_pagetable_bytes / ram,
    device_reserved_bytes: c.device_reserved_bytes / ram,
  };
}

const percent = (f: number) => `${(f * 100).toFixed(f && f < 0.0001 ? 4 : 2)}%`;

/** The three byte cells of a cost row with their share of RAM appended, when there is one. */
export function withShares(cells: (string | number)[], shares: RamShares | undefined): (string | number)[] {
  if (!shares) return cells;
  const f = [shares.vmemmap_data_bytes, shares.vmemmap_pagetable_bytes, shares.device_reserved_bytes];
  return cells.map((c, i) => (i < 3 ? `${c} (${percent(f[i]!)})` : c));
}

/** A system-ram row: the plan, or the errno the kernel refuses the configuration with. */
type SystemRamRow = (SystemRamPlan | { arch: string; size: number; errno: string; error: string }) & {
  kernel?: string;
  align?: number;
  ram?: number;
  share_of_ram?: RamShares;
};

// options of a devdax plan that say nothing about dax_kmem's hot-add: refused rather than ignored
const DEVDAX_ONLY: readonly [string, string][] = [
  ['map', "places a devdax namespace's struct pages (RAM or the device's altmap); dax_kmem's go to RAM, or to the hot-added blocks with --memmap-on-memory"],
  ['generation', "names a compound devmap's vmemmap; the memory dax_kmem hot-adds has a base struct page per pfn (no compound pages, no tail reuse)"],
  ['vmemmap-optimize-rule', 'is vmemmap_can_optimize(), which memory hot-add never asks (no pgmap)'],
  ['ppc64-mmu', 'is not modelled for memory hot-add'],
];

/**
 * `daxsim plan --mode system-ram --size S [--kernel V,...] [--arch A,...] [--align A] [--memmap-on-memory] [--ram R] [--json]`:
 * planSystemRam() per kernel and architecture, for a device placed after the
 * RAM on the next 1 GiB boundary (as `machine create` places it). Each
 * kernel plans with its paging and its dax_kmem: memmap_on_memory is 6.8's,
 * so an earlier release refuses --memmap-on-memory with ENOENT (the device
 * has no memmap_on_memory attribute to write). --align is the dax device's
 * align: dax_align_valid() and a size it divides, or the row is refused;
 * dax_kmem hot-adds whole memory blocks whatever it is.
 */
export function planSystemRamCommand(ctx: CommandContext): number {
  const o = ctx.parsed.opts;
  let rows: SystemRamRow[];
  const errnos = new WeakMap<object, number>();
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    for (const [opt, why] of DEVDAX_ONLY)
      if (o[opt] !== undefined) throw new KernelError(EINVAL, `plan --mode system-ram: --${opt} ${why}`);
    const sizeText = str(o['size']);
    if (sizeText === undefined) throw new UsageError('--size is required');
    const size = parseSize(sizeText);
    if (size === undefined || size <= 0) throw new UsageError(`failed to parse --size '${sizeText}'`);
    const ramText = str(o['ram']);
    const ram = ramText === undefined ? 64 * 2 ** 30 : parseSize(ramText);
    if (ram === undefined || ram <= 0) throw new UsageError(`failed to parse --ram '${ramText}'`);
    const arches = archesOption(str(o['arch']));
    const kernels: (KernelRelease | undefined)[] = kernelsOption(o);
    const la57 = o['cpu-la57'];
    const alignText = str(o['align']);
    if (alignText?.includes(',')) throw new UsageError(`--align ${alignText}: system-ram plans one dax device align`);
    const align = alignText === undefined ? undefined : parseSize(alignText);
    if (alignText !== undefined && align === undefined) throw new UsageError(`failed to parse --align '${alignText}'`);
    const mom = flag(o['memmap-on-memory']);
    const start = Math.ceil(ram / 2 ** 30) * 2 ** 30;
    rows = [];
    for (const kernel of kernels.length ? kernels : [undefined])
      for (const arch0 of arches) {
        const arch = kernel ? archForKernel(kernel, arch0, typeof la57 === 'boolean' ? la57 : DEFAULT_CPU_LA57) : arch0;
        const who = { ...(kernel ? { kernel: kernel.version } : {}), ...(align !== undefined ? { align } : {}) };
        try {
          if (align !== undefined && !arch.devdaxAligns.includes(align))
            throw new KernelError(EINVAL, `plan: --align ${alignText}: dax_align_valid() accepts ${arch.devdaxAligns.map(humanBytes).join(', ')} on ${arch.name}`);
          if (align !== undefined && size % Math.max(align, 2 ** arch.subsectionShift))
            throw new KernelError(EINVAL, `plan: --size ${sizeText} is not a multiple of max(align ${humanBytes(align)}, ${humanBytes(2 ** arch.subsectionShift)}) (alloc_is_aligned())`);
          // memmap_on_memory_store() and the attribute came with 73954d379efd (v6.8): before it, nothing to write
          if (mom && kernel && !kernel.hotplug.daxMemmapOnMemory)
            throw new KernelError(
              ENOENT,
              `plan: --memmap-on-memory: Linux ${kernel.version} has no /sys/bus/dax/devices/daxX.Y/memmap_on_memory (dax_kmem's memmap_on_memory is 6.8's, 73954d379efd); its memmap goes to RAM`,
            );
          const p = planSystemRam({ arch, size, start, ram: [{ start: 0, size: ram }], memmapOnMemory: mom });
          rows.push({ ...p, ...who, ...(ramText !== undefined ? { ram, share_of_ram: ramShares(p, ram) } : {}) });
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          const row = { arch: arch.name, size, ...who, errno: errnoName(e.errno), error: e.message };
          errnos.set(row, e.errno);
          rows.push(row);
        }
      }
  } catch (e) {
    return reportError(ctx, e);
  }
  const refused = rows.map((r) => errnos.get(r)).filter((e): e is number => e !== undefined);
  const status = refused.length && refused.length === rows.length ? exitStatus(refused[0]!) : 0;
  if (flag(o['json'])) {
    ctx.out.out(JSON.stringify(rows, null, 2));
    return status;
  }
  const withKernel = rows.some((r) => r.kernel);
  ctx.out.out(
    table([
      [...(withKernel ? ['kernel'] : []), 'arch', 'size', 'hot-added', 'block size', 'memmap on memory', 'RAM: struct pages', 'RAM: page tables', 'device', 'struct pages written'],
      ...rows.map((r) => [
        ...(withKernel ? [r.kernel ?? ''] : []),
        r.arch,
        humanBytes(r.size),
        ...('errno' in r
          ? [`refused: ${r.errno}`, '', '', '', '', '', '']
          : [
              humanBytes(r.hotplug_size),
              humanBytes(r.block_size),
              r.memmap_on_memory ? 'yes' : 'no',
              ...withShares([humanBytes(r.vmemmap_data_bytes), humanBytes(r.vmemmap_pagetable_bytes), humanBytes(r.device_reserved_bytes), r.struct_pages_initialised], r.share_of_ram),
            ]),
      ]),
    ]),
  );
  for (const r of rows) if ('errno' in r) ctx.out.err(`daxsim: ${r.error}`);
  return status;
}
