import { PAGE_KERNEL_LO, PAGE_KERNEL_RO_LO, hex } from '@daxsim/mm';
import type { Kernel } from '@daxsim/memremap';
import { compoundTailFrameIntact } from '@daxsim/page-alloc';
import { sharedTails } from '@daxsim/sparse-vmemmap';

/**
 * The protection a vmemmap leaf entry must carry: PAGE_KERNEL, or
 * PAGE_KERNEL_RO for the shared tail pages of the shared-tail generation
 * (and only for them). `sharedTail`: isSharedTail() of the frame the leaf maps.
 */
export function vmemmapLeafProtOk(lo: number, sharedTail: boolean): boolean {
  return (lo & PAGE_KERNEL_LO) === (sharedTail ? PAGE_KERNEL_RO_LO : PAGE_KERNEL_LO);
}

/**
 * "No shared tail page ever changes after it is filled": every shared tail
 * page in use still holds, word for word, the tail struct pages
 * init_compound_tail() wrote for its node and order.
 */
export function checkSharedTails(k: Kernel, add: (invariant: string, message: string) => void): void {
  for (const t of sharedTails(k))
    if (!compoundTailFrameIntact(k, t.pfn, t.nid, t.order))
      add('shared-tail-changed', `shared tail frame ${hex(t.pfn)} (node ${t.nid}, order ${t.order}) no longer holds what init_compound_tail() wrote`);
}
