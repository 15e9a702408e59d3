import { pfnFirst, pgmapVmemmapShift } from '@daxsim/memremap';
import { EINVAL, ENXIO, KernelError, structPagesPerPage } from '@daxsim/mm';
import { type Machine, humanBytes } from '@daxsim/machine';

/**
 * A device's vmemmap drawn the way Documentation/vm/vmemmap_dedup.rst draws
 * it: the vmemmap pages (virtual) of one compound page on the left, the
 * frames their page-table entries point at on the right, shared frames
 * marked; then the whole device summarised. Everything is read back from the
 * kernel page tables, not derived.
 */
export function drawLayout(m: Machine, devName: string, page: number): string {
  const dev = m.daxDevice(devName);
  if (!dev.bound || !dev.pgmap) throw new KernelError(ENXIO, `layout: ${devName} is not enabled (no memmap to draw)`);
  const k = m.k;
  const pgmap = dev.pgmap;
  const shift = pgmapVmemmapShift(k, pgmap);
  const nr = 2 ** shift;
  const spp = structPagesPerPage(m.arch);
  const first = pfnFirst(k, pgmap, 0);
  const head = first + page * nr;
  const lastPfn = Math.floor(pgmap.ranges[0]!.end / m.arch.pageSize);
  if (head + nr - 1 > lastPfn) throw new KernelError(EINVAL, `layout: --page ${page} is beyond ${devName}'s first range`);

  // How many vmemmap pages of the whole device map each frame.
  const users = new Map<number, number>();
  let vmemmapPages = 0;
  for (const r of pgmap.ranges) {
    const lo = Math.floor(r.start / m.arch.pageSize / spp);
    const hi = Math.floor(r.end / m.arch.pageSize / spp);
    for (let vmi = lo; vmi <= hi; vmi++) {
      const f = k.mmu.resolveFrame(vmi);
      if (f < 0) continue;
      vmemmapPages++;
      users.set(f, (users.get(f) ?? 0) + 1);
    }
  }
  const shared = [...users.values()].filter((u) => u > 1);

  const lines: string[] = [];
  const order = shift;
  lines.push(
    `${devName}: compound page ${page} of order ${order} (${humanBytes(nr * m.arch.pageSize)}), struct pages of pfns 0x${head.toString(16)}-0x${(head + nr - 1).toString(16)}`,
  );
  lines.push(`generation ${m.generation}; ${spp} struct pages per ${humanBytes(m.arch.pageSize)} vmemmap page`);
  lines.push('');
  lines.push('  vmemmap (virtual)                       frame (physical)');
  const firstVmi = Math.floor(head / spp);
  const lastVmi = Math.floor((head + nr - 1) / spp);
  let prevFrame = -2;
  let runStart = -1;
  const flush = (upTo: number) => {
    if (runStart >= 0 && upTo > runStart)
      lines.push(`  │ vmemmap pages ${runStart - firstVmi + 1}..${upTo - firstVmi} (${upTo - runStart}) ──┘ same frame`);
    runStart = -1;
  };
  for (let vmi = firstVmi; vmi <= lastVmi; vmi++) {
    const f = k.mmu.resolveFrame(vmi);
    if (f === prevFrame && f >= 0) {
      if (runStart < 0) runStart = vmi;
      continue;
    }
    flush(vmi);
    const va = k.mmu.kernelVa(k.mmu.vmemmapVa(vmi * spp)).toString(16);
    const what = vmi === firstVmi ? 'head page + tails' : 'tail pages';
    const u = users.get(f) ?? 0;
    const mark = u > 1 ? `  ◀ shared by ${u} vmemmap pages of the device` : '';
    lines.push(`  ├ ${va}  page ${vmi - firstVmi} ─────▶ ${f < 0 ? '(not mapped)' : `pfn 0x${f.toString(16)}`}  ${what}${mark}`);
    prevFrame = f;
  }
  flush(lastVmi + 1);
  lines.push('');
  lines.push(
    `device: ${vmemmapPages} vmemmap pages map ${users.size} frames (${humanBytes(users.size * m.arch.pageSize)}); ` +
      `${shared.length} frames are shared, by ${shared.reduce((a, b) => a + b, 0)} vmemmap pages`,
  );
  return lines.join('\n');
}
