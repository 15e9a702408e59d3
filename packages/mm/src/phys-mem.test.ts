import { describe, expect, it } from 'vitest';
import { X86_64 } from './arch.js';
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
});
