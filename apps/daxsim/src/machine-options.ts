import {
  ALL_VMEMMAP_GENERATIONS,
  ARCH_PROFILES,
  type ArchProfile,
  KERNELS,
  type KernelRelease,
  DEFAULT_KERNEL_VERSION,
  KERNEL_VERSIONS,
  type KernelVersion,
  VMEMMAP_OPTIMIZE_RULES,
  type VmemmapOptimizeRule,
  isKernelVersion,
  isVmemmapGeneration,
  DEFAULT_PLATFORM,
  MEMMAP_INIT_VARIANTS,
  PLATFORMS,
  PLATFORM_NAMES,
  isMemmapInitVariant,
  isPlatformName,
} from '@daxsim/mm';
import { DEFAULT_CONFIG, MACHINE_TYPES, type MachineConfig, type PmemConfig, parseSize } from '@daxsim/machine';
import { type OptSpec, UsageError, flag, list, str } from './args.js';
import type { CommandContext } from './command.js';

/** The options of `machine create` (and of a scenario's `machine` line), and the configuration they make. */
export const machineCreateOptions: OptSpec[] = [
  { long: 'arch', arg: 'arch', help: `architecture: ${Object.keys(ARCH_PROFILES).join(', ')} (default x86_64)` },
  { long: 'ram', arg: 'size', repeat: true, help: 'RAM of the next NUMA node (repeat for more nodes; default 64G)' },
  {
    long: 'pmem',
    arg: 'size[:labels]',
    repeat: true,
    help: "a persistent-memory region regionN (repeatable): label-less like QEMU's default NVDIMM (namespaceN.0 raw over all of it); ':labels' for a labelled region with an idle seed namespace",
  },
  { long: 'soft-reserved', arg: 'size', repeat: true, help: 'a soft-reserved range: a dynamic dax region (repeatable)' },
  {
    long: 'cxl-memdev',
    arg: 'size[:pmem]',
    repeat: true,
    help:
      "a CXL type-3 memdev memN (repeatable; a multiple of 256M), volatile, or persistent with ':pmem'. As QEMU: all memdevs sit behind one host bridge " +
      "(-device pxb-cxl,bus_nr=12,id=cxl.1), each on a root port of its own (-device cxl-rp,port=N,chassis=0,slot=N), as " +
      "-device cxl-type3,bus=rpN,volatile-memdev=memN (:pmem: persistent-memdev=memN,lsa=...); one CFMWS window decoder0.0 holds them all " +
      "(-M cxl=on,cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=<sum of the memdevs>,cxl-fmw.0.interleave-granularity=256) on a memory-only NUMA node of its own",
  },
  {
    long: 'kernel',
    arg: 'version',
    help: `the kernel release: ${KERNEL_VERSIONS.join(', ')} (default ${DEFAULT_KERNEL_VERSION}): every piece of the stack as that release has it (its row of the generation registry: vmemmap, faults and refcounts, GUP, struct page layout, dax_set_mapping() rounding, vmemmap_can_optimize() rule, paging, hotplug defaults)`,
  },
  {
    long: 'cpu-la57',
    help: 'x86_64: the CPU has LA57 (the default, as on the measured 6.1 and 7.3 boxes), so the kernel pages 5-level; --no-cpu-la57 for a CPU without',
  },
  {
    long: 'generation',
    arg: 'gen',
    help: `the vmemmap generation, overriding the kernel's: ${ALL_VMEMMAP_GENERATIONS.join(', ')} (tail-reuse-pmd and shared-tail are proposals, never a kernel's)`,
  },
  {
    long: 'vmemmap-optimize-rule',
    arg: 'rule',
    help: `vmemmap_can_optimize() rule, overriding the kernel's: ${VMEMMAP_OPTIMIZE_RULES.join(', ')} (seed: v5.19; altmap-fix: 87a7ae75d738, v6.4; reserve-nr: v6.6)`,
  },
  { long: 'ppc64-mmu', arg: 'radix|hash', help: 'ppc64: the MMU the kernel runs under (default radix; vmemmap dedup only under radix)' },
  {
    long: 'set-mapping-index',
    arg: 'align-down|align-up',
    help: "dax_set_mapping()'s page->index, overriding the kernel's: align-down (7fcbd9785d4c, 2024) or align-up (the seed's patch 5)",
  },
  {
    long: 'soft-reserved-node',
    arg: 'nid',
    repeat: true,
    help: 'the NUMA node of the next soft-reserved range (its target_node; default 0): CXL/HBM memory often has a node of its own',
  },
  {
    long: 'auto-online',
    arg: 'policy',
    help: "auto_online_blocks (memhp_default_state=): offline, online, online_kernel or online_movable: what the kernel does with hot-added memory blocks (default: the named --kernel's distribution build, Debian's 7.3 online, else offline)",
  },
  {
    long: 'machine-type',
    arg: 'type',
    help: `where firmware puts RAM and devices: ${MACHINE_TYPES.join(', ')} (x86-64 default pc: RAM above 3 GiB moves above 4 GiB, device memory after it on a 1 GiB boundary; flat: RAM in one piece from 0, the default of other arches)`,
  },
  { long: 'memmap-on-memory', help: 'memory_hotplug.memmap_on_memory=1: hot-added blocks may hold their own memmap' },
  {
    long: 'platform',
    arg: 'name',
    help: `the CPU + memory profile the modelled kernel times are for: ${PLATFORM_NAMES.map((n) => `${n} (${PLATFORMS[n]!.description})`).join('; ')} (default ${DEFAULT_PLATFORM})`,
  },
  {
    long: 'memmap-init',
    arg: 'variant',
    help: `how memmap_init_zone_device() writes struct pages: ${MEMMAP_INIT_VARIANTS.join(', ')} (template-nt: Li Zhe's proposal, v5, not merged; default per-page)`,
  },
  { long: 'force', short: 'f', help: 'replace an existing machine' },
  { long: 'help', short: 'h', help: 'show this help' },
];

