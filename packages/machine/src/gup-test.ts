import { type DevDax, createTask, daxMmap, exitTask } from '@daxsim/device-dax';
import { type GupGeneration, gupTestMain } from '@daxsim/gup';
import { KernelError, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '@daxsim/mm';
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
export function runGupTest(m: Machine, argv: readonly string[], generation?: GupGeneration, opts: { hostTime?: boolean } = {}): ReturnType<typeof gupTestMain> {
  const task = createTask(m.k, 4242, 'gup_test');
  const gup = m.newGup(generation);
  try {
    return gupTestMain(
      {
        gup,
        mm: task.mm,
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
  } finally {
    exitTask(m.k, task);
  }
}
