import {
  ALL_VMEMMAP_GENERATIONS,
  ARCH_PROFILES,
  DEFAULT_VMEMMAP_OPTIMIZE_RULE,
  EINVAL,
  KERNEL_VERSIONS,
  type KernelRelease,
  KernelError,
  VMEMMAP_OPTIMIZE_RULES,
  type VmemmapGeneration,
  type VmemmapOptimizeRule,
  archForKernel,
  SZ_1G,
  errnoName,
  isVmemmapGeneration,
} from '@daxsim/mm';
import { DEFAULT_CPU_LA57, type MemmapCost, type PlanInput, humanBytes, parseSize, planMemmap } from '@daxsim/machine';
import type { MapLocation } from '@daxsim/nvdimm';
import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { memmapCostCells, table } from '../output.js';
import { PLAN_SYSTEM_RAM_OPTS, type RamShares, planSystemRamCommand, ramShares, withShares } from '../plan-system-ram.js';
import { archesOption, kernelsOption, ppc64MmuOption, ruleOption } from '../machine-options.js';
import { exitStatus, reportError } from '../session.js';

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
  'daxsim plan --size SIZE [--mode devdax|system-ram] [--kernel V,...] [--align A,...] [--map mem|dev] [--arch ARCH,...] [--generation G,...] [--vmemmap-optimize-rule R,...] [--memmap-on-memory] [--ram R] [--json]',
  OPTS,
);

/** One configuration of a plan: the planner's input and the kernel it stands for. */
interface PlanConfig extends PlanInput {
  kernel: KernelRelease | undefined;
  rule: VmemmapOptimizeRule;
  /** Why the kernel refuses this configuration before any memmap is built (an align it does not support, a misaligned size). */
  refused?: KernelError;
}

/** A planned row: the four numbers, or the errno the kernel refuses this configuration with. */
type PlanRow = (MemmapCost | { arch: string; size: number; align: number; map: MapLocation; generation: string; errno: string; error: string }) & {
  kernel?: string;
  vmemmap_optimize_rule: VmemmapOptimizeRule;
  /** With --ram: the RAM the shares are of, and each cost as a fraction of it. */
  ram?: number;
  share_of_ram?: RamShares;
};

function planRow(c: PlanConfig, ram: number | undefined): PlanRow {
  const who = { ...(c.kernel ? { kernel: c.kernel.version } : {}), vmemmap_optimize_rule: c.rule };
  const refused = (e: KernelError): PlanRow => {
    const row = { arch: c.arch.name, size: c.size, align: c.align, map: c.map, generation: c.generation, errno: errnoName(e.errno), error: e.message, ...who };
    REFUSED_ERRNO.set(row, e.errno);
    return row;
  };
  if (c.refused) return refused(c.refused);
  try {
    const cost = planMemmap(c);
    return { ...cost, ...who, ...(ram !== undefined ? { ram, share_of_ram: ramShares(cost, ram) } : {}) };
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    // the kernel of this row refuses the namespace (EOPNOTSUPP where compound_nr_pages() would overrun, ENOMEM where
    // the altmap cannot hold the memmap): a row that says so; the other configurations are planned all the same
    return refused(e);
  }
}

/** The errno of each refused row (the row itself names it, symbolically). */
const REFUSED_ERRNO = new WeakMap<object, number>();

const listOpt = (v: string | undefined, dflt: string[]) => (v === undefined ? dflt : v.split(',').map((s) => s.trim()).filter(Boolean));

/**
 * The status of a plan: 0 when at least one configuration was planned;
 * when the kernel refuses every one, the first refusal's errno (as a
 * single refused configuration exits).
 */
export function planStatus(rows: readonly object[], errnoOf: (row: object) => number | undefined = (r) => REFUSED_ERRNO.get(r)): number {
  const refused = rows.map(errnoOf).filter((e): e is number => e !== undefined);
  if (!rows.length || refused.length < rows.length) return 0;
  return exitStatus(refused[0]!);
}

