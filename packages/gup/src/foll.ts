// gup_flags (include/linux/mm.h, v5.15): the FOLL_* bits callers pass to GUP.
export const FOLL_WRITE = 0x01; // check pte is writable
export const FOLL_TOUCH = 0x02; // mark page accessed
export const FOLL_GET = 0x04; // take a page reference (put_page releases it)
export const FOLL_DUMP = 0x08; // give an error on a hole
export const FOLL_FORCE = 0x10; // read/write without permission (ptrace)
export const FOLL_NOWAIT = 0x20;
export const FOLL_POPULATE = 0x40;
export const FOLL_HWPOISON = 0x100; // report poison as -EHWPOISON rather than -EFAULT
export const FOLL_NUMA = 0x200;
export const FOLL_MIGRATION = 0x400;
export const FOLL_TRIED = 0x800;
export const FOLL_MLOCK = 0x1000;
export const FOLL_REMOTE = 0x2000;
export const FOLL_COW = 0x4000;
export const FOLL_ANON = 0x8000;
export const FOLL_LONGTERM = 0x10000; // the pin's lifetime is indefinite
export const FOLL_SPLIT_PMD = 0x20000;
export const FOLL_PIN = 0x40000; // pages must be released with unpin_user_page()
export const FOLL_FAST_ONLY = 0x80000; // gup-fast: never fall back to the slow path

/** GUP_PIN_COUNTING_BIAS (include/linux/mm.h): what one FOLL_PIN adds to a small page's refcount. */
export const GUP_PIN_COUNTING_BIAS = 1 << 10;

/** The flags internal_get_user_pages_fast() accepts (anything else is -EINVAL). */
export const FOLL_FAST_VALID = FOLL_WRITE | FOLL_LONGTERM | FOLL_FORCE | FOLL_PIN | FOLL_GET | FOLL_FAST_ONLY;
