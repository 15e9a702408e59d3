import { readFileSync } from 'node:fs';
import type { DevDax } from '@daxsim/device-dax';
import {
  type DeviceMapping,
  type Machine,
  daxRegions,
  daxctlCreateDevice,
  daxctlDestroyDevice,
  daxctlDevices,
  daxctlDisableDevice,
  daxctlEnableDevice,
  daxctlMemoryInfo,
  daxctlOfflineMemory,
  daxctlOnlineMemory,
  daxctlReconfigureDevice,
  daxctlReconfigureMode,
  parseSize,
} from '@daxsim/machine';
import { EBUSY, ENXIO, KernelError } from '@daxsim/mm';
import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { jsonC } from '../output.js';
import { daxDeviceJson, daxRegionJson } from '../json.js';
import { exitStatus, reportError, strerror, withMachine } from '../session.js';

const HELP: OptSpec = { long: 'help', short: 'h', help: 'show this help' };
const REGION: OptSpec = { long: 'region', short: 'r', arg: 'region-id', help: 'filter by region id' };
const HUMAN: OptSpec = { long: 'human', short: 'u', help: 'human-readable sizes' };
const VERBOSE: OptSpec = { long: 'verbose', short: 'v', help: 'more output' };

function regionFilter(ctx: CommandContext): number | undefined {
  const r = str(ctx.parsed.opts['region']);
  if (r === undefined) return undefined;
  const m = /^(?:region)?(\d+)$/.exec(r);
  if (!m) throw new UsageError(`invalid region '${r}'`);
  return Number(m[1]);
}

const regionsOf = daxRegions;

// ------------------------------------------------------------------ list

const LIST_OPTS: OptSpec[] = [
  REGION,
  { long: 'dev', short: 'd', arg: 'dev', help: 'filter by device name' },
  { long: 'devices', short: 'D', help: 'include devices' },
  { long: 'regions', short: 'R', help: 'include regions' },
  { long: 'mappings', short: 'M', help: 'include device mappings' },
  { long: 'idle', short: 'i', help: 'include idle (0-size) devices' },
  HUMAN,
  HELP,
];

