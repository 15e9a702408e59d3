import { ARCH_PROFILES, ALL_VMEMMAP_GENERATIONS } from '@daxsim/mm';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE, decodeState, encodeState, readSize, sizeText } from './url-state.js';

describe('the configuration in the URL', () => {
  it('round-trips every field, and leaves the defaults out of the link', () => {
    expect(encodeState(DEFAULT_STATE)).toBe('view=device');
    const s = { ...DEFAULT_STATE, view: 'step' as const, arch: 'arm64-64k', ram: 8 * 2 ** 30, size: 3 * 2 ** 40, align: 2 ** 29, map: 'dev' as const, generation: 'compound', page: 7, pfn: 0x1000a00, planSize: 5 * 2 ** 50, planArches: ['x86_64', 'ppc64-64k'], offset: 0x605000, pin: 3 };
    const frag = encodeState(s);
    expect(frag).toBe('view=step&arch=arm64-64k&ram=8G&size=3T&align=512M&map=dev&gen=compound&page=7&pfn=0x1000a00&plan=5120T&arches=x86_64%2Cppc64-64k&off=0x605000&pin=3');
    expect(decodeState(`#${frag}`)).toEqual({ state: s, problems: [] });
  });

  it('accepts every generation and architecture of @daxsim/mm, and each architecture\'s own aligns', () => {
    for (const generation of ALL_VMEMMAP_GENERATIONS) expect(decodeState(`gen=${generation}`).state.generation).toBe(generation);
    for (const a of Object.values(ARCH_PROFILES))
      for (const align of a.devdaxAligns) expect(decodeState(`arch=${a.name}&align=${sizeText(align)}`)).toEqual({ state: { ...DEFAULT_STATE, arch: a.name, align }, problems: [] });
  });

  it('names each field it cannot use and keeps its default for it', () => {
    const { state, problems } = decodeState('view=nope&gen=hvo-someday&size=12Q&map=disk&pin=0&arch=x86_64');
    expect(state).toEqual(DEFAULT_STATE);
    expect(problems).toEqual([
      "view: 'nope' is not one of plan, device, inspect, step",
      "size: '12Q' is not a size",
      "map: 'disk' is not mem or dev",
      `generation: 'hvo-someday' is not one of ${ALL_VMEMMAP_GENERATIONS.join(', ')}`,
      'pin: 0 is not a number of pages',
    ]);
  });

  it('moves an align the architecture does not have to its PMD-sized one (2M is not an arm64-64k align)', () => {
    const { state, problems } = decodeState('arch=arm64-64k&align=2M');
    expect(state.align).toBe(2 ** 29);
    expect(problems[0]).toMatch(/^align: 2M is not an align device-dax supports on arm64-64k/);
  });

  it('reads sizes as ndctl does, plus P for the planner', () => {
    expect(readSize('16G')).toBe(16 * 2 ** 30);
    expect(readSize('0x200000')).toBe(2 ** 21);
    expect(readSize('2P')).toBe(2 ** 51);
    expect(readSize('1.5G')).toBeUndefined();
    expect(sizeText(2 ** 40 + 2 ** 30)).toBe('1025G');
  });
});
