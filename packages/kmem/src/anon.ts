import { ENOMEM, KernelError } from '@daxsim/mm';
import type { MemoryHotplug } from './memory-hotplug.js';

/**
 * Memory a process holds: anonymous pages (GFP_HIGHUSER_MOVABLE: movable,
 * ZONE_MOVABLE first, migrated away when their block goes offline) or a
 * kernel buffer allocated on its behalf (GFP_KERNEL: ZONE_NORMAL only,
 * unmovable, so its block cannot go offline while it is held). Pages are
 * taken one by one from the buddy allocator of `nid` (then the other
 * nodes), as a process bound to the node with MPOL_BIND|MPOL_F_... would
 * fault them in.
 */
export class AnonMemory {
  readonly nid: number;
  readonly movable: boolean;
  /** The pfn of each page (updated when a page migrates). */
  readonly pfns: number[] = [];
  private readonly hp: MemoryHotplug;
  private freed = false;

  private constructor(hp: MemoryHotplug, nid: number, movable: boolean) {
    this.hp = hp;
    this.nid = nid;
    this.movable = movable;
  }

  /** Takes nrPages pages; ENOMEM (nothing taken) when there are not that many. */
  static alloc(hp: MemoryHotplug, nid: number, nrPages: number, movable: boolean): AnonMemory {
    const a = new AnonMemory(hp, nid, movable);
    const b = hp.k.buddy;
    for (let i = 0; i < nrPages; i++) {
      const pfn = movable ? b.allocMovablePages(0, nid, 'other') : b.allocPages(0, nid, 'other');
      if (pfn < 0) {
        for (const p of a.pfns) b.freePages(p, 0, 'other');
        throw new KernelError(ENOMEM, `${movable ? 'anonymous memory' : 'kernel buffer'}: ${nrPages} pages on node ${nid}: only ${i} free`);
      }
      a.pfns.push(pfn);
    }
    hp.movableOwners.add(a);
    return a;
  }

  /** Gives every page back (a second call does nothing). */
  free(): void {
    if (this.freed) return;
    for (const p of this.pfns) this.hp.k.buddy.freePages(p, 0, 'other');
    this.hp.movableOwners.delete(this);
    this.freed = true;
  }
}
