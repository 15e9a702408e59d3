import {
  ALL_VMEMMAP_GENERATIONS,
  ARCH_PROFILES,
  type ArchProfile,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  EINVAL,
  KERNELS,
  KERNEL_VERSIONS,
  type KernelRelease,
  KernelError,
  VMEMMAP_OPTIMIZE_RULES,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  archForKernel,
  errnoName,
  isVmemmapGeneration,
} from '@daxsim/mm';
import { DEFAULT_CPU_LA57, type MemmapCost, type PlanInput, humanBytes, parseSize, planMemmap } from '@daxsim/machine';
import type { MapLocation } from '@daxsim/nvdimm';
import { type OptSpec, UsageError, flag, formatUsage, list, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { memmapCostCells, table } from '../output.js';
import { PLAN_SYSTEM_RAM_OPTS, planSystemRamCommand } from '../plan-system-ram.js';
import { kernelOption, ppc64MmuOption, ruleOption } from '../machine-options.js';
import { reportError } from '../session.js';

const OPTS: OptSpec[] = [
  { long: 'size', arg: 'size', help: 'namespace size (K/M/G/T/P suffixes)' },
  { long: 'align', arg: 'a[,a...]', help: 'device aligns: 4K, 2M, 1G (default 4K,2M,1G)' },
  { long: 'map', arg: 'mem|dev[,...]', help: 'where the struct pages live (default mem,dev)' },
  { long: 'arch', arg: 'arch[,...]', help: `architectures (default x86_64): ${Object.keys(ARCH_PROFILES).join(', ')}` },
  {
    long: 'kernel',
    arg: 'v[,v...]',
    repeat: true,
    help: `kernel releases side by side (repeatable): ${KERNEL_VERSIONS.join(', ')}; each plans with its own generation, vmemmap_can_optimize rule and x86-64 paging`,
  },
  { long: 'cpu-la57', help: 'with --kernel on x86_64: the CPU has LA57 (default; --no-cpu-la57 for one without): 7.3 pages 5-level' },
  {
    long: 'generation',
    arg: 'gen[,...]',
    help: `vmemmap generations (default: each --kernel's, else all): ${ALL_VMEMMAP_GENERATIONS.join(', ')} (tail-reuse-pmd and shared-tail are proposals)`,
  },
  {
    long: 'vmemmap-optimize-rule',
    arg: 'rule[,...]',
    help: `vmemmap_can_optimize() rules (default: each --kernel's, else ${DEFAULT_VMEMMAP_OPTIMIZE_RULE}): ${VMEMMAP_OPTIMIZE_RULES.join(', ')}`,
  },
  { long: 'ppc64-mmu', arg: 'radix|hash', help: 'ppc64: the MMU the kernel runs under (default radix)' },
  { long: 'json', help: 'print a JSON array, one object per configuration' },
  ...PLAN_SYSTEM_RAM_OPTS,
  { long: 'help', short: 'h', help: 'show this help' },
];
const USAGE = formatUsage(
  'daxsim plan --size SIZE [--mode devdax|system-ram] [--kernel V,...] [--align A,...] [--map mem|dev] [--arch ARCH,...] [--generation G,...] [--vmemmap-optimize-rule R,...] [--memmap-on-memory] [--json]',
  OPTS,
);

/** One configuration of a plan: the planner's input and the kernel it stands for. */
interface PlanConfig extends PlanInput {
  kernel: KernelRelease | undefined;
  rule: VmemmapOptimizeRule;
}

/** A planned row: the four numbers, or the errno the kernel refuses this configuration with. */
type PlanRow = (MemmapCost | { arch: string; size: number; align: number; map: MapLocation; generation: string; errno: string; error: string }) & {
  kernel?: string;
  vmemmap_optimize_rule: VmemmapOptimizeRule;
};

function planRow(c: PlanConfig): PlanRow {
  const who = { ...(c.kernel ? { kernel: c.kernel.version } : {}), vmemmap_optimize_rule: c.rule };
  try {
    return { ...planMemmap(c), ...who };
  } catch (e) {
    if (!(e instanceof KernelError) || e.errno === EINVAL) throw e;
    // the kernel of this row refuses the namespace (EOPNOTSUPP where compound_nr_pages() would overrun): a row that says so
    return { arch: c.arch.name, size: c.size, align: c.align, map: c.map, generation: c.generation, errno: errnoName(e.errno), error: e.message, ...who };
  }
}

const listOpt = (v: string | undefined, dflt: string[]) => (v === undefined ? dflt : v.split(',').map((s) => s.trim()).filter(Boolean));

function plan(ctx: CommandContext): number {
  const o = ctx.parsed.opts;
  const mode = str(o['mode']);
  if (mode === 'system-ram') return planSystemRamCommand(ctx);
  if (mode !== undefined && mode !== 'devdax') return reportError(ctx, new UsageError(`invalid --mode '${mode}': devdax or system-ram`), USAGE);
  let configs: PlanConfig[];
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
    const kernels = list(o['kernel'])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean)
      .map((v) => KERNELS[kernelOption(v)]);
    const la57 = o['cpu-la57'];
    if (typeof la57 === 'boolean' && !kernels.length) throw new UsageError('--cpu-la57 picks the paging of a --kernel (without --kernel, name the paging with --arch x86_64-la57)');
    const genTexts = str(o['generation']);
    const gens = genTexts === undefined ? undefined : listOpt(genTexts, []).map((g) => {
      if (!isVmemmapGeneration(g)) throw new UsageError(`invalid --generation '${g}': one of ${ALL_VMEMMAP_GENERATIONS.join(', ')}`);
      return g;
    });
    const ruleTexts = str(o['vmemmap-optimize-rule']);
    const rules = ruleTexts === undefined ? undefined : listOpt(ruleTexts, []).map(ruleOption);
    const mmuText = str(o['ppc64-mmu']);
    const mmu = mmuText === undefined ? undefined : ppc64MmuOption(mmuText);
    const alignTexts = str(o['align']);
    configs = [];
    for (const kernel of kernels.length ? kernels : [undefined])
      for (const arch0 of arches) {
        // the paging this kernel runs on this CPU (7.3 with LA57: 5-level)
        const arch = kernel ? archForKernel(kernel, arch0, typeof la57 === 'boolean' ? la57 : DEFAULT_CPU_LA57) : arch0;
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
        const kgens: readonly VmemmapGeneration[] = gens ?? (kernel ? [kernel.vmemmap] : ALL_VMEMMAP_GENERATIONS);
        const krules: readonly VmemmapOptimizeRule[] = rules ?? [kernel ? kernel.vmemmapOptimizeRule : DEFAULT_VMEMMAP_OPTIMIZE_RULE];
        for (const align of aligns)
          for (const map of maps)
            for (const generation of kgens)
              for (const rule of krules) {
                if (size % Math.max(align, 16 * 2 ** 20))
                  throw new KernelError(EINVAL, `plan: --size ${sizeText} is not a multiple of max(align ${humanBytes(align)}, 16 MiB)`);
                configs.push({ kernel, arch, size, align, map, generation, rule, ...(mmu !== undefined ? { ppc64Mmu: mmu } : {}) });
              }
      }
  } catch (e) {
    return reportError(ctx, e, USAGE);
  }
  try {
    const rows = configs.map(planRow);
    if (flag(o['json'])) {
      ctx.out.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    const withKernel = configs.some((c) => c.kernel);
    ctx.out.out(
      table([
        [
          ...(withKernel ? ['kernel'] : []),
          'arch',
          'size',
          'align',
          'map',
          'generation',
          'rule',
          'RAM: struct pages',
          'RAM: page tables',
          'device',
          'struct pages written',
        ],
        ...rows.map((r) => [
          ...(withKernel ? [r.kernel ?? ''] : []),
          r.arch,
          humanBytes(r.size),
          humanBytes(r.align),
          r.map,
          r.generation,
          r.vmemmap_optimize_rule,
          ...('errno' in r ? [`refused: ${r.errno}`, '', '', ''] : memmapCostCells(r)),
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
  synopsis: 'daxsim plan --size SIZE [--kernel V[,V...]] --align A[,A...] --map mem|dev --arch ARCH[,...] --generation G[,...] [--json]',
  summary: 'the memmap cost of a devdax namespace of any size, planned (checked against the simulation)',
  options: OPTS,
  run: plan,
};

