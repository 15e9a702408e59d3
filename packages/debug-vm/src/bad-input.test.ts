import { describe, expect, it } from 'vitest';
import {
  SZ_1G,
  SZ_1M,
  EACCES,
  EBUSY,
  EEXIST,
  EFAULT,
  EINVAL,
  ENOMEM,
  ENOSPC,
  ENXIO,
  EOPNOTSUPP,
  KernelError,
  MAP_PRIVATE,
  MAP_SHARED,
  MEMORY_DEVICE_GENERIC,
  PROT_READ,
  PROT_WRITE,
  type VmemmapGeneration,
} from '@daxsim/mm';
import { createKernel, memremapPages, memunmapPages, newDevPagemap, putDevPagemap, getDevPagemap } from '@daxsim/memremap';
import {
  DaxBus,
  alignStore,
  bindDevDax,
  createDynamicRegion,
  createStaticRegion,
  createStore,
  createTask,
  daxMmap,
  daxRegionCreate,
  deleteStore,
  devDaxAddMapping,
  devDaxSetAlign,
  devDaxSetSize,
  mappingStore,
  munmap,
  sizeStore,
  touch,
  unbindDevDax,
} from '@daxsim/device-dax';
import { FOLL_GET, FOLL_PIN, FOLL_WRITE, Gup, getUserPagesFast, pinUserPagesFast, unpinUserPage } from '@daxsim/gup';
import { memoryFailure } from '@daxsim/memory-failure';
import { checkInvariants, formatViolation } from './invariants.js';
import { machineState } from './state.js';

const PAGE = 4096;
const BASE = 4 * SZ_1G;
const PMEM = 8 * SZ_1G;
const RW = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };

/**
 * The machine every case starts from: a 1 GiB soft-reserved region with
 * dax0.1 (64 MiB, align 2 MiB, bound, mapped 8 MiB by task "app" with one
 * unit faulted in), dax0.2 (32 MiB, unbound), 256 MiB of pmem with a
 * 128 MiB static namespace (dax1.0, bound), and a Gup.
 */
function machine(generation: VmemmapGeneration = 'tail-reuse') {
  const k = createKernel({ ram: [{ nid: 0, size: 256 * SZ_1M }], devices: [{ start: BASE, size: SZ_1G, name: 'hmem' }, { start: PMEM, size: 256 * SZ_1M, name: 'pmem' }] });
  const bus = new DaxBus(k, { generation });
  const region = createDynamicRegion(bus, { id: 0, start: BASE, size: SZ_1G });
  devDaxSetSize(region.devices.get('dax0.0')!, 0);
  const dev = daxRegionCreate(region);
  devDaxSetSize(dev, 64 * SZ_1M);
  bindDevDax(dev);
  const idle = daxRegionCreate(region);
  devDaxSetSize(idle, 32 * SZ_1M);
  const stat = createStaticRegion(bus, { id: 1, start: PMEM, size: 128 * SZ_1M });
  bindDevDax(stat.devices.get('dax1.0')!);
  const t = createTask(k, 100, 'app');
  const va = daxMmap(k, t, dev, { length: 8 * SZ_1M, ...RW });
  touch(t, va, true);
  const gup = new Gup(k);
  return { k, bus, region, dev, idle, stat, t, va, gup };
}
type M = ReturnType<typeof machine>;

interface Case {
  name: string;
  errno: number;
  /** What the message must name (the argument, and why). */
  msg: RegExp;
  run: (m: M) => unknown;
}

