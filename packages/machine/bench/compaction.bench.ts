/**
 * What a command costs after a long history: the state of a machine after
 * 1 and after 50 create/destroy cycles of a 16 GiB dax device, compacted
 * (what the CLI saves) and not (the whole log), each loaded as a command
 * loads it (Machine.fromState) and listed. Medians of 5, side by side in one
 * run: the ratio 50-cycles / 1-cycle is the figure (target ≤ 1.5x).
 *   NODE_OPTIONS=--conditions=@daxsim/source npx tsx bench/compaction.bench.ts
 */
import { cpus } from 'node:os';
import { Machine, type MachineState, daxctlCreateDevice, daxctlDestroyDevice } from '../src/index.js';
import { SZ_1G } from '@daxsim/mm';


function history(cycles: number, compact: boolean): MachineState {
  const m = Machine.create({ arch: 'x86_64', ram: [8 * SZ_1G], pmem: [], softReserved: [16 * SZ_1G] });
  m.checkpoint();
  m.apply({ op: 'dax.unbind', dev: 'dax0.0' });
  m.apply({ op: 'dax.size', dev: 'dax0.0', size: 0 });
  if (compact) m.checkpoint();
  for (let i = 0; i < cycles; i++) {
    const dev = daxctlCreateDevice(m, { region: 0, size: 16 * SZ_1G }).device!;
    if (compact) m.checkpoint();
    daxctlDestroyDevice(m, dev, true);
    if (compact) m.checkpoint();
  }
  return JSON.parse(JSON.stringify(m.state())) as MachineState;
}

function loadAndList(state: MachineState): number {
  const t0 = performance.now();
  const m = Machine.fromState(state);
  const listed = m.bus.devices.map((d) => `${d.name} ${d.size}`).join('\n');
  if (!listed) throw new Error('nothing listed');
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cases = [
  ['1 cycle, compacted', history(1, true)],
  ['50 cycles, compacted', history(50, true)],
  ['50 cycles, whole log', history(50, false)],
] as const;
for (const [, st] of cases) loadAndList(st); // warm-up
const ms = cases.map(([, st]) => median(Array.from({ length: 5 }, () => loadAndList(st))));
console.log(`machine: ${cpus()[0]?.model ?? '?'} x${cpus().length}, node ${process.version}`);
cases.forEach(([name, st], i) => console.log(`${name.padEnd(22)} ${String(st.ops.length).padStart(5)} ops  ${ms[i]!.toFixed(1).padStart(8)} ms`));
console.log(`50 cycles / 1 cycle: ${(ms[1]! / ms[0]!).toFixed(2)}x compacted, ${(ms[2]! / ms[0]!).toFixed(2)}x with the whole log`);
