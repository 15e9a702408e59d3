import { type Machine, humanBytes, vmemmapLayout } from '@daxsim/machine';

/**
 * A device's vmemmap drawn the way Documentation/mm/vmemmap_dedup.rst draws
 * it: the vmemmap pages (virtual) of one compound page on the left, the
 * frames their page-table entries point at on the right, shared frames
 * marked (for shared-tail, as v7 of the compound_info series draws HugeTLB:
 * page 0 on a frame of its own, every other page on the zone's one
 * read-only tail frame); then the whole device summarised. Everything is
 * read back from the kernel page tables (vmemmapLayout), not derived.
 */
export function drawLayout(m: Machine, devName: string, page: number): string {
  const l = vmemmapLayout(m, devName, page);
  const nr = 2 ** l.order;
  const lines: string[] = [];
  lines.push(
    `${devName}: compound page ${page} of order ${l.order} (${humanBytes(nr * m.arch.pageSize)}), struct pages of pfns 0x${l.headPfn.toString(16)}-0x${(l.headPfn + nr - 1).toString(16)}`,
  );
  lines.push(`generation ${l.generation}; ${l.structPagesPerPage} struct pages per ${humanBytes(m.arch.pageSize)} vmemmap page`);
  lines.push('');
  lines.push('  vmemmap (virtual)                       frame (physical)');
  let runStart = -1;
  const flush = (upTo: number) => {
    if (runStart >= 0 && upTo > runStart) lines.push(`  │ vmemmap pages ${runStart}..${upTo - 1} (${upTo - runStart}) ──┘ same frame`);
    runStart = -1;
  };
  for (const p of l.pages) {
    const prev = l.pages[p.index - 1];
    if (prev && p.frame === prev.frame && p.frame >= 0 && p.writable === prev.writable) {
      if (runStart < 0) runStart = p.index;
      continue;
    }
    flush(p.index);
    const what = p.index === 0 ? 'head page + tails' : 'tail pages';
    const ro = p.frame >= 0 && !p.writable ? ', read-only' : '';
    const mark = p.sharedTail
      ? `  ◀ the zone's shared tail (node ${p.sharedTail.nid}, order ${p.sharedTail.order})${ro}: shared by ${p.frameUsers} vmemmap pages of the device and every device of that order on the node`
      : p.frameUsers > 1
        ? `  ◀ shared by ${p.frameUsers} vmemmap pages of the device${ro}`
        : ro;
    lines.push(`  ├ ${p.va}  page ${p.index} ─────▶ ${p.frame < 0 ? '(not mapped)' : `pfn 0x${p.frame.toString(16)}`}  ${what}${mark}`);
  }
  flush(l.pages.length);
  lines.push('');
  lines.push(
    `device: ${l.vmemmapPages} vmemmap pages map ${l.frames} frames (${humanBytes(l.frames * m.arch.pageSize)}); ` +
      `${l.sharedFrames} frames are shared, by ${l.sharedFrameUsers} vmemmap pages`,
  );
  return lines.join('\n');
}