/** Cases for APIs that throw KernelError. */
const thrown: Case[] = [
  // ---- memremap_pages / memunmap_pages / put_dev_pagemap
  { name: 'memremap_pages with no ranges', errno: EINVAL, msg: /nr_range must be specified/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [] }), 0) },
  { name: 'memremap_pages with an unknown pgmap type', errno: EINVAL, msg: /invalid pgmap type 42/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: 42, ranges: [{ start: PMEM + 128 * SZ_1M, end: PMEM + 192 * SZ_1M - 1 }] }), 0) },
  { name: 'memremap_pages with a vmemmap_shift no align matches', errno: EINVAL, msg: /vmemmap_shift 3 .* cannot be mapped/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, vmemmapShift: 3, ranges: [{ start: PMEM + 128 * SZ_1M, end: PMEM + 192 * SZ_1M - 1 }] }), 0) },
  { name: 'memremap_pages of a range not aligned to the subsection', errno: EINVAL, msg: /range 0 .*aligned to the subsection size/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: PMEM + 128 * SZ_1M + PAGE, end: PMEM + 192 * SZ_1M - 1 }] }), 0) },
  { name: 'memremap_pages of a range not aligned to the compound page', errno: EINVAL, msg: /aligned to the compound page size 0x40000000/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, vmemmapShift: 18, ranges: [{ start: PMEM + 128 * SZ_1M, end: PMEM + 192 * SZ_1M - 1 }] }), 0) },
  { name: 'memremap_pages of System RAM', errno: ENXIO, msg: /attempted on System RAM/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: 0, end: 64 * SZ_1M - 1 }] }), 0) },
  { name: 'memremap_pages outside any device memory', errno: ENXIO, msg: /no device memory/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: 64 * SZ_1G, end: 64 * SZ_1G + 64 * SZ_1M - 1 }] }), 0) },
  { name: 'memremap_pages overlapping a live pgmap', errno: ENOMEM, msg: /Conflicting mapping in same section: conflicts with pgmap dax0\.1/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: BASE, end: BASE + 64 * SZ_1M - 1 }] }), 0) },
  {
    name: 'memremap_pages with an altmap whose base_pfn is not the range start',
    errno: EINVAL,
    msg: /altmap base_pfn 0x200001 is not the range's first pfn 0x208000/,
    run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: PMEM + 128 * SZ_1M, end: PMEM + 192 * SZ_1M - 1 }], altmap: { basePfn: PMEM / PAGE + 1, endPfn: 0, reserve: 0, free: 512, align: 0, alloc: 0 } }), 0),
  },
  {
    name: 'memremap_pages with an altmap larger than its range',
    errno: EINVAL,
    msg: /altmap reserve 2 \+ free 99999 exceed the range's 16384 pfns/,
    run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: PMEM + 128 * SZ_1M, end: PMEM + 192 * SZ_1M - 1 }], altmap: { basePfn: (PMEM + 128 * SZ_1M) / PAGE, endPfn: 0, reserve: 2, free: 99999, align: 0, alloc: 0 } }), 0),
  },
  { name: 'memremap_pages with an unknown generation', errno: EINVAL, msg: /generation 'bogus'/, run: ({ k }) => memremapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: PMEM + 128 * SZ_1M, end: PMEM + 192 * SZ_1M - 1 }] }), 0, { generation: 'bogus' as VmemmapGeneration }) },
  { name: 'memunmap_pages of a pgmap never mapped', errno: EINVAL, msg: /memunmap_pages: pgmap ghost is not mapped/, run: ({ k }) => memunmapPages(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: PMEM, end: PMEM + 2 * SZ_1M - 1 }], name: 'ghost' })) },
  {
    name: 'memunmap_pages while a reference is held',
    errno: EBUSY,
    msg: /dax0\.1 still has 1 references/,
    run: ({ k, dev }) => {
      getDevPagemap(k, BASE / PAGE);
      try {
        memunmapPages(k, dev.pgmap!);
      } finally {
        putDevPagemap(k, dev.pgmap!);
      }
    },
  },
  { name: 'put_dev_pagemap below zero', errno: EINVAL, msg: /put_dev_pagemap: ghost reference count underflow/, run: ({ k }) => putDevPagemap(k, newDevPagemap({ type: MEMORY_DEVICE_GENERIC, ranges: [{ start: PMEM, end: PMEM + 2 * SZ_1M - 1 }], name: 'ghost' })) },
  // ---- dax regions
  { name: 'a dax region id that exists', errno: EEXIST, msg: /dax region: id 0 already exists/, run: ({ bus }) => createDynamicRegion(bus, { id: 0, start: PMEM + 128 * SZ_1M, size: 64 * SZ_1M }) },
  { name: 'a dax region align that is not a page, PMD or PUD size', errno: EINVAL, msg: /dax region 5: align 8192 is not one of/, run: ({ bus }) => createDynamicRegion(bus, { id: 5, start: PMEM + 128 * SZ_1M, size: 64 * SZ_1M, align: 8192 }) },
  { name: 'a dax region start not a multiple of its align', errno: EINVAL, msg: /start 0x208100000 and size 0x4000000 must be multiples of align 0x200000/, run: ({ bus }) => createDynamicRegion(bus, { id: 5, start: PMEM + 129 * SZ_1M, size: 64 * SZ_1M }) },
  { name: 'a dax region overlapping another', errno: EBUSY, msg: /dax region 5: .* overlaps dax region 1/, run: ({ bus }) => createDynamicRegion(bus, { id: 5, start: PMEM + 64 * SZ_1M, size: 128 * SZ_1M }) },
  { name: 'a dax region over System RAM', errno: EINVAL, msg: /dax region 5: .* is not inside one device range/, run: ({ bus }) => createDynamicRegion(bus, { id: 5, start: 0, size: 64 * SZ_1M }) },
  // ---- sizes and aligns
  { name: 'a negative size', errno: EINVAL, msg: /dax0\.2: size: -1 is not a byte count/, run: ({ idle }) => devDaxSetSize(idle, -1) },
  { name: 'a size not a multiple of 2 MiB', errno: EINVAL, msg: /dax0\.2: size: 3145728 misaligned: must be a multiple of 2097152/, run: ({ idle }) => devDaxSetSize(idle, 3 * SZ_1M) },
  { name: 'a size beyond available_size', errno: ENOSPC, msg: /dax0\.2: size: growing by .* exceeds the region's available_size/, run: ({ idle }) => devDaxSetSize(idle, 2 * SZ_1G) },
  { name: 'a resize while bound', errno: EBUSY, msg: /dax0\.1: size: cannot resize while bound/, run: ({ dev }) => devDaxSetSize(dev, 128 * SZ_1M) },
  { name: 'a resize of a static device', errno: EACCES, msg: /dax1\.0: size: read-only on a static dax region/, run: ({ stat }) => devDaxSetSize(stat.devices.get('dax1.0')!, 64 * SZ_1M) },
  { name: 'an align that is not a page, PMD or PUD size', errno: EINVAL, msg: /dax0\.2: align: 8192 is not one of/, run: ({ idle }) => devDaxSetAlign(idle, 8192) },
  { name: 'a 1 GiB align on a 32 MiB device', errno: EINVAL, msg: /dax0\.2: align: 1073741824 invalid for range 0/, run: ({ idle }) => devDaxSetAlign(idle, SZ_1G) },
  { name: 'an align change while bound', errno: EBUSY, msg: /dax0\.1: align: cannot change while bound/, run: ({ dev }) => devDaxSetAlign(dev, PAGE) },
  { name: 'an unparsable align', errno: ENXIO, msg: /dax0\.2: align: "abc" is not a number/, run: ({ idle }) => alignStore(idle, 'abc\n') },
  { name: 'an unparsable size', errno: EINVAL, msg: /kstrtoull: "12x" is not a number/, run: ({ idle }) => sizeStore(idle, '12x') },
  { name: 'create with a value other than 1', errno: EINVAL, msg: /hmem\.0: create: value 2 must be 1/, run: ({ region }) => createStore(region, '2') },
  // ---- device names and lifecycle
  { name: 'delete of a device name that does not exist', errno: ENXIO, msg: /delete: no device named "dax0\.9"/, run: ({ region }) => deleteStore(region, 'dax0.9\n') },
  { name: 'delete of a device that still has a size', errno: EBUSY, msg: /dax0\.2: delete: device has size 33554432/, run: ({ region }) => deleteStore(region, 'dax0.2') },
  { name: 'delete of dax0.0', errno: EBUSY, msg: /dax0\.0: delete: device id 0 is never deleted/, run: ({ region }) => deleteStore(region, 'dax0.0') },
  { name: 'bind of a bound device', errno: EBUSY, msg: /dax0\.1: bind: already bound/, run: ({ dev }) => bindDevDax(dev) },
  { name: 'bind of a 0-size device', errno: ENXIO, msg: /dax0\.0: bind: device has size 0/, run: ({ region }) => bindDevDax(region.devices.get('dax0.0')!) },
  { name: 'unbind of an unbound device', errno: ENXIO, msg: /dax0\.2: unbind: not bound/, run: ({ idle }) => unbindDevDax(idle) },
  { name: 'unbind while a page is pinned', errno: EBUSY, msg: /dax0\.1: unbind: 1 of the device's pages are still pinned/, run: ({ gup, t, va, dev }) => {
    const pages = new Float64Array(1);
    pinUserPagesFast(gup, t.mm, va, 1, FOLL_WRITE, pages);
    try {
      unbindDevDax(dev);
    } finally {
      unpinUserPage(gup, pages[0]!);
      gup.clearPageReferenced(pages[0]!); // the pin's own trace (SetPageReferenced), not the refusal's
    }
  } },
  // ---- ranges (mapping_store)
  { name: 'a malformed mapping', errno: EINVAL, msg: /dax0\.2: mapping: "zz" is not <start>-<end>/, run: ({ idle }) => mappingStore(idle, 'zz') },
  { name: 'a mapping over another device\'s range', errno: ENOMEM, msg: /dax0\.2: mapping: 0x100000000-0x1001fffff is not free/, run: ({ idle }) => devDaxAddMapping(idle, BASE, BASE + 2 * SZ_1M - 1) },
  { name: 'a mapping whose length is not a multiple of 2 MiB', errno: ENXIO, msg: /dax0\.2: mapping: .* length is not a multiple/, run: ({ idle }) => devDaxAddMapping(idle, BASE + 512 * SZ_1M, BASE + 513 * SZ_1M - 1) },
  // ---- mmap / munmap
  { name: 'mmap of length 0', errno: EINVAL, msg: /mmap dax0\.1: length 0 must be positive/, run: ({ k, t, dev }) => daxMmap(k, t, dev, { length: 0, ...RW }) },
  { name: 'a private mmap', errno: EINVAL, msg: /mmap dax0\.1: attempted private mapping/, run: ({ k, t, dev }) => daxMmap(k, t, dev, { length: 2 * SZ_1M, prot: PROT_READ, flags: MAP_PRIVATE }) },
  { name: 'an mmap length not a multiple of align', errno: EINVAL, msg: /mmap dax0\.1: unaligned vma .* multiples of align 0x200000/, run: ({ k, t, dev }) => daxMmap(k, t, dev, { length: 3 * SZ_1M, ...RW }) },
  { name: 'mmap of an unbound device', errno: ENXIO, msg: /mmap dax0\.2: device is not enabled/, run: ({ k, t, idle }) => daxMmap(k, t, idle, { length: 2 * SZ_1M, ...RW }) },
  { name: 'an mmap at an unaligned fixed address', errno: EINVAL, msg: /mmap dax0\.1: addr 0x7f0000001001 is not page aligned/, run: ({ k, t, dev }) => daxMmap(k, t, dev, { addr: 0x7f0000001001, length: 2 * SZ_1M, ...RW }) },
  { name: 'an mmap at a negative offset', errno: EINVAL, msg: /mmap dax0\.1: offset -1 must be a page count/, run: ({ k, t, dev }) => daxMmap(k, t, dev, { length: 2 * SZ_1M, pgoff: -1, ...RW }) },
  { name: 'munmap at an unaligned address', errno: EINVAL, msg: /munmap: addr 0x7f0000000800 must be page aligned/, run: ({ t }) => munmap(t, 0x7f0000000800, PAGE) },
  { name: 'munmap splitting a 2 MiB unit', errno: EINVAL, msg: /would split \/dev\/dax0\.1 inside an align-sized unit/, run: ({ t, va }) => munmap(t, va + PAGE, PAGE) },
  // ---- memory failure
  { name: 'memory_failure of System RAM', errno: EOPNOTSUPP, msg: /memory_failure: pfn 0x10 is System RAM/, run: ({ k }) => memoryFailure(k, 16) },
];

