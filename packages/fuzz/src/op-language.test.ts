import { parseScenarioLine } from '@daxsim/machine';
import { describe, expect, it } from 'vitest';
import { type FuzzOp, formatOp, scenarioOp } from './fuzz-machine.js';

// one operation of every kind the fuzzer makes
const OPS: FuzzOp[] = [
  { op: 'create', size: 64 * 2 ** 20, align: 2 * 2 ** 20 },
  { op: 'resize', dev: 'dax1.0', size: 0 },
  { op: 'disable', dev: 'dax1.1' },
  { op: 'enable', dev: 'dax1.1' },
  { op: 'destroy', dev: 'dax1.1' },
  { op: 'spawn', p: 'p0' },
  { op: 'mmap', p: 'p0', m: 'm0', dev: 'dax0.0', length: 4 * 2 ** 20, offset: 2 * 2 ** 20 },
  { op: 'munmap', p: 'p0', m: 'm0' },
  { op: 'touch', p: 'p0', m: 'm0', off: 0x5000, write: true },
  { op: 'pin', p: 'p0', m: 'm0', off: 0x1000, len: 3 * 4096, kind: 'longterm', gen: 'grab-first' },
  { op: 'unpin', p: 'p0' },
  { op: 'poison', dev: 'dax0.1', off: 0x200000 },
  { op: 'exit', p: 'p0' },
  { op: 'fail', point: 'page_alloc', n: 3 },
  { op: 'sysram', dev: 'dax1.2', noMovable: true },
  { op: 'devdax', dev: 'dax1.2', force: true },
  { op: 'online', dev: 'dax1.2' },
  { op: 'offline', dev: 'dax1.2' },
];

describe('the fuzzer speaks the scenario language', () => {
  it('every operation it makes prints as a scenario line that the runner reads back as the same op', () => {
    for (const o of OPS) expect(parseScenarioLine(formatOp(o)), formatOp(o)).toEqual(scenarioOp(o));
  });

  it('its process ops are scenario ops as they stand; its device ops are daxctl tool lines', () => {
    expect(scenarioOp(OPS[9]!)).toBe(OPS[9]);
    expect(formatOp(OPS[0]!)).toBe('daxctl create-device -r 1 -s 64M -a 2M');
    expect(scenarioOp(OPS[14]!)).toEqual({ op: 'tool', argv: ['daxctl', 'reconfigure-device', '--mode=system-ram', '--no-movable', 'dax1.2'] });
  });
});
