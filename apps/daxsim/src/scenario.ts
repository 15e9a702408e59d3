import { type DevDax, createTask, daxMmap, exitTask, munmap, touch, userRead, userWrite } from '@daxsim/device-dax';
import {
  DEFAULT_GUP_GENERATION,
  FOLL_LONGTERM,
  FOLL_WRITE,
  type Gup,
  type GupGeneration,
  getUserPagesFast,
  isGupGeneration,
  pinUserPagesFast,
  putPages,
  unpinUserPages,
} from '@daxsim/gup';
import { MF_ACTION_REQUIRED, memoryFailure } from '@daxsim/memory-failure';
import { type CounterName, KernelError, entryPfn, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, type Task, VM_FAULT_ERROR, errnoName } from '@daxsim/mm';
import { UsageError, parseArgs } from './args.js';
import type { CommandContext } from './command.js';
import { describeSignal } from './commands/workload.js';
import { DEFAULT_CONFIG, Machine } from './machine.js';
import { parseSize } from './size.js';
import { readState } from './state.js';

/**
 * `daxsim run SCENARIO`: a small workload, one command per line (# starts a
 * comment). Machine-level lines are daxsim commands (`ndctl ...`, `daxctl
 * ...`, `poison DEV OFFSET`); process lines start with a process name:
 *
 *   machine --arch x86_64 --ram 4G --soft-reserved 1G   (first line only: a fresh machine)
 *   daxctl create-device -r 0 -s 256M -a 2M
 *   spawn p1
 *   p1 mmap m1 dax0.1 length=4M offset=0 prot=rw flags=shared
 *   p1 touch m1 0x1000 write
 *   p1 write m1 0x1000 hello        p1 read m1 0x1000 5
 *   p1 pin m1 0 2M gen=head-once [get] [longterm]   (also: p1 get ..., p1 longterm ...)
 *   fail page_alloc:3               (DAXSIM_FAIL syntax: the n-th allocation or grab from now fails)
 *   p1 unpin
 *   poison dax0.1 0x200000          p1 poison m1 0x200000   (p1 is the consumer: BUS_MCEERR_AR)
 *   p1 munmap m1
 *   p1 exit
 *
 * The scenario runs on its own copy of the machine (the state file's, or the
 * `machine` line's); nothing is saved. Every line prints what it caused:
 * faults, signals, errors.
 */

interface Mapping {
  dev: DevDax;
  addr: number;
  length: number;
}
interface Pin {
  pages: Float64Array;
  n: number;
  get: boolean;
  gup: Gup;
}
interface Proc {
  task: Task;
  maps: Map<string, Mapping>;
  pins: Pin[];
  alive: boolean;
}

const FAULT_COUNTERS: CounterName[] = ['fault_pud', 'fault_pmd', 'fault_pte', 'fault_fallback', 'fault_sigbus'];

function kv(words: string[]): { flags: Set<string>; kv: Map<string, string> } {
  const flags = new Set<string>();
  const map = new Map<string, string>();
  for (const w of words) {
    const i = w.indexOf('=');
    if (i > 0) map.set(w.slice(0, i), w.slice(i + 1));
    else flags.add(w);
  }
  return { flags, kv: map };
}

function num(s: string | undefined, what: string): number {
  const v = s === undefined ? undefined : parseSize(s);
  if (v === undefined) throw new UsageError(`${what}: '${s ?? ''}' is not a size or offset`);
  return v;
}

