import { ENOMEM } from '../errno.js';
import type { PageTableAllocator } from '../pgtable.js';
import type { PhysicalMemory } from '../phys-mem.js';

/**
 * A test double for the page allocator: hands out the frames of one pfn range
 * in order, takes them back on a free list, and can be told to fail the n-th
 * allocation. The real allocator is @daxsim/page-alloc's buddy allocator.
 */
export class BumpAllocator implements PageTableAllocator {
  private next: number;
  private readonly end: number;
  private readonly free: number[] = [];
  allocated = 0;
  calls = 0;
  failAt = 0;
  constructor(
    private readonly mem: PhysicalMemory,
    startPfn: number,
    nrPages: number,
  ) {
    this.next = startPfn;
    this.end = startPfn + nrPages;
  }
  alloc(): number {
    this.calls++;
    if (this.failAt && this.calls === this.failAt) return -ENOMEM;
    const pfn = this.free.pop() ?? (this.next < this.end ? this.next++ : -ENOMEM);
    if (pfn >= 0) this.allocated++;
    return pfn;
  }
  release(pfn: number, zeroed = false): void {
    this.mem.discard(pfn, zeroed);
    this.free.push(pfn);
    this.allocated--;
  }
  allocPageTable(): number {
    return this.alloc();
  }
  freePageTable(pfn: number, zeroed = false): void {
    this.release(pfn, zeroed);
  }
}
