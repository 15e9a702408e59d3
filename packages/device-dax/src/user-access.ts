import {
  FAULT_FLAG_WRITE,
  handleMmFault,
  type KernelCore,
  type MmStruct,
  SIGBUS,
  SIGSEGV,
  type Task,
  VM_FAULT_ERROR,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_WRITE,
  entryPfn,
  entryPresent,
  entryWrite,
  isMediaPoisoned,
  machineCheck,
} from '@daxsim/mm';

/** si_code values of the signals a user access can raise (include/uapi/asm-generic/siginfo.h). */
export const BUS_ADRERR = 2;
export const SEGV_MAPERR = 1;
export const SEGV_ACCERR = 2;

/** Where a user address lands: the physical byte address and how many bytes of the same leaf follow, or null. */
function translate(mm: MmStruct, addr: number, write: boolean): { phys: number; room: number } | null {
  const pt = mm.pgd;
  const level = pt.walk(addr);
  if (!entryPresent(pt.wLo)) return null;
  if (write && !entryWrite(pt.wLo)) return null;
  const size = pt.levelSize(level);
  const within = addr % size;
  return { phys: entryPfn(pt.wLo, pt.wHi, pt.arch.pageShift) * pt.arch.pageSize + within, room: size - within };
}

/**
 * do_user_addr_fault() + mm_fault_error() (arch/x86/mm/fault.c): a user
 * access to `addr` that missed the page tables. Returns the vm_fault_t; on an
 * error the task gets its signal (SIGSEGV for no vma or a write to a
 * read-only one, SIGBUS with BUS_ADRERR for VM_FAULT_SIGBUS). VM_FAULT_OOM
 * sends no signal: the kernel calls pagefault_out_of_memory() (5.15: the OOM
 * killer picks a victim; 5.16+: a warning) and returns to user space, which
 * retries the access. The model has no OOM killer and does not retry: the
 * caller gets VM_FAULT_OOM back and the task is left as it was.
 */
export function doUserFault(task: Task, addr: number, write: boolean): number {
  const vma = task.mm.findVma(addr);
  if (!vma) {
    task.sendSignal({ signo: SIGSEGV, code: SEGV_MAPERR, addr, addrLsb: 0 });
    return VM_FAULT_SIGSEGV;
  }
  if (write && !(vma.flags & VM_WRITE)) {
    task.sendSignal({ signo: SIGSEGV, code: SEGV_ACCERR, addr, addrLsb: 0 });
    return VM_FAULT_SIGSEGV;
  }
  const rc = handleMmFault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
  if (rc & VM_FAULT_ERROR) {
    if (rc & VM_FAULT_OOM) return rc; // pagefault_out_of_memory(): no signal
    if (rc & VM_FAULT_SIGSEGV) task.sendSignal({ signo: SIGSEGV, code: SEGV_ACCERR, addr, addrLsb: 0 });
    else task.sendSignal({ signo: SIGBUS, code: BUS_ADRERR, addr, addrLsb: 0 });
  }
  return rc;
}

/**
 * A user load (or store) of one byte at `addr`: 0 when the page tables
 * already map it, VM_FAULT_NOPAGE when a fault mapped it, or the error the
 * fault returned (the task has been signalled, except after VM_FAULT_OOM).
 */
export function touch(task: Task, addr: number, write = false): number {
  if (translate(task.mm, addr, write)) return 0;
  const rc = doUserFault(task, addr, write);
  if (rc & VM_FAULT_ERROR) return rc;
  if (!translate(task.mm, addr, write)) {
    // A handler that claims success must have mapped the address.
    task.sendSignal({ signo: SIGBUS, code: BUS_ADRERR, addr, addrLsb: 0 });
    return VM_FAULT_SIGBUS;
  }
  return VM_FAULT_NOPAGE;
}

function access(k: KernelCore, task: Task, addr: number, len: number, write: boolean, data: Uint8Array | null): Uint8Array | null {
  const out = write ? null : new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const a = addr + done;
    let t = translate(task.mm, a, write);
    if (!t) {
      if (touch(task, a, write) & VM_FAULT_ERROR) return null;
      t = translate(task.mm, a, write)!;
    }
    const n = Math.min(len - done, t.room);
    if (!write) {
      // a load of a bad media location is a machine check on this access (kill_me_maybe → memory_failure)
      const ps = k.arch.pageSize;
      for (let pfn = Math.floor(t.phys / ps); pfn * ps < t.phys + n; pfn++)
        if (isMediaPoisoned(k, pfn)) {
          machineCheck(k, pfn, task);
          return null;
        }
    }
    if (write) k.mem.write(t.phys, data!.subarray(done, done + n));
    else out!.set(k.mem.read(t.phys, n), done);
    done += n;
  }
  return out ?? new Uint8Array(0);
}

/** A user read of `len` bytes at `addr`, faulting as needed; null when a fault failed (the task got its signal, or VM_FAULT_OOM) or the read consumed media poison (the machine check signalled it). */
export function userRead(k: KernelCore, task: Task, addr: number, len: number): Uint8Array | null {
  return access(k, task, addr, len, false, null);
}

/** A user write of `data` at `addr`, faulting as needed; false when a fault failed (the task got its signal, or VM_FAULT_OOM). */
export function userWrite(k: KernelCore, task: Task, addr: number, data: Uint8Array): boolean {
  return access(k, task, addr, data.length, true, data) !== null;
}

/** The user page-table entry that maps `addr`: its size in bytes and pfn, or null. */
export function userMapping(task: Task, addr: number): { size: number; pfn: number; write: boolean } | null {
  const pt = task.mm.pgd;
  const level = pt.walk(addr);
  if (!entryPresent(pt.wLo)) return null;
  return { size: pt.levelSize(level), pfn: entryPfn(pt.wLo, pt.wHi, pt.arch.pageShift), write: entryWrite(pt.wLo) };
}
