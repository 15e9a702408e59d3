import { describe, expect, it } from 'vitest';
import { ARCH_PROFILES, X86_64, X86_64_LA57 } from './arch.js';
import { EINVAL, KernelError } from './errno.js';
import { FAULT_MODELS, GUP, MEMMAP_INIT, VMEMMAP, VMEMMAP_OPTIMIZE_RULES, VMEMMAP_OPTIMIZE_RULE_GATE } from './generation.js';
import { DEFAULT_KERNEL_VERSION, KERNELS, KERNEL_VERSIONS, PROPOSALS, archForKernel, archOptimizesDaxVmemmap, gupRunsOn, isKernelVersion, kernelRelease, lastDevmapRelease } from './kernels.js';
import { STRUCT_PAGE_V5_15, STRUCT_PAGE_V6_1, STRUCT_PAGE_V7_3 } from './struct-page.js';

describe('the generation registry: one row per release', () => {
  it('every row names a merged generation of every piece, and a known rule', () => {
    for (const v of KERNEL_VERSIONS) {
      const k = KERNELS[v];
      expect(k.kind).toBe('release');
      expect(k.version).toBe(v);
      expect(VMEMMAP[k.vmemmap].status).toBe('merged');
      expect(GUP[k.gup].status).toBe('merged');
      expect(MEMMAP_INIT[k.memmapInit].status).toBe('merged');
      expect(FAULT_MODELS[k.fault]).toBeDefined();
      expect(VMEMMAP_OPTIMIZE_RULES).toContain(k.vmemmapOptimizeRule);
    }
  });

  it('a proposal is a generation of one piece, never a release', () => {
    const names = PROPOSALS.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['tail-reuse-pmd', 'shared-tail', 'head-once', 'grab-first', 'template-nt']));
    expect(PROPOSALS.find((p) => p.name === 'template-nt')!.axis).toBe('memmap-init');
    for (const p of PROPOSALS) {
      expect(isKernelVersion(p.name)).toBe(false);
      for (const v of KERNEL_VERSIONS) expect([KERNELS[v].vmemmap, KERNELS[v].gup, KERNELS[v].memmapInit]).not.toContain(p.generation);
    }
  });

  it('an unknown release is -EINVAL naming it', () => {
    expect(() => kernelRelease('7.4')).toThrow(KernelError);
    try {
      kernelRelease('7.4');
    } catch (e) {
      expect((e as KernelError).errno).toBe(EINVAL);
      expect((e as Error).message).toMatch(/7\.4.*5\.15/);
    }
    expect(kernelRelease('6.1')).toBe(KERNELS['6.1']);
  });

  it('the folio era: 7.3 refcounts and rmaps device-dax folios, has no devmap bit, grabs a folio per leaf', () => {
    expect(DEFAULT_KERNEL_VERSION).toBe('7.3');
    expect(KERNELS['7.3']).toMatchObject({ vmemmap: 'tail-reuse', fault: 'folio', devmapBit: false, gup: 'folio', layout: STRUCT_PAGE_V7_3 });
    for (const v of ['5.15', '5.19', '6.1', '6.6', '6.8'] as const) expect(KERNELS[v]).toMatchObject({ fault: 'pfn', devmapBit: true, gup: 'per-page' });
    expect(GUP.folio.pgmapRef).toBe(false);
    expect(GUP['per-page'].pgmapRef).toBe(true);
  });

  it('struct page layouts: 5.15 is the seed\'s, 6.1 and 7.3 as measured', () => {
    expect(KERNELS['5.15'].layout).toBe(STRUCT_PAGE_V5_15);
    expect(KERNELS['6.1'].layout).toBe(STRUCT_PAGE_V6_1);
    // 6.1 measured: page[1] @16 dtor|order<<8, @20 compound_mapcount, @24 compound_pincount, @28 compound_nr
    expect(STRUCT_PAGE_V6_1).toMatchObject({ dtor: 16, order: 17, entireMapcount: 20, pincount: 24, nr: 28, pincountPage: 1 });
    // 7.3 measured: @16 _large_mapcount, @20 _nr_pages_mapped, @24 _entire_mapcount, @28 _pincount, @32 _mm_id_mapcount, @40 _mm_ids
    expect(STRUCT_PAGE_V7_3).toMatchObject({ largeMapcount: 16, nrPagesMapped: 20, entireMapcount: 24, pincount: 28, mmIdMapcount: 32, mmIds: 40 });
    // the PG_hwpoison bit a poisoned head shows: 23 on 6.1, 21 on 7.3 (shared/real-kernel/poison-ref)
    expect(KERNELS['6.1'].layout.pg.hwpoison).toBe(23);
    expect(KERNELS['7.3'].layout.pg.hwpoison).toBe(21);
    expect(KERNELS['7.3'].layout.pg.head).toBe(6);
  });

  it('hotplug: auto-online, the dax memmap_on_memory attribute and the kmem truncation warning per release', () => {
    expect(KERNELS['6.1'].hotplug).toEqual({ defaultAutoOnline: 'offline', daxMemmapOnMemory: false, kmemTruncationWarning: false });
    expect(KERNELS['6.8'].hotplug.daxMemmapOnMemory).toBe(true);
    expect(KERNELS['7.3'].hotplug).toEqual({ defaultAutoOnline: 'online', daxMemmapOnMemory: true, kmemTruncationWarning: true });
  });

  it('procfs: 7.3 has the nr_memmap vmstat counters (v6.11) and its meminfo lines, 6.1 neither (measured)', () => {
    expect(KERNELS['6.1'].procfs.vmstatMemmapCounters).toBe(false);
    expect(KERNELS['7.3'].procfs.vmstatMemmapCounters).toBe(true);
    expect(KERNELS['6.1'].procfs.meminfoFields).not.toContain('CmaTotal');
    const f = KERNELS['7.3'].procfs.meminfoFields;
    expect(f.slice(f.indexOf('FilePmdMapped'), f.indexOf('HugePages_Total') + 1)).toEqual(['FilePmdMapped', 'CmaTotal', 'CmaFree', 'Unaccepted', 'Balloon', 'GPUActive', 'GPUReclaim', 'HugePages_Total']);
  });

  it('GUP: the devmap generations run where leaves carry the devmap bit, folio everywhere; 6.8 is the last devmap release', () => {
    for (const v of KERNEL_VERSIONS)
      for (const gen of Object.keys(GUP) as (keyof typeof GUP)[])
        expect(gupRunsOn(KERNELS[v], gen), `${v} ${gen}`).toBe(gen === 'folio' || v !== '7.3');
    expect(lastDevmapRelease().version).toBe('6.8');
  });

  it('paging: a kernel that pages 5-level runs the la57 profile on an LA57 CPU only; other arches as given', () => {
    expect(archForKernel(KERNELS['7.3'], X86_64, true)).toBe(X86_64_LA57);
    expect(X86_64_LA57.vmemmapStart).toBe(0xffd4000000000000n);
    expect(archForKernel(KERNELS['7.3'], X86_64, false)).toBe(X86_64);
    // Debian's 6.1 is built with CONFIG_X86_5LEVEL=y (shared/real-kernel/kmem-ref): 5-level on LA57 too
    expect(archForKernel(KERNELS['6.1'], X86_64, true)).toBe(X86_64_LA57);
    expect(archForKernel(KERNELS['7.3'], ARCH_PROFILES['ppc64-64k']!, true)).toBe(ARCH_PROFILES['ppc64-64k']);
  });

  it("device-dax's vmemmap_can_optimize() gate: none before 87a7ae75d738 (v6.4), ARCH_WANT_OPTIMIZE_DAX_VMEMMAP from 0b6f15824cc7 (v6.6)", () => {
    expect(['5.15', '5.19', '6.1'].map((v) => KERNELS[v as '6.1'].daxVmemmapGate)).toEqual([null, null, null]);
    expect(['6.6', '6.8', '7.3'].map((v) => KERNELS[v as '6.6'].daxVmemmapGate)).toEqual(Array(3).fill('ARCH_WANT_OPTIMIZE_DAX_VMEMMAP'));
    // each rule's era: the seed ungated, 87a7ae75d738 under the HugeTLB symbol, v6.6 under the DAX one
    expect(VMEMMAP_OPTIMIZE_RULE_GATE).toEqual({ seed: null, 'altmap-fix': 'ARCH_WANT_OPTIMIZE_VMEMMAP', 'reserve-nr': 'ARCH_WANT_OPTIMIZE_DAX_VMEMMAP' });
    for (const v of KERNEL_VERSIONS) expect(KERNELS[v].daxVmemmapGate).toBe(VMEMMAP_OPTIMIZE_RULE_GATE[KERNELS[v].vmemmapOptimizeRule]);
  });

  it('which architectures select the gate: x86_64 both symbols, ppc64 the DAX one (radix), arm64 neither (060a2c92d1b6, 0b6f15824cc7)', () => {
    const on = (gate: Parameters<typeof archOptimizesDaxVmemmap>[0]) =>
      Object.values(ARCH_PROFILES)
        .filter((a) => archOptimizesDaxVmemmap(gate, a))
        .map((a) => a.name);
    expect(on(null)).toEqual(Object.keys(ARCH_PROFILES)); // 5.19 .. 6.3: every architecture reuses tails
    expect(on('ARCH_WANT_OPTIMIZE_VMEMMAP')).toEqual(['x86_64', 'x86_64-la57']);
    expect(on('ARCH_WANT_OPTIMIZE_DAX_VMEMMAP')).toEqual(['x86_64', 'x86_64-la57', 'ppc64-64k']);
    // 7.3 on arm64: the #else stub, no tail reuse whatever the generation
    expect(archOptimizesDaxVmemmap(KERNELS['7.3'].daxVmemmapGate, ARCH_PROFILES['arm64-4k'])).toBe(false);
    expect(archOptimizesDaxVmemmap(KERNELS['6.1'].daxVmemmapGate, ARCH_PROFILES['arm64-4k'])).toBe(true);
  });

  it("dev_dax_huge_fault()'s debug line: pe_size until 1d024e7a8dab (v6.6), the order and VMA after, the aligned address by 7.3", () => {
    expect(KERNEL_VERSIONS.map((v) => KERNELS[v].klog.daxFaultDbg)).toEqual(['pe-size', 'pe-size', 'pe-size', 'order', 'order', 'op-addr-order']);
  });
});
