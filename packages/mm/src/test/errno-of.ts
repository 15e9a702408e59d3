import { KernelError } from '../errno.js';

/** The errno `fn` throws as a KernelError; 0 when it returns. Anything else it throws is rethrown. */
export function errnoOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
}
