import { type ArchProfile, X86_64, X86_64_LA57 } from './arch.js';
import type { VmemmapGeneration, VmemmapOptimizeRule } from './generation.js';

/** Kernel releases a machine can be told to run (`--kernel`). */
export const KERNEL_VERSIONS = ['5.15', '5.19', '6.1', '6.6', '7.3'] as const;
export type KernelVersion = (typeof KERNEL_VERSIONS)[number];

/**
 * How the kernel's x86-64 page tables are chosen: `4-level` always, or
 * `5-level-if-la57` — 5-level paging when the CPU has LA57 (the la57 arch
 * profile), 4-level otherwise.
 */
export type PagingPolicy = '4-level' | '5-level-if-la57';

/** What one kernel release runs, piece by piece (names are the model's generation names). */
export interface KernelSpec {
  readonly version: KernelVersion;
  /** The vmemmap generation device-dax gets (@daxsim/mm VmemmapGeneration). */
  readonly vmemmapGeneration: VmemmapGeneration;
  /** The __gup_device_huge generation (@daxsim/gup GupGeneration). */
  readonly gupGeneration: 'per-page' | 'head-once' | 'grab-first';
  /** How dax_set_mapping() rounds the fault address (@daxsim/device-dax SetMappingIndex). */
  readonly setMappingIndex: 'align-down' | 'align-up';
  /** Which vmemmap_can_optimize() it runs. */
  readonly vmemmapOptimizeRule: VmemmapOptimizeRule;
  readonly paging: PagingPolicy;
}

/**
 * The kernels, each fact with where it comes from. Proposals (the seed's
 * patch 14 = `tail-reuse-pmd`, Muchun Song's `shared-tail`) are generations,
 * never a kernel. What the sources could not confirm is said in the mm README.
 */
export const KERNELS: Readonly<Record<KernelVersion, KernelSpec>> = {
  // v5.15: no compound devmaps yet (they came in v5.17); dev_dax_huge_fault
  // set page->index from ALIGN_DOWN of the address; CONFIG_X86_5LEVEL is a
  // build option (the model takes it off).
  '5.15': { version: '5.15', vmemmapGeneration: 'pre-series', gupGeneration: 'per-page', setMappingIndex: 'align-down', vmemmapOptimizeRule: 'seed', paging: '4-level' },
  // v5.19: 4917f55b4ef9 "mm/sparse-vmemmap: improve memory savings for
  // compound devmaps" (2 vmemmap pages per compound page); dax_set_mapping()
  // with ALIGN() as the seed's patch 5 wrote it.
  '5.19': { version: '5.19', vmemmapGeneration: 'tail-reuse', gupGeneration: 'per-page', setMappingIndex: 'align-up', vmemmapOptimizeRule: 'seed', paging: '4-level' },
  // v6.1: as 5.19 (87a7ae75d738 is mainline v6.4; its stable backport to
  // 6.1.y is not modelled).
  '6.1': { version: '6.1', vmemmapGeneration: 'tail-reuse', gupGeneration: 'per-page', setMappingIndex: 'align-up', vmemmapOptimizeRule: 'seed', paging: '4-level' },
  // v6.6: c1a6c536fb08 "mm/vmemmap: improve vmemmap_can_optimize and allow
  // architectures to override" (VMEMMAP_RESERVE_NR, ppc64 radix override).
  // 7fcbd9785d4c (dax_set_mapping ALIGN_DOWN) is later (2024).
  '6.6': { version: '6.6', vmemmapGeneration: 'tail-reuse', gupGeneration: 'per-page', setMappingIndex: 'align-up', vmemmapOptimizeRule: 'reserve-nr', paging: '4-level' },
  // v7.3-rc7, measured on Debian's experimental kernel: 2 vmemmap pages per
  // compound page at 2M and 1G (device-dax still tail-reuse), 5-level paging
  // on a CPU with LA57 (vmemmap_base 0xffd4000000000000); dax_set_mapping()
  // rounds down since 7fcbd9785d4c.
  '7.3': { version: '7.3', vmemmapGeneration: 'tail-reuse', gupGeneration: 'per-page', setMappingIndex: 'align-down', vmemmapOptimizeRule: 'reserve-nr', paging: '5-level-if-la57' },
};

export function isKernelVersion(s: string): s is KernelVersion {
  return (KERNEL_VERSIONS as readonly string[]).includes(s);
}

/**
 * The x86-64 page-table profile a kernel runs on a CPU: 5-level (the la57
 * profile, vmemmap_base 0xffd4000000000000) when the kernel pages that way
 * and the CPU has LA57, 4-level otherwise. Other architectures are returned
 * as given.
 */
export function archForKernel(spec: KernelSpec, arch: ArchProfile, cpuHasLa57: boolean): ArchProfile {
  if (!arch.name.startsWith('x86_64')) return arch;
  return spec.paging === '5-level-if-la57' && cpuHasLa57 ? X86_64_LA57 : X86_64;
}
