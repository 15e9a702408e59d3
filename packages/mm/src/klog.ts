/** printk log levels (include/linux/kern_levels.h). */
export const KERN_EMERG = 0;
export const KERN_ALERT = 1;
export const KERN_CRIT = 2;
export const KERN_ERR = 3;
export const KERN_WARNING = 4;
export const KERN_NOTICE = 5;
export const KERN_INFO = 6;
export const KERN_DEBUG = 7;

export interface LogRecord {
  /** Seconds since the simulated machine booted. */
  readonly time: number;
  readonly level: number;
  readonly text: string;
  /** The line with the host's JavaScript time where `text` has the modelled kernel's (dmesg --host-time). */
  readonly hostText?: string;
}

/**
 * The kernel log ring (printk's log buffer), read back dmesg-style: one ring
 * for the machine's whole life, every line stamped by the machine's clock
 * (local_clock()), so that stamps never decrease — across commands too, when
 * the ring is restored with the clock that stamped it.
 */
export class KernelLog {
  private readonly records: LogRecord[] = [];
  private readonly now: () => number;
  private readonly capacity: number;
  /** The last stamp handed out: printk never stamps earlier (a clock read twice in one event gives the same time). */
  private last = 0;

  /**
   * `now` returns seconds since boot: a machine's kernel passes its modelled
   * clock (createKernelCore()); the default counts host time from construction.
   */
  constructor(opts: { now?: () => number; capacity?: number } = {}) {
    const t0 = performance.now();
    this.now = opts.now ?? (() => (performance.now() - t0) / 1000);
    this.capacity = opts.capacity ?? 10000;
  }

  // vprintk_store(): the record takes local_clock() when it is stored
  printk(level: number, text: string, hostText?: string): void {
    const time = Math.max(this.now(), this.last);
    this.last = time;
    this.records.push(hostText === undefined ? { time, level, text } : { time, level, text, hostText });
    // the ring drops its oldest records a quarter of its size at a time (one splice per capacity/4 lines, not one per line)
    if (this.records.length > this.capacity + (this.capacity >> 2)) this.records.splice(0, this.records.length - this.capacity);
  }
  info(text: string, hostText?: string): void {
    this.printk(KERN_INFO, text, hostText);
  }
  warn(text: string): void {
    this.printk(KERN_WARNING, text);
  }
  err(text: string): void {
    this.printk(KERN_ERR, text);
  }
  debug(text: string): void {
    this.printk(KERN_DEBUG, text);
  }

  get entries(): readonly LogRecord[] {
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    return this.records;
  }

  /** Replaces the records with `records` (a machine restored from its saved history). */
  restore(records: readonly LogRecord[]): void {
    this.records.splice(0, this.records.length, ...records.slice(-this.capacity));
    // the next line comes after the restored ones, whatever the clock reads
    this.last = this.records.length ? this.records[this.records.length - 1]!.time : 0;
  }

  /** The log as dmesg prints it: `[    0.123456] text`. */
  dmesg(): string {
    return this.records.map(formatLogRecord).join('\n');
  }

  /** dmesg --clear: the records go, the clock runs on. */
  clear(): void {
    this.records.length = 0;
  }
}

export function formatLogRecord(r: LogRecord): string {
  const us = Math.round(r.time * 1e6);
  const sec = Math.floor(us / 1e6);
  const frac = String(us % 1e6).padStart(6, '0');
  return `[${String(sec).padStart(5, ' ')}.${frac}] ${r.text}`;
}
