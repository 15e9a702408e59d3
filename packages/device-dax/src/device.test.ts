import { createKernel } from '@daxsim/memremap';
import {
  C,
  SZ_1G,
  SZ_1K,
  SZ_1M,
  EBUSY,
  EINVAL,
  ENXIO,
  FAULT_FLAG_WRITE,
  KernelError,
  MAP_PRIVATE,
  MAP_SHARED,
  MEMORY_DEVICE_GENERIC,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PE_SIZE_PUD,
  PROT_READ,
  PROT_WRITE,
  SIGBUS,
  VM_FAULT_FALLBACK,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  SIGSEGV,
  type Task,
} from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import {
  createDynamicRegion,
  createStaticRegion,
  daxRegionDelete,
  devDaxSetAlign,
  devDaxSetSize,
  unregisterDaxRegion,
} from './bus.js';
import { DaxBus, type DaxBusOptions } from './dax-region.js';
import { bindDevDax, devDaxHugeFault, unbindDevDax } from './device.js';
import { createTask, daxMmap, exitTask, munmap } from './process.js';
import { DEV_BASE, machineState, testKernel } from './test/kernel.js';
import { BUS_ADRERR, touch, userMapping, userRead, userWrite } from './user-access.js';

const PAGE = 4096;
const SHARED_RW = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };

function setup(align: number, opts: DaxBusOptions = {}, size = 2 * SZ_1G) {
  const k = testKernel(4);
  const bus = new DaxBus(k, opts);
  const region = createDynamicRegion(bus, { id: 0, start: DEV_BASE, size: 4 * SZ_1G });
  const dev = region.devices.get('dax0.0')!;
  devDaxSetSize(dev, size);
  devDaxSetAlign(dev, align);
  bindDevDax(dev);
  return { k, bus, region, dev };
}

function refused(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e;
    throw e;
  }
  throw new Error('expected a KernelError');
}

const FAULT_COUNTERS = ['fault_pte', 'fault_pmd', 'fault_pud', 'fault_fallback', 'fault_sigbus'] as const;
function faults(k: ReturnType<typeof testKernel>) {
  return Object.fromEntries(FAULT_COUNTERS.map((n) => [n, k.counters.get(n)]));
}

