import { describe, expect, it } from 'vitest';
import { ARCH_PROFILES, EEXIST, EINVAL, X86_64 } from '@daxsim/mm';
import { SparseMem } from './index.js';

describe('SparseMem', () => {
  it('fill_subsection_map / clear_subsection_map: -EEXIST on overlap, -EINVAL on clearing what is not set', () => {
    const s = new SparseMem(X86_64);
    const sec = 100;
    const pfn = s.sectionNrToPfn(sec);
    s.allocUsage(sec);
    expect(s.fillSubsectionMap(pfn + 512 * 4, 512 * 2)).toBe(0);
    expect(s.subsectionMapString(sec).slice(0, 8)).toBe('00001100');
    expect(s.fillSubsectionMap(pfn + 512 * 5, 512)).toBe(-EEXIST);
    expect(s.clearSubsectionMap(pfn, 512)).toBe(-EINVAL);
    expect(s.clearSubsectionMap(pfn + 512 * 4, 512 * 2)).toBe(0);
    expect(s.subsectionMapEmpty(sec)).toBe(true);
  });
  it.each(Object.values(ARCH_PROFILES).map((a) => [a.name, a] as const))(
    '%s: random fills and clears of subsection runs match a map kept one subsection at a time',
    (_name, arch) => {
      const s = new SparseMem(arch);
      const pps = s.pagesPerSubsection;
      const nsub = s.subsectionsPerSection;
      const ref = new Uint8Array(nsub);
      s.allocUsage(5);
      const base = s.sectionNrToPfn(5);
      let x = 24301;
      const rnd = (n: number): number => {
        x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
        return x % n;
      };
      for (let it = 0; it < 3000; it++) {
        const a = rnd(nsub);
        const b = a + rnd(nsub - a);
        const fill = rnd(2) === 0;
        const rc = fill ? s.fillSubsectionMap(base + a * pps, (b - a + 1) * pps) : s.clearSubsectionMap(base + a * pps, (b - a + 1) * pps);
        let want = 0;
        for (let i = a; i <= b; i++) if (ref[i] !== (fill ? 0 : 1)) want = fill ? -EEXIST : -EINVAL;
        if (want === 0) ref.fill(fill ? 1 : 0, a, b + 1);
        expect(rc).toBe(want);
        expect(s.subsectionMapString(5)).toBe(Array.from(ref).join(''));
      }
    },
  );
  it('pageblock migratetypes live in the section usemap, 4 bits per pageblock', () => {
    const s = new SparseMem(X86_64);
    const pfn = s.sectionNrToPfn(7);
    s.allocUsage(7);
    const d0 = s.digest();
    const d0NoPb = s.digest(false);
    s.setPageblockMigratetype(pfn + 512 * 3, 1);
    expect(s.getPageblockMigratetype(pfn + 512 * 3 + 17)).toBe(1);
    expect(s.getPageblockMigratetype(pfn + 512 * 2)).toBe(0);
    expect(s.digest()).not.toBe(d0);
    expect(s.digest(false)).toBe(d0NoPb);
  });
});
