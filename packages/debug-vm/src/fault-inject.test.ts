import { describe, expect, it } from 'vitest';
import {
  SZ_1G,
  SZ_1M,
  EINVAL,
  ENOMEM,
  KernelError,
  MAP_SHARED,
  MEMORY_DEVICE_GENERIC,
  PG_dirty,
  PG_referenced,
  PROT_READ,
  PROT_WRITE,
  type Task,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  type VmemmapGeneration,
  VMEMMAP_GENERATIONS,
} from '@daxsim/mm';
import { type Kernel, createKernel, memremapPages, newDevPagemap } from '@daxsim/memremap';
import {
  DaxBus,
  type DevDax,
  bindDevDax,
  createDynamicRegion,
  createStaticRegion,
  createTask,
  daxMmap,
  daxRegionCreate,
  devDaxSetAlign,
  devDaxSetSize,
  touch,
} from '@daxsim/device-dax';
import { FOLL_LONGTERM, FOLL_WRITE, GUP_GENERATIONS, Gup, getUserPages, getUserPagesFast, pinUserPagesFast, putPages, unpinUserPages } from '@daxsim/gup';
import { type FailPoint, armFailures, armFromEnv, disarmFailures, formatFailSpec, parseFailSpec, pendingFailures } from './fault-inject.js';
import { checkInvariants, formatViolation } from './invariants.js';
import { machineState } from './state.js';

const PAGE = 4096;
const BASE = 4 * SZ_1G;

function sweep(k: Kernel, bus?: DaxBus, tasks: Task[] = []): string[] {
  return checkInvariants(k, bus, tasks, { allTasks: true }).map(formatViolation);
}

/**
 * For n = 1, 2, ...: builds a fresh machine, arms `point` at n, runs `op`,
 * and checks the failure. Stops at the first n whose injection never fires
 * (the op made fewer than n such allocations) and returns how many fired.
 */
function eachN(
  point: FailPoint,
  setup: () => { k: Kernel; bus?: DaxBus; gup?: Gup; tasks?: Task[] },
  op: (env: { k: Kernel; bus?: DaxBus; gup?: Gup; tasks?: Task[] }) => void,
  onFail: (env: { k: Kernel; bus?: DaxBus; gup?: Gup; tasks?: Task[] }, n: number) => void,
): number {
  for (let n = 1; n < 10_000; n++) {
    const env = setup();
    const target = env.gup ? { k: env.k, gup: env.gup } : { k: env.k };
    armFailures(target, { [point]: n });
    op(env);
    const fired = pendingFailures(target)[point] === undefined;
    disarmFailures(target);
    if (!fired) return n - 1;
    onFail(env, n);
  }
  throw new Error('unbounded');
}

function kernelError(fn: () => unknown): KernelError | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof KernelError) return e;
    throw e;
  }
}

describe('DAXSIM_FAIL parsing', () => {
  it('parses every point and formats it back', () => {
    const spec = parseFailSpec('page_alloc:5, altmap:2,pgtable:3 ,grab:7');
    expect(spec).toEqual({ page_alloc: 5, altmap: 2, pgtable: 3, grab: 7 });
    expect(formatFailSpec(spec)).toBe('page_alloc:5,altmap:2,pgtable:3,grab:7');
    expect(parseFailSpec('')).toEqual({});
  });

  it.each([
    ['page_alloc', /not <point>:<n>/],
    ['slab:3', /unknown fail point "slab"/],
    ['page_alloc:0', /page_alloc: n 0 must be a positive integer/],
    ['grab:1,grab:2', /"grab" given twice/],
    ['pgtable:-1', /not <point>:<n>/],
  ])('refuses %s with -EINVAL naming the item', (text, msg) => {
    const e = kernelError(() => parseFailSpec(text));
    expect(e?.errno).toBe(EINVAL);
    expect(e?.message).toMatch(msg);
  });

  it('arms a kernel and a Gup from the environment; unset arms nothing', () => {
    const k = createKernel({ ram: [{ nid: 0, size: 64 * SZ_1M }] });
    const gup = new Gup(k);
    expect(armFromEnv({ k, gup }, {})).toEqual({});
    expect(armFromEnv({ k, gup }, { DAXSIM_FAIL: 'page_alloc:5,altmap:2,pgtable:3,grab:7' })).toEqual({ page_alloc: 5, altmap: 2, pgtable: 3, grab: 7 });
    expect(pendingFailures({ k, gup })).toEqual({ page_alloc: 5, altmap: 2, pgtable: 3, grab: 7 });
    // page_alloc counts every allocation; the 5th from now fails.
    for (let i = 1; i <= 4; i++) expect(k.buddy.allocPages(0, 0, 'other')).toBeGreaterThanOrEqual(0);
    expect(k.buddy.allocPages(0, 0, 'other')).toBe(-ENOMEM);
    expect(pendingFailures({ k, gup }).page_alloc).toBeUndefined();
    expect(kernelError(() => armFromEnv({ k }, { DAXSIM_FAIL: 'grab:1' }))?.message).toMatch(/grab:1 needs a GUP instance/);
  });
});

