import {
  EINVAL,
  type KernelCore,
  KernelError,
  MAP_PRIVATE,
  MAP_SHARED,
  MmStruct,
  type PageTableAllocator,
  PROT_READ,
  PROT_WRITE,
  Task,
  VM_HUGEPAGE,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  Vma,
  errnoName,
  hex,
  mmAllocId,
  mmFreeId,
  zapPageRange,
} from '@daxsim/mm';
import type { DevDax } from './dev-dax.js';
import { checkVma, daxVmOps } from './device.js';

/** The page allocator as a user page-table allocator: order-0 frames counted as 'user_pagetable'. */
export function userPageTableAllocator(k: KernelCore, nid = 0): PageTableAllocator {
  return {
    allocPageTable: () => k.frames.allocPages(0, nid, 'user_pagetable'),
    freePageTable: (pfn: number, zeroed?: boolean) => k.frames.freePages(pfn, 0, 'user_pagetable', zeroed),
  };
}

const exited = new WeakSet<Task>();

/** fork()+exec() of a process with an empty address space: mm_alloc() takes one pgd frame. */
export function createTask(k: KernelCore, pid: number, comm: string, nid = 0): Task {
  return new Task(pid, comm, MmStruct.create(k.mem, userPageTableAllocator(k, nid), { memmap: k.memmap, mmId: mmAllocId(k) }));
}

export interface MmapArgs {
  /** A fixed address (page aligned); default: get_unmapped_area(). */
  addr?: number;
  length: number;
  /** PROT_READ | PROT_WRITE */
  prot: number;
  /** MAP_SHARED or MAP_PRIVATE */
  flags: number;
  /** File offset in pages (the mmap offset >> PAGE_SHIFT). */
  pgoff?: number;
}

/**
 * mmap(2) of /dev/daxX.Y: do_mmap() with dax_get_unmapped_area() and
 * dax_mmap(). Returns the address. Refusals throw KernelError: -ENXIO for a
 * device that is not enabled, -EINVAL for MAP_PRIVATE or a misaligned range.
 */
export function daxMmap(k: KernelCore, task: Task, dev: DevDax, args: MmapArgs): number {
  const mm = task.mm;
  const ps = k.arch.pageSize;
  const pgoff = args.pgoff ?? 0;
  if (!Number.isSafeInteger(args.length) || args.length <= 0)
    throw new KernelError(EINVAL, `mmap ${dev.name}: length ${args.length} must be positive`);
  const shared = (args.flags & MAP_SHARED) !== 0;
  const priv = (args.flags & MAP_PRIVATE) !== 0;
  if (shared === priv) throw new KernelError(EINVAL, `mmap ${dev.name}: flags ${hex(args.flags)} must hold exactly one of MAP_SHARED, MAP_PRIVATE`);
  if (!Number.isSafeInteger(pgoff) || pgoff < 0) throw new KernelError(EINVAL, `mmap ${dev.name}: offset ${pgoff} must be a page count`);
  const len = Math.ceil(args.length / ps) * ps;
  // calc_vm_prot_bits() | calc_vm_flag_bits() | VM_MAY*
  let vmFlags = VM_MAYREAD | VM_MAYWRITE;
  if (args.prot & PROT_READ) vmFlags |= VM_READ;
  if (args.prot & PROT_WRITE) vmFlags |= VM_WRITE;
  if (shared) vmFlags |= VM_SHARED | VM_MAYSHARE;
  let start: number;
  if (args.addr !== undefined) {
    if (args.addr % ps) throw new KernelError(EINVAL, `mmap ${dev.name}: addr ${hex(args.addr)} is not page aligned`);
    start = args.addr;
  } else {
    // dax_get_unmapped_area(): an address congruent to the offset modulo align when len allows it.
    const off = pgoff * ps;
    const useAlign = dev.align > ps && off % dev.align === 0 && len >= dev.align;
    start = mm.getUnmappedArea(len, useAlign ? dev.align : ps);
  }
  const rc = checkVma(dev, vmFlags, start, start + len, task.comm, 'dax_mmap');
  if (rc < 0) {
    const why =
      rc === -EINVAL && !shared
        ? 'attempted private mapping (MAP_SHARED required)'
        : rc === -EINVAL
          ? `unaligned vma (${hex(start)} - ${hex(start + len)}): start and length must be multiples of align ${hex(dev.align)}`
          : `device is not enabled (${errnoName(rc)})`;
    throw new KernelError(-rc, `mmap ${dev.name}: ${why}`);
  }
  const vma = new Vma(mm, start, start + len, vmFlags | VM_HUGEPAGE, pgoff, dev.file);
  vma.ops = daxVmOps;
  mm.insertVma(vma);
  return start;
}

/** dev_dax_may_split(): a device vma may only be split at an align boundary. */
function maySplit(vma: Vma, addr: number): boolean {
  const dev = vma.file?.privateData as DevDax | undefined;
  if (!dev || vma.ops !== daxVmOps) return true;
  return addr % dev.align === 0;
}

/**
 * munmap(2): zaps and unlinks [addr, addr + length), splitting vmas at the
 * edges (a device vma only at its align: -EINVAL otherwise, nothing changed).
 * ->close runs for every vma removed whole.
 */
export function munmap(task: Task, addr: number, length: number): void {
  const mm = task.mm;
  const ps = mm.pageSize;
  if (addr % ps || !(length > 0)) throw new KernelError(EINVAL, `munmap: addr ${hex(addr)} must be page aligned and length ${length} positive`);
  const end = addr + Math.ceil(length / ps) * ps;
  const hit = mm.vmas.filter((v) => v.start < end && addr < v.end);
  for (const v of hit) {
    if ((addr > v.start && !maySplit(v, addr)) || (end < v.end && !maySplit(v, end)))
      throw new KernelError(EINVAL, `munmap: [${hex(addr)}, ${hex(end)}) would split ${v.file?.name ?? 'a vma'} inside an align-sized unit`);
  }
  for (const v of hit) {
    const lo = Math.max(addr, v.start);
    const hi = Math.min(end, v.end);
    zapPageRange(v, lo, hi);
    mm.removeVma(v);
    const pieces: Vma[] = [];
    if (v.start < lo) pieces.push(new Vma(mm, v.start, lo, v.flags, v.pgoff, v.file));
    if (hi < v.end) pieces.push(new Vma(mm, hi, v.end, v.flags, v.pgoffOf(hi), v.file));
    for (const p of pieces) {
      p.ops = v.ops;
      mm.insertVma(p);
    }
    if (pieces.length === 0) v.ops?.close?.(v);
  }
}

/**
 * exit_mmap(): every vma is zapped and closed, then the page tables that
 * are left (free_pgtables) and the pgd go back to the page allocator.
 */
export function exitTask(k: KernelCore, task: Task): void {
  if (exited.has(task)) return;
  exited.add(task);
  const mm = task.mm;
  for (const v of [...mm.vmas]) {
    zapPageRange(v, v.start, v.end);
    mm.removeVma(v);
    v.ops?.close?.(v);
  }
  const tables: number[] = [];
  mm.pgd.forEachTable((t) => tables.push(t));
  for (const t of tables.reverse()) k.frames.freePages(t, 0, 'user_pagetable');
  mmFreeId(k, mm.mmId); // __mmdrop → mm_free_id()
}

/** Whether exitTask() ran for the task. */
export function taskExited(task: Task): boolean {
  return exited.has(task);
}
