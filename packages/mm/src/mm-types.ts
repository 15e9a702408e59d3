import { EINVAL, ENOMEM, KernelError } from './errno.js';
import { PageTable, type PageTableAllocator } from './pgtable.js';
import type { PhysicalMemory } from './phys-mem.js';
import type { Memmap } from './struct-page.js';

// vm_flags (include/linux/mm.h)
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_PFNMAP = 0x400;
export const VM_IO = 0x4000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;

// vm_fault_t (include/linux/mm_types.h, v5.15)
export const VM_FAULT_OOM = 0x000001;
export const VM_FAULT_SIGBUS = 0x000002;
export const VM_FAULT_MAJOR = 0x000004;
export const VM_FAULT_HWPOISON = 0x000010;
export const VM_FAULT_HWPOISON_LARGE = 0x000020;
export const VM_FAULT_SIGSEGV = 0x000040;
export const VM_FAULT_NOPAGE = 0x000100;
export const VM_FAULT_LOCKED = 0x000200;
export const VM_FAULT_RETRY = 0x000400;
export const VM_FAULT_FALLBACK = 0x000800;
export const VM_FAULT_ERROR =
  VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE;

// enum fault_flag
export const FAULT_FLAG_WRITE = 0x1;
export const FAULT_FLAG_REMOTE = 0x80;

/** enum page_entry_size: the entry a (huge) fault wants to install. */
export const PE_SIZE_PTE = 0;
export const PE_SIZE_PMD = 1;
export const PE_SIZE_PUD = 2;

// mmap prot/flags (include/uapi/asm-generic/mman-common.h)
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;

// signals (include/uapi/asm-generic/signal.h, siginfo.h)
export const SIGBUS = 7;
export const SIGSEGV = 11;
export const BUS_MCEERR_AR = 4;
export const BUS_MCEERR_AO = 5;

/** struct vm_fault, the parts the model uses. */
export interface VmFault {
  readonly vma: Vma;
  /** The faulting address (not aligned). */
  readonly address: number;
  /** The page offset of `address` in the mapped file. */
  readonly pgoff: number;
  readonly flags: number;
}

/** struct vm_operations_struct */
export interface VmOperations {
  readonly name: string;
  /** ->fault: a base-page fault. Returns a vm_fault_t. */
  fault?(vmf: VmFault): number;
  /** ->huge_fault: a fault for an entry of `peSize` (PE_SIZE_PMD, PE_SIZE_PUD; PTE too for device-dax). */
  hugeFault?(vmf: VmFault, peSize: number): number;
  /** ->close: the vma is going away (munmap, exit). */
  close?(vma: Vma): void;
}

/** struct address_space: the file's mapping and the vmas that map it (i_mmap). */
export class AddressSpace {
  readonly name: string;
  readonly host: object;
  readonly iMmap = new Set<Vma>();
  constructor(name: string, host: object) {
    this.name = name;
    this.host = host;
  }
}

/** struct file, as much of it as mmap needs. */
export interface FileRef {
  readonly name: string;
  readonly mapping: AddressSpace;
  /** The object behind the file (a dev_dax). */
  readonly privateData: unknown;
}

/** struct vm_area_struct */
export class Vma {
  readonly mm: MmStruct;
  readonly start: number;
  readonly end: number;
  readonly flags: number;
  /** vm_pgoff: the file offset of `start`, in pages. */
  readonly pgoff: number;
  readonly file: FileRef | null;
  ops: VmOperations | null = null;
  constructor(mm: MmStruct, start: number, end: number, flags: number, pgoff: number, file: FileRef | null) {
    this.mm = mm;
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.pgoff = pgoff;
    this.file = file;
  }
  /** linear_page_index(): the file page offset of `address`. */
  pgoffOf(address: number): number {
    return this.pgoff + Math.floor((address - this.start) / this.mm.pageSize);
  }
}

export interface SigInfo {
  readonly signo: number;
  readonly code: number;
  readonly addr: number;
  /** si_addr_lsb: log2 of the size of the poisoned unit. */
  readonly addrLsb: number;
}