describe('memremap_pages under injected failures', () => {
  const cases: { gen: VmemmapGeneration; shift: number; altmap: boolean }[] = [
    ...VMEMMAP_GENERATIONS.map((gen) => ({ gen, shift: 9, altmap: false })),
    { gen: 'tail-reuse', shift: 18, altmap: false },
    { gen: 'tail-reuse-pmd', shift: 18, altmap: false },
    { gen: 'pre-series', shift: 0, altmap: false },
    { gen: 'tail-reuse', shift: 9, altmap: true },
  ];
  for (const c of cases) {
    const points: FailPoint[] = c.altmap ? ['page_alloc', 'pgtable', 'altmap'] : ['page_alloc', 'pgtable'];
    for (const point of points) {
      it(`${c.gen} shift ${c.shift}${c.altmap ? ' altmap' : ''}: ${point} failure at every n is -ENOMEM and leaves the machine as it was`, () => {
        const size = c.shift === 18 ? 2 * SZ_1G : 256 * SZ_1M;
        const setup = () => {
          const k = createKernel({ ram: [{ nid: 0, size: 256 * SZ_1M }], devices: [{ start: BASE, size: 2 * SZ_1G, name: 'pmem' }] });
          return { k };
        };
        const pgmapOf = () =>
          newDevPagemap({
            type: MEMORY_DEVICE_GENERIC,
            ranges: [{ start: BASE, end: BASE + size - 1 }],
            vmemmapShift: c.shift,
            name: 'pmem0',
            ...(c.altmap ? { altmap: { basePfn: BASE / PAGE, endPfn: (BASE + size) / PAGE, reserve: 2, free: (8 * SZ_1M) / PAGE - 2, align: 0, alloc: 0 } } : {}),
          });
        let before = '';
        let failed = false;
        const fired = eachN(
          point,
          () => {
            const env = setup();
            before = JSON.stringify(machineState(env.k));
            return env;
          },
          ({ k }) => {
            const e = kernelError(() => memremapPages(k, pgmapOf(), 0, { generation: c.gen }));
            failed = e !== null;
            if (e) {
              expect(e.errno).toBe(ENOMEM);
              expect(e.message).toMatch(/memremap_pages: pmem0 range 0 .*ENOMEM building the memmap/);
            }
          },
          ({ k }) => {
            // A failed PMD-sized vmemmap block falls back to base pages (vmemmap_populate_hugepages): success.
            if (failed) expect(JSON.stringify(machineState(k))).toBe(before);
            expect(sweep(k)).toEqual([]);
          },
        );
        // Every allocation the call makes was failed once; pgtable/altmap are subsets of page_alloc.
        expect(fired).toBeGreaterThan(0);
      });
    }
  }
});

/** A dax machine: a 512 MiB soft-reserved region and a 128 MiB pmem namespace with its memmap in device memory. */
function daxMachine(generation: VmemmapGeneration = 'tail-reuse') {
  const k = createKernel({ ram: [{ nid: 0, size: 256 * SZ_1M }], devices: [{ start: BASE, size: 512 * SZ_1M, name: 'hmem' }, { start: 8 * SZ_1G, size: 128 * SZ_1M, name: 'pmem' }] });
  const bus = new DaxBus(k, { generation });
  const region = createDynamicRegion(bus, { id: 0, start: BASE, size: 512 * SZ_1M });
  devDaxSetSize(region.devices.get('dax0.0')!, 0);
  const nsPfn = (8 * SZ_1G) / PAGE;
  const pgmap = newDevPagemap({
    type: MEMORY_DEVICE_GENERIC,
    ranges: [{ start: 8 * SZ_1G, end: 8 * SZ_1G + 128 * SZ_1M - 1 }],
    altmap: { basePfn: nsPfn, endPfn: nsPfn + (128 * SZ_1M) / PAGE, reserve: 2, free: (4 * SZ_1M) / PAGE - 2, align: 0, alloc: 0 },
    name: 'namespace1.0',
  });
  createStaticRegion(bus, { id: 1, start: 8 * SZ_1G + 4 * SZ_1M, size: 124 * SZ_1M, align: 2 * SZ_1M, pgmap });
  return { k, bus, region, gup: new Gup(k) };
}

