import { C, EINVAL, PLATFORMS, SZ_1G, SZ_1M, modelledTime } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import type { MachineConfig } from './config.js';
import { runGupTest } from './gup-test.js';
import { Machine } from './machine.js';
import { memmapDevices } from './memmap-cost.js';
import { ndctlCreateNamespace, ndctlDisableNamespace, ndctlEnableNamespace } from './ndctl.js';

// The seed's kernel on its class of box, with a small pmem region (the acceptance and the bench run the seed's sizes).
const box = (extra: Partial<MachineConfig> = {}): Machine =>
  Machine.create({ arch: 'x86_64', ram: [8 * SZ_1G], pmem: [{ size: 4 * SZ_1G, labels: false }], softReserved: [], kernel: '5.15', platform: 'cascadelake-optane', ...extra });

const devdax = (m: Machine, map: 'mem' | 'dev', align = 2 * SZ_1M) => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align, map, force: true });

const gup = (m: Machine, mb: number, flag: 'u' | 'a', gen: 'per-page' | 'head-once' | undefined, hostTime = false) => {
  const r = runGupTest(m, ['-f', '/dev/dax0.0', '-m', String(mb), '-r', '2', '-n', '512', '-w', '-S', `-${flag}`], gen, { hostTime });
  expect(r.exitCode).toBe(0);
  return r;
};

/** The last memmap_init_zone_device line's milliseconds. */
const initMs = (m: Machine): number => {
  const hits = m.k.log.entries.map((r) => /memmap_init_zone_device initialised \d+ pages in (\d+)ms/.exec(r.text)).filter((x) => x !== null);
  return Number(hits[hits.length - 1]![1]);
};

describe("gup_test's Time line is the modelled kernel's: the get loop's counted events x the platform's costs", () => {
  it('prints get:N us with N the modelled time of the events the loop counted; per-page takes one atomic per 4 KiB page', () => {
    const m = box();
    devdax(m, 'mem');
    const r = gup(m, 1024, 'u', 'per-page');
    const s = r.repeats[0]!.stats;
    const e = s.getModel!.events;
    expect(e[C.atomic_refcount_ops]).toBe(262144); // 1 GiB of 4 KiB pages: one try_grab_page each
    expect(e[C.gup_fast_calls]).toBe(512); // -n 512: one call per 2 MiB
    const us = Math.trunc(modelledTime(PLATFORMS['cascadelake-optane']!, e).ns / 1000);
    expect(r.text).toContain(`GUP_FAST_BENCHMARK: Time: get:${r.repeats[0]!.args.getDeltaUsec} put:`);
    expect(r.repeats[0]!.args.getDeltaUsec).toBe(us);
    // the loops are the same events, so the same modelled time
    expect(r.repeats[1]!.args.getDeltaUsec).toBe(us);
  });

  it('twice the pages, twice the modelled time; head-once takes 1/512 of the atomics and a fraction of the time', () => {
    const m = box({ generation: 'tail-reuse' }); // the series applied: 2 MiB compound pages
    devdax(m, 'mem');
    const half = gup(m, 512, 'u', 'per-page').repeats[0]!.stats;
    const full = gup(m, 1024, 'u', 'per-page').repeats[0]!.stats;
    expect(full.getMs / half.getMs).toBeCloseTo(2, 2);
    const after = gup(m, 1024, 'u', 'head-once').repeats[0]!.stats;
    expect(full.getAtomics / after.getAtomics).toBe(512);
    expect(after.getMs).toBeLessThan(full.getMs / 5);
    // FOLL_PIN adds one NR_FOLL_PIN_ACQUIRED update per page before the series, per compound page after it
    const pin = gup(m, 1024, 'a', 'per-page').repeats[0]!.stats;
    expect(pin.getModel!.events[C.vmstat_updates]).toBe(262144);
    expect(pin.getMs).toBeGreaterThan(full.getMs);
  });

  it('with the memmap on the device (altmap), the struct page lines are counted in pmem and Optane bounds the loop', () => {
    const m = box();
    devdax(m, 'dev');
    const s = gup(m, 1024, 'u', 'per-page').repeats[0]!.stats;
    const e = s.getModel!.events;
    expect(e[C.line_dirty_pmem]).toBeGreaterThan(0);
    expect(e[C.line_dirty_dram]).toBe((262144 * 8) / 64); // only the caller's pages[] array is in RAM
    expect(s.getModel!.bound).toBe('pmem');
    // the same events on a box whose "pmem" is host DRAM (icelake-vm) cost far less
    expect(modelledTime(PLATFORMS['icelake-vm']!, e).ns).toBeLessThan(s.getModel!.ns / 4);
    // and with the memmap in RAM the same loop is not pmem-bound
    const r = box();
    devdax(r, 'mem');
    const inRam = gup(r, 1024, 'u', 'per-page').repeats[0]!.stats;
    expect(inRam.getModel!.bound).toBe('cpu');
    expect(s.getMs / inRam.getMs).toBeGreaterThan(4);
  });

  it('7.3 (folio GUP): one grab per 2 MiB folio, its head line read from Optane and dirtied with its pincount tail', () => {
    const m = box({ kernel: '7.3' });
    devdax(m, 'dev');
    const s = gup(m, 1024, 'a', undefined).repeats[0]!.stats;
    const e = s.getModel!.events;
    expect(e[C.gup_fast_calls]).toBe(512);
    expect(e[C.line_rand_pmem]).toBe(512); // one folio per call: its head, out of any stream
    expect(e[C.line_dirty_pmem]).toBe(1024); // the head (refcount) and the tail that holds _pincount
    expect(e[C.vmstat_updates]).toBe(512);
  });

  it("--host-time prints the host's JavaScript time of the same loops", () => {
    const m = box();
    devdax(m, 'mem');
    const r = gup(m, 64, 'u', 'per-page', true);
    const a = r.repeats[0]!.args;
    expect(r.text).toContain(`Time: get:${a.hostGetUsec} put:${a.hostPutUsec} us`);
    expect(Math.abs(a.hostGetUsec! - r.repeats[0]!.stats.hostGetMs * 1000)).toBeLessThanOrEqual(1);
  });
});