describe.each([
  { name: '4K', align: 4 * SZ_1K, shift: 0, counter: 'fault_pte', fallbacks: 2, len: 64 * PAGE },
  { name: '2M', align: 2 * SZ_1M, shift: 9, counter: 'fault_pmd', fallbacks: 1, len: 4 * 2 * SZ_1M },
  { name: '1G', align: SZ_1G, shift: 18, counter: 'fault_pud', fallbacks: 0, len: 2 * SZ_1G },
] as const)('align $name', ({ align, shift, counter, fallbacks, len }) => {
  it('probe builds a MEMORY_DEVICE_GENERIC pgmap with the vmemmap shift of the align, owned by the device', () => {
    const { dev } = setup(align);
    expect(dev.bound).toBe(true);
    expect(dev.alive).toBe(true);
    expect(dev.pgmap!.type).toBe(MEMORY_DEVICE_GENERIC);
    expect(dev.pgmap!.vmemmapShift).toBe(shift);
    expect(dev.pgmap!.owner).toBe(dev);
    expect(dev.pgmap!.ranges).toEqual([{ start: DEV_BASE, end: DEV_BASE + 2 * SZ_1G - 1 }]);
    expect(dev.pgmap!.ref).toBe((2 * SZ_1G) / align); // one reference per compound page
  });

  it('MAP_PRIVATE is refused with -EINVAL and changes nothing; MAP_SHARED succeeds', () => {
    const { k, bus, dev } = setup(align);
    const t = createTask(k, 100, 'app');
    const before = machineState(bus);
    const e = refused(() => daxMmap(k, t, dev, { length: len, prot: PROT_READ, flags: MAP_PRIVATE }));
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/mmap dax0.0: attempted private mapping/);
    expect(machineState(bus)).toBe(before);
    expect(t.mm.vmas).toHaveLength(0);
    expect(k.log.dmesg()).toMatch(/device_dax dax0.0: app: dax_mmap: fail, attempted private mapping/);
    const addr = daxMmap(k, t, dev, { length: len, ...SHARED_RW });
    expect(addr % align).toBe(0);
    expect(t.mm.findVma(addr)!.file).toBe(dev.file);
  });

  it('touching every page faults once per align-sized unit, with entries of the align size', () => {
    const { k, dev } = setup(align);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: len, ...SHARED_RW });
    const f0 = faults(k);
    // every page (every 8th of the 1 GiB units, to keep the test quick)
    const stride = align === SZ_1G ? 8 * PAGE : PAGE;
    for (let a = addr; a < addr + len; a += stride) expect(touch(t, a) & VM_FAULT_SIGBUS).toBe(0);
    const units = len / align;
    const f1 = faults(k);
    expect(f1[counter]! - f0[counter]!).toBe(units);
    // Only the first fault tries the larger sizes: after it the pud (and pmd) entries are
    // tables, not none, so __handle_mm_fault goes straight to the size that maps.
    expect(f1.fault_fallback! - f0.fault_fallback!).toBe(fallbacks);
    expect(f1.fault_sigbus).toBe(f0.fault_sigbus);
    for (let u = 0; u < units; u++) {
      const m = userMapping(t, addr + u * align + (align > PAGE ? PAGE : 0))!;
      expect(m.size).toBe(align);
      expect(m.pfn).toBe((DEV_BASE + u * align) / PAGE);
      expect(m.write).toBe(true);
    }
    expect(t.signals).toEqual([]);
  });

  it("data written through one process's mapping is read through another's", () => {
    const { k, dev } = setup(align);
    const a = createTask(k, 100, 'writer');
    const b = createTask(k, 101, 'reader');
    const va = daxMmap(k, a, dev, { length: len, ...SHARED_RW });
    // The reader maps the device at a second align-sized offset into the file.
    const vb = daxMmap(k, b, dev, { length: len, prot: PROT_READ, flags: MAP_SHARED, pgoff: align / PAGE });
    const msg = new TextEncoder().encode('hello from writer, across a page boundary');
    const off = align + PAGE - 7; // file offset, crossing a 4K page
    expect(userWrite(k, a, va + off, msg)).toBe(true);
    expect(userRead(k, b, vb + off - align, msg.length)).toEqual(msg);
    // the bytes are in the device's physical memory
    expect(k.mem.read(DEV_BASE + off, msg.length)).toEqual(msg);
  });

  it("a fault at an unaligned address sets the head's mapping and index to the unit's start (ALIGN_DOWN)", () => {
    const { k, dev } = setup(align);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: len, ...SHARED_RW, pgoff: 0 });
    const unitStart = align === PAGE ? 5 * PAGE : align; // a later unit
    const fault = addr + unitStart + (align === PAGE ? 123 : 5 * PAGE + 123);
    expect(touch(t, fault)).toBe(VM_FAULT_NOPAGE);
    const pfn = (DEV_BASE + unitStart) / PAGE;
    const head = k.memmap.compoundHead(pfn + (align === PAGE ? 0 : 7));
    expect(head).toBe(pfn);
    expect(k.memmap.pageMapping(head)).toBe(dev.mapping);
    expect(k.memmap.pageIndex(head)).toBe(unitStart / PAGE);
    if (shift > 0) {
      // with compound pages only the head is written
      expect(k.memmap.pageMappingRaw(pfn + 1)[0]).not.toBe(0); // tails keep TAIL_MAPPING / compound data
      expect(k.memmap.pageMapping(pfn + 1)).toBeUndefined();
    }
  });

  it('with the seed patch 5 ALIGN (round-up) the index points at the next unit', () => {
    const { k, dev } = setup(align, { setMappingIndex: 'align-up' });
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: len, ...SHARED_RW });
    const fault = addr + 123 + (align === PAGE ? 0 : PAGE);
    touch(t, fault);
    // vmf->address is page aligned, so PTE faults (4K) are unaffected by the rounding.
    expect(k.memmap.pageIndex(DEV_BASE / PAGE)).toBe(align === PAGE ? 0 : align / PAGE);
  });

  it('unbind zaps every mapping; a later touch gets SIGBUS; rebind builds a fresh pgmap', () => {
    const { k, dev } = setup(align);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: len, ...SHARED_RW });
    touch(t, addr, true);
    const old = dev.pgmap;
    unbindDevDax(dev);
    expect(dev.pgmap).toBeNull(); // seed patch 6: dynamic devices forget the pgmap on kill
    expect(userMapping(t, addr)).toBeNull();
    expect(touch(t, addr)).toBe(VM_FAULT_SIGBUS);
    expect(t.signals.at(-1)).toEqual({ signo: SIGBUS, code: BUS_ADRERR, addr, addrLsb: 0 });
    bindDevDax(dev);
    expect(dev.pgmap).not.toBe(old);
    expect(dev.pgmap!.vmemmapShift).toBe(shift);
    expect(touch(t, addr)).toBe(VM_FAULT_NOPAGE);
  });
});

