/**
 * Kernel objects that struct pages point at (a dev_pagemap, an address_space)
 * are JavaScript objects, one per device or file. Struct pages hold a
 * simulated kernel pointer to them: an address in the direct map, registered
 * here so the model can follow it back.
 */
export class KernelObjects {
  private readonly byHandle: unknown[] = [undefined];
  private readonly handles = new Map<unknown, number>();
  /** High word of PAGE_OFFSET plus a 1 TiB gap, where the simulated objects live. */
  private readonly baseHi: number;

  constructor(pageOffset: bigint) {
    this.baseHi = Number((pageOffset >> 32n) & 0xffffffffn) + 0x100;
  }

  /** The object's kernel address as [lo, hi] 32-bit words (registering it on first use). */
  pointer(obj: object): [number, number] {
    let h = this.handles.get(obj);
    if (h === undefined) {
      h = this.byHandle.length;
      this.byHandle.push(obj);
      this.handles.set(obj, h);
    }
    // 256-byte granules: bit 0 is never set, so the pointer cannot look like a tail's compound_head.
    return [((h % 0x1000000) * 256) | 0, (this.baseHi + Math.floor(h / 0x1000000)) | 0];
  }

  /** How many addresses have been handed out (the next object's comes after them). */
  get allocated(): number {
    return this.byHandle.length;
  }

  /**
   * Skips addresses up to `n` handed out: a machine whose compacted log
   * replays fewer objects gives its next object the address the full
   * history would have.
   */
  reserve(n: number): void {
    while (this.byHandle.length < n) this.byHandle.push(undefined);
  }

  /** The object a pointer refers to; undefined for NULL or an unknown address. */
  deref<T>(lo: number, hi: number): T | undefined {
    if (lo === 0 && hi === 0) return undefined;
    const h = ((hi >>> 0) - this.baseHi) * 0x1000000 + ((lo >>> 0) >>> 8);
    return this.byHandle[h] as T | undefined;
  }
}
