import { describe, expect, it } from 'vitest';
import { X86_64, X86_64_LA57 } from './arch.js';
import { EINVAL } from './errno.js';
import { errnoOf } from './test/errno-of.js';
import { PhysicalMemory } from './phys-mem.js';

describe('PhysicalMemory', () => {
  it("counts a frame's first touch since boot once, and a replay marked with touchedRuns() does not count it again", () => {
    const m = new PhysicalMemory(X86_64);
    m.addRange({ start: 0, size: 2 ** 32, kind: 'ram' });
    for (const pfn of [5, 6, 7, 70000, 70001]) m.materialise(pfn);
    m.discard(6);
    m.materialise(6); // written again: not a first touch
    expect(m.firstTouches).toBe(5);
    expect(m.touchedRuns()).toEqual([5, 3, 70000, 2]);
    const r = new PhysicalMemory(X86_64);
    r.addRange({ start: 0, size: 2 ** 32, kind: 'ram' });
    r.markTouched(m.touchedRuns());
    r.materialise(7);
    r.materialise(8);
    expect(r.firstTouches).toBe(1);
    expect(r.touchedRuns()).toEqual([5, 4, 70000, 2]);
  });

  it('materialises frames only when written and reads unwritten ones as zeros', () => {
    const m = new PhysicalMemory(X86_64);
    m.addRange({ start: 0, size: 2 ** 40, kind: 'device' }); // 1 TiB costs nothing
    expect(m.materialisedFrames).toBe(0);
    expect(m.read(2 ** 39, 16)).toEqual(new Uint8Array(16));
    m.write(2 ** 39 + 4094, Uint8Array.of(1, 2, 3, 4)); // straddles two frames
    expect(m.materialisedFrames).toBe(2);
    expect([...m.read(2 ** 39 + 4093, 6)]).toEqual([0, 1, 2, 3, 4, 0]);
    m.discard(2 ** 39 / 4096);
    expect(m.materialisedFrames).toBe(1);
    expect([...m.read(2 ** 39 + 4094, 2)]).toEqual([0, 0]);
  });

  it("a discarded frame's storage is zeroed when it is handed out again, unless the taker overwrites it whole", () => {
    const m = new PhysicalMemory(X86_64);
    m.addRange({ start: 0, size: 2 ** 30, kind: 'ram' });
    const junk = new Uint8Array(4096).fill(0xa5);
    m.write(10 * 4096, junk);
    const slot = m.frameSlot(10);
    m.discard(10);
    // the lowest free slot goes to the next frame: the same storage, read as zeros
    expect(m.materialise(11)).toBe(slot);
    expect(m.read(11 * 4096, 4096)).toEqual(new Uint8Array(4096));
    m.write(11 * 4096, junk);
    m.discard(11);
    // a taker that stores every byte gets the storage as it is (no zeroing it would overwrite anyway)
    expect(m.materialise(12, true)).toBe(slot);
    expect(m.read(12 * 4096, 4)).toEqual(Uint8Array.of(0xa5, 0xa5, 0xa5, 0xa5));
    m.write(12 * 4096, new Uint8Array(4096));
    // and the next plain taker after that still gets zeros
    m.discard(12);
    m.materialise(13);
    expect(m.read(13 * 4096, 4096)).toEqual(new Uint8Array(4096));
  });

  it('a frame its freer saw all zero is handed out as it is; any other is zeroed first', () => {
    const m = new PhysicalMemory(X86_64);
    m.addRange({ start: 0, size: 2 ** 30, kind: 'ram' });
    m.write(20 * 4096 + 8, Uint8Array.of(0)); // materialised, all zero
    const slot = m.frameSlot(20);
    m.discard(20, true);
    expect(m.materialise(21)).toBe(slot);
    expect(m.read(21 * 4096, 4096)).toEqual(new Uint8Array(4096));
    m.write(21 * 4096 + 4000, Uint8Array.of(7));
    m.discard(21);
    expect(m.materialise(22)).toBe(slot);
    expect(m.read(22 * 4096, 4096)).toEqual(new Uint8Array(4096));
  });

  it('refuses misaligned and overlapping ranges', () => {
    const m = new PhysicalMemory(X86_64);
    m.addRange({ start: 0, size: 2 ** 30, kind: 'ram' });
    expect(() => m.addRange({ start: 100, size: 4096, kind: 'device' })).toThrow(/EINVAL/);
    expect(() => m.addRange({ start: 2 ** 29, size: 2 ** 30, kind: 'device' })).toThrow(/EBUSY/);
  });

  it('digests equal contents equally, whatever was materialised and zeroed', () => {
    const a = new PhysicalMemory(X86_64);
    const b = new PhysicalMemory(X86_64);
    for (const m of [a, b]) m.addRange({ start: 0, size: 2 ** 30, kind: 'ram' });
    a.write(8192, Uint8Array.of(9));
    b.write(8192, Uint8Array.of(9));
    b.write(4096 * 50, Uint8Array.of(0)); // materialised but zero
    expect(a.digest()).toBe(b.digest());
    b.write(8193, Uint8Array.of(1));
    expect(a.digest()).not.toBe(b.digest());
  });

  it('MAX_PHYSMEM_BITS: 46 bits under 4-level paging, 52 under 5-level; pfns beyond 2^32 are frames of their own', () => {
    const four = new PhysicalMemory(X86_64);
    expect(errnoOf(() => four.addRange({ start: 2 ** 46 - 2 ** 30, size: 2 ** 31, kind: 'device' }))).toBe(EINVAL);
    expect(() => four.addRange({ start: 2 ** 46 - 2 ** 30, size: 2 ** 31, kind: 'device' })).toThrow(/beyond MAX_PHYSMEM_BITS \(46 on x86_64\)/);
    four.addRange({ start: 2 ** 46 - 2 ** 30, size: 2 ** 30, kind: 'device' }); // ends exactly at 2^46
    const five = new PhysicalMemory(X86_64_LA57);
    expect(() => five.addRange({ start: 2 ** 52 - 2 ** 30, size: 2 ** 31, kind: 'device' })).toThrow(/beyond MAX_PHYSMEM_BITS \(52 on x86_64-la57\)/);
    five.addRange({ start: 0, size: 2 ** 52, kind: 'device' }); // 4 PiB of address space costs nothing
    // pfn p and p + 2^32 (and + 2^39) are three frames: a 32-bit pfn would alias them
    const p = 0x1234;
    five.write(p * 4096, Uint8Array.of(1));
    five.write((p + 2 ** 32) * 4096, Uint8Array.of(2));
    five.write((p + 2 ** 39) * 4096 + 4095, Uint8Array.of(3));
    expect([five.read(p * 4096, 1)[0], five.read((p + 2 ** 32) * 4096, 1)[0], five.read((p + 2 ** 39) * 4096 + 4095, 1)[0]]).toEqual([1, 2, 3]);
    expect(five.materialisedFrames).toBe(3);
    // the digest tells frames apart by their whole pfn
    const other = new PhysicalMemory(X86_64_LA57);
    other.addRange({ start: 0, size: 2 ** 52, kind: 'device' });
    other.write(p * 4096, Uint8Array.of(1));
    other.write((p + 2 ** 33) * 4096, Uint8Array.of(2));
    other.write((p + 2 ** 39) * 4096 + 4095, Uint8Array.of(3));
    expect(other.digest()).not.toBe(five.digest());
    five.discard(p + 2 ** 32);
    expect([five.materialisedFrames, five.read((p + 2 ** 32) * 4096, 1)[0], five.read(p * 4096, 1)[0]]).toEqual([2, 0, 1]);
  });

  it('template frames: many frames share one host copy of the same contents until each is first stored to (copy on write)', () => {
    const m = new PhysicalMemory(X86_64_LA57);
    m.addRange({ start: 0, size: 2 ** 50, kind: 'device' });
    const page = new Int32Array(1024).map((_, i) => i * 7 + 1);
    const t = m.internTemplate(page);
    expect(m.internTemplate(page.slice())).toBe(t); // the same contents: the same template
    m.dropTemplate(t);
    const pfns = Array.from({ length: 1000 }, (_, i) => 2 ** 36 + i * 3);
    for (const pfn of pfns) m.storeTemplate(pfn, t);
    m.dropTemplate(t);
    // every frame has contents; one host page holds them all
    expect([m.materialisedFrames, m.sharedFrames, m.hostFrames, m.templates]).toEqual([1000, 1000, 1, 1]);
    const bytes = new Uint8Array(page.buffer);
    expect(m.read(pfns[500]! * 4096, 4096)).toEqual(bytes);
    expect(m.frameShared(pfns[500]!)).toBe(true);
    // a plain memory with the same bytes written frame by frame holds the same contents
    const plain = new PhysicalMemory(X86_64_LA57);
    plain.addRange({ start: 0, size: 2 ** 50, kind: 'device' });
    for (const pfn of pfns) plain.write(pfn * 4096, bytes);
    expect(m.digest()).toBe(plain.digest());
    // the first store to one frame gives it its own copy: the others still read the template
    m.write(pfns[500]! * 4096 + 8, Uint8Array.of(0xee));
    expect([m.sharedFrames, m.hostFrames, m.cowBreaks, m.frameShared(pfns[500]!)]).toEqual([999, 2, 1, false]);
    expect(m.read(pfns[500]! * 4096 + 8, 2)).toEqual(Uint8Array.of(0xee, bytes[9]!));
    expect(m.read(pfns[501]! * 4096 + 8, 1)[0]).toBe(bytes[8]);
    plain.write(pfns[500]! * 4096 + 8, Uint8Array.of(0xee));
    expect(m.digest()).toBe(plain.digest());
    // discarded frames let go of the template; the last one frees it
    for (const pfn of pfns) m.discard(pfn);
    expect([m.materialisedFrames, m.sharedFrames, m.hostFrames, m.templates]).toEqual([0, 0, 0, 0]);
  });
});

