import type { VmemmapLayout, VmemmapPageView } from '@daxsim/machine';

/** A box of the left column: one vmemmap page, or a run of them when the compound page has many. */
export interface PageBox {
  readonly first: number;
  readonly last: number;
  readonly pages: readonly VmemmapPageView[];
  /** Index into `frames` of the frame box its pages map. */
  readonly frameBox: number;
}

/** A box of the right column: one frame, or a run of consecutive frames of their own. */
export interface FrameBox {
  readonly firstFrame: number;
  readonly lastFrame: number;
  /** Vmemmap pages of the whole device that map it (a run: 1 each). */
  readonly users: number;
  readonly writable: boolean;
  readonly level: string;
  /** The zone's shared tail page this frame is (shared-tail generation), or null. */
  readonly sharedTail: VmemmapPageView['sharedTail'];
}

/** A box of the leftmost column: the page table holding the entries of a run of pages. */
export interface TableBox {
  readonly table: number;
  readonly level: string;
  readonly users: number;
  readonly firstBox: number;
  readonly lastBox: number;
}

/** Up to this many vmemmap pages are drawn one by one, as vmemmap_dedup.rst draws them. */
export const ONE_BY_ONE = 16;

/**
 * The boxes of the drawing: each vmemmap page (or, above ONE_BY_ONE pages,
 * each run of pages that map one shared frame or consecutive frames of their
 * own), the frames they map, and the tables that map them.
 */
export function boxes(l: VmemmapLayout): { pages: PageBox[]; frames: FrameBox[]; tables: TableBox[] } {
  const pages: PageBox[] = [];
  const frames: FrameBox[] = [];
  const frameIndex = new Map<number, number>();
  const groupRuns = l.pages.length > ONE_BY_ONE;
  for (const p of l.pages) {
    const prev = pages[pages.length - 1];
    const pp = prev?.pages[prev.pages.length - 1];
    if (groupRuns && prev && pp && pp.table === p.table && pp.level === p.level && pp.writable === p.writable) {
      const fb = frames[prev.frameBox]!;
      const sameShared = p.frame === pp.frame && p.frame >= 0;
      const nextPrivate = p.frameUsers === 1 && pp.frameUsers === 1 && p.frame === fb.lastFrame + 1 && fb.users === 1;
      if (sameShared || nextPrivate) {
        pages[pages.length - 1] = { ...prev, last: p.index, pages: [...prev.pages, p] };
        if (nextPrivate) frames[prev.frameBox] = { ...fb, lastFrame: p.frame };
        continue;
      }
    }
    let fi = p.frameUsers > 1 ? frameIndex.get(p.frame) : undefined;
    if (fi === undefined) {
      fi = frames.length;
      frames.push({ firstFrame: p.frame, lastFrame: p.frame, users: p.frameUsers, writable: p.writable, level: p.level, sharedTail: p.sharedTail });
      frameIndex.set(p.frame, fi);
    }
    pages.push({ first: p.index, last: p.index, pages: [p], frameBox: fi });
  }
  const tables: TableBox[] = [];
  pages.forEach((b, i) => {
    const p = b.pages[0]!;
    const t = tables[tables.length - 1];
    if (t && t.table === p.table && t.level === p.level) tables[tables.length - 1] = { ...t, lastBox: i };
    else tables.push({ table: p.table, level: p.level, users: p.tableUsers, firstBox: i, lastBox: i });
  });
  return { pages, frames, tables };
}

const SVG = 'http://www.w3.org/2000/svg';
const hex = (n: number) => `0x${n.toString(16)}`;

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Struct pages a step marked, by pfn, with the role the step gave them. */
export type Marks = ReadonlyMap<number, string>;

/**
 * The drawing: page tables, the compound page's vmemmap pages (virtual) and
 * the frames (physical) their entries map, with an arrow per mapping. A
 * frame that several vmemmap pages map is drawn once, with their arrows
 * converging on it; a read-only entry is drawn dashed. Clicking a vmemmap
 * page calls `onPick` with the first pfn whose struct page it holds.
 */
