import {
  EFAULT,
  FAULT_FLAG_WRITE,
  MAP_PRIVATE,
  MAP_SHARED,
  VM_FAULT_ERROR,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  strerror,
  type MmStruct,
  handleMmFault,
} from '@daxsim/mm';

import { FOLL_WRITE } from './foll.js';
import {
  DUMP_USER_PAGES_TEST,
  GUP_BASIC_TEST,
  GUP_FAST_BENCHMARK,
  GUP_TEST_FLAG_DUMP_PAGES_USE_PIN,
  GUP_TEST_MAX_PAGES_TO_DUMP,
  PIN_BASIC_TEST,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  gupTestCmdName,
  gupTestIoctl,
  newGupTestArgs,
  newGupTestStats,
  type GupTestArgs,
  type GupTestStats,
} from './gup-test.js';
import type { Gup } from './gup.js';

const MB = 1 << 20;
/** MAP_HUGETLB / MAP_ANONYMOUS (include/uapi/asm-generic/mman*.h, x86-64) */
export const MAP_ANONYMOUS = 0x20;
export const MAP_HUGETLB = 0x40000;

/** The selftest's options after getopt (tools/testing/selftests/mm/gup_test.c). */
export interface GupTestOptions {
  cmd: number;
  /** bytes (-m MB) */
  size: number;
  /** -n: pages per call (negative: the whole mapping in one call) */
  nrPages: number;
  repeats: number;
  nthreads: number;
  write: boolean;
  /** mmap flags: MAP_PRIVATE (default) or MAP_SHARED (-S), | MAP_HUGETLB|MAP_ANONYMOUS (-H) */
  mapFlags: number;
  file: string;
  /** -F: replaces the gup_flags (FOLL_WRITE is still OR'd in for -w) */
  gupFlags: number;
  testFlags: number;
  /** -t / -T: madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE), or -1 */
  thp: number;
  whichPages: number[];
}

export function defaultGupTestOptions(): GupTestOptions {
  return {
    cmd: GUP_FAST_BENCHMARK,
    size: 128 * MB,
    nrPages: 1,
    repeats: 1,
    nthreads: 1,
    write: true,
    mapFlags: MAP_PRIVATE,
    file: '/dev/zero',
    gupFlags: 0,
    testFlags: 0,
    thp: -1,
    whichPages: [],
  };
}

/** atoi(): leading whitespace, sign, digits; 0 when none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number.parseInt(m[1]!, 10) | 0 : 0;
}
/** strtol(s, NULL, 0): decimal, 0x hex or 0 octal. */
function strtol0(s: string): number {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)/.exec(s);
  if (!m) return 0;
  const body = m[2]!;
  const v = /^0[xX]/.test(body) ? Number.parseInt(body.slice(2), 16) : body.length > 1 && body[0] === '0' ? Number.parseInt(body, 8) : Number.parseInt(body, 10);
  return m[1] === '-' ? -v : v;
}

const OPTSTRING = 'm:r:n:F:f:abcj:tTLUuwWSHpz';

/**
 * getopt() over the selftest's option string; returns the options, or the
 * message of ksft_exit_fail_msg() for a bad option.
 */
export function parseGupTestArgs(argv: readonly string[], psize: number): GupTestOptions | { error: string } {
  const o = defaultGupTestOptions();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      rest.push(a); // glibc getopt permutes non-options to the end
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const at = OPTSTRING.indexOf(c);
      if (c === ':' || at < 0) return { error: 'Wrong argument\n' };
      let arg = '';
      if (OPTSTRING[at + 1] === ':') {
        if (j + 1 < a.length) arg = a.slice(j + 1);
        else if (i + 1 < argv.length) arg = argv[++i]!;
        else return { error: 'Wrong argument\n' };
        j = a.length;
      }
      switch (c) {
        case 'a':
          o.cmd = PIN_FAST_BENCHMARK;
          break;
        case 'b':
          o.cmd = PIN_BASIC_TEST;
          break;
        case 'L':
          o.cmd = PIN_LONGTERM_BENCHMARK;
          break;
        case 'c':
          o.cmd = DUMP_USER_PAGES_TEST;
          // Dump page 0 (1-based 1) unless later non-option arguments name others.
          o.whichPages[0] = 1;
          break;
        case 'p':
          o.testFlags |= GUP_TEST_FLAG_DUMP_PAGES_USE_PIN;
          break;
        case 'F':
          o.gupFlags = strtol0(arg);
          break;
        case 'j':
          o.nthreads = atoi(arg);
          break;
        case 'm':
          o.size = atoi(arg) * MB;
          break;
        case 'r':
          o.repeats = atoi(arg);
          break;
        case 'n':
          o.nrPages = atoi(arg);
          if (o.nrPages < 0) o.nrPages = Math.floor(o.size / psize); // uses -m only if it came earlier
          break;
        case 't':
          o.thp = 1;
          break;
        case 'T':
          o.thp = 0;
          break;
        case 'U':
          o.cmd = GUP_BASIC_TEST;
          break;
        case 'u':
          o.cmd = GUP_FAST_BENCHMARK;
          break;
        case 'w':
          o.write = true;
          break;
        case 'W':
          o.write = false;
          break;
        case 'f':
          o.file = arg;
          break;
        case 'S':
          o.mapFlags &= ~MAP_PRIVATE;
          o.mapFlags |= MAP_SHARED;
          break;
        case 'H':
          o.mapFlags |= MAP_HUGETLB | MAP_ANONYMOUS;
          break;
        default:
          // 'z' is still in the option string but has no case any more
          return { error: 'Wrong argument\n' };
      }
    }
  }
  // Extra arguments: 0-based page indices to dump.
  let extra = 0;
  for (const r of rest) {
    if (extra >= GUP_TEST_MAX_PAGES_TO_DUMP) break;
    o.whichPages[extra++] = strtol0(r) + 1;
  }
  return o;
}

