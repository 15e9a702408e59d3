import {
  type AddressSpace,
  BUS_MCEERR_AO,
  BUS_MCEERR_AR,
  C,
  EBUSY,
  EIO,
  ENXIO,
  EOPNOTSUPP,
  KernelError,
  MEMORY_DEVICE_PRIVATE,
  SIGBUS,
  type Task,
  type Vma,
  entryDevmap,
  entryPresent,
  noteHwpoisonPage,
  unmapMappingRange,
} from '@daxsim/mm';
import { type Kernel, getDevPagemap, pgmapPfnValid, putDevPagemap, putPage } from '@daxsim/memremap';

// enum mf_flags (include/linux/mm.h, v5.15)
export const MF_COUNT_INCREASED = 1 << 0;
export const MF_ACTION_REQUIRED = 1 << 1;
export const MF_MUST_KILL = 1 << 2;
export const MF_SOFT_OFFLINE = 1 << 3;

/** SIGKILL (include/uapi/asm-generic/signal.h) */
export const SIGKILL = 9;

/** prctl(PR_MCE_KILL) policy of a task: PR_MCE_KILL_EARLY, _LATE, or the sysctl default. */
export type MceKillPolicy = 'early' | 'late' | 'default';

const taskPolicy = new WeakMap<Task, MceKillPolicy>();
const earlyKillSysctl = new WeakMap<Kernel, boolean>();

/** prctl(PR_MCE_KILL, PR_MCE_KILL_SET, ...) / PR_MCE_KILL_CLEAR ('default'). */
export function prctlMceKill(task: Task, policy: MceKillPolicy): void {
  taskPolicy.set(task, policy);
}

/**
 * vm.memory_failure_early_kill (default 0, as the kernel boots: late kill).
 * With 0, a process whose page tables map the poisoned folio is only
 * unmapped; it learns of the poison when it consumes it. With 1 (or
 * prctl(PR_MCE_KILL_EARLY) for one process), it is sent BUS_MCEERR_AO at
 * once.
 */
export function setMemoryFailureEarlyKill(k: Kernel, on: boolean): void {
  earlyKillSysctl.set(k, on);
}
export function memoryFailureEarlyKill(k: Kernel): boolean {
  return earlyKillSysctl.get(k) ?? false;
}

/** A task's prctl(PR_MCE_KILL) policy ('default': the sysctl decides). */
export function mceKillPolicy(task: Task): MceKillPolicy {
  return taskPolicy.get(task) ?? 'default';
}

/** task_early_kill(): whether `t` is told now, and as what. */
function taskEarlyKill(k: Kernel, t: Task, forceEarly: boolean, current: Task | undefined): boolean {
  if (forceEarly && current && t.mm === current.mm) return true;
  const p = taskPolicy.get(t) ?? 'default';
  if (p !== 'default') return p === 'early';
  return memoryFailureEarlyKill(k);
}

/** struct to_kill */
interface ToKill {
  readonly task: Task;
  /** The user address of the unit, or -EFAULT. */
  readonly addr: number;
  /** log2 of the size the unit is mapped with there (0: not mapped). */
  readonly sizeShift: number;
}

/** vma_address() / page_address_in_vma(): where file page `index` is in `vma`, or -EFAULT. */
function pageAddressInVma(vma: Vma, index: number): number {
  const addr = vma.start + (index - vma.pgoff) * vma.mm.pageSize;
  return addr >= vma.start && addr < vma.end ? addr : -14;
}

/**
 * dev_pagemap_mapping_shift(): walk the task's page table at `addr`; a devmap
 * leaf at pud, pmd or pte level gives PUD_SHIFT, PMD_SHIFT or PAGE_SHIFT, anything else 0.
 * Kernels without the devmap bit (d438d2734170, v6.17) take any present
 * leaf (pud_leaf / pmd_leaf / pte_present).
 */
function devPagemapMappingShift(k: Kernel, vma: Vma, addr: number): number {
  if (addr < 0) return 0;
  const pt = vma.mm.pgd;
  const level = pt.walk(addr);
  if (!entryPresent(pt.wLo) || (k.release.devmapBit && !entryDevmap(pt.wHi))) return 0;
  return Math.log2(pt.levelSize(level));
}

/**
 * collect_procs_file() + add_to_kill(): every vma of the file that maps file
 * page `index` (that of `page`, the compound head), of tasks told early.
 */
