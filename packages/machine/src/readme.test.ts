import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(pkg, '..', '..');

describe('the README', () => {
  it('boots and drives a machine from plain Node.js with only @daxsim/machine imported', () => {
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(code).toMatch(/from '@daxsim\/machine'/);
    expect(code.match(/from '([^']+)'/g)).toEqual(["from '@daxsim/machine'"]);
    // a module inside the package, so that '@daxsim/machine' resolves to the package itself (self-reference)
    const file = join(pkg, `.readme-example-${process.pid}.mjs`);
    writeFileSync(file, code);
    try {
      // the TypeScript sources through the workspace condition (tsx compiles them); dist/ is the same code built
      const out = execFileSync(process.execPath, ['--conditions=@daxsim/source', '--import', 'tsx', file], { cwd: root, encoding: 'utf8' });
      expect(out.trim()).toBe('17177772032 67633152');
    } finally {
      rmSync(file, { force: true });
    }
  }, 60_000);
});