describe('fault handler decisions (dev_dax_huge_fault)', () => {
  const table = [
    // align, PUD, PMD, PTE
    [4 * SZ_1K, VM_FAULT_FALLBACK, VM_FAULT_FALLBACK, VM_FAULT_NOPAGE],
    [2 * SZ_1M, VM_FAULT_FALLBACK, VM_FAULT_NOPAGE, VM_FAULT_SIGBUS],
    [SZ_1G, VM_FAULT_NOPAGE, VM_FAULT_SIGBUS, VM_FAULT_SIGBUS],
  ] as const;
  it.each(table)('align %i: PUD %i, PMD %i, PTE %i', (align, pud, pmd, pte) => {
    const { k, dev } = setup(align);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: 2 * SZ_1G, ...SHARED_RW });
    const vma = t.mm.findVma(addr)!;
    const vmf = (a: number) => ({ vma, address: a, pgoff: vma.pgoffOf(a), flags: FAULT_FLAG_WRITE });
    expect(devDaxHugeFault(vmf(addr + 3 * SZ_1G / 2), PE_SIZE_PUD)).toBe(pud);
    expect(devDaxHugeFault(vmf(addr + 5 * SZ_1M), PE_SIZE_PMD)).toBe(pmd);
    expect(devDaxHugeFault(vmf(addr + 9 * PAGE), PE_SIZE_PTE)).toBe(pte);
  });

  it('a huge entry that would cross the vma is SIGBUS', () => {
    const { k, dev } = setup(2 * SZ_1M);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: 4 * SZ_1M, ...SHARED_RW });
    const vma = t.mm.findVma(addr)!;
    // a vma that does not cover the whole PMD cannot come from mmap (check_vma); build the vmf by hand
    const shifted = { ...vma, start: vma.start + PAGE, pgoffOf: (a: number) => vma.pgoffOf(a) } as unknown as typeof vma;
    expect(devDaxHugeFault({ vma: shifted, address: addr + PAGE, pgoff: 0, flags: 0 }, PE_SIZE_PMD)).toBe(VM_FAULT_SIGBUS);
  });
});

