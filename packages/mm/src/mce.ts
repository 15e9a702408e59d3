import type { KernelCore } from './kernel.js';
import type { Task } from './mm-types.js';

/**
 * Media poison and the machine check that consumes it.
 *
 * A bad location on the media (a pmem or CXL cell that lost its data) stays
 * bad whatever the kernel does with the struct pages above it: destroying and
 * re-creating the namespace does not clear it. A load from it is a machine
 * check on the consuming access (x86's do_machine_check() → kill_me_maybe()
 * → memory_failure(pfn, MF_ACTION_REQUIRED) for the task that loaded it); a
 * store does not consume it. The model keeps bad locations per 4 KiB frame
 * (the kernel's unit of memory_failure(); badblocks are 512-byte sectors and
 * the hardware's a cache line) and lets the layer that owns
 * memory_failure() register the handler, so user accesses below it can
 * raise the check.
 */
interface MceState {
  readonly bad: Set<number>;
  handler: ((pfn: number, task: Task) => void) | null;
  /** Struct pages memory_failure() marked PG_hwpoison, for the accounting at section removal. */
  readonly hwpoisoned: Set<number>;
}
const states = new WeakMap<KernelCore, MceState>();

function stateOf(k: KernelCore): MceState {
  let s = states.get(k);
  if (!s) states.set(k, (s = { bad: new Set(), handler: null, hwpoisoned: new Set() }));
  return s;
}

/** A location of the media goes bad (a media error: the frame's data is lost). */
export function markMediaPoison(k: KernelCore, pfn: number): void {
  stateOf(k).bad.add(pfn);
}

/** The media location is good again (ndctl clear-errors: the sector is rewritten). */
export function clearMediaPoison(k: KernelCore, pfn: number): boolean {
  return stateOf(k).bad.delete(pfn);
}

export function isMediaPoisoned(k: KernelCore, pfn: number): boolean {
  return states.get(k)?.bad.has(pfn) ?? false;
}

/** The bad media frames, lowest first. */
export function mediaPoisonedPfns(k: KernelCore): number[] {
  return [...(states.get(k)?.bad ?? [])].sort((a, b) => a - b);
}

/** Who handles a machine check on this kernel (memory_failure() with MF_ACTION_REQUIRED). */
export function setMachineCheckHandler(k: KernelCore, handler: (pfn: number, task: Task) => void): void {
  stateOf(k).handler = handler;
}

/**
 * A user load consumed poison at `pfn`: the machine check runs the handler
 * for `task`. Without a handler (no memory-failure layer) the task gets
 * nothing here and the caller fails the access.
 */
export function machineCheck(k: KernelCore, pfn: number, task: Task): void {
  stateOf(k).handler?.(pfn, task);
}

/** memory_failure() set PG_hwpoison on `pfn`'s struct page (num_poisoned_pages counts it). */
export function noteHwpoisonPage(k: KernelCore, pfn: number): void {
  stateOf(k).hwpoisoned.add(pfn);
}

/**
 * The PG_hwpoison pages in [startPfn, endPfn) whose struct pages go away
 * (section removal): forgotten here and returned, for the accounting the
 * release does there.
 */
export function takeHwpoisonPages(k: KernelCore, startPfn: number, endPfn: number): number[] {
  const s = states.get(k);
  if (!s) return [];
  const out: number[] = [];
  for (const pfn of s.hwpoisoned) if (pfn >= startPfn && pfn < endPfn) out.push(pfn);
  for (const pfn of out) s.hwpoisoned.delete(pfn);
  return out;
}
