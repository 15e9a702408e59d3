import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine, ndctlDestroyNamespace } from '@daxsim/machine';
import { describe, expect, it } from 'vitest';
import { daxsim, scratch } from '../test/cli.js';

describe('Machine.load / machine.save with the CLI on the same state file', () => {
  it('loads the machine the CLI made, and the CLI (its daemon too) sees what save wrote', async () => {
    const dir = scratch();
    const path = join(dir, 'daxsim-machine.json');
    expect(daxsim(dir, ['machine', 'create', '--ram', '4G', '--pmem', '4G']).status).toBe(0);
    expect(daxsim(dir, ['ndctl', 'create-namespace', '-f', '-e', 'namespace0.0', '-m', 'devdax', '-a', '2M', '-M', 'mem']).status).toBe(0);
    const m = await Machine.load(path);
    const listed = daxsim(dir, ['daxctl', 'list', '-d', 'dax0.0']).json();
    expect(m.daxDevice('dax0.0').size).toBe(listed[0].size);
    expect(() => Machine.fromState(JSON.parse(readFileSync(path, 'utf8')))).toThrow(/Machine\.load/);
    // the script destroys the namespace and saves; the CLI's daemon, which holds the machine in memory, boots the file again
    ndctlDestroyNamespace(m, m.pmem[0]!.namespaces[0]!, true);
    await m.save(path);
    expect(daxsim(dir, ['daxctl', 'list']).stdout.trim()).toBe('');
    expect(daxsim(dir, ['ndctl', 'list', '-N', '-i']).json()[0]).toMatchObject({ dev: 'namespace0.0', mode: 'raw' });
  });
});
