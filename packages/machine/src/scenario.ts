import { type DevDax, createTask, daxMmap, exitTask, munmap, touch, userRead, userWrite } from '@daxsim/device-dax';
import {
  FOLL_LONGTERM,
  FOLL_WRITE,
  type Gup,
  type GupGeneration,
  getUserPagesFast,
  pinUserPagesFast,
  putPages,
  unpinUserPages,
} from '@daxsim/gup';
import { MF_ACTION_REQUIRED, hwpoisonCorruptPfn, hwpoisonUnpoisonPfn, madviseHwpoison, memoryFailure, prctlMceKill } from '@daxsim/memory-failure';
import {
  type CounterName,
  EFAULT,
  KernelError,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  type SigInfo,
  type Task,
  VM_FAULT_ERROR,
  entryPfn,
  KERN_INFO,
  errnoName,
} from '@daxsim/mm';
import { AnonMemory } from '@daxsim/kmem';
import { dumpPage, pageDumpJson, resolvePageSpec } from './dump-page.js';
import type { Machine } from './machine.js';
import { type ScenarioOp, ScenarioSyntaxError, TOOL_WORDS, parseScenarioWords, scenarioWords } from './scenario-op.js';

export { ScenarioSyntaxError, TOOL_WORDS };

/**
 * The scenario language of `daxsim run`, one command per line (# starts a
 * comment), each line one ScenarioOp (./scenario-op.ts parses and formats
 * them; the fuzzer speaks the same ops). Tool lines (`ndctl ...`, `daxctl ...`, `gup-test ...`, `stat`)
 * are handed to a tool runner (the command line supplies its own);
 * the rest is interpreted here:
 *
 *   machine --arch x86_64 --ram 4G --soft-reserved 1G   (first line only: a fresh machine)
 *   spawn p1
 *   p1 mmap m1 dax0.1 length=4M offset=0 prot=rw flags=shared
 *   p1 touch m1 0x1000 write
 *   p1 write m1 0x1000 hello        p1 read m1 0x1000 5
 *   p1 pin m1 0 2M gen=head-once [get] [longterm]   (also: p1 get ..., p1 longterm ...)
 *   fail page_alloc:3               (DAXSIM_FAIL syntax: the n-th allocation or grab from now fails)
 *   p1 unpin
 *   poison dax0.1 0x200000          (a bad media location: memory_failure() with no consumer; a later load of it is a machine check)
 *   p1 poison m1 0x200000           (p1 loads a byte there and consumes poison: BUS_MCEERR_AR)
 *   p1 madvise m1 0x305000 hwpoison [LENGTH]   (MADV_HWPOISON: software poison injected by p1)
 *   p1 prctl mce_kill early|late|default        sysctl vm.memory_failure_early_kill 0|1
 *   sysfs /sys/kernel/debug/hwpoison/corrupt-pfn 0x140505   (also unpoison-pfn)
 *   p1 munmap m1
 *   p1 alloc buf 4M node=1 [kernel]   (anonymous memory, or a kernel buffer with `kernel`, on a node)
 *   p1 free buf
 *   sysfs dax0.0 memmap_on_memory 1   (a write to /sys/bus/dax/devices/dax0.0/memmap_on_memory)
 *   p1 exit
 *   page dax0.0:0 [--json]          (dump_page() of a struct page: a pfn, or the index-th base page of a device)
 *
 * Every line yields a structured outcome: what it did, the errno of a
 * refusal, the fault it caused, the pages it took, the signals and
 * kernel events it led to.
 */

export interface ScenarioSignal {
  readonly proc: string;
  readonly info: SigInfo;
}

export interface LineOutcome {
  readonly lineNo: number;
  readonly line: string;
  /** 0, or the errno the line was refused with (a tool line: the errno of its exit status). */
  errno: number;
  /** A tool line's exit status. */
  status?: number;
  /** touch: the vm_fault_t of the fault. */
  faultRc?: number;
  /** pin/get/longterm: pages taken. */
  taken?: number;
  /** What the line reports, one entry per line of text (tool output; mapping addresses; data read). */
  readonly messages: string[];
  /** Signals delivered while the line ran, to the processes of the scenario. */
  readonly signals: ScenarioSignal[];
  /** Fault counters that moved (fault_pud, fault_pmd, fault_pte, fault_fallback, fault_sigbus). */
  readonly faults: Partial<Record<CounterName, number>>;
  memoryFailures: number;
  /** The memory-failure lines the kernel logged while the line ran (dmesg's text). */
  readonly kernel: string[];
}

