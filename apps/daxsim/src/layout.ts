import { type Machine, type VmemmapPageView, humanBytes, vmemmapLayout } from '@daxsim/machine';

/** Up to this many vmemmap pages are drawn one by one; above it, runs of frames of their own are drawn as one line. */
const ONE_BY_ONE = 16;

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * A device's vmemmap drawn the way Documentation/mm/vmemmap_dedup.rst draws
 * it: the vmemmap pages (virtual) of one compound page, or of one 2 MiB
 * extent where the generation shares nothing (pre-series, compound), on the
 * left, the frames their page-table entries point at on the right, shared
 * frames marked (for shared-tail, as v7 of the compound_info series draws
 * HugeTLB: page 0 on a frame of its own, every other page on the zone's one
 * read-only tail frame), PMD-mapped vmemmap said as such; then the whole
 * pgmap summarised. Pages are numbered from the device's own first pfn, as
 * dax_pgoff_to_phys() counts. Everything is read back from the kernel page
 * tables (vmemmapLayout), not derived.
 */
export function drawLayout(m: Machine, devName: string, page: number): string {
  const l = vmemmapLayout(m, devName, page);
  const ps = m.arch.pageSize;
  const lines: string[] = [];
  const span = `struct pages of pfns ${hex(l.headPfn)}-${hex(l.headPfn + l.unitPfns - 1)}`;
  if (l.unit === 'compound page') {
    lines.push(`${devName}: compound page ${page} of order ${l.order} (${humanBytes(l.unitPfns * ps)}), ${span}`);
  } else {
    const cp = l.order > 0 ? `compound pages of order ${l.order} (${humanBytes(2 ** l.order * ps)})` : 'base pages (order 0)';
    lines.push(`${devName}: 2 MiB extent ${page} of ${l.units}, in ${cp}, ${span}`);
  }
  const before = l.devFirstPfn - l.pgmapFirstPfn;
  lines.push(
    `page 0 is the device's first pfn ${hex(l.devFirstPfn)}` +
      (before > 0 ? `; its pgmap's memmap starts ${before} pfns earlier, at ${hex(l.pgmapFirstPfn)} (the namespace's info block and padding)` : ''),
  );
  lines.push(`generation ${l.generation}; ${l.structPagesPerPage} struct pages per ${humanBytes(ps)} vmemmap page`);
  const pmd = l.pages.find((p) => p.frame >= 0 && p.leafBytes > ps);
  if (pmd) {
    const block = pmd.frame - Math.floor((parseInt(pmd.va, 16) % pmd.leafBytes) / ps);
    lines.push(
      `vmemmap PMD-mapped: these vmemmap pages lie in ${humanBytes(pmd.leafBytes)} blocks mapped by ${pmd.level} entries (no PTE table; vmemmap_populate_hugepages()), ` +
        `the first at frames ${hex(block)}-${hex(block + pmd.leafBytes / ps - 1)}`,
    );
  }
  lines.push('');
  lines.push('  vmemmap (virtual)                       frame (physical)');
  const group = l.pages.length > ONE_BY_ONE;
  // memmap_init_zone_device() makes a head every 2^order pfns from pfn_first(). (Not read from the struct
  // pages: locate() would give a never-written shared tail frame storage, and `layout` changes nothing.)
  const what = (p: VmemmapPageView): string =>
    l.order === 0 ? 'base pages' : (p.firstPfn - l.pgmapFirstPfn) % 2 ** l.order === 0 ? 'head page + tails' : 'tail pages';
  const level = (p: VmemmapPageView): string => (p.leafBytes > ps ? ` [${p.level}]` : '');
  for (let i = 0; i < l.pages.length; ) {
    const p = l.pages[i]!;
    const ro = p.frame >= 0 && !p.writable ? ', read-only' : '';
    const mark = p.sharedTail
      ? `  ◀ the zone's shared tail (node ${p.sharedTail.nid}, order ${p.sharedTail.order})${ro}: shared by ${p.frameUsers} vmemmap pages of the device and every device of that order on the node`
      : p.frameUsers > 1
        ? `  ◀ shared by ${p.frameUsers} vmemmap pages of the device${ro}`
        : ro;
    lines.push(`  ├ ${p.va}  page ${p.index} ─────▶ ${p.frame < 0 ? '(not mapped)' : `pfn ${hex(p.frame)}`}${level(p)}  ${what(p)}${mark}`);
    // the pages after it that map the same frame
    let j = i + 1;
    while (j < l.pages.length && l.pages[j]!.frame === p.frame && p.frame >= 0 && l.pages[j]!.writable === p.writable) j++;
    if (j > i + 1) {
      lines.push(`  │ vmemmap pages ${i + 1}..${j - 1} (${j - 1 - i}) ──┘ same frame`);
      i = j;
      continue;
    }
    // many pages: a run of consecutive frames of their own, one line
    let r = i + 1;
    while (
      group &&
      r < l.pages.length &&
      l.pages[r]!.frameUsers === 1 &&
      p.frameUsers === 1 &&
      l.pages[r]!.frame === l.pages[r - 1]!.frame + 1 &&
      l.pages[r]!.writable === p.writable &&
      l.pages[r]!.level === p.level
    )
      r++;
    if (r > i + 2) {
      lines.push(`  │ vmemmap pages ${i + 1}..${r - 1} (${r - 1 - i}) ─────▶ pfns ${hex(p.frame + 1)}-${hex(l.pages[r - 1]!.frame)}, a frame each`);
      i = r;
      continue;
    }
    i++;
  }
  lines.push('');
  lines.push(
    `pgmap: ${l.vmemmapPages} vmemmap pages map ${l.frames} frames (${humanBytes(l.frames * ps)}); ` +
      `${l.sharedFrames} frames are shared, by ${l.sharedFrameUsers} vmemmap pages`,
  );
  return lines.join('\n');
}