/** Where the selftest's process lives: its mm, the kernel's GUP, and how it opens and maps the file. */
export interface GupTestEnv {
  gup: Gup;
  mm: MmStruct;
  /** open(file, O_RDWR | O_CREAT, 0664): 0 or a negative errno. Default: 0. */
  open?(file: string): number;
  /** mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0): the address, or a negative errno. */
  mmap(req: { file: string; size: number; flags: number }): number;
  /** Whether /sys/kernel/debug/gup_test exists (CONFIG_GUP_TEST). Default true. */
  gupTestAvailable?: boolean;
  /** Print the host's JavaScript time in the Time line instead of the modelled kernel's (daxsim gup-test --host-time). */
  hostTime?: boolean;
  /** Called before each fault the prefault loop takes (so a caller can tell the failing fault's kernel lines). */
  beforeFault?(addr: number): void;
}

export interface GupTestRepeat {
  thread: number;
  repeat: number;
  /** ioctl()'s return: 0, or -1 with `errno` set */
  status: number;
  errno: number;
  args: GupTestArgs;
  stats: GupTestStats;
}

export interface GupTestResult {
  /** The process's stdout, byte for byte. */
  text: string;
  /** `text` split at newlines (no trailing empty line). */
  lines: string[];
  exitCode: number;
  options: GupTestOptions | null;
  /** The mapping's address (0 when mmap was not reached). */
  addr: number;
  repeats: GupTestRepeat[];
  /** Set when the prefault loop took a signal (the process died). */
  signal?: string;
  /** With `signal`: the address of the access that raised it (the signal's si_addr). */
  faultAddr?: number;
}


/**
 * The user process's own accesses: touches every page of [addr, addr + size)
 * (p[0] = 0 every PAGE_SIZE for a write), faulting where the entry is missing
 * or read-only. Returns 0, or the vm_fault_t error that would kill it.
 */
export function userTouch(mm: MmStruct, addr: number, size: number, write: boolean, fault?: { addr: number; before?: (addr: number) => void }): number {
  const pt = mm.pgd;
  const end = addr + size;
  for (let a = addr; a < end; ) {
    const level = pt.walk(a);
    const lo = pt.wLo;
    if (lo & _PAGE_PRESENT && (level === pt.nrLevels - 1 || lo & _PAGE_PSE) && (!write || lo & _PAGE_RW)) {
      const leaf = pt.levelSize(level);
      a = a - (a % leaf) + leaf; // the rest of this leaf needs no fault
      continue;
    }
    if (fault) {
      fault.addr = a;
      fault.before?.(a);
    }
    const vma = mm.findVma(a);
    if (vma === undefined) return -EFAULT; // SIGSEGV
    const r = handleMmFault(vma, a, write ? FAULT_FLAG_WRITE : 0);
    if (r & VM_FAULT_ERROR) return r;
    const after = pt.walk(a);
    if (!(pt.wLo & _PAGE_PRESENT)) return -EFAULT;
    const leaf = pt.levelSize(after);
    a = a - (a % leaf) + leaf;
  }
  return 0;
}

const isBenchmark = (cmd: number): boolean =>
  cmd === GUP_FAST_BENCHMARK || cmd === PIN_FAST_BENCHMARK || cmd === PIN_LONGTERM_BENCHMARK;

/**
 * The gup_test selftest's main() (kselftest/TAP form): parses argv, maps the
 * file, prefaults it from "user space", runs `repeats` ioctls per thread and
 * prints what the selftest prints. Threads (-j) run one after the other.
 */
