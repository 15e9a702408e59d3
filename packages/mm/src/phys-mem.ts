import { type ArchProfile, pow2 } from './arch.js';
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
const DIR_BLOCK = 1 << DIR_SHIFT;
const DIR_MASK = DIR_BLOCK - 1;
/**
 * pfns below this find their directory block in a plain array (`pfn >>> 16`,
 * at most 2^16 blocks: the first 16 TiB of 4 KiB frames); blocks above it
 * live in a Map. A 52-bit address space has 2^40 pfns: a flat directory of
 * it would be 2^24 slots.
 */
const DIR_FLAT_PFNS = 2 ** 32;

/**
 * The machine's physical address space: RAM ranges per NUMA node and device
 * ranges, and the contents of every page frame.
 *
 * Frame contents are materialised lazily: a frame that was never written has
 * no storage and reads as zeros. A materialised frame owns a "slot" in a slab
 * (a 1 MiB typed array); `slabI32[slot >>> slabShift]` is its slab and
 * `(slot & slabMask) << (pageShift - 2)` its first 32-bit word. No object
 * exists per frame.
 *
 * A frame may instead share a read-only template (storeTemplate()): a page of
 * contents held once, in a slot of its own, for every frame that holds the
 * same bytes (the vmemmap pages of a fresh base-page memmap are all alike).
 * Such a frame has contents — it reads as the template, digests as the
 * template — but spends no host page. Its first store gives it a copy of its
 * own (materialise(): copy on write), so no store is ever seen by another
 * frame. Whoever translates a frame for access (the kernel MMU's TLB fill)
 * materialises it, so a cached translation never points into a template.
 *
 * pfns are exact integers up to 2^53; the model's address spaces reach
 * MAX_PHYSMEM_BITS (52 bits: 2^40 pfns of 4 KiB).
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
  /**
   * pfn → directory entry, in blocks of 2^16 pfns: 0 not materialised,
   * slot + 1 for a frame with storage of its own, -(template + 1) for a
   * frame that shares a template. Blocks of pfns below 2^32 by index here,
   * the others in `dirHigh` by block number.
   */
  private readonly dir: (Int32Array | undefined)[] = [];
  private readonly dirHigh = new Map<number, Int32Array>();
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
  private readonly touched = new Map<number, Uint32Array>();
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
    for (const bi of [...this.touched.keys()].sort((a, b) => a - b)) {
      const tb = this.touched.get(bi)!;
      for (let w = 0; w < tb.length; w++) {
        let bits = tb[w]!;
        if (bits === 0) continue;
        const base = bi * DIR_BLOCK + (w << 5);
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
      for (let pfn = runs[i]!; pfn < end; pfn++) this.touchBit(pfn);
    }
  }

  /** Sets pfn's bit in the touched map; true when it was not set (a first touch). */
  private touchBit(pfn: number): boolean {
    const bi = Math.floor(pfn / DIR_BLOCK);
    let tb = this.touched.get(bi);
    if (tb === undefined) this.touched.set(bi, (tb = new Uint32Array(DIR_BLOCK >>> 5)));
    const tw = (pfn & DIR_MASK) >>> 5;
    const tbit = 1 << (pfn & 31);
    if ((tb[tw]! & tbit) !== 0) return false;
    tb[tw] = tb[tw]! | tbit;
    return true;
  }
  // Templates, by index: the slot holding the contents (-1: index free) and
  // the references (frames sharing it, plus internTemplate()'s callers).
  private templSlot = new Int32Array(8).fill(-1);
  private templRefs = new Float64Array(8);
  private templHash = new Int32Array(8);
  /** Templates by the hash of their contents: the first, then templNext[t] (-1: the last). */
  private readonly templByHash = new Map<number, number>();
  private templNext = new Int32Array(8).fill(-1);
  /** Free template indices, the lowest last (popped first). */
  private readonly templFree: number[] = [7, 6, 5, 4, 3, 2, 1, 0];
  private nrTemplates = 0;
  /** Frames that share a template (counted in materialisedFrames, not in hostFrames). */
  private shared = 0;
  /** Copies made by the first store to a frame that shared a template. */
  cowBreaks = 0;

  constructor(arch: ArchProfile) {
    this.arch = arch;
    this.pageShift = arch.pageShift;
    this.pageSize = arch.pageSize;
    this.slabShift = Math.log2(SLAB_BYTES) - arch.pageShift;
    this.slabMask = (1 << this.slabShift) - 1;
  }

  /** Adds a RAM or device range; it must be page aligned, below 2^MAX_PHYSMEM_BITS and overlap nothing. */
  addRange(r: { start: number; size: number; kind: PhysRangeKind; nid?: number; name?: string; tier?: MemoryTier }): PhysRange {
    const { start, size, kind } = r;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size <= 0)
      throw new KernelError(EINVAL, `phys range: start ${start} / size ${size} must be non-negative integers`);
    if (start % this.pageSize || size % this.pageSize)
      throw new KernelError(EINVAL, `phys range ${hex(start)}+${hex(size)}: not aligned to PAGE_SIZE`);
    if (start + size > pow2(this.arch.maxPhysmemBits))
      throw new KernelError(EINVAL, `phys range ${hex(start)}+${hex(size)}: beyond MAX_PHYSMEM_BITS (${this.arch.maxPhysmemBits} on ${this.arch.name})`);
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

  /** Frames that have contents: their own storage or a shared template. */
  get materialisedFrames(): number {
    return this.materialised;
  }

  /** Frames that share a template (and so cost no host page of their own). */
  get sharedFrames(): number {
    return this.shared;
  }

  /** Host pages spent on frame contents: every frame's own storage and every template's. */
  get hostFrames(): number {
    return this.nextSlot - this.nrFreeSlots;
  }

  /** Templates in use. */
  get templates(): number {
    return this.nrTemplates;
  }

  // The directory block of pfn, or undefined.
  private block(pfn: number): Int32Array | undefined {
    return pfn < DIR_FLAT_PFNS ? this.dir[pfn >>> DIR_SHIFT] : this.dirHigh.get(Math.floor(pfn / DIR_BLOCK));
  }

  // The directory block of pfn, made if missing.
  private blockMake(pfn: number): Int32Array {
    if (pfn < DIR_FLAT_PFNS) {
      const bi = pfn >>> DIR_SHIFT;
      let blk = this.dir[bi];
      if (blk === undefined) {
        // grow the directory without holes: an element stored far past an array's end turns it into a
        // hash table (V8's dictionary elements), and every pfn lookup after that would hash
        while (this.dir.length < bi) this.dir.push(undefined);
        blk = this.dir[bi] = new Int32Array(DIR_BLOCK);
      }
      return blk;
    }
    const bi = Math.floor(pfn / DIR_BLOCK);
    let blk = this.dirHigh.get(bi);
    if (blk === undefined) this.dirHigh.set(bi, (blk = new Int32Array(DIR_BLOCK)));
    return blk;
  }

  /**
   * The slot holding a frame's contents (its own, or the template it
   * shares: read it, never store to it), or -1 if it was never written.
   */
  frameSlot(pfn: number): number {
    const blk = pfn < DIR_FLAT_PFNS ? this.dir[pfn >>> DIR_SHIFT] : this.dirHigh.get(Math.floor(pfn / DIR_BLOCK));
    if (blk === undefined) return -1;
    const e = blk[pfn & DIR_MASK]!;
    return e >= 0 ? e - 1 : this.templSlot[-e - 1]!;
  }

  /** Whether the frame shares a template (its slot is read-only). */
  frameShared(pfn: number): boolean {
    const blk = this.block(pfn);
    return blk !== undefined && blk[pfn & DIR_MASK]! < 0;
  }

  /**
   * The slot of a frame, giving it storage of its own first if it has none:
   * zeroed, or a copy of the template it shared (copy on write).
   * `overwrite`: the caller stores every byte of the frame before anything
   * reads it, so storage that still holds a discarded frame's bytes need not
   * be zeroed first (the memmap init's whole vmemmap pages), nor a template
   * copied.
   */
  materialise(pfn: number, overwrite = false): number {
    const blk = this.blockMake(pfn);
    const cur = blk[pfn & DIR_MASK]!;
    if (cur > 0) return cur - 1;
    if (cur < 0) {
      // a store to a frame that shares a template: its own copy from now on
      const t = -cur - 1;
      const slot = this.allocSlot(true);
      if (!overwrite) {
        const from = this.templSlot[t]!;
        const words = this.pageSize >>> 2;
        const src = this.slotWord(from);
        this.slabI32[slot >>> this.slabShift]!.set(this.slabI32[from >>> this.slabShift]!.subarray(src, src + words), this.slotWord(slot));
      }
      blk[pfn & DIR_MASK] = slot + 1;
      if (this.touchBit(pfn)) this.firstTouches++;
      this.shared--;
      this.cowBreaks++;
      this.templateUnref(t);
      return slot;
    }
    const slot = this.allocSlot(overwrite);
    blk[pfn & DIR_MASK] = slot + 1;
    this.materialised++;
    if (this.touchBit(pfn)) this.firstTouches++;
    return slot;
  }

  // The lowest free slot (or a new one), zeroed unless `overwrite` or already clean.
  private allocSlot(overwrite: boolean): number {
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
    return slot;
  }

  // Gives a slot back; `dirty`: it may hold non-zero bytes.
  private freeSlot(slot: number, dirty: boolean): void {
    const wi = slot >>> 5;
    if (wi >= this.freeSlotBits.length) {
      const n = Math.max(this.freeSlotBits.length * 2, wi + 1);
      const grown = new Uint32Array(n);
      grown.set(this.freeSlotBits);
      this.freeSlotBits = grown;
      const d = new Uint32Array(n);
      d.set(this.dirtySlotBits);
      this.dirtySlotBits = d;
    }
    this.freeSlotBits[wi] |= 1 << (slot & 31);
    if (dirty) this.dirtySlotBits[wi] |= 1 << (slot & 31);
    if (wi < this.freeSlotHint || this.nrFreeSlots === 0) this.freeSlotHint = wi;
    this.nrFreeSlots++;
  }

  /**
   * Drops a frame's contents: it reads as zeros again and costs nothing
   * (`zeroed`: the caller has seen that it holds only zeros). The
   * page allocator calls this when it frees a frame (the model's stand-in for
   * "contents undefined after free"). Its storage is zeroed when it is next
   * handed out, and not at all if the next frame overwrites it whole. A frame
   * that shared a template lets go of it.
   */
  discard(pfn: number, zeroed = false): void {
    const blk = this.block(pfn);
    if (blk === undefined) return;
    const e = blk[pfn & DIR_MASK]!;
    if (e === 0) return;
    blk[pfn & DIR_MASK] = 0;
    this.materialised--;
    if (e < 0) {
      this.shared--;
      this.templateUnref(-e - 1);
      return;
    }
    // `zeroed`: the caller knows every byte is zero (a page table freed once its last entry was
    // cleared, which the emptiness check read): the next taker need not zero it
    this.freeSlot(e - 1, !zeroed);
  }

  /**
   * A template holding `words` (one page of 32-bit words): an existing one
   * with the same contents, or a new one. The caller holds a reference on it
   * until it calls dropTemplate(); every frame that shares it holds one more.
   */
  internTemplate(words: Int32Array): number {
    const n = this.pageSize >>> 2;
    if (words.length !== n) throw new KernelError(EINVAL, `template: ${words.length} words, not one page (${n})`);
    let h = 0x811c9dc5;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
    const first = this.templByHash.get(h);
    for (let t = first ?? -1; t >= 0; t = this.templNext[t]!) {
      const s = this.templSlot[t]!;
      const w = this.slabI32[s >>> this.slabShift]!;
      const b = this.slotWord(s);
      let same = true;
      for (let i = 0; i < n && same; i++) same = w[b + i] === words[i];
      if (same) {
        this.templRefs[t]++;
        return t;
      }
    }
    let t = this.templFree.pop();
    if (t === undefined) {
      t = this.templSlot.length;
      const grow = <A extends Int32Array | Float64Array>(a: A, make: (n: number) => A, fill: number): A => {
        const b = make(t! * 2).fill(fill) as A;
        b.set(a);
        return b;
      };
      this.templSlot = grow(this.templSlot, (k) => new Int32Array(k), -1);
      this.templRefs = grow(this.templRefs, (k) => new Float64Array(k), 0);
      this.templHash = grow(this.templHash, (k) => new Int32Array(k), 0);
      this.templNext = grow(this.templNext, (k) => new Int32Array(k), -1);
      for (let i = t * 2 - 1; i > t; i--) this.templFree.push(i);
    }
    const slot = this.allocSlot(true);
    this.slabI32[slot >>> this.slabShift]!.set(words, this.slotWord(slot));
    this.templSlot[t] = slot;
    this.templRefs[t] = 1;
    this.templHash[t] = h;
    this.templNext[t] = first ?? -1;
    this.templByHash.set(h, t);
    this.nrTemplates++;
    return t;
  }

  /** Gives back internTemplate()'s reference. */
  dropTemplate(t: number): void {
    this.templateUnref(t);
  }

  // One reference less on template t: the template goes with its last.
  private templateUnref(t: number): void {
    if (--this.templRefs[t]! > 0) return;
    this.freeSlot(this.templSlot[t]!, true);
    this.templSlot[t] = -1;
    // out of its hash chain
    const h = this.templHash[t]!;
    const first = this.templByHash.get(h)!;
    if (first === t) {
      const next = this.templNext[t]!;
      if (next >= 0) this.templByHash.set(h, next);
      else this.templByHash.delete(h);
    } else {
      let p = first;
      while (this.templNext[p] !== t) p = this.templNext[p]!;
      this.templNext[p] = this.templNext[t]!;
    }
    this.templNext[t] = -1;
    this.templFree.push(t);
    this.nrTemplates--;
  }

  /**
   * Frame `pfn` takes template t's contents, every byte of it, as a store of
   * the whole frame would leave it. A frame with storage of its own gets the
   * bytes copied in (whoever cached its slot still sees it); any other comes
   * to share the template, and costs no host page until its first store.
   */
  storeTemplate(pfn: number, t: number): void {
    const blk = this.blockMake(pfn);
    const e = blk[pfn & DIR_MASK]!;
    const from = this.templSlot[t]!;
    if (e > 0) {
      const words = this.pageSize >>> 2;
      const src = this.slotWord(from);
      this.slabI32[(e - 1) >>> this.slabShift]!.set(this.slabI32[from >>> this.slabShift]!.subarray(src, src + words), this.slotWord(e - 1));
      return;
    }
    if (e === -(t + 1)) return;
    this.templRefs[t]++;
    blk[pfn & DIR_MASK] = -(t + 1);
    if (e < 0) {
      this.templateUnref(-e - 1);
    } else {
      this.materialised++;
      this.shared++;
    }
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
      const slot = this.materialise(pfn, off === 0 && n === this.pageSize);
      this.slabU8[slot >>> this.slabShift]!.set(data.subarray(done, done + n), this.slotByte(slot) + off);
      done += n;
    }
  }

  /**
   * A 32-bit digest of every materialised frame's pfn and contents, in pfn
   * order: per frame with non-zero bytes, its pfn and an FNV-1a hash of its
   * words mixed in. Two machines with equal digests hold the same bytes; a
   * frame that shares a template digests as its contents (the template's
   * hash is computed once per digest, so a million frames that share it cost
   * a million mixes, not a million page hashes). For tests that prove an
   * operation left memory exactly as it found it, and machine checkpoints.
   */
  digest(): number {
    let h = 0x811c9dc5;
    const words = this.pageSize >>> 2;
    // FNV-1a of a slot's words, 0 for a page of zeros (which equals an unwritten frame)
    const pageHash = (s: number): number => {
      const arr = this.slabI32[s >>> this.slabShift]!;
      const base = this.slotWord(s);
      let nonzero = false;
      let f = 0x811c9dc5;
      for (let w = 0; w < words; w++) {
        const v = arr[base + w]!;
        if (v !== 0) nonzero = true;
        f = Math.imul(f ^ v, 0x01000193);
      }
      return nonzero ? f >>> 0 || 1 : 0;
    };
    const templHash = new Map<number, number>();
    const visit = (bi: number, blk: Int32Array) => {
      for (let i = 0; i < blk.length; i++) {
        const e = blk[i]!;
        if (e === 0) continue;
        let f: number;
        if (e > 0) f = pageHash(e - 1);
        else {
          const t = -e - 1;
          let c = templHash.get(t);
          if (c === undefined) templHash.set(t, (c = pageHash(this.templSlot[t]!)));
          f = c;
        }
        if (f === 0) continue; // a materialised frame of zeros equals an unwritten one
        const pfn = bi * DIR_BLOCK + i;
        h = Math.imul(h ^ pfn % 0x100000000, 0x01000193);
        if (pfn >= 0x100000000) h = Math.imul(h ^ Math.floor(pfn / 0x100000000), 0x01000193);
        h = Math.imul(h ^ f, 0x01000193);
      }
    };
    for (let bi = 0; bi < this.dir.length; bi++) {
      const blk = this.dir[bi];
      if (blk !== undefined) visit(bi, blk);
    }
    for (const bi of [...this.dirHigh.keys()].sort((a, b) => a - b)) visit(bi, this.dirHigh.get(bi)!);
    return h >>> 0;
  }
}

export function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

/** printk's %pa: a phys_addr_t zero-padded to its 16 hex digits (lib/vsprintf.c special_hex_number()), as `[mem %pa-%pa]` lines show. */
export function pa(n: number | bigint): string {
  return '0x' + n.toString(16).padStart(16, '0');
}
