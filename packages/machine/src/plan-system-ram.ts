import { memoryBlockMemmapPages, memoryBlockSizeBytes, mhpSupportsMemmapOnMemory } from '@daxsim/kmem';
import { SZ_1G, type ArchProfile, EINVAL, KernelError, pagesPerSection, pagesPerSubsection, pmdSize } from '@daxsim/mm';
import type { SystemRamMemmap } from './system-ram-cost.js';


export interface SystemRamPlanInput {
  arch: ArchProfile;
  /** Bytes of the dax device. */
  size: number;
  /** Physical start of the device; default 65 GiB (a 64 GiB machine's first device, one GiB boundary on). */
  start?: number;
  /**
   * The machine's boot RAM, which sets the memory block size and whose boot
   * memmap built vmemmap page tables already. Default: 64 GiB at 0.
   */
  ram?: readonly { readonly start: number; readonly size: number }[];
  /** memory_hotplug.memmap_on_memory and the device's memmap_on_memory both on. */
  memmapOnMemory: boolean;
}

/** What the memmap of a device in system-ram mode takes, planned (`daxsim plan --mode system-ram`). */
export interface SystemRamPlan extends SystemRamMemmap {
  size: number;
  /** Bytes hot-added: the device trimmed to whole memory blocks. */
  hotplug_size: number;
}

/**
 * The memmap dax_kmem's hot-add builds, planned without building it: the
 * device trimmed to memory blocks (dev_dax_kmem_probe()), __add_pages()
 * section by section with vmemmap_populate()'s choice (PMD leaves where the
 * architecture maps the vmemmap with them, base pages otherwise), the PMD
 * blocks taken from each block's own altmap when memmap_on_memory applies,
 * the page tables that the boot memmap has not built already, and every
 * struct page written at online. Held against the simulation by its test.
 */
export function planSystemRam(p: SystemRamPlanInput): SystemRamPlan {
  const { arch, size } = p;
  const start = p.start ?? 65 * SZ_1G;
  const ram = p.ram ?? [{ start: 0, size: 64 * SZ_1G }];
  const ps = arch.pageSize;
  if (!Number.isSafeInteger(size) || size <= 0 || size % ps) throw new KernelError(EINVAL, `plan: --size ${size} is not a positive number of pages`);
  const bs = memoryBlockSizeBytes(arch, Math.max(...ram.map((r) => r.start + r.size)));
  const hpStart = Math.ceil(start / bs) * bs;
  const hpEnd = Math.floor((start + size) / bs) * bs;
  const base = { arch: arch.name, size, block_size: bs };
  if (hpEnd <= hpStart)
    throw new KernelError(EINVAL, `plan: a ${size}-byte device at ${start} has no whole ${bs}-byte memory block: dax_kmem rejects it (EINVAL)`);
  const mom = p.memmapOnMemory && mhpSupportsMemmapOnMemory(arch, bs);
  const sp = arch.structPageSize;
  const pps = pagesPerSection(arch);
  const pmd = pmdSize(arch);
  const top = BigInt(2 ** arch.levels[0]!.shift);
  const off = Number(arch.vmemmapStart % top);
  const vm = (pfn: number) => off + pfn * sp;
  const x86 = arch.name.startsWith('x86_64');
  let ramData = 0;
  let altmapPfns = 0;
  const pteTables = new Set<number>();
  const pmdBlocks = new Set<number>();
  let lastPage = -1;
  const basepages = (v0: number, v1: number) => {
    for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) pteTables.add(g);
    const first = Math.max(Math.floor(v0 / ps), lastPage + 1);
    const last = Math.ceil(v1 / ps) - 1;
    if (last >= first) ramData += last - first + 1;
    lastPage = Math.max(lastPage, last);
  };
  const startPfn = hpStart / ps;
  const endPfn = hpEnd / ps;
  for (let pfn = startPfn; pfn < endPfn; pfn += pps) {
    const v0 = vm(pfn);
    const v1 = vm(pfn + pps);
    if (x86 && v1 - v0 < pps * sp) basepages(v0, v1);
    else if (arch.vmemmapPmdMapped) {
      for (let g = Math.floor(v0 / pmd); g * pmd < v1; g++) {
        if (pmdBlocks.has(g)) continue;
        pmdBlocks.add(g);
        // vmemmap_populate_hugepages(): the block's altmap hands out PMD-aligned runs from its first pfns
        if (mom) altmapPfns += pmd / ps;
        else ramData += pmd / ps;
      }
    } else basepages(v0, v1);
  }
  const sub = pagesPerSubsection(arch);
  const boot = ram.map((r) => [vm(Math.ceil(r.start / ps / sub) * sub), vm(Math.floor((r.start + r.size) / ps / sub) * sub)] as const).filter(([a, b]) => b > a);
  const bootHas = (g: number, granule: number) => boot.some(([a, b]) => g * granule < b && (g + 1) * granule > a);
  let tables = 0;
  for (const g of pteTables) if (!bootHas(g, pmd)) tables++;
  const V0 = vm(startPfn);
  const V1 = vm(endPfn);
  for (let l = 1; l < arch.levels.length - 1; l++) {
    const granule = 2 ** arch.levels[l - 1]!.shift;
    for (let g = Math.floor(V0 / granule); g <= Math.floor((V1 - 1) / granule); g++) if (!bootHas(g, granule)) tables++;
  }
  if (mom && altmapPfns !== ((hpEnd - hpStart) / bs) * memoryBlockMemmapPages(arch, bs))
    throw new KernelError(EINVAL, `plan: memmap_on_memory's altmaps (${altmapPfns} pfns) do not match the blocks' memmap`);
  return {
    ...base,
    hotplug_size: hpEnd - hpStart,
    memmap_on_memory: mom,
    vmemmap_data_bytes: ramData * ps,
    vmemmap_pagetable_bytes: tables * ps,
    device_reserved_bytes: altmapPfns * ps,
    struct_pages_initialised: endPfn - startPfn,
  };
}