function collectProcs(k: Kernel, page: number, mapping: AddressSpace, index: number, forceEarly: boolean, current: Task | undefined): ToKill[] {
  const out: ToKill[] = [];
  const tasks = new Set<Task>();
  for (const vma of mapping.iMmap) if (vma.mm.owner) tasks.add(vma.mm.owner);
  for (const t of [...tasks].sort((a, b) => a.pid - b.pid)) {
    if (!taskEarlyKill(k, t, forceEarly, current)) continue;
    for (const vma of mapping.iMmap) {
      if (vma.mm !== t.mm) continue;
      const pages = (vma.end - vma.start) / vma.mm.pageSize;
      if (index < vma.pgoff || index >= vma.pgoff + pages) continue; // vma_interval_tree_foreach(pgoff, pgoff)
      const addr = pageAddressInVma(vma, index);
      const sizeShift = devPagemapMappingShift(k, vma, addr);
      // add_to_kill() prints page_to_pfn(p): the pfn of the page collect_procs() got (the head, seed patch 1)
      if (addr < 0) k.log.info(`Memory failure: Unable to find user space address ${page.toString(16)} in ${t.comm}`);
      else if (sizeShift === 0) continue; // mapped by the vma but not faulted in: nothing to tell
      out.push({ task: t, addr, sizeShift });
    }
  }
  return out;
}

/** kill_procs() with forcekill set, as memory_failure_dev_pagemap() calls it. */
function killProcs(k: Kernel, tokill: ToKill[], pfn: number, current: Task | undefined): void {
  const hexPfn = '0x' + pfn.toString(16);
  for (const tk of tokill) {
    const t = tk.task;
    if (tk.addr < 0) {
      k.log.err(`Memory failure: ${hexPfn}: forcibly killing ${t.comm}:${t.pid} because of failure to unmap corrupted page`);
      t.sendSignal({ signo: SIGKILL, code: 0, addr: 0, addrLsb: 0 });
      continue;
    }
    // kill_proc(): MF_ACTION_REQUIRED is always set on this path
    k.log.err(`Memory failure: ${hexPfn}: Sending SIGBUS to ${t.comm}:${t.pid} due to hardware memory corruption`);
    const code = current && t.mm === current.mm ? BUS_MCEERR_AR : BUS_MCEERR_AO; // force_sig_mceerr / send_sig_mceerr
    t.sendSignal({ signo: SIGBUS, code, addr: tk.addr, addrLsb: tk.sizeShift });
    k.counters.v[C.sigbus_sent]++;
  }
}

/** action_result(pfn, MF_MSG_DAX, ...) */
function actionResult(k: Kernel, pfn: number, rc: number): void {
  // num_poisoned_pages_inc(): every result counts, a failed one and a repeat too (HardwareCorrupted +4 kB per call, measured)
  k.counters.v[C.num_poisoned_pages]++;
  k.log.err(`Memory failure: 0x${pfn.toString(16)}: recovery action for dax page: ${rc ? 'Failed' : 'Recovered'}`);
}

/**
 * memory_failure_dev_pagemap() (v5.15 with seed patch 1): the compound head
 * of a device pfn is marked hwpoison, every process that has the unit
 * mapped (found through the head's page->mapping and page->index) loses the
 * whole unit, and is signalled: BUS_MCEERR_AR for `current`, BUS_MCEERR_AO for
 * early-kill processes, with si_addr_lsb the log2 of the mapping size.
 * Returns 0, -ENXIO (metadata pfn), -EBUSY (no process ever mapped the unit).
 */
function memoryFailureDevPagemap(k: Kernel, pfn: number, flags: number, pgmap: NonNullable<ReturnType<typeof getDevPagemap>>, current: Task | undefined): number {
  const memmap = k.memmap;
  let rc = -EBUSY;
  // MF_COUNT_INCREASED (madvise(MADV_HWPOISON) took a reference with
  // get_user_pages_fast()): dropped first, before anything is checked.
  if (flags & MF_COUNT_INCREASED) putPage(k, pfn);
  out: {
    if (!pgmapPfnValid(k, pgmap, pfn)) {
      rc = -ENXIO; // device metadata space is not recoverable
      break out;
    }
    const head = memmap.compoundHead(pfn); // seed patch 1: after pgmap_pfn_valid()
    // dax_lock_page(): a page never mapped has no mapping to find processes through
    const mapping = memmap.pageMapping<AddressSpace>(head);
    if (!mapping) break out;
    if (pgmap.type === MEMORY_DEVICE_PRIVATE) break out;
    memmap.SetPageHWPoison(head); // the head only (measured: tails never change)
    noteHwpoisonPage(k, head);
    flags |= MF_ACTION_REQUIRED | MF_MUST_KILL;
    const index = memmap.pageIndex(head);
    const tokill = collectProcs(k, head, mapping, index, (flags & MF_ACTION_REQUIRED) !== 0, current);
    // Unmap the largest mapping size used, so device-dax mappings are not split.
    let size = 0;
    for (const tk of tokill) size = Math.max(size, 2 ** tk.sizeShift);
    if (size > 1) {
      const ps = k.arch.pageSize;
      const start = index * ps - ((index * ps) % size);
      unmapMappingRange(mapping, start, size);
    }
    killProcs(k, tokill, pfn, current);
    rc = 0;
  }
  putDevPagemap(k, pgmap);
  actionResult(k, pfn, rc);
  return rc;
}

