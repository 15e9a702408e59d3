// include/uapi/asm-generic/errno-base.h, errno.h
export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const EHWPOISON = 133;

const NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EIO]: 'EIO',
  [ENXIO]: 'ENXIO',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [ENOTDIR]: 'ENOTDIR',
  [EISDIR]: 'EISDIR',
  [EINVAL]: 'EINVAL',
  [ENOSPC]: 'ENOSPC',
  [ERANGE]: 'ERANGE',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
  [EHWPOISON]: 'EHWPOISON',
};

/** The symbolic name of a (positive or negative) errno, e.g. errnoName(-22) === 'EINVAL'. */
export function errnoName(errno: number): string {
  return NAMES[Math.abs(errno)] ?? `E${Math.abs(errno)}`;
}

const MESSAGES: Record<number, string> = {
  [EPERM]: 'Operation not permitted',
  [ENOENT]: 'No such file or directory',
  [EIO]: 'Input/output error',
  [ENXIO]: 'No such device or address',
  [EAGAIN]: 'Resource temporarily unavailable',
  [ENOMEM]: 'Cannot allocate memory',
  [EACCES]: 'Permission denied',
  [EFAULT]: 'Bad address',
  [EBUSY]: 'Device or resource busy',
  [EEXIST]: 'File exists',
  [ENODEV]: 'No such device',
  [ENOTDIR]: 'Not a directory',
  [EISDIR]: 'Is a directory',
  [EINVAL]: 'Invalid argument',
  [ENOSPC]: 'No space left on device',
  [ERANGE]: 'Numerical result out of range',
  [EOPNOTSUPP]: 'Operation not supported',
  [EHWPOISON]: 'Memory page has hardware error',
};

/** strerror(): glibc's message for a (positive or negative) errno. */
export function strerror(errno: number): string {
  return MESSAGES[Math.abs(errno)] ?? `Unknown error ${Math.abs(errno)}`;
}

/**
 * A refused kernel operation. `errno` is positive (EINVAL, not -EINVAL);
 * the message names the argument and why it was refused.
 */
export class KernelError extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(`${message} (-${errnoName(errno)})`);
    this.name = 'KernelError';
    this.errno = Math.abs(errno);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/** Throws KernelError when `ret` is a negative errno, the way callers check IS_ERR()/ret < 0. */
export function check(ret: number, what: string): number {
  if (ret < 0) throw new KernelError(-ret, what);
  return ret;
}
