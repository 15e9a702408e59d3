// Integration tests: device-dax (a devDependency, used by tests only) builds the mappings.
import {
  DaxBus,
  type DaxBusOptions,
  bindDevDax,
  createStaticRegion,
  createTask,
  daxMmap,
  exitTask,
  touch,
  unregisterDaxRegion,
  userMapping,
  userRead,
  userWrite,
} from '@daxsim/device-dax';
import { createKernel, newDevPagemap } from '@daxsim/memremap';
import { testDaxDevice, testKernel } from '@daxsim/device-dax/test';
import {
  SZ_1G,
  SZ_1M,
  BUS_MCEERR_AO,
  BUS_MCEERR_AR,
  EBUSY,
  EIO,
  ENXIO,
  KernelError,
  MAP_SHARED,
  MEMORY_DEVICE_GENERIC,
  PROT_READ,
  PROT_WRITE,
  SIGBUS,
  VM_FAULT_NOPAGE,
} from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { MF_COUNT_INCREASED, memoryFailure, memoryFailureEarlyKill, prctlMceKill, setMemoryFailureEarlyKill, softOfflinePage } from './memory-failure.js';

const PAGE = 4096;
const BASE = 4 * SZ_1G;
const RW = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };

function machine(align: number, opts: DaxBusOptions = {}) {
  const k0 = testKernel();
  const buddy0 = k0.buddy.snapshot();
  const { k, bus, region, dev } = testDaxDevice({ k: k0, align, size: 2 * SZ_1G, bus: opts });
  const len = align === SZ_1G ? 2 * SZ_1G : 8 * SZ_1M;
  return { k, bus, region, dev, len, buddy0 };
}