describe('dev_dax probe under injected failures', () => {
  for (const gen of VMEMMAP_GENERATIONS)
    for (const align of [4096, 2 * SZ_1M])
      for (const point of ['page_alloc', 'pgtable'] as const)
        it(`${gen} align ${align}: ${point} failure at every n fails the probe with -ENOMEM and changes nothing`, () => {
          let before = '';
          let dev: DevDax;
          const fired = eachN(
            point,
            () => {
              const m = daxMachine(gen);
              dev = daxRegionCreate(m.region);
              devDaxSetAlign(dev, align);
              devDaxSetSize(dev, 64 * SZ_1M);
              before = JSON.stringify(machineState(m.k, m.bus));
              return m;
            },
            () => {
              const e = kernelError(() => bindDevDax(dev));
              if (e) expect(e.errno).toBe(ENOMEM);
            },
            ({ k, bus }) => {
              expect(dev.bound).toBe(false);
              expect(JSON.stringify(machineState(k, bus))).toBe(before);
              expect(sweep(k, bus)).toEqual([]);
              bindDevDax(dev); // and the device binds fine afterwards
              expect(sweep(k, bus)).toEqual([]);
            },
          );
          expect(fired).toBeGreaterThan(0);
        });

  for (const point of ['page_alloc', 'pgtable', 'altmap'] as const)
    it(`a static --map=dev device: ${point} failure at every n fails the probe with -ENOMEM and changes nothing`, () => {
      let before = '';
      let dev: DevDax;
      const fired = eachN(
        point,
        () => {
          const m = daxMachine();
          dev = m.bus.device('dax1.0')!;
          before = JSON.stringify(machineState(m.k, m.bus));
          return m;
        },
        () => {
          const e = kernelError(() => bindDevDax(dev));
          if (e) expect(e.errno).toBe(ENOMEM);
        },
        ({ k, bus }) => {
          expect(JSON.stringify(machineState(k, bus))).toBe(before);
          expect(sweep(k, bus)).toEqual([]);
        },
      );
      expect(fired).toBeGreaterThan(0);
    });
});

describe('resize under injected failures', () => {
  it('dev_dax resize allocates no frames: an armed failure is not consumed', () => {
    for (const point of ['page_alloc', 'pgtable', 'altmap'] as const) {
      const m = daxMachine();
      const dev = daxRegionCreate(m.region);
      armFailures({ k: m.k }, { [point]: 1 });
      devDaxSetSize(dev, 128 * SZ_1M);
      devDaxSetSize(dev, 64 * SZ_1M);
      expect(pendingFailures({ k: m.k })[point]).toBe(1);
      expect(sweep(m.k, m.bus)).toEqual([]);
    }
  });
});

/**
 * PG_referenced and PG_dirty are GUP's legitimate traces (SetPageReferenced
 * on success and ClearPageReferenced on the undo path; FOLL_TOUCH of the slow
 * path marks the page accessed and dirty for a write, as the kernel does):
 * cleared on every device page before states are compared.
 */
function clearReferenced(k: Kernel): void {
  for (const e of k.pgmaps.entries) for (const s of e.spans) for (let pfn = s.startPfn; pfn < s.endPfn; pfn++) {
    k.memmap.clearFlag(pfn, PG_referenced);
    k.memmap.clearFlag(pfn, PG_dirty);
  }
}

const RW = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };

function mapped(align: number, gen: VmemmapGeneration = 'tail-reuse') {
  const m = daxMachine(gen);
  const dev = daxRegionCreate(m.region);
  devDaxSetAlign(dev, align);
  devDaxSetSize(dev, 64 * SZ_1M);
  bindDevDax(dev);
  const t = createTask(m.k, 100, 'app');
  const va = daxMmap(m.k, t, dev, { length: 8 * SZ_1M, ...RW });
  return { ...m, dev, t, va, tasks: [t] };
}