function plan(ctx: CommandContext): number {
  const o = ctx.parsed.opts;
  const mode = str(o['mode']);
  if (mode === 'system-ram') return planSystemRamCommand(ctx);
  if (mode !== undefined && mode !== 'devdax') return reportError(ctx, new UsageError(`invalid --mode '${mode}': devdax or system-ram`), USAGE);
  let configs: PlanConfig[];
  let ram: number | undefined;
  try {
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    // dax_kmem's option: a devdax namespace has no memory blocks to put its memmap on (that is --map dev)
    if (flag(o['memmap-on-memory']))
      throw new KernelError(EINVAL, 'plan: --memmap-on-memory is dax_kmem\'s (--mode system-ram); a devdax namespace puts its struct pages on the device with --map dev');
    const sizeText = str(o['size']);
    if (sizeText === undefined) throw new UsageError('--size is required');
    const pm = /^(\d+)[pP]$/.exec(sizeText);
    const size = pm ? Number(pm[1]) * 2 ** 50 : parseSize(sizeText);
    if (size === undefined || size <= 0) throw new UsageError(`failed to parse --size '${sizeText}'`);
    const ramText = str(o['ram']);
    ram = ramText === undefined ? undefined : parseSize(ramText);
    if (ramText !== undefined && (ram === undefined || ram <= 0)) throw new UsageError(`failed to parse --ram '${ramText}'`);
    const arches = archesOption(str(o['arch']));
    const maps = listOpt(str(o['map']), ['mem', 'dev']).map((m) => {
      if (m !== 'mem' && m !== 'dev') throw new UsageError(`invalid --map '${m}': mem or dev`);
      return m as MapLocation;
    });
    const kernels = kernelsOption(o);
    const la57 = o['cpu-la57'];
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
    const alignValues = alignTexts?.split(',').map((t) => {
      const a = parseSize(t.trim());
      if (a === undefined) throw new UsageError(`failed to parse --align '${t}'`);
      return { text: t.trim(), a };
    });
    // --ram: the machine's boot RAM at 0 and the namespace on the next 1 GiB boundary (machine create's flat layout)
    const placement = ram === undefined ? {} : { ram: [{ start: 0, size: ram }], start: Math.ceil(ram / SZ_1G) * SZ_1G };
    configs = [];
    for (const kernel of kernels.length ? kernels : [undefined])
      for (const arch0 of arches) {
        // the paging this kernel runs on this CPU (7.3 with LA57: 5-level)
        const arch = kernel ? archForKernel(kernel, arch0, typeof la57 === 'boolean' ? la57 : DEFAULT_CPU_LA57) : arch0;
        const aligns = alignValues ?? arch.devdaxAligns.map((a) => ({ text: humanBytes(a), a }));
        const kgens: readonly VmemmapGeneration[] = gens ?? (kernel ? [kernel.vmemmap] : ALL_VMEMMAP_GENERATIONS);
        const krules: readonly VmemmapOptimizeRule[] = rules ?? [kernel ? kernel.vmemmapOptimizeRule : DEFAULT_VMEMMAP_OPTIMIZE_RULE];
        for (const { text, a: align } of aligns) {
          // nd_pfn's align_store(): an align outside nd_pfn_supported_alignments() is -EINVAL (ndctl: "unsupported align")
          const badAlign = arch.devdaxAligns.includes(align)
            ? undefined
            : new KernelError(
                EINVAL,
                `plan: --align ${text}: ${arch.name} supports ${arch.devdaxAligns.map(humanBytes).join(', ')} (nd_pfn_supported_alignments(): PAGE_SIZE, HPAGE_PMD_SIZE${arch.devdaxAligns.length > 2 ? ', HPAGE_PUD_SIZE' : `; no THP-PUD on ${arch.name}`})`,
              );
          const badSize =
            size % Math.max(align, 16 * 2 ** 20) === 0
              ? undefined
              : new KernelError(EINVAL, `plan: --size ${sizeText} is not a multiple of max(align ${humanBytes(align)}, 16 MiB)`);
          const refused = badAlign ?? badSize;
          for (const map of maps)
            for (const generation of kgens)
              for (const rule of krules)
                configs.push({
                  kernel,
                  arch,
                  size,
                  align,
                  map,
                  generation,
                  rule,
                  // the release's Kconfig gate on vmemmap_can_optimize(); without --kernel, the rule's (generation.ts)
                  ...(kernel ? { gate: kernel.daxVmemmapGate } : {}),
                  ...(mmu !== undefined ? { ppc64Mmu: mmu } : {}),
                  ...placement,
                  ...(refused ? { refused } : {}),
                });
        }
      }
  } catch (e) {
    return reportError(ctx, e, USAGE);
  }
  try {
    const rows = configs.map((c) => planRow(c, ram));
    const status = planStatus(rows);
    if (flag(o['json'])) {
      ctx.out.out(JSON.stringify(rows, null, 2));
      return status;
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
          ...('errno' in r ? [`refused: ${r.errno}`, '', '', ''] : withShares(memmapCostCells(r), r.share_of_ram)),
        ]),
      ]),
    );
    // each reason once, however many rows it refused
    for (const why of new Set(rows.flatMap((r) => ('errno' in r ? [r.error] : [])))) ctx.out.err(`daxsim: ${why}`);
    return status;
  } catch (e) {
    return reportError(ctx, e);
  }
}

export const planCommand: Command = {
  path: ['plan'],
  synopsis: 'daxsim plan --size SIZE [--mode devdax|system-ram] [--kernel V[,V...]] --align A[,A...] --map mem|dev --arch ARCH[,...] --generation G[,...] [--ram R] [--json]',
  summary: 'the memmap cost of a devdax namespace (or a system-ram device) of any size, planned (checked against the simulation); a configuration the kernel refuses is a row',
  options: OPTS,
  run: plan,
};