/** What a tool line ran to: its exit status and its output (stdout and stderr, in order). */
export interface ToolResult {
  readonly status: number;
  readonly text: string;
}

export type ToolRunner = (words: string[], m: Machine) => Promise<ToolResult> | ToolResult;

interface Mapping {
  dev: DevDax;
  addr: number;
  length: number;
}
interface Hold {
  pages: Float64Array;
  n: number;
  get: boolean;
  gup: Gup;
}
export interface ScenarioProcess {
  readonly task: Task;
  readonly maps: Map<string, Mapping>;
  holds: Hold[];
  alive: boolean;
  /** Memory the process took with `alloc` (anonymous pages or kernel buffers), by name. */
  readonly anon: Map<string, AnonMemory>;
}

export interface PinRequest {
  readonly kind: 'get' | 'pin' | 'longterm';
  /** The GUP generation; the machine kernel's when absent. */
  readonly gen?: GupGeneration;
}

/**
 * The processes of a scenario on a machine, and what they do: each method
 * is one process line. Refusals throw KernelError (the machine unchanged);
 * misuse (a process that does not exist) throws ScenarioSyntaxError.
 */
export class ScenarioSession {
  readonly m: Machine;
  readonly procs = new Map<string, ScenarioProcess>();
  private nextPid = 100;
  /** The pages the last pin line took (for callers that check them). */
  lastTaken: Float64Array = new Float64Array(0);
  /** The GUP instance of the last pin line. */
  lastGup: Gup | null = null;

  constructor(m: Machine) {
    this.m = m;
  }

  /** The live processes' tasks (for invariant sweeps). */
  liveTasks(): Task[] {
    return [...this.procs.values()].filter((p) => p.alive).map((p) => p.task);
  }

  proc(name: string): ScenarioProcess {
    const pr = this.procs.get(name);
    if (!pr) throw new ScenarioSyntaxError(`no process '${name}' (spawn it first)`);
    if (!pr.alive) throw new ScenarioSyntaxError(`process '${name}' has exited`);
    return pr;
  }

  mapping(p: string, mname: string | undefined): Mapping {
    const pr = this.proc(p);
    const mp = mname ? pr.maps.get(mname) : undefined;
    if (!mp) throw new ScenarioSyntaxError(`no mapping '${mname ?? ''}' in ${p}`);
    return mp;
  }

  spawn(name: string): Task {
    if (this.procs.has(name)) throw new ScenarioSyntaxError(`process '${name}' exists`);
    const task = createTask(this.m.k, this.nextPid, name);
    this.nextPid++;
    this.procs.set(name, { task, maps: new Map(), holds: [], alive: true, anon: new Map() });
    return task;
  }

  mmap(p: string, mname: string, devName: string, o: { length?: number; offset: number; write: boolean; shared: boolean }): number {
    const pr = this.proc(p);
    if (pr.maps.has(mname)) throw new ScenarioSyntaxError(`${p} already has a mapping '${mname}'`);
    const dev = this.m.daxDevice(devName);
    const length = o.length ?? dev.size;
    const addr = daxMmap(this.m.k, pr.task, dev, {
      length,
      prot: o.write ? PROT_READ | PROT_WRITE : PROT_READ,
      flags: o.shared ? MAP_SHARED : MAP_PRIVATE,
      pgoff: Math.floor(o.offset / this.m.arch.pageSize),
    });
    pr.maps.set(mname, { dev, addr, length });
    return addr;
  }

  /** handle_mm_fault() at an offset of a mapping; returns the vm_fault_t. */
  touch(p: string, mname: string, off: number, write: boolean): number {
    const mp = this.mapping(p, mname);
    return touch(this.proc(p).task, mp.addr + off, write);
  }

  read(p: string, mname: string, off: number, len: number): Uint8Array | null {
    const mp = this.mapping(p, mname);
    return userRead(this.m.k, this.proc(p).task, mp.addr + off, len);
  }

  write(p: string, mname: string, off: number, data: Uint8Array): boolean {
    const mp = this.mapping(p, mname);
    return userWrite(this.m.k, this.proc(p).task, mp.addr + off, data);
  }

