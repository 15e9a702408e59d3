import { describe, expect, it } from 'vitest';
import { EEXIST, EINVAL, X86_64 } from '@daxsim/mm';
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