describe('invalid requests on a bound or mapped device', () => {
  it('resize, align change and destroy while bound are -EBUSY and change nothing', () => {
    const { bus, region, dev } = setup(2 * SZ_1M);
    const before = machineState(bus);
    expect(refused(() => devDaxSetSize(dev, SZ_1G)).errno).toBe(EBUSY);
    expect(refused(() => devDaxSetAlign(dev, SZ_1G)).errno).toBe(EBUSY);
    const d = refused(() => daxRegionDelete(region, 'dax0.0'));
    expect(d.errno).toBe(EBUSY);
    expect(d.message).toMatch(/bound to device_dax/);
    expect(machineState(bus)).toBe(before);
  });

  it('unbind while a page holds a GUP reference is -EBUSY and changes nothing (found by debug-vm fuzzing)', () => {
    const { k, bus, dev } = setup(2 * SZ_1M);
    const head = (DEV_BASE + 4 * SZ_1M) / PAGE;
    k.memmap.pageRefAdd(head, 1); // what get_user_pages() leaves on the head: no pgmap reference
    // The refusal reads every head's refcount, so only the TLB hit counter may move.
    const state = () => {
      const s = JSON.parse(machineState(bus));
      delete s.counters.tlb_hit;
      return s;
    };
    const before = state();
    const e = refused(() => unbindDevDax(dev));
    expect(e.errno).toBe(EBUSY);
    expect(e.message).toMatch(/dax0\.0: unbind: 1 of the device's pages are still pinned/);
    expect(state()).toEqual(before);
    k.memmap.pageRefAdd(head, -1);
    unbindDevDax(dev);
    expect(dev.bound).toBe(false);
  });

  it('unbind reads no struct page while no _refcount has changed since probe, and finds a plain store to one', () => {
    const { k, dev } = setup(2 * SZ_1M);
    const reads = () => k.counters.v[C.tlb_hit]! + k.counters.v[C.tlb_miss]!;
    const before = reads();
    unbindDevDax(dev);
    expect(reads()).toBe(before); // the idle check trusted the memmap's refcount epoch
    bindDevDax(dev);
    k.memmap.setPageCount((DEV_BASE + 6 * SZ_1M) / PAGE, 3); // set_page_count(): no atomic, still a held page
    expect(refused(() => unbindDevDax(dev)).message).toMatch(/1 of the device's pages are still pinned/);
    k.memmap.setPageCount((DEV_BASE + 6 * SZ_1M) / PAGE, 1);
    unbindDevDax(dev);
  });

  it('a fault that fails to allocate a page table is VM_FAULT_OOM and leaves no page->mapping (found by debug-vm fuzzing)', () => {
    const { k, dev } = setup(2 * SZ_1M);
    const t = createTask(k, 100, 'app');
    const va = daxMmap(k, t, dev, { length: 2 * SZ_1M, ...SHARED_RW });
    const digest = k.mem.digest();
    const snap = k.buddy.snapshot();
    k.buddy.failNth(1); // the pud table of the first fault
    expect(touch(t, va, true)).toBe(VM_FAULT_OOM);
    expect(t.signals).toEqual([]); // pagefault_out_of_memory(), not SIGBUS
    expect(k.memmap.pageMappingRaw(DEV_BASE / PAGE)).toEqual([0, 0]);
    expect(k.mem.digest()).toBe(digest);
    expect(k.buddy.snapshot()).toEqual(snap);
    expect(touch(t, va, true)).toBe(VM_FAULT_NOPAGE);
    expect(k.memmap.pageMappingRaw(DEV_BASE / PAGE)).not.toEqual([0, 0]);
  });

  it('a misaligned mmap is -EINVAL "unaligned vma" and changes nothing', () => {
    const { k, bus, dev } = setup(2 * SZ_1M);
    const t = createTask(k, 100, 'app');
    const before = machineState(bus);
    const e1 = refused(() => daxMmap(k, t, dev, { addr: 0x7f0000001000, length: 2 * SZ_1M, ...SHARED_RW }));
    expect(e1.errno).toBe(EINVAL);
    expect(e1.message).toMatch(/unaligned vma/);
    const e2 = refused(() => daxMmap(k, t, dev, { length: 3 * SZ_1M, ...SHARED_RW }));
    expect(e2.errno).toBe(EINVAL);
    expect(machineState(bus)).toBe(before);
    expect(k.log.dmesg()).toMatch(/app: dax_mmap: fail, unaligned vma \(0x7f0000001000 - 0x7f0000201000, 0x1fffff\)/);
  });

  it('mmap of a device that is not enabled is -ENXIO', () => {
    const k = testKernel(4);
    const bus = new DaxBus(k);
    const region = createDynamicRegion(bus, { id: 0, start: DEV_BASE, size: 4 * SZ_1G });
    const t = createTask(k, 100, 'app');
    const e = refused(() => daxMmap(k, t, region.devices.get('dax0.0')!, { length: 2 * SZ_1M, ...SHARED_RW }));
    expect(e.errno).toBe(ENXIO);
  });

  it('a fault beyond the device is SIGBUS and changes nothing but the fault counters', () => {
    const { k, bus, dev } = setup(2 * SZ_1M, {}, SZ_1G);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: 2 * SZ_1G, ...SHARED_RW }); // mmap does not check the device size
    const strip = (s: string) => {
      const o = JSON.parse(s);
      for (const n of FAULT_COUNTERS) o.counters[n] = 0;
      return JSON.stringify(o);
    };
    const before = machineState(bus);
    const f0 = faults(k);
    expect(touch(t, addr + SZ_1G + 5 * PAGE)).toBe(VM_FAULT_SIGBUS);
    expect(t.signals).toEqual([{ signo: SIGBUS, code: BUS_ADRERR, addr: addr + SZ_1G + 5 * PAGE, addrLsb: 0 }]);
    expect(faults(k).fault_sigbus! - f0.fault_sigbus!).toBe(1);
    expect(strip(machineState(bus))).toBe(strip(before));
    expect(k.log.dmesg()).toMatch(/pgoff_to_phys\(0x40000\) failed/);
    // the inside of the device still works
    expect(touch(t, addr + SZ_1G - PAGE)).toBe(VM_FAULT_NOPAGE);
  });

  it('munmap inside an align-sized unit is -EINVAL; at the align it splits the vma', () => {
    const { k, dev } = setup(2 * SZ_1M);
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: 8 * SZ_1M, ...SHARED_RW });
    for (let a = addr; a < addr + 8 * SZ_1M; a += 2 * SZ_1M) touch(t, a);
    expect(refused(() => munmap(t, addr + PAGE, 2 * SZ_1M)).errno).toBe(EINVAL);
    munmap(t, addr + 2 * SZ_1M, 2 * SZ_1M);
    expect(t.mm.vmas.map((v) => [v.start - addr, v.end - addr, v.pgoff])).toEqual([
      [0, 2 * SZ_1M, 0],
      [4 * SZ_1M, 8 * SZ_1M, (4 * SZ_1M) / PAGE],
    ]);
    expect(userMapping(t, addr + 2 * SZ_1M)).toBeNull();
    expect(userMapping(t, addr + 4 * SZ_1M)!.pfn).toBe((DEV_BASE + 4 * SZ_1M) / PAGE);
    expect(touch(t, addr + 3 * SZ_1M)).toBe(VM_FAULT_SIGSEGV); // no vma any more
    expect(t.signals.at(-1)!.signo).toBe(SIGSEGV);
  });
});

