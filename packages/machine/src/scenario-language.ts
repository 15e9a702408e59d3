/**
 * The scenario language of `daxsim run` (./scenario.ts interprets it), as a
 * table: every kind of line, its syntax, what it models and one example.
 * `daxsim run --help` prints it and apps/daxsim's README shows it; a test
 * checks that the interpreter knows every kind listed and runs the
 * examples, in order, as one scenario (SCENARIO_TOUR), on a fresh machine.
 */

export interface ScenarioLineKind {
  /** The word that selects the line (for a process line, the word after the process name). */
  readonly kind: string;
  /** `P` is a process name given to `spawn`, NAME a mapping or allocation name the line gives or uses. */
  readonly syntax: string;
  /** What the line does, and the kernel path it models. */
  readonly does: string;
  /** Lines that show it; run in order after the examples of the kinds above it, they make SCENARIO_TOUR. */
  readonly example: readonly string[];
}

export const SCENARIO_LINE_KINDS: readonly ScenarioLineKind[] = [
  {
    kind: 'machine',
    syntax: 'machine [machine create options]',
    does:
      "first line only: a fresh machine, with `daxsim machine create`'s options (--kernel, --arch, --ram, --pmem, --soft-reserved, --auto-online, --memmap-on-memory, ...). Without it the scenario runs on the state file's machine (the default machine when there is none); the machine a scenario leaves is saved when it continued the file's machine or the file held none",
    example: ['machine --ram 4G --pmem 4G --soft-reserved 1G --memmap-on-memory --auto-online offline'],
  },
  {
    kind: 'ndctl',
    syntax: 'ndctl VERB [ARGS]',
    does: 'a tool line: `daxsim ndctl ...` on the scenario\'s machine, its output and exit status inline ((-errno) & 0xff, as ndctl exits)',
    example: ['ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M -M mem'],
  },
  { kind: 'daxctl', syntax: 'daxctl VERB [ARGS]', does: 'a tool line: `daxsim daxctl ...` on the scenario\'s machine', example: ['daxctl list -d dax0.0'] },
  {
    kind: 'gup-test',
    syntax: 'gup-test [--gup=GEN] -f /dev/daxX.Y [gup_test options]',
    does: "a tool line: the kernel's gup_test selftest over a process of its own that maps the device",
    example: ['gup-test -f /dev/dax0.0 -m 4 -r 1 -n 512 -w -S'],
  },
  { kind: 'stat', syntax: 'stat [--json]', does: "a tool line: each device's memmap cost and every event counter", example: ['stat'] },
  { kind: 'spawn', syntax: 'spawn P', does: 'a process named P (pids from 100), with an empty mm', example: ['spawn p'] },
  {
    kind: 'mmap',
    syntax: 'P mmap NAME daxX.Y length=SIZE [offset=BYTES] [prot=rw|r] [flags=shared|private]',
    does: "mmap() of the device by P (dax_mmap(): the length and offset aligned to the device's align); NAME names the mapping for later lines",
    example: ['p mmap m dax0.0 length=4M offset=0 prot=rw flags=shared'],
  },
  {
    kind: 'fail',
    syntax: 'fail POINT:N[,POINT:N...]',
    does: 'fault injection ($DAXSIM_FAIL syntax): the N-th page_alloc, altmap, pgtable or grab from now fails; here the PMD fault of the next line cannot allocate its page table (VM_FAULT_OOM) and maps nothing',
    example: ['fail pgtable:1', 'p touch m 0'],
  },
  {
    kind: 'touch',
    syntax: 'P touch NAME OFFSET [write]',
    does: "a load (a store with `write`) by P at that byte of the mapping: the fault it takes (dev_dax_huge_fault: pte, pmd or pud, by the device's align) and the pages it maps",
    example: ['p touch m 0 write'],
  },
  {
    kind: 'page',
    syntax: 'page PFN|daxX.Y:INDEX [--json]',
    does: "dump_page() of one struct page as the machine's release prints it (flags by name, _refcount, _mapcount, the folio's order, entire mapcount, pincount, pgmap); daxX.Y:INDEX is the INDEX-th page of the device's data",
    example: ['page dax0.0:0 --json'],
  },
  { kind: 'write', syntax: 'P write NAME OFFSET TEXT', does: 'P stores the bytes of TEXT there (faulting as it goes)', example: ['p write m 0x1000 hello'] },
  { kind: 'read', syntax: 'P read NAME OFFSET LENGTH', does: 'P loads LENGTH bytes there and prints them', example: ['p read m 0x1000 5'] },
  {
    kind: 'pin',
    syntax: 'P pin NAME OFFSET LENGTH [gen=GEN] [get] [longterm]',
    does: "pin_user_pages_fast(FOLL_WRITE) of the pages of [OFFSET, OFFSET+LENGTH) by P (`get`: get_user_pages_fast, `longterm`: FOLL_LONGTERM); gen= a GUP generation (per-page, head-once, grab-first, folio), default the machine kernel's; P holds the pages until `unpin`",
    example: ['p pin m 0 2M'],
  },
  { kind: 'get', syntax: 'P get NAME OFFSET LENGTH [gen=GEN]', does: 'the same as `P pin ... get`: get_user_pages_fast, references instead of pins', example: ['p get m 0x200000 8K'] },
  { kind: 'longterm', syntax: 'P longterm NAME OFFSET LENGTH [gen=GEN]', does: 'the same as `P pin ... longterm`: FOLL_PIN | FOLL_LONGTERM', example: ['p longterm m 0 4K'] },
  { kind: 'unpin', syntax: 'P unpin', does: 'P releases every page its pin, get and longterm lines took (unpin_user_pages, put_page)', example: ['p unpin'] },
  {
    kind: 'prctl',
    syntax: 'P prctl mce_kill early|late|default',
    does: 'prctl(PR_MCE_KILL) for P: whether memory failure signals it when a page it maps goes bad (early) or only when it touches it (late)',
    example: ['p prctl mce_kill early'],
  },
  {
    kind: 'sysctl',
    syntax: 'sysctl vm.memory_failure_early_kill 0|1',
    does: 'the system-wide default of the same (/proc/sys/vm/memory_failure_early_kill)',
    example: ['sysctl vm.memory_failure_early_kill 0'],
  },
  {
    kind: 'poison',
    syntax: 'poison daxX.Y OFFSET    |    P poison NAME OFFSET',
    does: "a bad media location at a device byte: memory_failure() with no consumer (early-kill mappers get BUS_MCEERR_AO), and it stays bad: a later load of it is a machine check. `P poison NAME OFFSET`: P loads a bad byte of its mapping, a machine check that P consumes: memory_failure(MF_ACTION_REQUIRED), SIGBUS BUS_MCEERR_AR to P",
    example: ['poison dax0.0 0x200000', 'p poison m 0x300000'],
  },
  {
    kind: 'madvise',
    syntax: 'P madvise NAME OFFSET hwpoison [LENGTH]',
    does: 'madvise(MADV_HWPOISON) by P: software poison injected at pages of its own mapping (one page without LENGTH)',
    example: ['p madvise m 0x100000 hwpoison'],
  },
  {
    kind: 'sysfs',
    syntax: 'sysfs /sys/kernel/debug/hwpoison/corrupt-pfn|unpoison-pfn PFN    |    sysfs daxX.Y memmap_on_memory 0|1',
    does: "a write to the hwpoison debugfs (hwpoison_inject: memory_failure() of a pfn, or unpoison_memory()), or to /sys/bus/dax/devices/daxX.Y/memmap_on_memory (6.8 and later: the device's memory blocks carry their own memmap once it is System RAM)",
    example: ['sysfs /sys/kernel/debug/hwpoison/corrupt-pfn 0x140600', 'sysfs dax1.0 memmap_on_memory 1'],
  },
  { kind: 'munmap', syntax: 'P munmap NAME', does: 'munmap() of the mapping by P (zap_page_range: its pages lose their mappings and references)', example: ['p munmap m'] },
  {
    kind: 'alloc',
    syntax: 'P alloc NAME SIZE [node=N] [kernel]',
    does: 'P takes SIZE of memory on node N (default 0) from the buddy allocator: anonymous (movable, migrated when its memory block goes offline), or with `kernel` a kernel buffer on its behalf (unmovable: the block cannot go offline)',
    example: ['daxctl reconfigure-device --mode=system-ram dax1.0', 'p alloc buf 4M node=0'],
  },
  { kind: 'free', syntax: 'P free NAME', does: 'P gives back what `alloc` took as NAME', example: ['p free buf'] },
  { kind: 'exit', syntax: 'P exit', does: 'P exits: its mappings are unmapped and what it pinned released (every process exits at the end of a scenario)', example: ['p exit'] },
];