/**
 * memory_failure(pfn, flags): a machine check (or MADV_HWPOISON) on `pfn`,
 * consumed by `current` if given. Only device pages are modelled: a pfn
 * outside any dev_pagemap is "memory outside kernel control" (-ENXIO), and a
 * RAM pfn is refused with KernelError(EOPNOTSUPP).
 */
export function memoryFailure(k: Kernel, pfn: number, flags = 0, current?: Task): number {
  k.counters.v[C.memory_failure]++;
  const r = k.mem.rangeOf(pfn * k.arch.pageSize);
  if (r?.kind === 'ram')
    throw new KernelError(EOPNOTSUPP, `memory_failure: pfn 0x${pfn.toString(16)} is System RAM; daxsim models memory failure of device pages only`);
  const pgmap = r ? getDevPagemap(k, pfn) : null;
  if (!pgmap) {
    k.log.err(`Memory failure: 0x${pfn.toString(16)}: memory outside kernel control`);
    return -ENXIO;
  }
  return memoryFailureDevPagemap(k, pfn, flags, pgmap, current);
}

/**
 * soft_offline_page(pfn, flags) (5.5+): -ENXIO for an invalid pfn; a device
 * pfn is not an online page, so -EIO, silently.
 */
export function softOfflinePage(k: Kernel, pfn: number, _flags = 0): number {
  const r = k.mem.rangeOf(pfn * k.arch.pageSize);
  if (!r) return -ENXIO;
  if (r.kind === 'device') return -EIO;
  throw new KernelError(EOPNOTSUPP, `soft_offline_page: pfn 0x${pfn.toString(16)} is System RAM; daxsim models device pages only`);
}

// MF_SW_SIMULATED (include/linux/mm.h, 6.1+): the failure was injected by software
export const MF_SW_SIMULATED = 1 << 7;

/**
 * madvise(addr, len, MADV_HWPOISON) (madvise_inject_error()): for each page of
 * the range, get_user_pages_fast() of that one page (faulting it in if it is
 * not mapped), the `Injecting memory failure for pfn ... at process virtual
 * address ...` line, then memory_failure(pfn, MF_ACTION_REQUIRED |
 * MF_COUNT_INCREASED | MF_SW_SIMULATED) with the caller as current. `gup` is
 * a one-page GUP of the caller's kernel: (addr) → pfn or -errno. Returns 0 or
 * the first error.
 */
export function madviseHwpoison(k: Kernel, task: Task, addr: number, len: number, gup: (addr: number) => number): number {
  const ps = k.arch.pageSize;
  const start = addr - (addr % ps);
  const end = addr + Math.max(len, 1);
  for (let a = start; a < end; a += ps) {
    const pfn = gup(a);
    if (pfn < 0) return pfn;
    k.log.info(`Injecting memory failure for pfn 0x${pfn.toString(16)} at process virtual address 0x${a.toString(16)}`);
    const rc = memoryFailure(k, pfn, MF_ACTION_REQUIRED | MF_COUNT_INCREASED | MF_SW_SIMULATED, task);
    if (rc) return rc;
  }
  return 0;
}

/**
 * /sys/kernel/debug/hwpoison/corrupt-pfn (hwpoison_inject()): `Injecting
 * memory failure at pfn ...`, then memory_failure(pfn, MF_SW_SIMULATED) with
 * no process as current. A dax pfn that was never faulted (no page->mapping)
 * fails with -EBUSY ("Failed"), counted all the same.
 */
export function hwpoisonCorruptPfn(k: Kernel, pfn: number): number {
  const r = k.mem.rangeOf(pfn * k.arch.pageSize);
  if (!r) return -ENXIO; // !pfn_valid()
  k.log.info(`Injecting memory failure at pfn 0x${pfn.toString(16)}`);
  const rc = memoryFailure(k, pfn, MF_SW_SIMULATED);
  return rc === -EOPNOTSUPP ? 0 : rc;
}

/**
 * /sys/kernel/debug/hwpoison/unpoison-pfn on a device pfn: -EIO, with
 * nothing logged and PG_hwpoison left set, mapped or not (measured on 6.1
 * and 7.3; which test of unpoison_memory() refuses it is not confirmed).
 * Only destroying the namespace clears the flag (the struct pages go).
 */
export function hwpoisonUnpoisonPfn(k: Kernel, pfn: number): number {
  const r = k.mem.rangeOf(pfn * k.arch.pageSize);
  if (!r) return -ENXIO;
  if (r.kind === 'device') return -EIO;
  throw new KernelError(EOPNOTSUPP, `unpoison-pfn: pfn 0x${pfn.toString(16)} is System RAM; daxsim models device pages only`);
}
