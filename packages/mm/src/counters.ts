/**
 * Named event counters, in the spirit of /proc/vmstat. Every number daxsim
 * reports about work done is read from here; hot paths bump a slot of a typed
 * array by its constant index.
 */
export const COUNTER_NAMES = [
  // page allocator (mm/page_alloc.c), frames by purpose
  'pgalloc_vmemmap_data', // frames holding struct pages
  'pgalloc_vmemmap_pagetable', // init_mm page-table pages of the vmemmap
  'pgalloc_user_pagetable', // page-table pages of user mms
  'pgalloc_other',
  'pgfree',
  'pgalloc_fail',
  'altmap_pfns_alloc', // device pfns handed out by vmem_altmap for struct pages
  'altmap_pfns_free',
  // memmap initialisation
  'struct_pages_initialised', // __init_single_page / __init_zone_device_page calls
  'compound_pages_prepared', // prep_compound_head calls
  // the vmemmap MMU
  'tlb_hit',
  'tlb_miss',
  'tlb_flush_entries',
  'vmemmap_ptes_shared', // vmemmap PTEs pointing at a reused (shared) tail frame
  // page references
  'atomic_refcount_ops', // atomic updates of _refcount or the compound pincount
  'pgmap_ref_get',
  'pgmap_ref_put',
  // faults (drivers/dax/device.c)
  'fault_pte',
  'fault_pmd',
  'fault_pud',
  'fault_fallback',
  'fault_sigbus',
  // gup
  'gup_fast_pages',
  'gup_slow_pages',
  'gup_fast_fallback',
  'unpin_pages',
  // memory failure
  'memory_failure',
  'sigbus_sent',
  // the shared-tail generation (appended: earlier indices stay put)
  'vmemmap_write_faults', // stores through a read-only vmemmap PTE (each an oops)
  'vmemmap_shared_tails_alloc', // per-zone, per-order shared tail pages filled (init_compound_tail)
  'vmemmap_shared_tails_free',
  // memory failure, appended
  'num_poisoned_pages', // action_result() calls: num_poisoned_pages_inc(), /proc/meminfo HardwareCorrupted
  // the cost model's events (cost.ts; appended): 64 B cache lines by the tier of the frame they land in
  'line_seq_dram', // lines first touched in address order (a prefetched stream)
  'line_seq_pmem',
  'line_seq_cxl',
  'line_rand_dram', // lines first touched out of any stream (a dependent miss)
  'line_rand_pmem',
  'line_rand_cxl',
  'line_dirty_dram', // lines dirtied by stores or atomics, written back by eviction
  'line_dirty_pmem',
  'line_dirty_cxl',
  'line_nt_dram', // lines written whole by streaming (non-temporal) stores
  'line_nt_pmem',
  'line_nt_cxl',
  'frames_first_touched', // frames written for the first time since boot (what a VM's host charges)
  'atomic_flag_ops', // locked page-flag bitops (set_bit / clear_bit on page->flags)
  'vmstat_updates', // mod_node_page_state() calls (NR_FOLL_PIN_ACQUIRED / _RELEASED)
  'gup_fast_calls', // get/pin_user_pages_fast() calls
  'gup_put_pages', // put_page() calls of a release loop
  'struct_pages_template', // struct pages written by the template copy (Li Zhe's series)
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

/** The index of each counter in `Counters.v`. */
export const C: Readonly<Record<CounterName, number>> = Object.freeze(
  Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as Record<CounterName, number>,
);

export class Counters {
  /** Raw values, indexed by `C.name`. Hot paths write `counters.v[C.x] += n`. */
  readonly v = new Float64Array(COUNTER_NAMES.length);

  add(name: CounterName, n = 1): void {
    this.v[C[name]] += n;
  }
  get(name: CounterName): number {
    return this.v[C[name]]!;
  }
  /** All counters by name. */
  snapshot(): Record<CounterName, number> {
    return Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, this.v[i]])) as Record<CounterName, number>;
  }
  /** Counter deltas since `before` (only the non-zero ones). */
  since(before: Record<CounterName, number>): Partial<Record<CounterName, number>> {
    const out: Partial<Record<CounterName, number>> = {};
    COUNTER_NAMES.forEach((n, i) => {
      const d = this.v[i]! - before[n];
      if (d !== 0) out[n] = d;
    });
    return out;
  }
  reset(): void {
    this.v.fill(0);
  }
}
