import { type DevDax, createTask, daxMmap, exitTask } from '@daxsim/device-dax';
import { type GupGeneration, gupTestMain } from '@daxsim/gup';
import { KernelError, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, formatLogRecord } from '@daxsim/mm';
import type { Machine } from './machine.js';

/** The dax device a /dev/daxX.Y path names. */
export function deviceOfFile(m: Machine, file: string): DevDax | undefined {
  const match = /^\/dev\/(dax\d+\.\d+)$/.exec(file);
  return match ? m.bus.device(match[1]!) : undefined;
}

/**
 * tools/testing/selftests/mm/gup_test with `argv` on the machine: a
 * transient process opens and maps the device file, runs the benchmark
 * through the gup_test ioctl, and exits. GUP runs the machine kernel's
 * generation unless one is named.
 */
export function runGupTest(
  m: Machine,
  argv: readonly string[],
  generation?: GupGeneration,
  opts: { hostTime?: boolean } = {},
): ReturnType<typeof gupTestMain> & { kernelLines: string[] } /* the failing fault's kernel lines when the prefault took a signal */ {
  const task = createTask(m.k, 4242, 'gup_test');
  const gup = m.newGup(generation);
  // the kernel's lines of the last fault the prefault loop took: every record after the last one before it
  let last = m.k.log.entries[m.k.log.entries.length - 1];
  const beforeFault = (): void => {
    last = m.k.log.entries[m.k.log.entries.length - 1];
  };
  const linesOfLastFault = (): string[] => {
    const now = m.k.log.entries;
    const from = last === undefined ? 0 : now.lastIndexOf(last) + 1;
    return now.slice(from).map(formatLogRecord);
  };
  try {
    const r = gupTestMain(
      {
        gup,
        mm: task.mm,
        beforeFault,
        ...(opts.hostTime ? { hostTime: true } : {}),
        open: (file) => (deviceOfFile(m, file) ? 0 : -2 /* ENOENT */),
        mmap: ({ file, size, flags }) => {
          const dev = deviceOfFile(m, file)!;
          try {
            return daxMmap(m.k, task, dev, { length: size, prot: PROT_READ | PROT_WRITE, flags: flags & MAP_SHARED ? MAP_SHARED : MAP_PRIVATE });
          } catch (e) {
            if (e instanceof KernelError) return -e.errno;
            throw e;
          }
        },
      },
      [...argv],
    );
    return { ...r, kernelLines: r.signal ? linesOfLastFault() : [] };
  } finally {
    exitTask(m.k, task);
  }
}