describe('faults under injected failures', () => {
  for (const align of [4096, 2 * SZ_1M])
    for (const point of ['page_alloc', 'pgtable'] as const)
      it(`align ${align}: ${point} failure at every n is VM_FAULT_OOM and leaves the page tables and struct pages as they were`, () => {
        let before = '';
        let env: ReturnType<typeof mapped>;
        const fired = eachN(
          point,
          () => {
            env = mapped(align);
            before = JSON.stringify(machineState(env.k, env.bus, env.tasks));
            return env;
          },
          () => {
            const rc = touch(env.t, env.va + 3 * SZ_1M + 5, true);
            expect([VM_FAULT_OOM, VM_FAULT_NOPAGE]).toContain(rc);
          },
          ({ k, bus }) => {
            expect(JSON.stringify(machineState(k, bus, env.tasks))).toBe(before);
            expect(sweep(k, bus, env.tasks)).toEqual([]);
          },
        );
        expect(fired).toBe(align === 4096 ? 3 : 2); // pud + pmd (+ pte) tables
      });
});

describe('GUP under injected failures', () => {
  for (const gen of GUP_GENERATIONS.filter((g) => g !== 'folio'))
    for (const kind of ['get', 'pin', 'longterm'] as const)
      for (const align of [4096, 2 * SZ_1M])
        it(`${gen} ${kind} align ${align}: a grab failure at every n takes nothing it does not return, and releasing it restores the machine`, () => {
          let before = '';
          let env: ReturnType<typeof mapped>;
          const nr = align === 4096 ? 37 : (2 * SZ_1M) / PAGE + 3;
          const pages = new Float64Array(nr);
          let rc = 0;
          const fired = eachN(
            'grab',
            () => {
              env = mapped(align);
              for (let off = 0; off < 8 * SZ_1M; off += align) touch(env.t, env.va + off, true); // fault everything in first
              env.gup = new Gup(env.k, { generation: gen });
              // One uninjected round trip first: a successful GUP leaves PG_referenced on the heads (as the kernel does).
              const flags = FOLL_WRITE | (kind === 'longterm' ? FOLL_LONGTERM : 0);
              const got = kind === 'get' ? getUserPagesFast(env.gup, env.t.mm, env.va + PAGE, nr, flags, pages) : pinUserPagesFast(env.gup, env.t.mm, env.va + PAGE, nr, flags, pages);
              if (kind === 'get') putPages(env.gup, pages, got);
              else unpinUserPages(env.gup, pages, got);
              // and one through the slow path, whose FOLL_TOUCH sets the accessed/dirty bits of the user entries (touch_pmd)
              putPages(env.gup, pages, getUserPages(env.gup, env.t.mm, env.va + PAGE, nr, FOLL_WRITE, pages));
              clearReferenced(env.k);
              before = JSON.stringify(machineState(env.k, env.bus, env.tasks));
              return env;
            },
            ({ gup }) => {
              const flags = FOLL_WRITE | (kind === 'longterm' ? FOLL_LONGTERM : 0);
              rc = kind === 'get' ? getUserPagesFast(gup!, env.t.mm, env.va + PAGE, nr, flags, pages) : pinUserPagesFast(gup!, env.t.mm, env.va + PAGE, nr, flags, pages);
              expect(rc).not.toBe(0);
            },
            ({ k, bus, gup }) => {
              // The grab failed once: gup-fast stops, the slow path retries; the call returns what it holds.
              if (rc > 0) {
                for (let i = 0; i < rc; i++) expect(pages[i]).toBe((BASE + PAGE + i * PAGE) / PAGE);
                if (kind === 'get') putPages(gup!, pages, rc);
                else unpinUserPages(gup!, pages, rc);
              } else expect([-ENOMEM, -14]).toContain(rc);
              clearReferenced(k);
              expect(JSON.stringify(machineState(k, bus, env.tasks))).toBe(before);
              expect(sweep(k, bus, env.tasks)).toEqual([]);
            },
          );
          expect(fired).toBeGreaterThan(0);
        }, 120_000);

  for (const point of ['page_alloc', 'pgtable'] as const)
    it(`pin of an unfaulted unit: ${point} failure at every n is -ENOMEM and takes nothing`, () => {
      let before = '';
      let env: ReturnType<typeof mapped>;
      const pages = new Float64Array(512);
      const fired = eachN(
        point,
        () => {
          env = mapped(2 * SZ_1M);
          before = JSON.stringify(machineState(env.k, env.bus, env.tasks));
          return env;
        },
        ({ gup }) => {
          const rc = pinUserPagesFast(gup!, env.t.mm, env.va + 2 * SZ_1M, 512, FOLL_WRITE, pages);
          if (rc !== 512) expect(rc).toBe(-ENOMEM);
          else unpinUserPages(gup!, pages, rc);
        },
        ({ k, bus }) => {
          expect(JSON.stringify(machineState(k, bus, env.tasks))).toBe(before);
          expect(sweep(k, bus, env.tasks)).toEqual([]);
        },
      );
      expect(fired).toBe(2);
    });
});