describe('static region', () => {
  it('probe uses the namespace pgmap; kill keeps it; a second range is refused', () => {
    const k = testKernel(4);
    const bus = new DaxBus(k);
    const region = createStaticRegion(bus, { id: 1, start: DEV_BASE, size: 2 * SZ_1G, align: SZ_1G });
    const dev = region.devices.get('dax1.0')!;
    const pgmap = dev.pgmap;
    bindDevDax(dev);
    expect(dev.pgmap).toBe(pgmap);
    expect(pgmap!.vmemmapShift).toBe(18);
    const t = createTask(k, 7, 'app');
    const addr = daxMmap(k, t, dev, { length: 2 * SZ_1G, ...SHARED_RW });
    expect(touch(t, addr + SZ_1G + 77)).toBe(VM_FAULT_NOPAGE);
    expect(k.counters.get('fault_pud')).toBe(1);
    unbindDevDax(dev);
    expect(dev.pgmap).toBe(pgmap);
    // a static device can only get a second range by a bug; probe refuses it
    const r0 = dev.ranges[0]!;
    dev.ranges.push({ ...r0, mappingId: -1 });
    const before = machineState(bus);
    const e = refused(() => bindDevDax(dev));
    expect(e.errno).toBe(EINVAL);
    expect(e.message).toMatch(/static pgmap \/ multi-range device conflict/);
    expect(machineState(bus)).toBe(before);
    dev.ranges.pop();
    bindDevDax(dev);
    expect(dev.alive).toBe(true);
  });
});

