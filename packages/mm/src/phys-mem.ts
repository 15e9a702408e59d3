import type { ArchProfile } from './arch.js';
import { EBUSY, EINVAL, KernelError } from './errno.js';
import { type MemoryTier, TIER_DRAM, tierIndex } from './platform.js';

export type PhysRangeKind = 'ram' | 'device';

export interface PhysRange {
  readonly start: number; // bytes
  readonly size: number; // bytes
  readonly kind: PhysRangeKind;
  readonly nid: number;
  readonly name: string;
  /** The memory it is made of (the cost model's tier): RAM is DRAM; a device range says (default pmem). */
  readonly tier: MemoryTier;
}

/** Bytes of frame storage in one slab: slabs are allocated whole and never grown. */
const SLAB_BYTES = 1 << 20;
/** pfns covered by one block of the pfn→slot directory. */
const DIR_SHIFT = 16;
const DIR_MASK = (1 << DIR_SHIFT) - 1;

/**
 * The machine's physical address space: RAM ranges per NUMA node and device
 * ranges, and the contents of every page frame.
 *
 * Frame contents are materialised lazily: a frame that was never written has
 * no storage and reads as zeros. A materialised frame owns a "slot" in a slab
 * (a 1 MiB typed array); `slabI32[slot >>> slabShift]` is its slab and
 * `(slot & slabMask) << (pageShift - 2)` its first 32-bit word. No object
 * exists per frame.
 */
export class PhysicalMemory {
  readonly arch: ArchProfile;
  readonly pageShift: number;
  readonly pageSize: number;
  /** log2(frames per slab) */
  readonly slabShift: number;
  readonly slabMask: number;
  /** Slabs as 32-bit words and as bytes: two views of one buffer each. */
  readonly slabI32: Int32Array[] = [];
  readonly slabU8: Uint8Array[] = [];
  /** The slabs as 64-bit words (page-table entries), for filling a run of identical entries in one call. */
  readonly slabI64: BigInt64Array[] = [];
  private readonly ranges_: PhysRange[] = [];
  /** pfn → slot + 1 (0: not materialised), in blocks of 2^16 pfns. */
  private readonly dir: (Int32Array | undefined)[] = [];
  /**
   * Free slots as bits (slot s is bit s & 31 of word s >>> 5). materialise()
   * takes the lowest free slot, so a batch of frames gets ascending slots
   * whatever order they were discarded in (sequential memory for the hot loops).
   */
  private freeSlotBits: Uint32Array = new Uint32Array(64);
  /**
   * Free slots that still hold a discarded frame's bytes, as bits like
   * freeSlotBits: discard() leaves the bytes, materialise() zeroes them when
   * it hands the slot out (unless the caller overwrites the whole frame).
   */
  private dirtySlotBits: Uint32Array = new Uint32Array(64);
  /** Lowest word of freeSlotBits that may be non-zero. */
  private freeSlotHint = 0;
  private nrFreeSlots = 0;
  private nextSlot = 0;
  private materialised = 0;
  /** Per block of the pfn directory: a bit per frame ever given storage since boot. */
  private readonly touched: (Uint32Array | undefined)[] = [];
  /**
   * Frames given storage for the first time since boot: a frame discarded
   * and written again is not counted twice (what a VM's host charges once
   * per guest frame). Read as a delta by the cost model.
   */
  firstTouches = 0;

  /**
   * The frames ever given storage, as [first pfn, count] runs flattened: what
   * a compacted log carries so that a replay counts first touches as the
   * full history did.
   */
  touchedRuns(): number[] {
    const out: number[] = [];
    let runStart = -1;
    let prev = -2;
    for (let bi = 0; bi < this.touched.length; bi++) {
      const tb = this.touched[bi];
      if (tb === undefined) continue;
      for (let w = 0; w < tb.length; w++) {
        let bits = tb[w]!;
        if (bits === 0) continue;
        const base = (bi << DIR_SHIFT) + (w << 5);
        while (bits !== 0) {
          const b = 31 - Math.clz32(bits & -bits);
          bits &= bits - 1;
          const pfn = base + b;
          if (pfn !== prev + 1) {
            if (runStart >= 0) out.push(runStart, prev - runStart + 1);
            runStart = pfn;
          }
          prev = pfn;
        }
      }
    }
    if (runStart >= 0) out.push(runStart, prev - runStart + 1);
    return out;
  }

  /** Marks the frames of touchedRuns() output as touched before (without counting them as first touches now). */
  markTouched(runs: readonly number[]): void {
    for (let i = 0; i + 1 < runs.length; i += 2) {
      const end = runs[i]! + runs[i + 1]!;
      for (let pfn = runs[i]!; pfn < end; pfn++) {
        const bi = pfn >>> DIR_SHIFT;
        let tb = this.touched[bi];
        if (tb === undefined) {
          while (this.touched.length < bi) this.touched.push(undefined);
          tb = this.touched[bi] = new Uint32Array(1 << (DIR_SHIFT - 5));
        }
        const tw = (pfn & DIR_MASK) >>> 5;
        tb[tw] = tb[tw]! | (1 << (pfn & 31));
      }
    }
  }