async function list(ctx: CommandContext): Promise<number> {
  const usage = formatUsage('daxsim daxctl list [<options>]', LIST_OPTS);
  try {
    const o = ctx.parsed.opts;
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown parameter "${ctx.parsed.positionals[0]}"`);
    const filter = regionFilter(ctx);
    const devFilter = str(o['dev']);
    const human = flag(o['human']);
    const wantR = flag(o['regions']) || (filter !== undefined && !flag(o['devices']) && devFilter === undefined);
    const wantD = flag(o['devices']) || !wantR;
    return await withMachine(
      ctx,
      (m) => {
        const regions = regionsOf(m, filter);
        const devOk = (d: DevDax) => (devFilter === undefined || devFilter === 'all' || d.name === devFilter) && (flag(o['idle']) || d.size > 0);
        const devOpts = (d: DevDax) => ({ human, mappings: flag(o['mappings']), memory: daxctlMemoryInfo(m, d) });
        let items: unknown[];
        if (wantR) {
          items = regions.map((r) => {
            const j = daxRegionJson(r, { human, devices: false, mappings: false, idle: false, path: true });
            if (wantD) {
              const devs = r.devicesById().filter(devOk);
              if (devs.length) j['devices'] = devs.map((d) => daxDeviceJson(d, devOpts(d)));
            }
            return j;
          });
        } else items = regions.flatMap((r) => r.devicesById().filter(devOk).map((d) => daxDeviceJson(d, devOpts(d))));
        if (!items.length) return 0;
        ctx.out.out(jsonC(human && items.length === 1 ? items[0] : items));
        return 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, usage);
  }
}

// ------------------------------------------------------------------ create-device

const CREATE_OPTS: OptSpec[] = [
  REGION,
  { long: 'size', short: 's', arg: 'size', help: 'device size (default: all available)' },
  { long: 'align', short: 'a', arg: 'align', help: 'device align: 4K, 2M or 1G' },
  { long: 'input', arg: 'file', help: 'JSON of a device (daxctl list -M) whose mappings to reproduce' },
  { long: 'mode', short: 'm', arg: 'mode', help: 'devdax (the only mode modelled)' },
  HUMAN,
  VERBOSE,
  HELP,
];

interface InputDevice {
  chardev: string;
  size: number;
  align: number;
  mappings: DeviceMapping[];
}

function parseInput(path: string): InputDevice {
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new UsageError('failed to parse device file: Invalid argument');
  }
  const o = j as Partial<InputDevice>;
  const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : undefined);
  const ok =
    o && typeof o.chardev === 'string' && /^dax\d+\.\d+$/.test(o.chardev) && num(o.size) !== undefined && num(o.align) !== undefined && Array.isArray(o.mappings);
  if (!ok) throw new UsageError('failed to parse device file: Invalid argument');
  const mappings = o.mappings!.map((mp) => {
    const page_offset = num(mp.page_offset);
    const start = num(mp.start);
    const end = num(mp.end);
    if (page_offset === undefined || start === undefined || end === undefined) throw new UsageError('failed to parse device file: Invalid argument');
    return { page_offset, start, end };
  });
  return { chardev: o.chardev!, size: num(o.size)!, align: num(o.align)!, mappings };
}

async function createDevice(ctx: CommandContext): Promise<number> {
  const usage = formatUsage('daxsim daxctl create-device [<options>]', CREATE_OPTS);
  let filter: number | undefined;
  let size: number | undefined;
  let align: number | undefined;
  let input: InputDevice | undefined;
  try {
    const o = ctx.parsed.opts;
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
    const mode = str(o['mode']);
    if (mode !== undefined && mode !== 'devdax') throw new UsageError(`unsupported mode '${mode}' (daxsim models devdax only)`);
    filter = regionFilter(ctx);
    const sizeText = str(o['size']);
    if (sizeText !== undefined && (size = parseSize(sizeText)) === undefined) throw new UsageError(`failed to parse size '${sizeText}'`);
    const alignText = str(o['align']);
    if (alignText !== undefined && (align = parseSize(alignText)) === undefined) throw new UsageError(`failed to parse align '${alignText}'`);
    const inputPath = str(o['input']);
    if (inputPath !== undefined) {
      input = parseInput(inputPath);
      filter ??= Number(/^dax(\d+)\./.exec(input.chardev)![1]);
      align ??= input.align;
      size ??= input.size;
    }
  } catch (e) {
    return reportError(ctx, e, usage);
  }
  try {
    return await withMachine(ctx, (m) => {
      const r = daxctlCreateDevice(m, {
        ...(filter !== undefined ? { region: filter } : {}),
        ...(size !== undefined ? { size } : {}),
        ...(align !== undefined ? { align } : {}),
        ...(input ? { mappings: input.mappings } : {}),
      });
      if (ctx.parsed.opts['verbose']) for (const e of r.errors) ctx.out.err(e);
      if (r.device) ctx.out.out(jsonC([daxDeviceJson(r.device, { human: flag(ctx.parsed.opts['human']), mappings: false })]));
      if (r.errno) ctx.out.err(`error creating devices: ${strerror(-r.errno)}`);
      ctx.out.err(`created ${r.device ? 1 : 0} device${r.device ? '' : 's'}`);
      return r.errno ? exitStatus(r.errno) : 0;
    });
  } catch (e) {
    return reportError(ctx, e, usage);
  }
}

// ------------------------------------------------------------------ per-device actions

function devicesFor(m: Machine, ctx: CommandContext, verbWord: string): DevDax[] {
  const target = ctx.parsed.positionals[0];
  if (!target) throw new UsageError(`specify a device to ${verbWord}, or "all"`);
  if (ctx.parsed.positionals.length > 1) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[1]}"`);
  return daxctlDevices(m, target, regionFilter(ctx));
}

type DeviceAction = (m: Machine, dev: DevDax, ctx: CommandContext) => void;

/** A per-device action that failed with daxctl's return code, its messages printed already. */
class DaxctlFailure extends Error {
  readonly rc: number;
  /** daxsim's own advice, printed after daxctl's summary lines (daxctl itself prints none). */
  readonly hints: readonly string[];
  constructor(rc: number, hints: readonly string[] = []) {
    super(`daxctl: ${rc}`);
    this.rc = rc;
    this.hints = hints;
  }
}