  /**
   * get_user_pages_fast / pin_user_pages_fast (FOLL_LONGTERM for longterm)
   * over `len` bytes at an offset of a mapping, with a GUP instance of its
   * own. Returns the pages taken, or -errno when none could be.
   */
  pin(p: string, mname: string, off: number, len: number, r: PinRequest): number {
    const mp = this.mapping(p, mname);
    const pr = this.proc(p);
    const gup = this.m.newGup(r.gen);
    const n = Math.ceil(len / this.m.arch.pageSize);
    const pages = new Float64Array(n);
    const get = r.kind === 'get';
    const flags = FOLL_WRITE | (r.kind === 'longterm' ? FOLL_LONGTERM : 0);
    const got = get ? getUserPagesFast(gup, pr.task.mm, mp.addr + off, n, flags, pages) : pinUserPagesFast(gup, pr.task.mm, mp.addr + off, n, flags, pages);
    this.lastGup = gup;
    this.lastTaken = pages.slice(0, Math.max(0, got));
    if (got > 0) pr.holds.push({ pages, n: got, get, gup });
    return got;
  }

  /** Releases every page the process holds, in the order taken; returns how many. */
  unpin(p: string): number {
    const pr = this.proc(p);
    let n = 0;
    for (const h of pr.holds) {
      if (h.get) putPages(h.gup, h.pages, h.n);
      else unpinUserPages(h.gup, h.pages, h.n);
      n += h.n;
    }
    pr.holds = [];
    return n;
  }

  /** The process reads a byte and consumes poison there: memory_failure(MF_ACTION_REQUIRED) for it. */
  poisonAt(p: string, mname: string, off: number): number {
    const mp = this.mapping(p, mname);
    const pr = this.proc(p);
    const addr = mp.addr + off;
    const rc = touch(pr.task, addr);
    if (rc & VM_FAULT_ERROR) return rc;
    const pt = pr.task.mm.pgd;
    pt.walk(addr);
    const pfn = entryPfn(pt.wLo, pt.wHi, this.m.arch.pageShift) + Math.floor((addr % pt.levelSize(pt.wLevel)) / this.m.arch.pageSize);
    const r = memoryFailure(this.m.k, pfn, MF_ACTION_REQUIRED, pr.task);
    if (r < 0) throw new KernelError(-r, `memory_failure: pfn 0x${pfn.toString(16)} was not recovered`);
    return rc;
  }

  /** madvise(MADV_HWPOISON) of [off, off + len) of a mapping, by the process (get_user_pages_fast of each page, then memory_failure()). */
  madviseHwpoison(p: string, mname: string, off: number, len: number): number {
    const mp = this.mapping(p, mname);
    const pr = this.proc(p);
    const gup = this.m.newGup();
    const one = new Float64Array(1);
    return madviseHwpoison(this.m.k, pr.task, mp.addr + off, len, (addr) => {
      const got = getUserPagesFast(gup, pr.task.mm, addr, 1, 0, one);
      return got === 1 ? one[0]! : got < 0 ? got : -EFAULT;
    });
  }

  munmap(p: string, mname: string): void {
    const mp = this.mapping(p, mname);
    munmap(this.proc(p).task, mp.addr, mp.length);
    this.proc(p).maps.delete(mname);
  }

  /**
   * The process takes `bytes` of memory on node `nid`: anonymous pages
   * (movable: ZONE_MOVABLE first, migrated when their block goes offline)
   * or, with `kernel`, a kernel buffer on its behalf (GFP_KERNEL:
   * ZONE_NORMAL only, unmovable). Returns the pages taken.
   */
  alloc(p: string, name: string, bytes: number, nid: number, kernel: boolean): AnonMemory {
    const pr = this.proc(p);
    if (pr.anon.has(name)) throw new ScenarioSyntaxError(`${p} already has memory '${name}'`);
    const a = AnonMemory.alloc(this.m.kmem.hotplug, nid, Math.ceil(bytes / this.m.arch.pageSize), !kernel);
    pr.anon.set(name, a);
    return a;
  }

  /** Gives back memory taken with alloc. */
  free(p: string, name: string): void {
    const pr = this.proc(p);
    const a = pr.anon.get(name);
    if (!a) throw new ScenarioSyntaxError(`no memory '${name}' in ${p}`);
    a.free();
    pr.anon.delete(name);
  }

  /** The process exits: its pins are released, its memory freed, its address space torn down. */
  exit(p: string): void {
    const pr = this.proc(p);
    this.unpin(p);
    for (const name of [...pr.anon.keys()]) this.free(p, name);
    exitTask(this.m.k, pr.task);
    pr.alive = false;
  }
}

const FAULT_COUNTERS: CounterName[] = ['fault_pud', 'fault_pmd', 'fault_pte', 'fault_fallback', 'fault_sigbus'];