  constructor(arch: ArchProfile) {
    this.arch = arch;
    this.pageShift = arch.pageShift;
    this.pageSize = arch.pageSize;
    this.slabShift = Math.log2(SLAB_BYTES) - arch.pageShift;
    this.slabMask = (1 << this.slabShift) - 1;
  }

  /** Adds a RAM or device range; it must be page aligned and overlap nothing. */
  addRange(r: { start: number; size: number; kind: PhysRangeKind; nid?: number; name?: string; tier?: MemoryTier }): PhysRange {
    const { start, size, kind } = r;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size <= 0)
      throw new KernelError(EINVAL, `phys range: start ${start} / size ${size} must be non-negative integers`);
    if (start % this.pageSize || size % this.pageSize)
      throw new KernelError(EINVAL, `phys range ${hex(start)}+${hex(size)}: not aligned to PAGE_SIZE`);
    if (start + size > 2 ** Math.min(this.arch.maxPhysmemBits, 32 + this.pageShift))
      throw new KernelError(EINVAL, `phys range ${hex(start)}+${hex(size)}: beyond MAX_PHYSMEM_BITS`);
    for (const o of this.ranges_)
      if (start < o.start + o.size && o.start < start + size)
        throw new KernelError(EBUSY, `phys range ${hex(start)}+${hex(size)}: overlaps ${o.name}`);
    const tier = r.tier ?? (kind === 'ram' ? 'dram' : 'pmem');
    const range: PhysRange = Object.freeze({ start, size, kind, nid: r.nid ?? 0, name: r.name ?? `${kind}@${hex(start)}`, tier });
    this.ranges_.push(range);
    this.ranges_.sort((a, b) => a.start - b.start);
    return range;
  }

  get ranges(): readonly PhysRange[] {
    return this.ranges_;
  }

  /** The range holding byte address `addr`, or undefined. */
  rangeOf(addr: number): PhysRange | undefined {
    for (const r of this.ranges_) if (addr >= r.start && addr < r.start + r.size) return r;
    return undefined;
  }

  /** The cost model's tier index (platform.ts TIER_*) of the range holding frame `pfn` (DRAM when none does). */
  tierOfPfn(pfn: number): number {
    const r = this.rangeOf(pfn * this.pageSize);
    return r === undefined ? TIER_DRAM : tierIndex(r.tier);
  }

  /** pfn_valid(): the pfn lies in some RAM or device range. */
  pfnValid(pfn: number): boolean {
    return this.rangeOf(pfn * this.pageSize) !== undefined;
  }

  /** Frames that currently own storage. */
  get materialisedFrames(): number {
    return this.materialised;
  }

  /** The slot of a frame, or -1 if it was never written. */
  frameSlot(pfn: number): number {
    const blk = this.dir[pfn >>> DIR_SHIFT];
    return blk === undefined ? -1 : blk[pfn & DIR_MASK]! - 1;
  }

  /**
   * The slot of a frame, giving it zeroed storage first if it has none.
   * `overwrite`: the caller stores every byte of the frame before anything
   * reads it, so storage that still holds a discarded frame's bytes need not
   * be zeroed first (the memmap init's whole vmemmap pages).
   */
  materialise(pfn: number, overwrite = false): number {
    const bi = pfn >>> DIR_SHIFT;
    let blk = this.dir[bi];
    if (blk === undefined) {
      // grow the directory without holes: an element stored far past an array's end turns it into a
      // hash table (V8's dictionary elements), and every pfn lookup after that would hash
      while (this.dir.length < bi) this.dir.push(undefined);
      blk = this.dir[bi] = new Int32Array(1 << DIR_SHIFT);
    }
    const cur = blk[pfn & DIR_MASK]!;
    if (cur !== 0) return cur - 1;
    let slot: number;
    if (this.nrFreeSlots > 0) {
      const bits = this.freeSlotBits;
      let wi = this.freeSlotHint;
      while (bits[wi] === 0) wi++;
      const v = bits[wi]!;
      const b = 31 - Math.clz32(v & -v);
      bits[wi] = v & ~(1 << b);
      this.freeSlotHint = wi;
      this.nrFreeSlots--;
      slot = (wi << 5) + b;
      const dirty = this.dirtySlotBits;
      if (dirty[wi]! & (1 << b)) {
        dirty[wi] = dirty[wi]! & ~(1 << b);
        if (!overwrite) {
          const words = this.pageSize >>> 2;
          const base = (slot & this.slabMask) * words;
          this.slabI32[slot >>> this.slabShift]!.fill(0, base, base + words);
        }
      }
    } else {
      slot = this.nextSlot++;
      const si = slot >>> this.slabShift;
      if (si === this.slabI32.length) {
        const buf = new ArrayBuffer(SLAB_BYTES);
        this.slabI32.push(new Int32Array(buf));
        this.slabU8.push(new Uint8Array(buf));
        this.slabI64.push(new BigInt64Array(buf));
      }
    }
    blk[pfn & DIR_MASK] = slot + 1;
    this.materialised++;
    let tb = this.touched[bi];
    if (tb === undefined) {
      while (this.touched.length < bi) this.touched.push(undefined);
      tb = this.touched[bi] = new Uint32Array(1 << (DIR_SHIFT - 5));
    }
    const tw = (pfn & DIR_MASK) >>> 5;
    const tbit = 1 << (pfn & 31);
    if ((tb[tw]! & tbit) === 0) {
      tb[tw] = tb[tw]! | tbit;
      this.firstTouches++;
    }
    return slot;
  }

  /**
   * Drops a frame's contents: it reads as zeros again and costs nothing
   * (`zeroed`: the caller has seen that it holds only zeros). The
   * page allocator calls this when it frees a frame (the model's stand-in for
   * "contents undefined after free"). Its storage is zeroed when it is next
   * handed out, and not at all if the next frame overwrites it whole.
   */
  discard(pfn: number, zeroed = false): void {
    const blk = this.dir[pfn >>> DIR_SHIFT];
    if (blk === undefined) return;
    const slot = blk[pfn & DIR_MASK]! - 1;
    if (slot < 0) return;
    blk[pfn & DIR_MASK] = 0;
    // `zeroed`: the caller knows every byte is zero (a page table freed once its last entry was
    // cleared, which the emptiness check read): the next taker need not zero it
    const dirty = !zeroed;
    const wi = slot >>> 5;
    if (wi >= this.freeSlotBits.length) {
      const n = Math.max(this.freeSlotBits.length * 2, wi + 1);
      const grown = new Uint32Array(n);
      grown.set(this.freeSlotBits);
      this.freeSlotBits = grown;
      const dirty = new Uint32Array(n);
      dirty.set(this.dirtySlotBits);
      this.dirtySlotBits = dirty;
    }
    this.freeSlotBits[wi] |= 1 << (slot & 31);
    if (dirty) this.dirtySlotBits[wi] |= 1 << (slot & 31);
    if (wi < this.freeSlotHint || this.nrFreeSlots === 0) this.freeSlotHint = wi;
    this.nrFreeSlots++;
    this.materialised--;
  }

  /** Index of a slot's first 32-bit word in its slab. */
  slotWord(slot: number): number {
    return (slot & this.slabMask) << (this.pageShift - 2);
  }

  /** Index of a slot's first byte in its slab. */
  slotByte(slot: number): number {
    return (slot & this.slabMask) << this.pageShift;
  }

  /** Reads `len` bytes at physical address `addr` (unwritten frames read as zeros). */
  read(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const pfn = Math.floor(a / this.pageSize);
      const off = a - pfn * this.pageSize;
      const n = Math.min(len - done, this.pageSize - off);
      const slot = this.frameSlot(pfn);
      if (slot >= 0) {
        const b = this.slotByte(slot) + off;
        out.set(this.slabU8[slot >>> this.slabShift]!.subarray(b, b + n), done);
      }
      done += n;
    }
    return out;
  }

  /** Writes bytes at physical address `addr`, materialising the frames it touches. */
  write(addr: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const a = addr + done;
      const pfn = Math.floor(a / this.pageSize);
      const off = a - pfn * this.pageSize;
      const n = Math.min(data.length - done, this.pageSize - off);
      const slot = this.materialise(pfn);
      this.slabU8[slot >>> this.slabShift]!.set(data.subarray(done, done + n), this.slotByte(slot) + off);
      done += n;
    }
  }

  /**
   * A 32-bit FNV-1a digest of every materialised frame's pfn and contents, in
   * pfn order: two machines with equal digests hold the same bytes. For tests
   * that prove an operation left memory exactly as it found it.
   */
  digest(): number {
    let h = 0x811c9dc5;
    const mix = (v: number) => {
      h ^= v;
      h = Math.imul(h, 0x01000193);
    };
    const words = this.pageSize >>> 2;
    for (let bi = 0; bi < this.dir.length; bi++) {
      const blk = this.dir[bi];
      if (blk === undefined) continue;
      for (let i = 0; i < blk.length; i++) {
        const s = blk[i]! - 1;
        if (s < 0) continue;
        const arr = this.slabI32[s >>> this.slabShift]!;
        const base = this.slotWord(s);
        let nonzero = false;
        for (let w = 0; w < words; w++) if (arr[base + w] !== 0) { nonzero = true; break; }
        if (!nonzero) continue; // a materialised frame of zeros equals an unwritten one
        mix((bi << DIR_SHIFT) + i);
        for (let w = 0; w < words; w++) mix(arr[base + w]!);
      }
    }
    return h >>> 0;
  }
}

export function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}