/** Every example of SCENARIO_LINE_KINDS, in order: one scenario that runs on a fresh machine. */
export const SCENARIO_TOUR: string = SCENARIO_LINE_KINDS.flatMap((k) => k.example).join('\n') + '\n';

/** The language as `daxsim run --help` prints it after the usage: each kind's syntax, what it does, and its example. */
export function formatScenarioLanguage(width = 100): string {
  const wrap = (text: string, indent: string): string[] => {
    const out: string[] = [];
    let line = '';
    for (const w of text.split(/\s+/)) {
      if (line && indent.length + line.length + 1 + w.length > width) {
        out.push(indent + line);
        line = w;
      } else line = line ? `${line} ${w}` : w;
    }
    if (line) out.push(indent + line);
    return out;
  };
  const lines = [
    'A scenario is a text file, one line per step (# starts a comment). P is a process named by',
    'a spawn line; NAME a mapping or allocation the line names. A refused line prints its errno',
    "and the scenario goes on; a malformed one stops it (exit status 129). Each line's faults,",
    'signals and memory-failure log lines are printed under it. Line kinds:',
    '',
  ];
  for (const k of SCENARIO_LINE_KINDS) {
    lines.push(`  ${k.syntax}`);
    lines.push(...wrap(k.does, '      '));
    for (const e of k.example) lines.push(`      e.g. ${e}`);
    lines.push('');
  }
  lines.push('The examples, in this order, are one scenario that runs on a fresh machine (apps/daxsim/README.md).');
  return lines.join('\n');
}
