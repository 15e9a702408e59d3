import { Machine, ndctlCreateNamespace } from '@daxsim/machine';
import { checkInvariants, checkMemoryBlocks } from '@daxsim/debug-vm';
const m = Machine.create({ arch: 'x86_64', ram: [4 * 2**30], pmem: [{ size: 2 * 2**30, labels: false }], softReserved: [], kernel: '7.3' });
ndctlCreateNamespace(m, { reconfig: 'namespace0.0', mode: 'devdax', align: 2 ** 21, map: 'mem', force: true });
const a = JSON.stringify(m.state().carried);
checkInvariants(m.k, m.bus, [], { full: true, refs: new Map(), allTasks: true });
const b = JSON.stringify(m.state().carried);
checkMemoryBlocks(m.kmem.hotplug);
const c = JSON.stringify(m.state().carried);
console.log(a === b, b === c); if (a!==b) { console.log(a.slice(0,500)); console.log(b.slice(0,500)); }