const optional = <T>(v: string | undefined, parse: (v: string) => T): T | undefined => (v === undefined ? undefined : parse(v));

/** A `--kernel` value: a release of @daxsim/mm's KERNELS (a proposal is a generation, never a kernel). */
export function kernelOption(v: string): KernelVersion {
  if (!isKernelVersion(v)) throw new UsageError(`invalid --kernel '${v}': one of ${KERNEL_VERSIONS.join(', ')} (proposals are generations: --generation tail-reuse-pmd or shared-tail)`);
  return v;
}

/** `--kernel V[,V...]` (the option may repeat) as registry rows; with none, `--cpu-la57` has no paging to pick. */
export function kernelsOption(o: CommandContext['parsed']['opts']): KernelRelease[] {
  const kernels = list(o['kernel'])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => KERNELS[kernelOption(v)]);
  if (typeof o['cpu-la57'] === 'boolean' && !kernels.length)
    throw new UsageError('--cpu-la57 picks the paging of a --kernel (without --kernel, name the paging with --arch x86_64-la57)');
  return kernels;
}

/** `--arch A[,A...]` as profiles (x86_64 when absent). */
export function archesOption(text: string | undefined): ArchProfile[] {
  return (text ?? 'x86_64')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)
    .map((a) => {
      const p = (ARCH_PROFILES as Record<string, ArchProfile>)[a];
      if (!p) throw new UsageError(`invalid --arch '${a}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
      return p;
    });
}

/** A `--vmemmap-optimize-rule` value. */
export function ruleOption(v: string): VmemmapOptimizeRule {
  if (!(VMEMMAP_OPTIMIZE_RULES as readonly string[]).includes(v)) throw new UsageError(`invalid --vmemmap-optimize-rule '${v}': one of ${VMEMMAP_OPTIMIZE_RULES.join(', ')}`);
  return v as VmemmapOptimizeRule;
}

/** A `--ppc64-mmu` value. */
export function ppc64MmuOption(v: string): 'radix' | 'hash' {
  if (v !== 'radix' && v !== 'hash') throw new UsageError(`invalid --ppc64-mmu '${v}': radix or hash`);
  return v;
}

function sizes(name: string, values: string[]): number[] {
  return values.map((v) => {
    const n = parseSize(v);
    if (n === undefined) throw new UsageError(`failed to parse --${name} size '${v}'`);
    return n;
  });
}

/** `--pmem 16G` (label-less) or `--pmem 16G:labels`. */
function pmemRegion(v: string): PmemConfig {
  const m = /^(.*?)(?::(labels|nolabels))?$/.exec(v)!;
  const size = parseSize(m[1]!);
  if (size === undefined) throw new UsageError(`failed to parse --pmem '${v}': SIZE or SIZE:labels`);
  return { size, labels: m[2] === 'labels' };
}

/** `--cxl-memdev 4G` (volatile) or `--cxl-memdev 4G:pmem`. */
function cxlMemdev(v: string): { size: number; pmem: boolean } {
  const m = /^(.*?)(?::(pmem|ram))?$/.exec(v)!;
  const size = parseSize(m[1]!);
  if (size === undefined) throw new UsageError(`failed to parse --cxl-memdev '${v}': SIZE or SIZE:pmem`);
  return { size, pmem: m[2] === 'pmem' };
}

/** Parses `machine create` options into a configuration (usage errors for malformed ones). */
export function machineConfigFromOptions(o: CommandContext['parsed']['opts']): MachineConfig {
  const arch = str(o['arch']) ?? DEFAULT_CONFIG.arch;
  if (!(arch in ARCH_PROFILES)) throw new UsageError(`invalid arch '${arch}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  const gen = str(o['generation']);
  if (gen !== undefined && !isVmemmapGeneration(gen)) throw new UsageError(`invalid generation '${gen}': one of ${ALL_VMEMMAP_GENERATIONS.join(', ')}`);
  const kernel = optional(str(o['kernel']), kernelOption);
  const rule = optional(str(o['vmemmap-optimize-rule']), ruleOption);
  const mmu = optional(str(o['ppc64-mmu']), ppc64MmuOption);
  const la57 = o['cpu-la57'];
  const smi = str(o['set-mapping-index']);
  if (smi !== undefined && smi !== 'align-down' && smi !== 'align-up') throw new UsageError(`invalid --set-mapping-index '${smi}': align-down or align-up`);
  const ram = sizes('ram', list(o['ram']));
  const autoOnline = str(o['auto-online']);
  if (autoOnline !== undefined && !['offline', 'online', 'online_kernel', 'online_movable'].includes(autoOnline))
    throw new UsageError(`invalid --auto-online '${autoOnline}': offline, online, online_kernel or online_movable`);
  const machineType = str(o['machine-type']);
  if (machineType !== undefined && !(MACHINE_TYPES as readonly string[]).includes(machineType))
    throw new UsageError(`invalid --machine-type '${machineType}': one of ${MACHINE_TYPES.join(', ')}`);
  const srNodes = list(o['soft-reserved-node']).map((v) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`invalid --soft-reserved-node '${v}': a node number`);
    return Number(v);
  });
  const platform = str(o['platform']);
  if (platform !== undefined && !isPlatformName(platform)) throw new UsageError(`invalid --platform '${platform}': one of ${PLATFORM_NAMES.join(', ')}`);
  const memmapInit = str(o['memmap-init']);
  if (memmapInit !== undefined && !isMemmapInitVariant(memmapInit)) throw new UsageError(`invalid --memmap-init '${memmapInit}': one of ${MEMMAP_INIT_VARIANTS.join(', ')}`);
  const cfg: MachineConfig = {
    arch,
    ram: ram.length ? ram : DEFAULT_CONFIG.ram,
    pmem: list(o['pmem']).map(pmemRegion),
    softReserved: sizes('soft-reserved', list(o['soft-reserved'])),
    ...(kernel !== undefined ? { kernel } : {}),
    ...(typeof la57 === 'boolean' ? { cpuLa57: la57 } : {}),
    ...(gen !== undefined ? { generation: gen } : {}),
    ...(rule !== undefined ? { vmemmapOptimizeRule: rule } : {}),
    ...(mmu !== undefined ? { ppc64Mmu: mmu } : {}),
    ...(smi !== undefined ? { setMappingIndex: smi } : {}),
    ...(srNodes.length ? { softReservedNodes: srNodes } : {}),
    ...(list(o['cxl-memdev']).length ? { cxlMemdevs: list(o['cxl-memdev']).map(cxlMemdev) } : {}),
    ...(autoOnline !== undefined ? { autoOnline } : {}),
    ...(machineType !== undefined ? { machineType } : {}),
    ...(flag(o['memmap-on-memory']) ? { memmapOnMemory: true } : {}),
    ...(platform !== undefined ? { platform } : {}),
    ...(memmapInit !== undefined ? { memmapInit } : {}),
  };
  return cfg;
}

