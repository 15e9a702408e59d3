import { ARCH_PROFILES, type ArchProfile, EINVAL, KernelError, VMEMMAP_GENERATIONS, isVmemmapGeneration } from '@daxsim/mm';
import { type PlanInput, humanBytes, parseSize, planMemmap } from '@daxsim/machine';
import type { MapLocation } from '@daxsim/nvdimm';
import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { memmapCostCells, table } from '../output.js';
import { PLAN_SYSTEM_RAM_OPTS, planSystemRamCommand } from '../plan-system-ram.js';
import { reportError } from '../session.js';

const OPTS: OptSpec[] = [
  { long: 'size', arg: 'size', help: 'namespace size (K/M/G/T/P suffixes)' },
  { long: 'align', arg: 'a[,a...]', help: 'device aligns: 4K, 2M, 1G (default 4K,2M,1G)' },
  { long: 'map', arg: 'mem|dev[,...]', help: 'where the struct pages live (default mem,dev)' },
  { long: 'arch', arg: 'arch[,...]', help: `architectures (default x86_64): ${Object.keys(ARCH_PROFILES).join(', ')}` },
  { long: 'generation', arg: 'gen[,...]', help: `vmemmap generations (default all): ${VMEMMAP_GENERATIONS.join(', ')}` },
  { long: 'json', help: 'print a JSON array, one object per configuration' },
  ...PLAN_SYSTEM_RAM_OPTS,
  { long: 'help', short: 'h', help: 'show this help' },
];
const USAGE = formatUsage('daxsim plan --size SIZE [--mode devdax|system-ram] [--align A,...] [--map mem|dev] [--arch ARCH,...] [--generation G,...] [--memmap-on-memory] [--json]', OPTS);

const listOpt = (v: string | undefined, dflt: string[]) => (v === undefined ? dflt : v.split(',').map((s) => s.trim()).filter(Boolean));

function plan(ctx: CommandContext): number {
  const o = ctx.parsed.opts;
  const mode = str(o['mode']);
  if (mode === 'system-ram') return planSystemRamCommand(ctx);
  if (mode !== undefined && mode !== 'devdax') return reportError(ctx, new UsageError(`invalid --mode '${mode}': devdax or system-ram`), USAGE);
  let configs: PlanInput[];
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    const sizeText = str(o['size']);
    if (sizeText === undefined) throw new UsageError('--size is required');
    const pm = /^(\d+)[pP]$/.exec(sizeText);
    const size = pm ? Number(pm[1]) * 2 ** 50 : parseSize(sizeText);
    if (size === undefined || size <= 0) throw new UsageError(`failed to parse --size '${sizeText}'`);
    const arches = listOpt(str(o['arch']), ['x86_64']).map((a) => {
      const p = (ARCH_PROFILES as Record<string, ArchProfile>)[a];
      if (!p) throw new UsageError(`invalid --arch '${a}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
      return p;
    });
    const maps = listOpt(str(o['map']), ['mem', 'dev']).map((m) => {
      if (m !== 'mem' && m !== 'dev') throw new UsageError(`invalid --map '${m}': mem or dev`);
      return m as MapLocation;
    });
    const gens = listOpt(str(o['generation']), [...VMEMMAP_GENERATIONS]).map((g) => {
      if (!isVmemmapGeneration(g)) throw new UsageError(`invalid --generation '${g}': one of ${VMEMMAP_GENERATIONS.join(', ')}`);
      return g;
    });
    const alignTexts = str(o['align']);
    configs = [];
    for (const arch of arches) {
      const aligns =
        alignTexts === undefined
          ? [...arch.devdaxAligns]
          : alignTexts.split(',').map((t) => {
              const a = parseSize(t.trim());
              if (a === undefined) throw new UsageError(`failed to parse --align '${t}'`);
              if (!arch.devdaxAligns.includes(a))
                throw new KernelError(EINVAL, `plan: --align ${t} is not an align device-dax supports on ${arch.name} (${arch.devdaxAligns.map(humanBytes).join(', ')})`);
              return a;
            });
      for (const align of aligns)
        for (const map of maps)
          for (const generation of gens) {
            if (size % Math.max(align, 16 * 2 ** 20))
              throw new KernelError(EINVAL, `plan: --size ${sizeText} is not a multiple of max(align ${humanBytes(align)}, 16 MiB)`);
            configs.push({ arch, size, align, map, generation });
          }
    }
  } catch (e) {
    return reportError(ctx, e, USAGE);
  }
  try {
    const rows = configs.map(planMemmap);
    if (flag(o['json'])) {
      ctx.out.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    ctx.out.out(
      table([
        ['arch', 'size', 'align', 'map', 'generation', 'RAM: struct pages', 'RAM: page tables', 'device', 'struct pages written'],
        ...rows.map((r) => [
          r.arch,
          humanBytes(r.size),
          humanBytes(r.align),
          r.map,
          r.generation,
          ...memmapCostCells(r),
        ]),
      ]),
    );
    return 0;
  } catch (e) {
    return reportError(ctx, e);
  }
}

export const planCommand: Command = {
  path: ['plan'],
  synopsis: 'daxsim plan --size SIZE --align A[,A...] --map mem|dev --arch ARCH[,...] --generation G[,...] [--json]',
  summary: 'the memmap cost of a devdax namespace of any size, planned (checked against the simulation)',
  options: OPTS,
  run: plan,
};