function perDevice(name: string, verbWord: string, past: string, errWord: string, opts: OptSpec[], action: DeviceAction, validate?: (ctx: CommandContext) => void) {
  return async (ctx: CommandContext): Promise<number> => {
    const usage = formatUsage(`daxsim daxctl ${name} <device>|all [<options>]`, opts);
    try {
      validate?.(ctx);
      if (!ctx.parsed.positionals[0]) throw new UsageError(`specify a device to ${verbWord}, or "all"`);
    } catch (e) {
      return reportError(ctx, e, usage);
    }
    try {
      return await withMachine(ctx, (m) => {
        const devs = devicesFor(m, ctx, verbWord);
        let rc = devs.length ? 0 : -ENXIO;
        let done = 0;
        const hints: string[] = [];
        for (const d of devs) {
          try {
            action(m, d, ctx);
            done++;
            rc = 0;
          } catch (e) {
            if (e instanceof DaxctlFailure) {
              rc = e.rc;
              hints.push(...e.hints);
              continue;
            }
            if (!(e instanceof KernelError)) throw e;
            ctx.out.err(e.message);
            rc = -e.errno;
          }
        }
        if (rc < 0) ctx.out.err(`error ${errWord}: ${strerror(rc)}`);
        ctx.out.err(`${past} ${done} device${done === 1 ? '' : 's'}`);
        for (const h of hints) ctx.out.err(h);
        return rc < 0 ? exitStatus(rc) : 0;
      });
    } catch (e) {
      return reportError(ctx, e, usage);
    }
  };
}

const destroyOne: DeviceAction = (m, d, ctx) => daxctlDestroyDevice(m, d, flag(ctx.parsed.opts['force']));

const reconfigureOne: DeviceAction = (m, d, ctx) => {
  const o = ctx.parsed.opts;
  const mode = str(o['mode']);
  if (mode !== undefined && str(o['size']) === undefined && str(o['align']) === undefined) {
    // do_reconfig() → reconfig_mode_system_ram() / reconfig_mode_devdax()
    const r = daxctlReconfigureMode(m, d, {
      mode: mode as 'system-ram' | 'devdax',
      noOnline: flag(o['no-online']),
      noMovable: flag(o['no-movable']),
      force: flag(o['force']),
      verbose: flag(o['verbose']),
    });
    for (const line of r.messages) ctx.out.err(line);
    if (r.rc < 0) {
      // disable_system_ram_device() refuses while blocks are online and says why only with -v (daxctl v81,
      // daxctl/device.c): daxsim says what would work, on a line of its own after daxctl's
      const mem = mode === 'devdax' && r.rc === -EBUSY ? daxctlMemoryInfo(m, d) : null;
      const hints = mem && mem.online_memblocks > 0
        ? [
            `daxsim: hint: ${d.name} has ${mem.online_memblocks} of ${mem.total_memblocks} memory blocks online: run 'daxctl offline-memory ${d.name}' first, ` +
              `or 'daxctl reconfigure-device --mode=devdax -f ${d.name}' to offline them as part of it (either fails with EBUSY if a block cannot go offline)`,
          ]
        : [];
      throw new DaxctlFailure(r.rc, hints);
    }
    ctx.out.out(jsonC([daxDeviceJson(d, { human: flag(o['human']), mappings: false, memory: daxctlMemoryInfo(m, d) })]));
    return;
  }
  const align = str(o['align']) !== undefined ? parseSize(str(o['align'])!)! : undefined;
  const size = str(o['size']) !== undefined ? parseSize(str(o['size'])!)! : undefined;
  daxctlReconfigureDevice(m, d, { ...(size !== undefined ? { size } : {}), ...(align !== undefined ? { align } : {}) });
  if (size === undefined) ctx.out.out(jsonC([daxDeviceJson(d, { human: flag(o['human']), mappings: false })]));
};

const validateReconfigure = (ctx: CommandContext) => {
  const o = ctx.parsed.opts;
  const mode = str(o['mode']);
  if (str(o['size']) === undefined && str(o['align']) === undefined && mode === undefined)
    throw new UsageError("error: a 'align', 'mode' or 'size' option is required");
  if (mode !== undefined && mode !== 'devdax' && mode !== 'system-ram') throw new UsageError(`unsupported mode '${mode}': system-ram or devdax`);
  if (mode === 'devdax' && flag(o['no-online'])) throw new UsageError('--no-online is incompatible with --mode=devdax');
  for (const k of ['size', 'align'] as const) {
    const v = str(o[k]);
    if (v !== undefined && parseSize(v) === undefined) throw new UsageError(`failed to parse ${k} '${v}'`);
  }
};

const enableOne: DeviceAction = (m, d) => daxctlEnableDevice(m, d);
const disableOne: DeviceAction = (m, d) => daxctlDisableDevice(m, d);