export function drawLayout(l: VmemmapLayout, marks: Marks, onPick: (pfn: number) => void): SVGSVGElement {
  const { pages, frames, tables } = boxes(l);
  const rowH = 32;
  const gap = 8;
  const top = 40;
  const xT = 10;
  const wT = 190;
  const xP = 240;
  const wP = 380;
  const xF = 720;
  const wF = 270;
  const frameRows = frames.length;
  const frameY = (i: number) => top + (i * (pages.length * (rowH + gap))) / Math.max(frameRows, 1);
  const height = top + Math.max(pages.length, frameRows) * (rowH + gap) + 20;
  const svg = el('svg', { viewBox: `0 0 1000 ${height}`, width: '100%', class: 'vmemmap', role: 'img' }) as SVGSVGElement;
  svg.append(
    el('text', { x: xT, y: 20, class: 'col' }, 'page tables'),
    el('text', { x: xP, y: 20, class: 'col' }, 'vmemmap (virtual)'),
    el('text', { x: xF, y: 20, class: 'col' }, 'frames (physical)'),
  );
  const defs = el('defs', {});
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
  defs.append(marker);
  svg.append(defs);
  for (const t of tables) {
    const y0 = top + t.firstBox * (rowH + gap);
    const y1 = top + t.lastBox * (rowH + gap) + rowH;
    const g = el('g', { class: t.users > 1 ? 'table shared' : 'table', 'data-table': hex(t.table), 'data-users': t.users });
    g.append(el('rect', { x: xT, y: y0, width: wT, height: y1 - y0, rx: 4 }));
    const what = t.level === 'pte' ? 'PTE table' : `${t.level.toUpperCase()} table`;
    g.append(el('text', { x: xT + 8, y: y0 + 14 }, `${what} pfn ${hex(t.table)}`));
    if (t.users > 1) g.append(el('text', { x: xT + 8, y: y0 + 27, class: 'note' }, `shared by ${t.users} ${t.level === 'pte' ? 'PMD' : 'upper'} entries`));
    svg.append(g);
  }
  pages.forEach((b, i) => {
    const y = top + i * (rowH + gap);
    const p0 = b.pages[0]!;
    const marked = b.pages.flatMap((p) => {
      const out: string[] = [];
      for (const [pfn, role] of marks) if (pfn >= p.firstPfn && pfn < p.firstPfn + l.structPagesPerPage) out.push(role);
      return out;
    });
    const cls = ['page', p0.index === 0 ? 'head' : 'tail', p0.writable ? '' : 'ro', marked.length ? 'marked' : ''].filter(Boolean).join(' ');
    const g = el('g', { class: cls, 'data-first-page': b.first, 'data-last-page': b.last, 'data-frame': hex(p0.frame), 'data-pfn': p0.firstPfn, tabindex: 0 });
    g.append(el('rect', { x: xP, y, width: wP, height: rowH, rx: 4 }));
    const label = b.first === b.last ? `page ${b.first}  ${p0.va}` : `pages ${b.first}..${b.last} (${b.last - b.first + 1})`;
    g.append(el('text', { x: xP + 8, y: y + 19 }, label));
    const roles = [...new Set(marked)];
    if (roles.length) g.append(el('text', { x: xP + wP - 8, y: y + 19, 'text-anchor': 'end', class: 'mark' }, roles.join(', ')));
    g.addEventListener('click', () => onPick(p0.firstPfn));
    g.append(el('title', {}, `${label}: struct pages of pfns ${hex(p0.firstPfn)}..; entry at ${p0.level} level, ${p0.writable ? 'read-write' : 'read-only'}; click to inspect`));
    svg.append(g);
    const fy = frameY(b.frameBox) + rowH / 2;
    svg.append(el('path', { d: `M ${xP + wP} ${y + rowH / 2} C ${xP + wP + 60} ${y + rowH / 2}, ${xF - 60} ${fy}, ${xF} ${fy}`, class: p0.writable ? 'edge' : 'edge ro', 'marker-end': 'url(#arrow)' }));
  });
  frames.forEach((f, i) => {
    const y = frameY(i);
    const shared = f.users > 1;
    const g = el('g', {
      class: `frame${shared ? ' shared' : ''}${f.writable ? '' : ' ro'}${f.sharedTail ? ' shared-tail' : ''}`,
      'data-frame': hex(f.firstFrame),
      'data-users': f.users,
    });
    g.append(el('rect', { x: xF, y, width: wF, height: rowH, rx: 4 }));
    const label = f.firstFrame < 0 ? '(not mapped)' : f.firstFrame === f.lastFrame ? `pfn ${hex(f.firstFrame)}` : `pfns ${hex(f.firstFrame)}..${hex(f.lastFrame)}`;
    // vmemmap_dedup.rst v7: "a single, per-node page frame shared among all hugepages of the same size"
    const tail = f.sharedTail ? `the zone's shared tail (node ${f.sharedTail.nid}, order ${f.sharedTail.order}), ` : '';
    const note = shared ? `${tail}shared by ${f.users} vmemmap pages${f.writable ? '' : ', read-only'}` : f.level === 'pte' ? '' : `in a ${f.level.toUpperCase()} block`;
    g.append(el('text', { x: xF + 8, y: y + 19 }, `${label}${note ? `  — ${note}` : ''}`));
    svg.append(g);
  });
  return svg;
}
