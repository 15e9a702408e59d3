import { ARCH_PROFILES, VMEMMAP_GENERATIONS, isVmemmapGeneration } from '@daxsim/mm';
import { DEFAULT_CONFIG, type MachineConfig, type PmemConfig, parseSize } from '@daxsim/machine';
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
  { long: 'generation', arg: 'gen', help: `vmemmap generation the kernel runs: ${VMEMMAP_GENERATIONS.join(', ')} (default tail-reuse)` },
  {
    long: 'set-mapping-index',
    arg: 'align-down|align-up',
    help: "dax_set_mapping()'s page->index: align-down (the 2024 fix, default) or align-up (the seed's patch 5)",
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
    help: 'auto_online_blocks: offline (default), online, online_kernel or online_movable: what the kernel does with hot-added memory blocks',
  },
  { long: 'memmap-on-memory', help: 'memory_hotplug.memmap_on_memory=1: hot-added blocks may hold their own memmap' },
  { long: 'force', short: 'f', help: 'replace an existing machine' },
  { long: 'help', short: 'h', help: 'show this help' },
];

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

/** Parses `machine create` options into a configuration (usage errors for malformed ones). */
export function machineConfigFromOptions(o: CommandContext['parsed']['opts']): MachineConfig {
  const arch = str(o['arch']) ?? DEFAULT_CONFIG.arch;
  if (!(arch in ARCH_PROFILES)) throw new UsageError(`invalid arch '${arch}': one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  const gen = str(o['generation']);
  if (gen !== undefined && !isVmemmapGeneration(gen)) throw new UsageError(`invalid generation '${gen}': one of ${VMEMMAP_GENERATIONS.join(', ')}`);
  const smi = str(o['set-mapping-index']);
  if (smi !== undefined && smi !== 'align-down' && smi !== 'align-up') throw new UsageError(`invalid --set-mapping-index '${smi}': align-down or align-up`);
  const ram = sizes('ram', list(o['ram']));
  const autoOnline = str(o['auto-online']);
  if (autoOnline !== undefined && !['offline', 'online', 'online_kernel', 'online_movable'].includes(autoOnline))
    throw new UsageError(`invalid --auto-online '${autoOnline}': offline, online, online_kernel or online_movable`);
  const srNodes = list(o['soft-reserved-node']).map((v) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`invalid --soft-reserved-node '${v}': a node number`);
    return Number(v);
  });
  const cfg: MachineConfig = {
    arch,
    ram: ram.length ? ram : DEFAULT_CONFIG.ram,
    pmem: list(o['pmem']).map(pmemRegion),
    softReserved: sizes('soft-reserved', list(o['soft-reserved'])),
    ...(gen !== undefined ? { generation: gen } : {}),
    ...(smi !== undefined ? { setMappingIndex: smi } : {}),
    ...(srNodes.length ? { softReservedNodes: srNodes } : {}),
    ...(autoOnline !== undefined ? { autoOnline } : {}),
    ...(flag(o['memmap-on-memory']) ? { memmapOnMemory: true } : {}),
  };
  return cfg;
}