describe.each([
  { name: '2M', align: 2 * SZ_1M, lsb: 21 },
  { name: '1G', align: SZ_1G, lsb: 30 },
])('poison in the middle of a $name unit', ({ align, lsb }) => {
  it('marks the head, unmaps the unit everywhere, signals AR to the toucher and AO to the others (early kill on)', () => {
    const { k, dev, len } = machine(align);
    setMemoryFailureEarlyKill(k, true); // vm.memory_failure_early_kill=1: every mapper is told at once
    const toucher = createTask(k, 100, 'toucher');
    const other = createTask(k, 101, 'other');
    const idle = createTask(k, 102, 'idle'); // maps the device, never touches the poisoned unit
    const va = daxMmap(k, toucher, dev, { length: len, ...RW });
    const vb = daxMmap(k, other, dev, { length: len, ...RW });
    const vi = daxMmap(k, idle, dev, { length: len, ...RW });
    for (let off = 0; off < len; off += align) {
      expect(touch(toucher, va + off + 3 * PAGE)).toBe(VM_FAULT_NOPAGE);
      expect(touch(other, vb + off)).toBe(VM_FAULT_NOPAGE);
    }
    expect(touch(idle, vi)).toBe(VM_FAULT_NOPAGE); // unit 0 only
    const unit = 1; // the second unit
    const unitPfn = (BASE + unit * align) / PAGE;
    const pfn = unitPfn + align / PAGE / 2 + 3;
    const refs0 = dev.pgmap!.ref;

    expect(memoryFailure(k, pfn, 0, toucher)).toBe(0);

    expect(k.memmap.PageHWPoison(unitPfn)).toBe(true);
    expect(k.memmap.compoundHead(pfn)).toBe(unitPfn);
    expect(toucher.signals).toEqual([{ signo: SIGBUS, code: BUS_MCEERR_AR, addr: va + unit * align, addrLsb: lsb }]);
    expect(other.signals).toEqual([{ signo: SIGBUS, code: BUS_MCEERR_AO, addr: vb + unit * align, addrLsb: lsb }]);
    expect(idle.signals).toEqual([]);
    expect(k.counters.get('sigbus_sent')).toBe(2);
    // the whole unit is unmapped in both, the other unit is not
    expect(userMapping(toucher, va + unit * align)).toBeNull();
    expect(userMapping(other, vb + unit * align + align - PAGE)).toBeNull();
    expect(userMapping(toucher, va)!.size).toBe(align);
    expect(userMapping(other, vb)!.size).toBe(align);
    expect(dev.pgmap!.ref).toBe(refs0); // get_dev_pagemap / put_dev_pagemap balanced
    const log = k.log.dmesg();
    expect(log).toContain(`Memory failure: 0x${pfn.toString(16)}: Sending SIGBUS to toucher:100 due to hardware memory corruption`);
    expect(log).toContain(`Memory failure: 0x${pfn.toString(16)}: Sending SIGBUS to other:101 due to hardware memory corruption`);
    expect(log).toContain(`Memory failure: 0x${pfn.toString(16)}: recovery action for dax page: Recovered`);

    // drivers/dax/device.c never looks at PG_hwpoison: the next access faults the whole unit back in,
    // in every process, with no signal (6.1 and 7.3 measured, shared/real-kernel/poison-ref)
    const signals = toucher.signals.length;
    expect(touch(toucher, va + unit * align + 5 * PAGE)).toBe(VM_FAULT_NOPAGE);
    expect(userMapping(toucher, va + unit * align)!.size).toBe(align);
    expect(toucher.signals).toHaveLength(signals);
    expect(touch(idle, vi + unit * align)).toBe(VM_FAULT_NOPAGE);
    // the rest of the device keeps working
    const msg = new TextEncoder().encode('still alive');
    expect(userWrite(k, toucher, va + 7 * PAGE + 9, msg)).toBe(true);
    expect(userRead(k, other, vb + 7 * PAGE + 9, msg.length)).toEqual(msg);
  });

  it('late-kill processes are unmapped but not told', () => {
    const { k, dev, len } = machine(align);
    setMemoryFailureEarlyKill(k, false);
    const toucher = createTask(k, 100, 'toucher');
    const late = createTask(k, 101, 'late');
    const early = createTask(k, 102, 'early');
    prctlMceKill(early, 'early');
    const addrs = [toucher, late, early].map((t) => daxMmap(k, t, dev, { length: len, ...RW }));
    [toucher, late, early].forEach((t, i) => touch(t, addrs[i]!));
    expect(memoryFailure(k, BASE / PAGE + 1, 0, toucher)).toBe(0);
    expect(toucher.signals.map((s) => s.code)).toEqual([BUS_MCEERR_AR]);
    expect(late.signals).toEqual([]);
    expect(early.signals.map((s) => s.code)).toEqual([BUS_MCEERR_AO]);
    expect(userMapping(late, addrs[1]!)).toBeNull();
  });
});

