import type { MachineConfig } from './config.js';
import { OP_NAMES, type Op } from './ops.js';

/**
 * The machine between invocations: its configuration and the log of the
 * operations that changed it. Replaying the log on a fresh boot gives the
 * same machine (same pfns, same device names): the model is deterministic.
 */
export interface MachineState {
  readonly config: MachineConfig;
  readonly ops: readonly Op[];
  /**
   * Digests of the machine after the first `ops` operations, one per saved
   * command: when a later command leaves the machine as it was at one of
   * them, the operations since are dropped (Machine.checkpoint()).
   */
  readonly checkpoints?: readonly Checkpoint[];
  /** Counters the dropped operations advanced, restored after the replay. */
  /** touched: the frames ever given storage, [first pfn, count] runs (PhysicalMemory.touchedRuns(); the cost model's first touches). */
  readonly carried?: {
    readonly nsSerial: number;
    readonly mce: number;
    readonly kobjects?: number;
    readonly touched?: readonly number[];
    /** ZONE_DEVICE spans per node, which outlive the pgmaps that grew them (pfns, [start, end)). */
    readonly zoneDeviceSpans?: Readonly<Record<string, { readonly start: number; readonly end: number }>>;
  };
  /** What happened, as opposed to what is: the kernel log and the event counters, restored after the replay. */
  readonly history?: { readonly log: readonly { time: number; level: number; text: string }[]; readonly events: Readonly<Record<string, number>> };
}

export interface Checkpoint {
  readonly ops: number;
  readonly digest: string;
}

export const STATE_FORMAT = 'daxsim-machine';
/**
 * 3: configurations name a machine type (`machineType`); without one an x86-64
 * machine is laid out as QEMU's pc, RAM above 4 GiB past the PCI hole. A
 * version-1 or -2 state was written with RAM in one piece from 0 (`flat`)
 * and is read as such, so it replays to the same addresses.
 * 2: pmem regions are `{ size, labels }` (label-less by default) and
 * namespaces can be reconfigured in place (`ns.reconfig`, `ns.raw`).
 * 1: pmem regions were sizes, with namespaces placed in them as a labelled
 * region's are; a version-1 state is read as labelled regions and replays
 * to the same machine.
 */
export const STATE_VERSION = 3;
export const STATE_VERSIONS_READ: readonly number[] = [1, 2, 3];

/** Why a state cannot be trusted (the message says what, and names the version when that is why). */
export class StateFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateFormatError';
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Checks a decoded state's shape and brings an older version's up to date. */
export function upgradeState(version: number, raw: unknown): MachineState {
  if (!STATE_VERSIONS_READ.includes(version))
    throw new StateFormatError(`machine state version ${version} is not supported (this daxsim reads versions ${STATE_VERSIONS_READ.join(', ')})`);
  const s = raw as { config?: Record<string, unknown>; ops?: unknown };
  if (!s || typeof s !== 'object' || !s.config || !Array.isArray(s.ops)) throw new StateFormatError('machine state has no config or no ops');
  const c = s.config;
  const nums = (v: unknown) => Array.isArray(v) && v.every(isNum);
  if (typeof c['arch'] !== 'string' || !nums(c['ram']) || !nums(c['softReserved']) || !Array.isArray(c['pmem']))
    throw new StateFormatError('machine state config is malformed');
  const pmem = (c['pmem'] as unknown[]).map((p) => {
    if (version === 1 && isNum(p)) return { size: p, labels: true };
    const q = p as { size?: unknown; labels?: unknown };
    if (version >= 2 && q && isNum(q.size) && typeof q.labels === 'boolean') return { size: q.size, labels: q.labels };
    throw new StateFormatError('machine state config.pmem is malformed');
  });
  for (const op of s.ops as { op?: unknown }[])
    if (!op || typeof op !== 'object' || !OP_NAMES.includes(op.op as Op['op']))
      throw new StateFormatError(`machine state: unknown operation ${JSON.stringify((op as { op?: unknown })?.op)}`);
  if (c['machineType'] !== undefined && typeof c['machineType'] !== 'string') throw new StateFormatError('machine state config.machineType is malformed');
  // before version 3 every machine was laid out flat
  const machineType = version < 3 ? { machineType: (c['machineType'] as string | undefined) ?? 'flat' } : {};
  const config: MachineConfig = { ...(c as unknown as MachineConfig), pmem, ...machineType };
  const extra = raw as Partial<MachineState>;
  const ops = s.ops as Op[];
  const checkpoints = Array.isArray(extra.checkpoints) ? extra.checkpoints.filter((k) => isNum(k?.ops) && k.ops <= ops.length && typeof k.digest === 'string') : undefined;
  return {
    config,
    ops,
    ...(checkpoints ? { checkpoints } : {}),
    ...(extra.carried && isNum(extra.carried.nsSerial) && isNum(extra.carried.mce) ? { carried: carriedOf(extra.carried) } : {}),
    ...(extra.history && Array.isArray(extra.history.log) && extra.history.events ? { history: extra.history } : {}),
  };
}

/** The carried counters of a state file, with `touched` kept only when it is a list of numbers. */
function carriedOf(c: NonNullable<MachineState['carried']>): NonNullable<MachineState['carried']> {
  const { touched, ...rest } = c;
  return Array.isArray(touched) && touched.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) ? { ...rest, touched } : rest;
}