export function gupTestMain(env: GupTestEnv, argv: readonly string[]): GupTestResult {
  const ps = env.gup.pageSize;
  let text = '';
  const counts = { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 };
  let planned = 0;
  const msg = (s: string): void => {
    text += `# ${s}`; // ksft_print_msg()
  };
  const totals = (): void => {
    const run = counts.pass + counts.fail + counts.xfail + counts.xpass + counts.skip + counts.error;
    if (planned !== run) text += `# Planned tests != run tests (${planned} != ${run})\n`;
    text += `# Totals: pass:${counts.pass} fail:${counts.fail} xfail:${counts.xfail} xpass:${counts.xpass} skip:${counts.skip} error:${counts.error}\n`;
  };
  const result = (options: GupTestOptions | null, exitCode: number, addr: number, repeats: GupTestRepeat[], signal?: string, faultAddr?: number): GupTestResult => {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return { text, lines, exitCode, options, addr, repeats, ...(signal !== undefined ? { signal } : {}), ...(faultAddr !== undefined ? { faultAddr } : {}) };
  };
  const failMsg = (m: string, options: GupTestOptions | null): GupTestResult => {
    text += `Bail out! ${m}`; // ksft_exit_fail_msg()
    totals();
    return result(options, 1, 0, []);
  };

  const parsed = parseGupTestArgs(argv, ps);
  if ('error' in parsed) return failMsg(parsed.error, null);
  const o = parsed;

  text += 'TAP version 13\n'; // ksft_print_header()
  planned = o.nthreads;
  text += `1..${o.nthreads}\n`; // ksft_set_plan()

  const openErr = env.open?.(o.file) ?? 0;
  if (openErr < 0) return failMsg(`Unable to open ${o.file}: ${strerror(openErr)}\n`, o);

  const base = newGupTestArgs({ nrPagesPerCall: o.nrPages >>> 0, gupFlags: o.gupFlags, testFlags: o.testFlags });
  base.whichPages = o.whichPages.slice();
  if (o.write) base.gupFlags |= FOLL_WRITE;

  if (env.gupTestAvailable === false) {
    msg('check if CONFIG_GUP_TEST is enabled in kernel config\n');
    text += `ok ${counts.pass + counts.skip + 1} # SKIP Please run this test as root\n`; // ksft_test_result_skip()
    counts.skip++;
    totals();
    return result(o, 0, 0, []);
  }

  const addr = env.mmap({ file: o.file, size: o.size, flags: o.mapFlags });
  if (addr < 0) return failMsg(`mmap: ${strerror(addr)}\n`, o);
  base.addr = addr;
  // madvise(MADV_HUGEPAGE / MADV_NOHUGEPAGE) has no effect on a device-dax mapping; ignored.

  // Fault it in from user space: p[0] = 0 every page.
  const at = { addr, ...(env.beforeFault ? { before: env.beforeFault } : {}) };
  const touched = userTouch(env.mm, addr, o.size, true, at);
  if (touched !== 0) {
    const segv = touched === -EFAULT;
    return result(o, 128 + (segv ? 11 : 7), addr, [], segv ? 'SIGSEGV' : 'SIGBUS', at.addr);
  }

  const repeats: GupTestRepeat[] = [];
  for (let t = 0; t < o.nthreads; t++) {
    let status = 0;
    for (let r = 0; r < o.repeats; r++) {
      const args: GupTestArgs = { ...base, whichPages: base.whichPages.slice(), size: o.size };
      const stats = newGupTestStats();
      const ret = gupTestIoctl(env.gup, env.mm, o.cmd, args, stats);
      status = ret < 0 ? -1 : 0;
      repeats.push({ thread: t, repeat: r, status, errno: ret < 0 ? -ret : 0, args, stats });
      if (status) break;
      if (isBenchmark(o.cmd)) {
        const get = env.hostTime ? args.hostGetUsec ?? 0 : args.getDeltaUsec;
        const put = env.hostTime ? args.hostPutUsec ?? 0 : args.putDeltaUsec;
        msg(`${gupTestCmdName(o.cmd)}: Time: get:${get} put:${put} us`);
        if (args.size !== o.size) msg(`, truncated (size: ${args.size})`);
        msg('\n');
      } else {
        msg(`${gupTestCmdName(o.cmd)}: done\n`);
        if (args.size !== o.size) msg(`Truncated (size: ${args.size})\n`);
      }
    }
    const n = counts.pass + counts.fail + counts.xfail + counts.xpass + counts.skip + counts.error + 1;
    if (status === 0) counts.pass++;
    else counts.fail++;
    text += `${status === 0 ? 'ok' : 'not ok'} ${n} ioctl status ${status}\n`; // ksft_test_result()
  }
  totals(); // ksft_exit_pass()
  return result(o, 0, addr, repeats);
}