/** struct mm_struct: a user address space, its vmas and its page tables. */
export class MmStruct {
  readonly pgd: PageTable;
  readonly pageSize: number;
  private readonly vmas_: Vma[] = [];
  /** Where get_unmapped_area() starts looking (TASK_UNMAPPED_BASE-like). */
  mmapBase = 0x7f0000000000;
  /** The first address above user space (TASK_SIZE on x86-64 with 4 levels). */
  readonly taskSize = 0x7ffffffff000;
  /** mm->owner: the task this mm belongs to (set by the Task constructor); how rmap walkers reach a process. */
  owner: Task | null = null;
  /**
   * The memmap of the kernel this mm runs under, for the paths that take and
   * drop folio references and rmap counts through its page tables (zap of a
   * refcounted mapping); null for an mm of a bare page table.
   */
  readonly memmap: Memmap | null;
  /** mm->mm_id (CONFIG_MM_ID, 7.3): what a folio's _mm_ids slot records of this mm; 0 when not allocated. */
  readonly mmId: number;
  /** mm->rss_stat[MM_FILEPAGES]: base pages of files mapped with a folio reference (add_mm_counter). */
  rssFile = 0;

  private constructor(pgd: PageTable, memmap: Memmap | null, mmId: number) {
    this.pgd = pgd;
    this.pageSize = pgd.arch.pageSize;
    this.memmap = memmap;
    this.mmId = mmId;
  }

  /** mm_alloc(): a new mm with an empty pgd. Throws ENOMEM if the pgd cannot be allocated. */
  static create(mem: PhysicalMemory, alloc: PageTableAllocator, opts: { memmap?: Memmap; mmId?: number } = {}): MmStruct {
    const pgd = PageTable.create(mem, alloc);
    if (typeof pgd === 'number') throw new KernelError(ENOMEM, 'mm_alloc: cannot allocate a pgd');
    return new MmStruct(pgd, opts.memmap ?? null, opts.mmId ?? 0);
  }

  get vmas(): readonly Vma[] {
    return this.vmas_;
  }

  /** find_vma(): the vma containing addr, or undefined. */
  findVma(addr: number): Vma | undefined {
    let lo = 0;
    let hi = this.vmas_.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.vmas_[mid]!;
      if (addr < v.start) hi = mid - 1;
      else if (addr >= v.end) lo = mid + 1;
      else return v;
    }
    return undefined;
  }

  /** get_unmapped_area(): the lowest free range of `len` bytes aligned to `align`, searching up from mmapBase. */
  getUnmappedArea(len: number, align: number): number {
    let addr = Math.ceil(this.mmapBase / align) * align;
    for (const v of this.vmas_) {
      if (v.end <= addr) continue;
      if (addr + len <= v.start) break;
      addr = Math.ceil(v.end / align) * align;
    }
    if (addr + len > this.taskSize) throw new KernelError(ENOMEM, `get_unmapped_area: no room for ${len} bytes`);
    return addr;
  }

  /** insert_vm_struct(); a vma overlapping another is refused. */
  insertVma(vma: Vma): void {
    if (vma.mm !== this) throw new KernelError(EINVAL, 'insert_vm_struct: vma belongs to another mm');
    let i = 0;
    while (i < this.vmas_.length && this.vmas_[i]!.start < vma.start) i++;
    const prev = this.vmas_[i - 1];
    const next = this.vmas_[i];
    if ((prev && prev.end > vma.start) || (next && next.start < vma.end))
      throw new KernelError(EINVAL, `insert_vm_struct: [${vma.start.toString(16)}, ${vma.end.toString(16)}) overlaps a vma`);
    this.vmas_.splice(i, 0, vma);
    vma.file?.mapping.iMmap.add(vma);
  }

  /** Unlinks a vma (the page tables are the caller's to zap first). */
  removeVma(vma: Vma): void {
    const i = this.vmas_.indexOf(vma);
    if (i < 0) return;
    this.vmas_.splice(i, 1);
    vma.file?.mapping.iMmap.delete(vma);
  }
}

/** A user process: its mm and the signals delivered to it. */
export class Task {
  readonly pid: number;
  readonly comm: string;
  readonly mm: MmStruct;
  readonly signals: SigInfo[] = [];
  constructor(pid: number, comm: string, mm: MmStruct) {
    this.pid = pid;
    this.comm = comm;
    this.mm = mm;
    mm.owner = this;
  }
  /** force_sig_mceerr() / send_sig_mceerr() */
  sendSignal(info: SigInfo): void {
    this.signals.push(info);
  }
}
