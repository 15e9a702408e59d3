import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EBUSY, EEXIST, EINVAL, ENOENT, SZ_1G } from '@daxsim/mm';
import { errnoOf } from '@daxsim/mm/test';
import { describe, expect, it } from 'vitest';
import { Machine } from './machine.js';
import { memmapCost, memmapDevices } from './memmap-cost.js';
import { ndctlCreateNamespace, ndctlDestroyNamespace } from './ndctl.js';
import { StateFileError, StateLockError, readState, withStateLock, writeState } from './state-file.js';

/** A QEMU guest with `-m 4G` and a label-less 4 GiB NVDIMM. */
const qemu = (): Machine => Machine.create({ arch: 'x86_64', ram: [4 * SZ_1G], pmem: [{ size: 4 * SZ_1G, labels: false }], softReserved: [] });
const scratch = () => mkdtempSync(join(tmpdir(), 'daxsim-machine-file-'));
const devdax2M = (m: Machine) => ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 ** 21, map: 'mem', force: true });

describe('Machine.load / machine.save: the state file the CLI reads and writes', () => {
  it('save then load gives the same machine: the dax device, its memmap cost, the log and the memory digest', async () => {
    const path = join(scratch(), 'm.json');
    const m = qemu();
    devdax2M(m);
    await m.save(path);
    const l = await Machine.load(path);
    expect(l.daxDevice('dax0.0').size).toBe(m.daxDevice('dax0.0').size);
    // 4 GiB of 2M devdax, struct pages in RAM, tail reuse: 16 MiB of vmemmap + its page tables, as the kernel builds it
    expect(memmapCost(l, memmapDevices(l)[0]!)).toEqual(memmapCost(m, memmapDevices(m)[0]!));
    expect(l.ops).toEqual(m.ops);
    expect(l.digest()).toBe(m.digest());
    // what save wrote is the CLI's wrapper, read by the CLI's own reader
    const file = JSON.parse(readFileSync(path, 'utf8'));
    expect(Object.keys(file)).toEqual(['format', 'version', 'sha256', 'state']);
    expect(readState(path)!.ops).toEqual(m.ops);
  });

  it('reads a state file written by the writer the CLI uses (writeState)', async () => {
    const path = join(scratch(), 'm.json');
    const m = qemu();
    devdax2M(m);
    m.checkpoint();
    writeState(path, m.state());
    const l = await Machine.load(path);
    expect(l.daxDevice('dax0.0').size).toBe(m.daxDevice('dax0.0').size);
    expect(l.digest()).toBe(m.digest());
  });

  it('Machine.fromState(JSON.parse(file)) on the wrapper is EINVAL pointing at Machine.load, not a crash', async () => {
    const path = join(scratch(), 'm.json');
    await qemu().save(path);
    const wrapper = JSON.parse(readFileSync(path, 'utf8'));
    expect(errnoOf(() => Machine.fromState(wrapper))).toBe(EINVAL);
    expect(() => Machine.fromState(wrapper)).toThrow(/Machine\.load\(path\)/);
    expect(errnoOf(() => Machine.fromState({} as never))).toBe(EINVAL);
    // the state inside the wrapper is what fromState takes
    expect(Machine.fromState(wrapper.state).pmem.length).toBe(1);
  });

  it('a corrupted, truncated or foreign file is refused and left untouched, by load and by save', async () => {
    const dir = scratch();
    const good = join(dir, 'good.json');
    await qemu().save(good);
    const text = readFileSync(good, 'utf8');
    const cases = {
      corrupted: text.replace('"ops"', '"opz"'),
      truncated: text.slice(0, text.length >> 1),
      foreign: JSON.stringify({ format: 'something-else', version: 3, sha256: '', state: {} }),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const p = join(dir, `${name}.json`);
      writeFileSync(p, bytes);
      await expect(Machine.load(p), name).rejects.toBeInstanceOf(StateFileError);
      await expect(qemu().save(p, { force: true }), name).rejects.toBeInstanceOf(StateFileError);
      expect(readFileSync(p, 'utf8'), name).toBe(bytes);
    }
  });

  it('no file: load is ENOENT naming the path', async () => {
    const p = join(scratch(), 'none.json');
    const e = await Machine.load(p).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StateFileError);
    expect((e as StateFileError).errno).toBe(ENOENT);
    expect((e as Error).message).toContain(p);
  });

  it("save does not overwrite another machine's state, nor one changed since load (EEXIST), unless forced", async () => {
    const dir = scratch();
    const path = join(dir, 'm.json');
    const a = qemu();
    await a.save(path);
    const before = readFileSync(path, 'utf8');
    // another machine
    const b = qemu();
    devdax2M(b);
    expect((await b.save(path).catch((x: unknown) => x)) as KernelLike).toMatchObject({ errno: EEXIST });
    expect(readFileSync(path, 'utf8')).toBe(before);
    // a loaded machine, after another writer (a CLI command) changed the file
    const l = await Machine.load(path);
    const other = await Machine.load(path);
    devdax2M(other);
    await other.save(path);
    const changed = readFileSync(path, 'utf8');
    ndctlDestroyNamespace(l, l.pmem[0]!.namespaces[0]!, true);
    expect((await l.save(path).catch((x: unknown) => x)) as KernelLike).toMatchObject({ errno: EEXIST });
    expect(readFileSync(path, 'utf8')).toBe(changed);
    // the writer's own file, saved again after more work: fine
    ndctlDestroyNamespace(other, other.pmem[0]!.namespaces[0]!, true);
    await other.save(path);
    expect((await Machine.load(path)).digest()).toBe(other.digest());
    // forced
    await b.save(path, { force: true });
    expect((await Machine.load(path)).daxDevice('dax0.0').size).toBe(b.daxDevice('dax0.0').size);
  });

  it("save waits for the state file's lock as a CLI command does, and gives up with EBUSY, writing nothing", async () => {
    const path = join(scratch(), 'm.json');
    const m = qemu();
    await m.save(path);
    const before = readFileSync(path, 'utf8');
    devdax2M(m);
    await withStateLock(path, async () => {
      const e = await m.save(path, { timeoutMs: 300 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StateLockError);
      expect((e as StateLockError).errno).toBe(EBUSY);
    });
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(existsSync(`${path}.lock`)).toBe(false);
    await m.save(path);
    expect((await Machine.load(path)).ops).toEqual(m.ops);
  });
});

type KernelLike = { errno: number };