export interface ScenarioOptions {
  /** The machine to run on; or made by the scenario's `machine` line; or `boot()` when there is neither. */
  readonly machine?: Machine;
  /** Makes the machine of a `machine ...` line (its words after `machine`). */
  readonly machineLine?: (args: string[]) => Machine;
  /** The machine when the scenario does not make one. */
  readonly boot?: () => Machine;
  /** Runs tool lines (ndctl, daxctl, gup-test, stat). */
  readonly tool?: ToolRunner;
  /** Called with each line's outcome as soon as it has run. */
  readonly onLine?: (o: LineOutcome) => void;
}

export interface ScenarioResult {
  readonly outcomes: LineOutcome[];
  /** Lines refused (an errno or a failing tool), which are events of the workload, not failures of the run. */
  readonly refused: number;
  readonly machine: Machine | undefined;
  readonly session: ScenarioSession | undefined;
  /** The line that stopped the scenario, with why (a ScenarioSyntaxError). */
  readonly error?: { readonly lineNo: number; readonly message: string };
}

/** Runs a scenario's lines in order; a malformed line stops it (see ScenarioResult.error). */
export async function runScenario(text: string, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const lines = text.split('\n');
  let machine = opts.machine;
  let session: ScenarioSession | undefined;
  const outcomes: LineOutcome[] = [];
  let refused = 0;
  const seen = new Map<ScenarioProcess, number>();
  const ensure = (): [Machine, ScenarioSession] => {
    if (!machine) {
      if (!opts.boot) throw new ScenarioSyntaxError('no machine: start the scenario with a `machine ...` line');
      machine = opts.boot();
    }
    session ??= new ScenarioSession(machine);
    return [machine, session];
  };
  for (let ln = 0; ln < lines.length; ln++) {
    const words = scenarioWords(lines[ln]!);
    if (!words.length) continue;
    const line = lines[ln]!.replace(/#.*/, '').trim();
    const o: LineOutcome = { lineNo: ln + 1, line, errno: 0, messages: [], signals: [], faults: {}, memoryFailures: 0, kernel: [] };
    try {
      const op = parseScenarioWords(words);
      if (op.op === 'machine') {
        if (machine) throw new ScenarioSyntaxError('machine must be the first command of a scenario');
        if (!opts.machineLine) throw new ScenarioSyntaxError('this interpreter cannot make machines from a line');
        machine = opts.machineLine([...op.args]);
        outcomes.push(o);
        opts.onLine?.(o);
        continue;
      }
      const [m, s] = ensure();
      const before = m.k.counters.snapshot();
      const logFrom = m.k.log.entries.length;
      try {
        await runOp(m, s, op, o, opts.tool);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        o.errno = e.errno;
        o.messages.push(e.message);
      }
      if (o.errno) refused++;
      const delta = m.k.counters.since(before);
      for (const c of FAULT_COUNTERS) if (delta[c]) o.faults[c] = delta[c];
      o.memoryFailures = delta.memory_failure ?? 0;
      // what memory failure printed to the kernel log while the line ran (a tool line prints its own output)
      if (op.op !== 'tool')
        for (const r of m.k.log.entries.slice(logFrom)) if (r.level <= KERN_INFO && /[Mm]emory failure/.test(r.text)) o.kernel.push(r.text);
      for (const [pname, pr] of s.procs) {
        const from = seen.get(pr) ?? 0;
        for (const info of pr.task.signals.slice(from)) o.signals.push({ proc: pname, info });
        seen.set(pr, pr.task.signals.length);
      }
    } catch (e) {
      if (e instanceof ScenarioSyntaxError) return { outcomes, refused, machine, session, error: { lineNo: ln + 1, message: e.message } };
      throw e;
    }
    outcomes.push(o);
    opts.onLine?.(o);
  }
  return { outcomes, refused, machine, session };
}

/** Runs one operation of the scenario language on the machine and its processes, recording what it did in `o`. */
export async function runOp(m: Machine, s: ScenarioSession, op: ScenarioOp, o: LineOutcome, tool: ToolRunner | undefined): Promise<void> {
  switch (op.op) {
    case 'machine':
      throw new ScenarioSyntaxError('machine must be the first command of a scenario');
    case 'tool': {
      if (!tool) throw new ScenarioSyntaxError(`'${op.argv[0]}' lines need a tool runner`);
      const r = await tool([...op.argv], m);
      o.status = r.status;
      if (r.text) o.messages.push(...r.text.replace(/\n$/, '').split('\n'));
      // ndctl/daxctl exit with (-errno) & 0xff
      if (r.status !== 0) o.errno = 256 - r.status;
      return;
    }
    case 'fail':
      m.armFailures(op.spec);
      return;
    case 'poison':
      m.apply({ op: 'poison', dev: op.dev, offset: op.off });
      return;
    case 'sysctl':
      m.apply({ op: 'sysctl', key: op.key, value: op.value });
      return;
    case 'hwpoison-inject': {
      // hwpoison_inject: corrupt-pfn / unpoison-pfn
      const rc = op.file === 'corrupt-pfn' ? hwpoisonCorruptPfn(m.k, op.pfn) : hwpoisonUnpoisonPfn(m.k, op.pfn);
      if (rc < 0) throw new KernelError(-rc, `write /sys/kernel/debug/hwpoison/${op.file}: pfn 0x${op.pfn.toString(16)}: ${errnoName(-rc)}`);
      return;
    }
    case 'memmap-on-memory':
      m.apply({ op: 'dax.memmap_on_memory', dev: op.dev, value: op.value });
      return;
    case 'page': {
      // dump_page() as the machine's release prints it, or its decoded fields
      const d = dumpPage(m, resolvePageSpec(m, op.spec).pfn, op.spec);
      o.messages.push(...(op.json ? JSON.stringify(pageDumpJson(d), null, 2).split('\n') : d.text));
      return;
    }
    case 'spawn':
      s.spawn(op.p);
      return;
  }
  const p = op.p;
  s.proc(p);
  switch (op.op) {
    case 'mmap': {
      const addr = s.mmap(p, op.m, op.dev, {
        ...(op.length !== undefined ? { length: op.length } : {}),
        offset: op.offset,
        write: op.write !== false,
        shared: op.shared !== false,
      });
      const mp = s.mapping(p, op.m);
      o.messages.push(`${p}: ${op.m} at 0x${addr.toString(16)}-0x${(addr + mp.length).toString(16)}`);
      return;
    }
    case 'touch':
      o.faultRc = s.touch(p, op.m, op.off, op.write);
      if (o.faultRc & VM_FAULT_ERROR) o.messages.push(`fault failed (vm_fault_t 0x${o.faultRc.toString(16)})`);
      return;
    case 'read': {
      const data = s.read(p, op.m, op.off, op.len);
      if (data) o.messages.push(`read: ${JSON.stringify(new TextDecoder().decode(data))}`);
      return;
    }
    case 'write':
      if (!s.write(p, op.m, op.off, new TextEncoder().encode(op.data))) o.messages.push('write failed');
      return;
    case 'pin': {
      s.mapping(p, op.m);
      const n = Math.ceil(op.len / m.arch.pageSize);
      // without gen=, the GUP of the machine's kernel
      const got = s.pin(p, op.m, op.off, op.len, op.gen === undefined ? { kind: op.kind } : { kind: op.kind, gen: op.gen });
      o.taken = Math.max(0, got);
      if (got < 0) throw new KernelError(-got, `${op.kind === 'get' ? 'get' : 'pin'}_user_pages_fast: ${n} pages at ${s.mapping(p, op.m).dev.name} offset ${op.off} failed`);
      o.messages.push(`${op.kind === 'get' ? 'got' : 'pinned'} ${got} of ${n} pages`);
      return;
    }
    case 'unpin':
      o.messages.push(`released ${s.unpin(p)} pages`);
      return;
    case 'consume-poison': {
      const rc = s.poisonAt(p, op.m, op.off);
      if (rc & VM_FAULT_ERROR) o.faultRc = rc;
      return;
    }
    case 'madvise-hwpoison': {
      // madvise(addr, len, MADV_HWPOISON): the caller injects a memory failure at a page of its own mapping
      const rc = s.madviseHwpoison(p, op.m, op.off, op.len ?? m.arch.pageSize);
      if (rc < 0) throw new KernelError(-rc, `madvise(MADV_HWPOISON): ${errnoName(-rc)}`);
      return;
    }
    case 'prctl-mce-kill':
      // prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY|LATE) / PR_MCE_KILL_CLEAR
      prctlMceKill(s.proc(p).task, op.policy);
      return;
    case 'munmap':
      s.munmap(p, op.m);
      return;
    case 'alloc': {
      const mem = s.alloc(p, op.name, op.size, op.node, op.kernel);
      const ps = m.arch.pageSize;
      const lo = Math.min(...mem.pfns) * ps;
      const hi = (Math.max(...mem.pfns) + 1) * ps;
      o.taken = mem.pfns.length;
      o.messages.push(`${p}: ${op.name}: ${mem.pfns.length} ${op.kernel ? 'kernel' : 'anonymous'} pages within 0x${lo.toString(16)}-0x${(hi - 1).toString(16)}`);
      return;
    }
    case 'free':
      s.free(p, op.name);
      return;
    case 'exit':
      s.exit(p);
      return;
  }
}