/** Cases for paths that return a negative errno (GUP, memory_failure): rc, and the log line that names the argument. */
const returned: { name: string; rc: number; log?: RegExp; run: (m: M) => number }[] = [
  { name: 'GUP beyond TASK_SIZE', rc: -EFAULT, run: ({ gup, t }) => getUserPagesFast(gup, t.mm, 0x7ffffffff000, 4, 0, new Float64Array(4)) },
  { name: 'GUP of an address no vma maps', rc: -EFAULT, run: ({ gup, t }) => getUserPagesFast(gup, t.mm, 0x1000, 1, 0, new Float64Array(1)) },
  { name: 'GUP past the end of the device', rc: -EFAULT, run: ({ gup, k, t, dev }) => {
    const va = daxMmap(k, t, dev, { length: 2 * SZ_1M, pgoff: (64 * SZ_1M) / PAGE, ...RW }); // a vma beyond dev's 64 MiB
    const rc = getUserPagesFast(gup, t.mm, va, 1, 0, new Float64Array(1));
    munmap(t, va, 2 * SZ_1M);
    return rc;
  } },
  { name: 'pin_user_pages_fast with FOLL_GET', rc: -EINVAL, log: /pin_user_pages_fast: FOLL_GET passed/, run: ({ gup, t, va }) => pinUserPagesFast(gup, t.mm, va, 1, FOLL_GET, new Float64Array(1)) },
  { name: 'get_user_pages_fast with FOLL_PIN', rc: -EINVAL, log: /get_user_pages_fast: FOLL_PIN \/ FOLL_LONGTERM passed/, run: ({ gup, t, va }) => getUserPagesFast(gup, t.mm, va, 1, FOLL_PIN, new Float64Array(1)) },
  { name: 'memory_failure of a pfn outside any device', rc: -ENXIO, log: /Memory failure: 0x1000000: memory outside kernel control/, run: ({ k }) => memoryFailure(k, (64 * SZ_1G) / PAGE) },
  { name: 'memory_failure of an unbound device\'s pfn', rc: -ENXIO, log: /Memory failure: 0x104000: memory outside kernel control/, run: ({ k, idle }) => memoryFailure(k, idle.ranges[0]!.start / PAGE) },
];

