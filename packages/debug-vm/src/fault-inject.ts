import { EINVAL, KernelError } from '@daxsim/mm';
import type { Kernel } from '@daxsim/memremap';
import { altmapFailPending, failNthAltmap } from '@daxsim/sparse-vmemmap';
import type { Gup } from '@daxsim/gup';

/**
 * The fault-injection points, in the spirit of fail_page_alloc:
 * - `page_alloc`: the n-th frame allocation from the page allocator (any purpose; BuddyAllocator.failNth);
 * - `altmap`: the n-th vmem_altmap block allocation (struct pages in device memory);
 * - `pgtable`: the n-th page-table page allocation (kernel vmemmap or user tables);
 * - `grab`: the n-th GUP reference grab (try_grab_page / try_grab_compound_head; Gup.armGrabFailure).
 * Each counts from the moment it is armed, fires once, and disarms itself.
 */
export const FAIL_POINTS = ['page_alloc', 'altmap', 'pgtable', 'grab'] as const;
export type FailPoint = (typeof FAIL_POINTS)[number];

/** A parsed DAXSIM_FAIL value: which point fails at which call (1 = the next). */
export type FailSpec = Partial<Record<FailPoint, number>>;

/** The environment variable the app reads: `DAXSIM_FAIL=page_alloc:5,altmap:2,pgtable:3,grab:7`. */
export const DAXSIM_FAIL_ENV = 'DAXSIM_FAIL';

function isFailPoint(s: string): s is FailPoint {
  return (FAIL_POINTS as readonly string[]).includes(s);
}

/**
 * Parses `point:n[,point:n...]` (whitespace around items ignored, empty string
 * = nothing armed). Refuses an unknown point, a repeated point or an n that is
 * not a positive integer with KernelError(EINVAL) naming the item.
 */
export function parseFailSpec(text: string): FailSpec {
  const spec: FailSpec = {};
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^([a-z_]+):(\d+)$/.exec(item);
    if (!m) throw new KernelError(EINVAL, `${DAXSIM_FAIL_ENV}: item "${item}" is not <point>:<n> (points: ${FAIL_POINTS.join(', ')})`);
    const point = m[1]!;
    if (!isFailPoint(point)) throw new KernelError(EINVAL, `${DAXSIM_FAIL_ENV}: unknown fail point "${point}" (points: ${FAIL_POINTS.join(', ')})`);
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n) || n < 1) throw new KernelError(EINVAL, `${DAXSIM_FAIL_ENV}: ${point}: n ${m[2]} must be a positive integer`);
    if (spec[point] !== undefined) throw new KernelError(EINVAL, `${DAXSIM_FAIL_ENV}: fail point "${point}" given twice`);
    spec[point] = n;
  }
  return spec;
}

/** Formats a spec back into DAXSIM_FAIL syntax. */
export function formatFailSpec(spec: FailSpec): string {
  return FAIL_POINTS.filter((p) => spec[p] !== undefined)
    .map((p) => `${p}:${spec[p]}`)
    .join(',');
}

/** What fault injection acts on: the kernel, and the GUP instance(s) whose grabs may fail. */
export interface FailTarget {
  readonly k: Kernel;
  readonly gup?: Gup | readonly Gup[];
}

function gups(t: FailTarget): readonly Gup[] {
  return t.gup === undefined ? [] : Array.isArray(t.gup) ? (t.gup as readonly Gup[]) : [t.gup as Gup];
}

/**
 * Arms the points a spec names (points it leaves out are not touched). A
 * `grab` spec with no Gup in the target is refused (EINVAL): nothing would fail.
 */
export function armFailures(target: FailTarget, spec: FailSpec): void {
  if (spec.grab !== undefined && gups(target).length === 0) throw new KernelError(EINVAL, `${DAXSIM_FAIL_ENV}: grab:${spec.grab} needs a GUP instance to arm`);
  if (spec.page_alloc !== undefined) target.k.buddy.failNth(spec.page_alloc);
  if (spec.pgtable !== undefined) target.k.buddy.failNthPageTable(spec.pgtable);
  if (spec.altmap !== undefined) failNthAltmap(target.k, spec.altmap);
  if (spec.grab !== undefined) for (const g of gups(target)) g.armGrabFailure(spec.grab);
}

/** Disarms every point. */
export function disarmFailures(target: FailTarget): void {
  target.k.buddy.failNth(0);
  target.k.buddy.failNthPageTable(0);
  failNthAltmap(target.k, 0);
  for (const g of gups(target)) g.armGrabFailure(0);
}

/** The points still armed and how many calls until each fires (a point that fired is absent). */
export function pendingFailures(target: FailTarget): FailSpec {
  const out: FailSpec = {};
  const b = target.k.buddy.failPending();
  if (b.alloc > 0) out.page_alloc = b.alloc;
  if (b.pageTable > 0) out.pgtable = b.pageTable;
  const a = altmapFailPending(target.k);
  if (a > 0) out.altmap = a;
  for (const g of gups(target)) if (g.failGrabAt > 0) out.grab = g.failGrabAt - g.grabCalls;
  return out;
}

/**
 * Arms a kernel from the environment (`DAXSIM_FAIL`), as the app does at
 * start-up. Returns the spec armed (empty when the variable is unset).
 */
export function armFromEnv(target: FailTarget, env: Record<string, string | undefined> = process.env): FailSpec {
  const text = env[DAXSIM_FAIL_ENV];
  if (text === undefined || text.trim() === '') return {};
  const spec = parseFailSpec(text);
  armFailures(target, spec);
  return spec;
}