describe("memmap_init_zone_device's log line prints the modelled time of the struct pages it wrote", () => {
  it('fewer struct pages written (tail reuse at 2M, 1G), less time; every one is a struct page init on the platform', () => {
    const ms = (generation: string, align: number) => {
      const m = box({ generation });
      const before = m.k.counters.get('struct_pages_initialised');
      devdax(m, 'mem', align);
      return { ms: initMs(m), written: m.k.counters.get('struct_pages_initialised') - before };
    };
    const base = ms('pre-series', 2 * SZ_1M);
    const t2 = ms('tail-reuse', 2 * SZ_1M);
    const t1 = ms('tail-reuse', SZ_1G);
    expect(base.written).toBeGreaterThan(t2.written);
    expect(base.ms).toBeGreaterThan(t2.ms);
    expect(t2.ms).toBeGreaterThanOrEqual(t1.ms);
    expect(t1.ms).toBe(0); // a handful of struct pages per GiB: well under a millisecond
    // 4 GiB of base pages at the calibrated per-page cost
    const cpu = PLATFORMS['cascadelake-optane']!.cpu;
    expect(base.ms).toBeGreaterThanOrEqual(Math.trunc((base.written * cpu.structPageInitNs) / 1e6));
  });

  it("Li Zhe's template-nt writes the same struct pages, counted as template copies with streaming stores, and a rebind costs less", () => {
    const run = (memmapInit: string) => {
      const m = box({ kernel: '7.3', platform: 'icelake-vm', memmapInit });
      const ns = devdax(m, 'dev');
      const first = initMs(m);
      ndctlDisableNamespace(m, ns);
      const mark = m.k.counters.snapshot();
      ndctlEnableNamespace(m, ns);
      const d = m.k.counters.since(mark);
      const dev = memmapDevices(m)[0]!;
      const pfn = dev.pgmap.ranges[0]!.start / 4096;
      const bytes = Array.from({ length: 1024 }, (_, i) => Array.from(m.k.memmap.rawBytes(pfn + i)).join(',')).join(';');
      return { first, rebind: initMs(m), d, bytes };
    };
    const base = run('per-page');
    const nt = run('template-nt');
    expect(nt.bytes).toBe(base.bytes);
    expect(base.d.struct_pages_template ?? 0).toBe(0);
    expect(nt.d.struct_pages_template).toBeGreaterThan(0);
    expect(nt.d.line_nt_pmem).toBeGreaterThan(0);
    expect(nt.rebind).toBeLessThan(base.rebind);
    // a first bind pays the VM's first touch of every memmap frame; a rebind finds them touched
    expect(base.first).toBeGreaterThan(base.rebind);
  });
});

describe('machine create --platform and --memmap-init', () => {
  it('refuses an unknown platform or memmap init, naming the option', () => {
    expect(errnoOf(() => box({ platform: 'vax-11' }))).toBe(EINVAL);
    expect(() => box({ platform: 'vax-11' })).toThrow(/--platform vax-11 is not one of cascadelake-optane/);
    expect(errnoOf(() => box({ memmapInit: 'fast' }))).toBe(EINVAL);
    expect(() => box({ memmapInit: 'fast' })).toThrow(/--memmap-init fast is not one of per-page, template-nt/);
  });

  it('the events do not depend on the platform; only their cost does', () => {
    const events = (platform: string) => {
      const m = box({ platform });
      devdax(m, 'mem');
      return gup(m, 256, 'a', 'per-page').repeats[0]!.stats.getModel!;
    };
    const a = events('cascadelake-optane');
    const b = events('sapphirerapids-cxl');
    expect(Array.from(b.events)).toEqual(Array.from(a.events));
    expect(b.ns).not.toBe(a.ns);
  });
});