describe('teardown', () => {
  it('destroying every process, device and region returns every frame and pgmap reference', () => {
    const k = createKernel({ ram: [{ nid: 0, size: 256 * SZ_1M }], devices: [{ start: DEV_BASE, size: 4 * SZ_1G }] });
    const bus = new DaxBus(k);
    const buddy0 = k.buddy.snapshot();
    const digest0 = k.mem.digest();
    const region = createDynamicRegion(bus, { id: 0, start: DEV_BASE, size: 4 * SZ_1G });
    const dax0 = region.devices.get('dax0.0')!;
    devDaxSetSize(dax0, SZ_1G);
    bindDevDax(dax0);
    const tasks: Task[] = [createTask(k, 1, 'a'), createTask(k, 2, 'b')];
    for (const t of tasks) {
      const addr = daxMmap(k, t, dax0, { length: SZ_1G, ...SHARED_RW });
      for (let a = addr; a < addr + SZ_1G; a += 64 * SZ_1M) userWrite(k, t, a, new Uint8Array([1, 2, 3]));
    }
    const pgmaps = [dax0.pgmap!];
    expect(k.buddy.framesInUse('user_pagetable')).toBeGreaterThan(0);
    for (const t of tasks) exitTask(k, t);
    expect(k.buddy.framesInUse('user_pagetable')).toBe(0);
    unregisterDaxRegion(region);
    expect(pgmaps[0]!.ref).toBe(0);
    expect(k.buddy.snapshot()).toEqual(buddy0);
    // the device bytes written stay in device memory; nothing else is left
    for (let a = 0; a < SZ_1G; a += 64 * SZ_1M) k.mem.write(DEV_BASE + a, new Uint8Array(3));
    expect(k.mem.digest()).toBe(digest0);
    expect(k.counters.get('pgmap_ref_get')).toBe(k.counters.get('pgmap_ref_put'));
  });
});

describe("the 'pre-series' vmemmap generation", () => {
  it('builds base pages even at 2M align, and a PMD fault sets mapping/index on every page', () => {
    const { k, dev } = setup(2 * SZ_1M, { generation: 'pre-series' });
    const t = createTask(k, 100, 'app');
    const addr = daxMmap(k, t, dev, { length: 4 * SZ_1M, ...SHARED_RW });
    expect(touch(t, addr + 2 * SZ_1M + 3 * PAGE + 1)).toBe(VM_FAULT_NOPAGE);
    expect(userMapping(t, addr + 2 * SZ_1M)!.size).toBe(2 * SZ_1M);
    const first = (DEV_BASE + 2 * SZ_1M) / PAGE;
    for (const i of [0, 1, 7, 511]) {
      expect(k.memmap.compoundHead(first + i)).toBe(first + i);
      expect(k.memmap.pageMapping(first + i)).toBe(dev.mapping);
      expect(k.memmap.pageIndex(first + i)).toBe(512 + i);
    }
    expect(k.memmap.pageMapping(first + 512)).toBeUndefined();
  });
});

describe('probe failure', () => {
  it.each([1, 3, 10])('an allocation failure (#%i) in memremap_pages leaves no trace and a retry works', (n) => {
    const k = testKernel(4);
    const bus = new DaxBus(k);
    const region = createDynamicRegion(bus, { id: 0, start: DEV_BASE, size: 4 * SZ_1G });
    const dev = region.devices.get('dax0.0')!;
    devDaxSetSize(dev, SZ_1G);
    const before = machineState(bus);
    k.buddy.failNth(n);
    const e = refused(() => bindDevDax(dev));
    expect(e.errno).toBe(12); // ENOMEM
    expect(dev.pgmap).toBeNull();
    expect(dev.bound).toBe(false);
    const strip = (s: string) => {
      const o = JSON.parse(s);
      o.counters.pgalloc_fail = 0;
      o.counters.pgalloc_vmemmap_data = 0;
      o.counters.pgalloc_vmemmap_pagetable = 0;
      o.counters.pgfree = 0;
      o.counters.struct_pages_initialised = 0;
      o.counters.compound_pages_prepared = 0;
      o.counters.tlb_hit = o.counters.tlb_miss = o.counters.tlb_flush_entries = o.counters.vmemmap_ptes_shared = 0;
      o.counters.atomic_refcount_ops = 0;
      return JSON.stringify(o);
    };
    // frames, memory and bookkeeping are as before; only the work counters moved
    expect(strip(machineState(bus))).toBe(strip(before));
    bindDevDax(dev);
    expect(dev.alive).toBe(true);
  });
});