describe('memory_failure corner cases', () => {
  it('a unit never faulted in has no mapping: -EBUSY, "Failed", not poisoned', () => {
    const { k } = machine(2 * SZ_1M);
    const pfn = BASE / PAGE + 600;
    expect(memoryFailure(k, pfn)).toBe(-EBUSY);
    expect(k.memmap.PageHWPoison(BASE / PAGE + 512)).toBe(false);
    expect(k.log.dmesg()).toContain(`Memory failure: 0x${pfn.toString(16)}: recovery action for dax page: Failed`);
  });

  it('a device pfn outside every pgmap is "memory outside kernel control": -ENXIO', () => {
    const { k } = machine(2 * SZ_1M);
    const pfn = (BASE + 3 * SZ_1G) / PAGE; // in the region, but no device covers it
    expect(memoryFailure(k, pfn)).toBe(-ENXIO);
    expect(k.log.dmesg()).toContain(`Memory failure: 0x${pfn.toString(16)}: memory outside kernel control`);
    expect(() => memoryFailure(k, 100)).toThrow(KernelError); // System RAM is not modelled
  });

  it('a static (pmem, --map=dev) device: metadata pfns are not recoverable (-ENXIO), data pfns are', () => {
    const k = createKernel({ ram: [{ nid: 0, size: 256 * SZ_1M }], devices: [{ start: BASE, size: 4 * SZ_1G }] });
    const bus = new DaxBus(k);
    const nsPfn = BASE / PAGE;
    const dataOff = 64 * SZ_1M; // info block + struct pages (2 MiB vmemmap blocks), as ndctl lays out a devdax namespace
    const pgmap = newDevPagemap({
      type: MEMORY_DEVICE_GENERIC,
      ranges: [{ start: BASE, end: BASE + 2 * SZ_1G - 1 }],
      altmap: { basePfn: nsPfn, endPfn: nsPfn + (2 * SZ_1G) / PAGE, reserve: 2, free: dataOff / PAGE - 2, align: 0, alloc: 0 },
      name: 'namespace1.0',
    });
    const region = createStaticRegion(bus, { id: 1, start: BASE + dataOff, size: 2 * SZ_1G - dataOff, align: 2 * SZ_1M, pgmap });
    const dev = region.devices.get('dax1.0')!;
    bindDevDax(dev);
    const t = createTask(k, 100, 'app');
    const va = daxMmap(k, t, dev, { length: 4 * SZ_1M, ...RW });
    expect(touch(t, va + 2 * SZ_1M)).toBe(VM_FAULT_NOPAGE);
    expect(userMapping(t, va + 2 * SZ_1M)!.pfn).toBe((BASE + dataOff + 2 * SZ_1M) / PAGE);
    expect(memoryFailure(k, nsPfn + 5, 0, t)).toBe(-ENXIO);
    expect(k.log.dmesg()).toContain(`Memory failure: 0x${(nsPfn + 5).toString(16)}: recovery action for dax page: Failed`);
    const pfn = (BASE + dataOff + 2 * SZ_1M) / PAGE + 17;
    expect(memoryFailure(k, pfn, 0, t)).toBe(0);
    expect(t.signals).toEqual([{ signo: SIGBUS, code: BUS_MCEERR_AR, addr: va + 2 * SZ_1M, addrLsb: 21 }]);
  });

  it('MF_COUNT_INCREASED: the reference the caller took is dropped first, even when the pfn is not recoverable', () => {
    const { k, dev } = machine(2 * SZ_1M);
    const t = createTask(k, 100, 'app');
    const va = daxMmap(k, t, dev, { length: 4 * SZ_1M, ...RW });
    expect(touch(t, va)).toBe(VM_FAULT_NOPAGE);
    const head = BASE / PAGE;
    const idle = k.memmap.pageRefCount(head);
    // madvise(MADV_HWPOISON) holds a reference from get_user_pages_fast() on a tail page
    k.memmap.pageRefAdd(head, 1);
    expect(memoryFailure(k, head + 9, MF_COUNT_INCREASED, t)).toBe(0);
    expect(k.memmap.pageRefCount(head)).toBe(idle);
    expect(k.memmap.PageHWPoison(head)).toBe(true);
    // a unit never mapped: -EBUSY, and the reference is dropped all the same
    const other = head + 512 * 3;
    k.memmap.pageRefAdd(other, 1);
    expect(memoryFailure(k, other + 1, MF_COUNT_INCREASED)).toBe(-EBUSY);
    expect(k.memmap.pageRefCount(other)).toBe(idle);
  });

  it('soft offline of a device page fails with -EIO; an invalid pfn is -ENXIO', () => {
    const { k } = machine(2 * SZ_1M);
    expect(softOfflinePage(k, BASE / PAGE + 5)).toBe(-EIO);
    expect(softOfflinePage(k, (64 * SZ_1G) / PAGE)).toBe(-ENXIO);
  });

  it("with the seed's ALIGN round-up the wrong unit is unmapped and the toucher keeps the poisoned one", () => {
    const { k, dev, len } = machine(2 * SZ_1M, { setMappingIndex: 'align-up' });
    const t = createTask(k, 100, 'app');
    const va = daxMmap(k, t, dev, { length: len, ...RW });
    touch(t, va + 3 * PAGE); // unit 0, unaligned: page->index says unit 1
    touch(t, va + 2 * SZ_1M); // unit 1
    expect(memoryFailure(k, BASE / PAGE + 7, 0, t)).toBe(0);
    expect(t.signals).toEqual([{ signo: SIGBUS, code: BUS_MCEERR_AR, addr: va + 2 * SZ_1M, addrLsb: 21 }]);
    expect(userMapping(t, va)).not.toBeNull(); // the poisoned unit is still mapped
    expect(userMapping(t, va + 2 * SZ_1M)).toBeNull(); // its innocent neighbour is gone
  });

  it("'pre-series' base pages: only the pfn is marked, the whole 2M mapping still goes, and it faults back in", () => {
    const { k, dev, len } = machine(2 * SZ_1M, { generation: 'pre-series' });
    const t = createTask(k, 100, 'app');
    const va = daxMmap(k, t, dev, { length: len, ...RW });
    touch(t, va + 2 * SZ_1M);
    const pfn = (BASE + 2 * SZ_1M) / PAGE + 300;
    expect(memoryFailure(k, pfn, 0, t)).toBe(0);
    expect(k.memmap.PageHWPoison(pfn)).toBe(true);
    expect(k.memmap.PageHWPoison(pfn - 300)).toBe(false);
    expect(t.signals).toEqual([{ signo: SIGBUS, code: BUS_MCEERR_AR, addr: va + 2 * SZ_1M + 300 * PAGE, addrLsb: 21 }]);
    expect(userMapping(t, va + 2 * SZ_1M)).toBeNull();
    expect(touch(t, va + 2 * SZ_1M)).toBe(VM_FAULT_NOPAGE);
  });

  it('the kernel boots with vm.memory_failure_early_kill=0: a mapper with the default policy is unmapped, not told', () => {
    const { k, dev, len } = machine(2 * SZ_1M);
    expect(memoryFailureEarlyKill(k)).toBe(false);
    const a = createTask(k, 100, 'a');
    const b = createTask(k, 101, 'b');
    const va = daxMmap(k, a, dev, { length: len, ...RW });
    const vb = daxMmap(k, b, dev, { length: len, ...RW });
    touch(a, va);
    touch(b, vb);
    expect(memoryFailure(k, BASE / PAGE + 5, 0, a)).toBe(0);
    expect([a.signals.map((x) => x.code), b.signals]).toEqual([[BUS_MCEERR_AR], []]);
    expect(userMapping(b, vb)).toBeNull(); // the caller's mapping size sets what is torn down, in every process
  });

  it('each memory_failure() on a dax pfn counts 4 kB of HardwareCorrupted, a repeat and a failure too', () => {
    const { k, dev, len } = machine(2 * SZ_1M);
    const a = createTask(k, 100, 'a');
    const va = daxMmap(k, a, dev, { length: len, ...RW });
    touch(a, va);
    expect(memoryFailure(k, BASE / PAGE + 5, 0, a)).toBe(0);
    expect(memoryFailure(k, BASE / PAGE + 7, 0, a)).toBe(0); // the same folio again: no "already poisoned" path for dax
    expect(memoryFailure(k, BASE / PAGE + 3 * 512)).toBe(-EBUSY); // never faulted: Failed
    expect(k.counters.get('num_poisoned_pages')).toBe(3);
    expect(k.log.dmesg().match(/recovery action for dax page: Recovered/g)).toHaveLength(2);
    // PG_hwpoison on the head only
    expect([k.memmap.PageHWPoison(BASE / PAGE), k.memmap.PageHWPoison(BASE / PAGE + 5)]).toEqual([true, false]);
  });


  it('after poison, tearing everything down returns every frame', () => {
    const { k, dev, region, len, buddy0 } = machine(SZ_1G);
    const t = createTask(k, 100, 'app');
    const va = daxMmap(k, t, dev, { length: len, ...RW });
    touch(t, va);
    expect(memoryFailure(k, BASE / PAGE + 12345, 0, t)).toBe(0);
    exitTask(k, t);
    unregisterDaxRegion(region);
    expect(k.buddy.snapshot()).toEqual(buddy0);
    expect(k.counters.get('pgmap_ref_get')).toBe(k.counters.get('pgmap_ref_put'));
  });
});
