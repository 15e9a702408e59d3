import { SZ_1G, type ArchProfile } from '@daxsim/mm';


/**
 * memory_block_size_bytes() for a machine whose boot RAM ends at
 * `bootMemEnd` bytes. x86-64 (probe_memory_block_size(), 6.1): 128 MiB
 * (one section) below 64 GiB of boot memory; from 64 GiB on, the largest
 * power of two from 2 GiB down that the end of boot memory is aligned to
 * (UV, Xen and the memory_block_size= parameter are not modelled). Other
 * architectures: the generic MIN_MEMORY_BLOCK_SIZE, one memory section
 * (powerpc's pseries/powernv LMB sizes are not modelled).
 */
export function memoryBlockSizeBytes(arch: ArchProfile, bootMemEnd: number): number {
  const section = 2 ** arch.sectionSizeBits;
  if (!arch.name.startsWith('x86_64')) return section;
  const MEM_SIZE_FOR_LARGE_BLOCK = 64 * SZ_1G;
  const MAX_BLOCK_SIZE = 2 * SZ_1G;
  if (bootMemEnd < MEM_SIZE_FOR_LARGE_BLOCK) return section;
  let bz = MAX_BLOCK_SIZE;
  for (; bz > section; bz /= 2) if (bootMemEnd % bz === 0) break;
  return bz;
}