export async function runScenario(ctx: CommandContext, text: string, name: string): Promise<number> {
  const { main } = await import('./cli.js');
  const lines = text.split('\n');
  let machine: Machine | undefined;
  const procs = new Map<string, Proc>();
  let pid = 100;
  let errors = 0;
  const out = ctx.out;

  const ensureMachine = (): Machine => {
    if (!machine) {
      const state = ctx.machine ? undefined : readState(ctx.statePath);
      machine = ctx.machine ?? (state ? Machine.fromState(state) : Machine.create(DEFAULT_CONFIG));
    }
    return machine;
  };
  const proc = (p: string): Proc => {
    const pr = procs.get(p);
    if (!pr) throw new UsageError(`no process '${p}' (spawn it first)`);
    if (!pr.alive) throw new UsageError(`process '${p}' has exited`);
    return pr;
  };
  const mapping = (pr: Proc, mname: string | undefined): Mapping => {
    const mp = mname ? pr.maps.get(mname) : undefined;
    if (!mp) throw new UsageError(`no mapping '${mname ?? ''}' in ${pr.task.comm}`);
    return mp;
  };
  const newSignals = new Map<Proc, number>();
  const reportSignals = () => {
    for (const [pname, pr] of procs) {
      const seen = newSignals.get(pr) ?? 0;
      for (const s of pr.task.signals.slice(seen)) out.out(`  ${describeSignal(pname, s)}`);
      newSignals.set(pr, pr.task.signals.length);
    }
  };

  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.replace(/#.*/, '').trim();
    if (!line) continue;
    const words = line.split(/\s+/);
    out.out(`${name}:${ln + 1}: ${line}`);
    try {
      if (words[0] === 'machine') {
        if (machine) throw new UsageError('machine must be the first command of a scenario');
        const { machineConfigFromOptions, machineCreateOptions } = await import('./commands/machine.js');
        machine = Machine.create(machineConfigFromOptions(parseArgs(words.slice(1), machineCreateOptions).opts));
        continue;
      }
      const m = ensureMachine();
      const before = m.k.counters.snapshot();
      if (words[0] === 'ndctl' || words[0] === 'daxctl' || words[0] === 'gup-test' || words[0] === 'stat') {
        // the command's messages (stderr) go inline with the scenario's events
        const inline = { out: (t: string) => out.out(t), err: (t: string) => out.out(t.replace(/\n$/, '').replace(/^/gm, '  ')), isTTY: false };
        const rc = await main(words, inline, ctx.env, m);
        if (rc !== 0) {
          out.out(`  exit status ${rc}`);
          errors++;
        }
      } else if (words[0] === 'fail') {
        // fail page_alloc:3 (DAXSIM_FAIL syntax): the n-th such allocation or grab from now fails
        if (words.length !== 2) throw new UsageError('fail POINT:N[,POINT:N...]');
        m.armFailures(words[1]!);
      } else if (words[0] === 'poison' && words.length === 3) {
        m.apply({ op: 'poison', dev: words[1]!, offset: num(words[2], 'poison offset') });
      } else if (words[0] === 'spawn') {
        const pname = words[1];
        if (!pname || words.length !== 2) throw new UsageError('spawn NAME');
        if (procs.has(pname)) throw new UsageError(`process '${pname}' exists`);
        procs.set(pname, { task: createTask(m.k, pid++, pname), maps: new Map(), pins: [], alive: true });
      } else {
        const pr = proc(words[0]!);
        const verb = words[1];
        const args = kv(words.slice(3));
        switch (verb) {
          case 'mmap': {
            const mname = words[2];
            const devName = words[3];
            const o = kv(words.slice(4));
            if (!mname || !devName) throw new UsageError('P mmap NAME daxX.Y length=SIZE [offset=BYTES] [prot=rw|r] [flags=shared|private]');
            const dev = m.daxDevice(devName);
            const length = num(o.kv.get('length') ?? String(dev.size), 'length');
            const offset = num(o.kv.get('offset') ?? '0', 'offset');
            const prot = (o.kv.get('prot') ?? 'rw') === 'r' ? PROT_READ : PROT_READ | PROT_WRITE;
            const flags = (o.kv.get('flags') ?? 'shared') === 'private' ? MAP_PRIVATE : MAP_SHARED;
            const addr = daxMmap(m.k, pr.task, dev, { length, prot, flags, pgoff: Math.floor(offset / m.arch.pageSize) });
            pr.maps.set(mname, { dev, addr, length });
            out.out(`  ${words[0]}: ${mname} at 0x${addr.toString(16)}-0x${(addr + length).toString(16)}`);
            break;
          }
          case 'touch':
          case 'read':
          case 'write': {
            const mp = mapping(pr, words[2]);
            const off = num(words[3], `${verb} offset`);
            if (verb === 'touch') {
              const rc = touch(pr.task, mp.addr + off, args.flags.has('write') || words[4] === 'write');
              if (rc & VM_FAULT_ERROR) out.out(`  fault failed (vm_fault_t 0x${rc.toString(16)})`);
            } else if (verb === 'read') {
              const data = userRead(m.k, pr.task, mp.addr + off, num(words[4], 'read length'));
              if (data) out.out(`  read: ${JSON.stringify(new TextDecoder().decode(data))}`);
            } else {
              const ok = userWrite(m.k, pr.task, mp.addr + off, new TextEncoder().encode(words.slice(4).join(' ')));
              if (!ok) out.out('  write failed');
            }
            break;
          }
          case 'pin':
          case 'get':
          case 'longterm': {
            const mp = mapping(pr, words[2]);
            const off = num(words[3], 'pin offset');
            const len = num(words[4], 'pin length');
            const o = kv(words.slice(5));
            const gen = o.kv.get('gen') ?? DEFAULT_GUP_GENERATION;
            if (!isGupGeneration(gen)) throw new UsageError(`gen=${gen}: one of per-page, head-once, grab-first`);
            const gup = m.newGup(gen as GupGeneration);
            const n = Math.ceil(len / m.arch.pageSize);
            const pages = new Float64Array(n);
            const get = verb === 'get' || o.flags.has('get');
            const flags = FOLL_WRITE | (verb === 'longterm' || o.flags.has('longterm') ? FOLL_LONGTERM : 0);
            const got = get ? getUserPagesFast(gup, pr.task.mm, mp.addr + off, n, flags, pages) : pinUserPagesFast(gup, pr.task.mm, mp.addr + off, n, flags, pages);
            if (got < 0) throw new KernelError(-got, `${get ? 'get' : 'pin'}_user_pages_fast: ${n} pages at ${mp.dev.name} offset ${off} failed`);
            pr.pins.push({ pages, n: got, get, gup });
            out.out(`  ${get ? 'got' : 'pinned'} ${got} of ${n} pages`);
            break;
          }
          case 'unpin': {
            let n = 0;
            for (const p of pr.pins) {
              if (p.get) putPages(p.gup, p.pages, p.n);
              else unpinUserPages(p.gup, p.pages, p.n);
              n += p.n;
            }
            pr.pins = [];
            out.out(`  released ${n} pages`);
            break;
          }
          case 'poison': {
            const mp = mapping(pr, words[2]);
            const off = num(words[3], 'poison offset');
            const addr = mp.addr + off;
            if (touch(pr.task, addr) & VM_FAULT_ERROR) break;
            const pt = pr.task.mm.pgd;
            pt.walk(addr);
            const pfn = entryPfn(pt.wLo, pt.wHi, m.arch.pageShift) + Math.floor((addr % pt.levelSize(pt.wLevel)) / m.arch.pageSize);
            const rc = memoryFailure(m.k, pfn, MF_ACTION_REQUIRED, pr.task);
            if (rc < 0) throw new KernelError(-rc, `memory_failure: pfn 0x${pfn.toString(16)} was not recovered`);
            break;
          }
          case 'munmap': {
            const mp = mapping(pr, words[2]);
            munmap(pr.task, mp.addr, mp.length);
            pr.maps.delete(words[2]!);
            break;
          }
          case 'exit': {
            for (const p of pr.pins) (p.get ? putPages : unpinUserPages)(p.gup, p.pages, p.n);
            pr.pins = [];
            exitTask(m.k, pr.task);
            pr.alive = false;
            break;
          }
          default:
            throw new UsageError(`unknown command '${words.slice(0, 2).join(' ')}'`);
        }
      }
      const delta = m.k.counters.since(before);
      const faults = FAULT_COUNTERS.filter((c) => delta[c]).map((c) => `${delta[c]} ${c.replace('fault_', '')}`);
      if (faults.length) out.out(`  faults: ${faults.join(', ')}`);
      if (delta.memory_failure) out.out(`  memory_failure: ${delta.memory_failure}`);
      reportSignals();
    } catch (e) {
      if (e instanceof UsageError) {
        out.err(`${name}:${ln + 1}: ${e.message}`);
        return 129;
      }
      if (e instanceof KernelError) {
        out.out(`  error: -${errnoName(e.errno)}: ${e.message}`);
        errors++;
        reportSignals();
        continue;
      }
      throw e;
    }
  }
  // Refused operations are events of the workload, not failures of the run.
  out.out(`${name}: done, ${errors} command${errors === 1 ? '' : 's'} refused`);
  return 0;
}