const DESTROY_OPTS: OptSpec[] = [REGION, { long: 'force', short: 'f', help: 'disable an active device first' }, VERBOSE, HELP];
const RECONFIG_OPTS: OptSpec[] = [
  REGION,
  { long: 'size', short: 's', arg: 'size', help: 'new size (the device must be disabled)' },
  { long: 'align', short: 'a', arg: 'align', help: 'new align (the device must be disabled)' },
  { long: 'mode', short: 'm', arg: 'mode', help: 'system-ram (dax_kmem: the memory becomes RAM) or devdax' },
  { long: 'no-online', short: 'N', help: "don't online the memory blocks (system-ram)" },
  { long: 'no-movable', help: 'online the memory in ZONE_NORMAL instead of ZONE_MOVABLE' },
  { long: 'force', short: 'f', help: 'override the auto-online check (system-ram); offline the memory first (devdax)' },
  HUMAN,
  VERBOSE,
  HELP,
];
const ONLINE_OPTS: OptSpec[] = [REGION, { long: 'no-movable', help: 'online the memory in ZONE_NORMAL' }, HUMAN, VERBOSE, HELP];
const OFFLINE_OPTS: OptSpec[] = [REGION, HUMAN, VERBOSE, HELP];

const onlineOne: DeviceAction = (m, d, ctx) => {
  const r = daxctlOnlineMemory(m, d, { noMovable: flag(ctx.parsed.opts['no-movable']), verbose: flag(ctx.parsed.opts['verbose']) });
  for (const line of r.messages) ctx.out.err(line);
  if (r.rc < 0) throw new DaxctlFailure(r.rc);
};
const offlineOne: DeviceAction = (m, d, ctx) => {
  const r = daxctlOfflineMemory(m, d, { verbose: flag(ctx.parsed.opts['verbose']) });
  for (const line of r.messages) ctx.out.err(line);
  if (r.rc < 0) throw new DaxctlFailure(r.rc);
};
const XABLE_OPTS: OptSpec[] = [REGION, VERBOSE, HELP];

export const daxctlCommands: Command[] = [
  { path: ['daxctl', 'list'], synopsis: 'daxsim daxctl list [<options>]', summary: 'list dax devices and regions as JSON', options: LIST_OPTS, run: list },
  {
    path: ['daxctl', 'create-device'],
    synopsis: 'daxsim daxctl create-device [-r R] [-s SIZE] [-a ALIGN] [--input FILE]',
    summary: 'create a device in a dynamic dax region',
    options: CREATE_OPTS,
    run: createDevice,
  },
  {
    path: ['daxctl', 'destroy-device'],
    synopsis: 'daxsim daxctl destroy-device <device>|all [-f]',
    summary: 'destroy a dax device',
    options: DESTROY_OPTS,
    run: perDevice('destroy-device', 'destroy', 'destroyed', 'destroying devices', DESTROY_OPTS, destroyOne),
  },
  {
    path: ['daxctl', 'reconfigure-device'],
    synopsis: 'daxsim daxctl reconfigure-device <device>|all -s SIZE|-a ALIGN|-m system-ram|devdax [-N] [--no-movable] [-f]',
    summary: 'resize or realign a disabled dax device, or switch it between devdax and system-ram',
    options: RECONFIG_OPTS,
    run: perDevice('reconfigure-device', 'reconfigure', 'reconfigured', 'reconfiguring devices', RECONFIG_OPTS, reconfigureOne, validateReconfigure),
  },
  {
    path: ['daxctl', 'online-memory'],
    synopsis: 'daxsim daxctl online-memory <device>|all [--no-movable]',
    summary: "online a system-ram device's memory blocks",
    options: ONLINE_OPTS,
    run: perDevice('online-memory', 'online memory for', 'onlined memory for', 'onlining memory', ONLINE_OPTS, onlineOne),
  },
  {
    path: ['daxctl', 'offline-memory'],
    synopsis: 'daxsim daxctl offline-memory <device>|all',
    summary: "offline a system-ram device's memory blocks",
    options: OFFLINE_OPTS,
    run: perDevice('offline-memory', 'offline memory for', 'offlined memory for', 'offlining memory', OFFLINE_OPTS, offlineOne),
  },
  {
    path: ['daxctl', 'enable-device'],
    synopsis: 'daxsim daxctl enable-device <device>|all',
    summary: 'bind a dax device to device_dax',
    options: XABLE_OPTS,
    run: perDevice('enable-device', 'enable', 'enabled', 'enabling device', XABLE_OPTS, enableOne),
  },
  {
    path: ['daxctl', 'disable-device'],
    synopsis: 'daxsim daxctl disable-device <device>|all',
    summary: 'unbind a dax device',
    options: XABLE_OPTS,
    run: perDevice('disable-device', 'disable', 'disabled', 'disabling device', XABLE_OPTS, disableOne),
  },
];
