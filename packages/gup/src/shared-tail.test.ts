import { GUP_GENERATIONS } from './gup.js';
import { describe, expect, it } from 'vitest';
import { FOLL_WRITE } from './foll.js';
import { userTouch } from './gup-test-user.js';
import { getUserPagesFastOnly } from './gup-fast.js';
import { createDaxFixture } from './test/index.js';
import { putPages } from './unpin.js';
import { SZ_1M } from '@daxsim/mm';


describe('GUP on a shared-tail memmap: every tail resolves its own head through the compound_info mask', () => {
  for (const gupGeneration of GUP_GENERATIONS)
    for (const reference of [false, true])
      it(`${gupGeneration}${reference ? ' (reference loops)' : ''}: 4 compound pages, one reference per base page on each head`, () => {
        const f = createDaxFixture({ size: 8 * SZ_1M, align: 2 * SZ_1M, vmemmapGeneration: 'shared-tail', gupGeneration });
        f.gup.referenceLoops = reference;
        const vma = f.mmap(8 * SZ_1M);
        expect(userTouch(f.mm, vma.start, 8 * SZ_1M, true)).toBe(0);
        const before = [0, 1, 2, 3].map((c) => f.k.memmap.pageRefCount(f.basePfn + c * 512));
        const pages = new Float64Array(2048);
        // 100 pages from the middle of compound page 1 into compound page 2 and so on: the tails behind one shared frame
        expect(getUserPagesFastOnly(f.gup, f.mm, vma.start + 400 * 4096, 1500, FOLL_WRITE, pages)).toBe(1500);
        for (let i = 0; i < 1500; i++) expect(f.k.memmap.compoundHead(pages[i]!)).toBe(f.basePfn + Math.floor((400 + i) / 512) * 512);
        const after = [0, 1, 2, 3].map((c) => f.k.memmap.pageRefCount(f.basePfn + c * 512) - before[c]!);
        expect(after).toEqual([112, 512, 512, 364]);
        putPages(f.gup, pages, 1500);
        expect([0, 1, 2, 3].map((c) => f.k.memmap.pageRefCount(f.basePfn + c * 512))).toEqual(before);
      });
});