function snapshot(m: M): string {
  return JSON.stringify(machineState(m.k, m.bus, [m.t]));
}

describe('bad input: refused with the kernel errno, a message naming the argument, and no change', () => {
  it(`has at least 40 cases (${thrown.length + returned.length + 2})`, () => {
    expect(thrown.length + returned.length + 2).toBeGreaterThanOrEqual(40);
  });

  it.each(thrown.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = machine();
    const before = snapshot(m);
    let err: unknown = null;
    try {
      c.run(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe(c.errno);
    expect((err as KernelError).message).toMatch(c.msg);
    expect(snapshot(m)).toBe(before);
    expect(checkInvariants(m.k, m.bus, [m.t], { allTasks: true }).map(formatViolation)).toEqual([]);
  });

  it.each(returned.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = machine();
    const before = snapshot(m);
    expect(c.run(m)).toBe(c.rc);
    if (c.log) expect(m.k.log.dmesg()).toMatch(c.log);
    expect(snapshot(m)).toBe(before);
    expect(checkInvariants(m.k, m.bus, [m.t], { allTasks: true }).map(formatViolation)).toEqual([]);
  });

  it('unpin of a compound page never pinned is refused (pincount underflow) and changes nothing', () => {
    const m = machine();
    const before = snapshot(m);
    let err: unknown = null;
    try {
      unpinUserPage(m.gup, BASE / PAGE + 5);
    } catch (e) {
      err = e;
    }
    expect((err as KernelError).errno).toBe(EINVAL);
    expect((err as KernelError).message).toMatch(/pincount of head pfn 1048576 would underflow/);
    expect(snapshot(m)).toBe(before);
    expect(checkInvariants(m.k, m.bus, [m.t], { allTasks: true })).toEqual([]);
  });

  it('unpin of a base page never pinned is a WARN naming the pfn and changes nothing', () => {
    const m = machine('pre-series');
    const before = snapshot(m);
    unpinUserPage(m.gup, BASE / PAGE + 5);
    expect(m.k.log.dmesg()).toMatch(/put_page_refs: pfn 1048581 holds fewer than 1024 references/);
    expect(snapshot(m)).toBe(before);
    expect(checkInvariants(m.k, m.bus, [m.t], { allTasks: true })).toEqual([]);
  });
});
