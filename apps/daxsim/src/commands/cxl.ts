import {
  type CxlCmdResult,
  type CxlFilterParams,
  type CxlRegionHooks,
  type RegionAction,
  cxlCreateRegion,
  cxlList,
  cxlMediaPoison,
  cxlMemdevAction,
  cxlRegionAction,
} from '@daxsim/cxl';
import { type Machine, daxctlMemoryInfo, daxctlOfflineMemory } from '@daxsim/machine';
import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { daxDeviceJson, daxRegionJson } from '../json.js';
import { reportError, withMachine } from '../session.js';

// cxl-cli (ndctl v81; the media-poison verbs of v84): the verbs parse their options here and
// print what @daxsim/cxl's tool logic returns; every kernel step is an operation of the machine.

const HELP: OptSpec = { long: 'help', short: 'h', help: 'show this help' };
const BUS: OptSpec = { long: 'bus', short: 'b', arg: 'bus-id', help: 'limit to the given bus (root0)' };
const DECODER: OptSpec = { long: 'decoder', short: 'd', arg: 'decoder', help: 'limit to (or, for create-region, use) the given root decoder' };

/**
 * json-c's JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED off, as cxl-cli
 * prints: two-space indent, `"key":value`, '/' escaped.
 */
export function jsonC(v: unknown, indent = ''): string {
  const inner = indent + '  ';
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => inner + jsonC(x, inner)).join(',\n')}\n${indent}]` : '[]';
  if (v && typeof v === 'object') {
    const e = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return e.length ? `{\n${e.map(([k, x]) => `${inner}${JSON.stringify(k)}:${jsonC(x, inner)}`).join(',\n')}\n${indent}}` : '{}';
  }
  return JSON.stringify(v).replace(/\//g, '\\/');
}

/** Prints a tool result: JSON or lines on stdout, stderr lines, usage after a usage error; returns the exit status. */
function print(ctx: CommandContext, r: CxlCmdResult, usage: string): number {
  if (r.json !== undefined) ctx.out.out(jsonC(r.json));
  if (r.stdout?.length) ctx.out.out(r.stdout.join('\n'));
  const err = r.stderr.join('\n');
  if (err.trim().length) ctx.out.err(err);
  if (r.usage) ctx.out.err(usage);
  return r.exitCode;
}

/** What the region verbs need of daxctl and json (libdaxctl's memory ops, util_daxctl_region_to_json()). */
function hooks(m: Machine, isatty: boolean): CxlRegionHooks {
  return {
    isatty,
    memoryIsOnline: (dev) => (daxctlMemoryInfo(m, dev)?.online_memblocks ?? 0) > 0,
    offlineMemory: (dev) => {
      const r = daxctlOfflineMemory(m, dev, { verbose: false });
      return { rc: r.rc, messages: r.messages };
    },
    daxRegionJson: (region, f) => {
      const j = daxRegionJson(region, { human: f.human ?? false, devices: false, mappings: false, idle: false, path: false });
      const devs = region.devicesById().filter((d) => d.size > 0);
      if (devs.length) j['devices'] = devs.map((d) => daxDeviceJson(d, { human: f.human ?? false, mappings: false, memory: daxctlMemoryInfo(m, d) })) as unknown;
      return j;
    },
  };
}

// ------------------------------------------------------------------ list

const LIST_OPTS: OptSpec[] = [
  { long: 'memdev', short: 'm', arg: 'memdev', help: 'filter by memdev (memN, N or all)' },
  { long: 'serial', short: 's', arg: 'serial', help: 'filter by memdev serial number' },
  { long: 'bus', short: 'b', arg: 'bus', help: 'filter by bus (root0)' },
  { long: 'port', short: 'p', arg: 'port', help: 'filter by port (portN, root, endpoint)' },
  { long: 'endpoint', short: 'e', arg: 'endpoint', help: 'filter by endpoint' },
  { long: 'decoder', short: 'd', arg: 'decoder', help: 'filter by decoder (decoderX.Y, root, switch, endpoint)' },
  { long: 'region', short: 'r', arg: 'region', help: 'filter by region (regionN, N or all)' },
  { long: 'single', short: 'S', help: 'skip listing the descendants of the port filter' },
  { long: 'memdevs', short: 'M', help: 'include memdevs' },
  { long: 'buses', short: 'B', help: 'include buses' },
  { long: 'ports', short: 'P', help: 'include ports' },
  { long: 'endpoints', short: 'E', help: 'include endpoints' },
  { long: 'decoders', short: 'D', help: 'include decoders' },
  { long: 'regions', short: 'R', help: 'include regions' },
  { long: 'targets', short: 'T', help: 'include decoder and port targets' },
  { long: 'dax', short: 'X', help: "include a region's dax region" },
  { long: 'media-errors', short: 'L', help: 'include media errors (poison)' },
  { long: 'idle', short: 'i', help: 'include disabled devices' },
  { long: 'human', short: 'u', help: 'human-readable sizes and addresses' },
  { long: 'health', short: 'H', help: 'include memdev health' },
  { long: 'partition', short: 'I', help: 'include memdev partition info' },
  {
    long: 'verbose',
    short: 'v',
    repeat: true,
    help: '-v: buses, ports, endpoints, decoders, targets and regions; -vv: and idle devices; -vvv: and health, partition, firmware, dax and media errors',
  },
  HELP,
];

async function list(ctx: CommandContext): Promise<number> {
  const usage = formatUsage('daxsim cxl list [<options>]', LIST_OPTS);
  try {
    const o = ctx.parsed.opts;
    const p: CxlFilterParams = {
      memdevFilter: str(o['memdev']),
      serialFilter: str(o['serial']),
      busFilter: str(o['bus']),
      portFilter: str(o['port']),
      endpointFilter: str(o['endpoint']),
      decoderFilter: str(o['decoder']),
      regionFilter: str(o['region']),
      single: flag(o['single']),
      memdevs: flag(o['memdevs']),
      buses: flag(o['buses']),
      ports: flag(o['ports']),
      endpoints: flag(o['endpoints']),
      decoders: flag(o['decoders']),
      regions: flag(o['regions']),
      targets: flag(o['targets']),
      dax: flag(o['dax']),
      mediaErrors: flag(o['media-errors']),
      idle: flag(o['idle']),
      human: flag(o['human']),
      health: flag(o['health']),
      partition: flag(o['partition']),
      verbose: (Array.isArray(o['verbose']) ? o['verbose'] : []).filter((v) => v === 'true').length,
    };
    return await withMachine(ctx, (m) => print(ctx, cxlList(m.cxlBus(), p, ctx.parsed.positionals, hooks(m, ctx.out.isTTY)), usage), { readOnly: true });
  } catch (e) {
    return reportError(ctx, e, usage);
  }
}

// ------------------------------------------------------------------ create-region

const CREATE_OPTS: OptSpec[] = [
  BUS,
  { long: 'decoder', short: 'd', arg: 'decoder', help: 'the root decoder (CFMWS window) the region is made under, e.g. decoder0.0' },
  { long: 'memdevs', short: 'm', help: 'the arguments are memdevs (the default when given none is all under the decoder)' },
  { long: 'type', short: 't', arg: 'ram|pmem', help: 'region type (default: the root decoder\'s, pmem first)' },
  { long: 'size', short: 's', arg: 'size', help: 'region size (default: the memdevs\' free capacity times ways)' },
  { long: 'ways', short: 'w', arg: 'ways', help: 'interleave ways: 1, 2, 3, 4, 6, 8, 12 or 16 (default: the number of memdevs)' },
  { long: 'granularity', short: 'g', arg: 'bytes', help: 'interleave granularity: 256 to 16384, a power of 2 (default: the root decoder\'s)' },
  { long: 'uuid', short: 'U', arg: 'uuid', help: 'a pmem region\'s uuid' },
  { long: 'enforce-qos', short: 'Q', help: 'refuse memdevs whose qos_class does not match the root decoder\'s' },
  HELP,
];

/** A number option as cxl-cli's OPT_INTEGER takes it (strtol; junk after it is a usage error). */
function intOpt(o: CommandContext['parsed']['opts'], name: string): number | undefined {
  const v = str(o[name]);
  if (v === undefined) return undefined;
  if (!/^\s*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.test(v)) throw new UsageError(`option \`${name}' expects a numerical value`);
  const t = v.trim().replace(/^\+/, '');
  const neg = t.startsWith('-');
  const a = neg ? t.slice(1) : t;
  const n = /^0[xX]/.test(a) ? parseInt(a.slice(2), 16) : /^0[0-7]+$/.test(a) ? parseInt(a, 8) : Number(a);
  return neg ? -n : n;
}

async function createRegion(ctx: CommandContext): Promise<number> {
  const usage = formatUsage('daxsim cxl create-region <target0> ... [<options>]', CREATE_OPTS);
  try {
    const o = ctx.parsed.opts;
    const ways = intOpt(o, 'ways');
    const granularity = intOpt(o, 'granularity');
    return await withMachine(ctx, (m) =>
      print(
        ctx,
        cxlCreateRegion(
          m.cxlBus(),
          m.cxlSysfs,
          {
            bus: str(o['bus']),
            decoder: str(o['decoder']),
            size: str(o['size']),
            type: str(o['type']),
            uuid: str(o['uuid']),
            ways,
            granularity,
            memdevs: flag(o['memdevs']),
            enforceQos: flag(o['enforce-qos']),
            targets: ctx.parsed.positionals,
          },
          hooks(m, ctx.out.isTTY),
        ),
        usage,
      ),
    );
  } catch (e) {
    return reportError(ctx, e, usage);
  }
}

// ------------------------------------------------------------------ enable/disable/destroy-region

const REGION_OPTS: OptSpec[] = [BUS, DECODER, { long: 'force', short: 'f', help: 'destroy-region: disable (offlining its memory) first; disable-region: go on past memory that will not go offline' }, HELP];

function regionAction(action: RegionAction) {
  return async (ctx: CommandContext): Promise<number> => {
    const usage = formatUsage(`daxsim cxl ${action}-region <region> [<options>]`, REGION_OPTS);
    try {
      const o = ctx.parsed.opts;
      if (!ctx.parsed.positionals.length) {
        ctx.out.err(`  Error: please specify a region name, or "all"\n`);
        ctx.out.err(usage);
        return 129;
      }
      return await withMachine(ctx, (m) =>
        print(
          ctx,
          cxlRegionAction(
            m.cxlBus(),
            m.cxlSysfs,
            action,
            { bus: str(o['bus']), decoder: str(o['decoder']), force: flag(o['force']), regions: ctx.parsed.positionals },
            hooks(m, ctx.out.isTTY),
          ),
          usage,
        ),
      );
    } catch (e) {
      return reportError(ctx, e, usage);
    }
  };
}

// ------------------------------------------------------------------ enable/disable-memdev, media poison

const MEMDEV_OPTS: OptSpec[] = [
  BUS,
  { long: 'serial', short: 'S', help: 'the arguments are serial numbers' },
  { long: 'force', short: 'f', help: 'disable-memdev: even while its decoders are part of an active region' },
  HELP,
];

function memdevAction(action: 'enable' | 'disable') {
  return async (ctx: CommandContext): Promise<number> => {
    const usage = formatUsage(`daxsim cxl ${action}-memdev <mem0> [<mem1>..<memN>] [<options>]`, MEMDEV_OPTS);
    try {
      const o = ctx.parsed.opts;
      return await withMachine(ctx, (m) =>
        print(
          ctx,
          cxlMemdevAction(m.cxlBus(), m.cxlSysfs, action, { bus: str(o['bus']), serial: flag(o['serial']), force: flag(o['force']), memdevs: ctx.parsed.positionals }),
          usage,
        ),
      );
    } catch (e) {
      return reportError(ctx, e, usage);
    }
  };
}

const POISON_OPTS: OptSpec[] = [{ long: 'address', short: 'a', arg: 'dpa', help: 'the device physical address (64-byte aligned)' }, HELP];

function mediaPoison(kind: 'inject' | 'clear') {
  return async (ctx: CommandContext): Promise<number> => {
    const usage = formatUsage(`daxsim cxl ${kind}-media-poison <memdev> -a <dpa>`, POISON_OPTS);
    try {
      const [memdev, ...rest] = ctx.parsed.positionals;
      if (memdev === undefined || rest.length) throw new UsageError(`${kind}-media-poison takes one memdev`);
      return await withMachine(ctx, (m) => print(ctx, cxlMediaPoison(m.cxlBus(), m.cxlSysfs, kind, { memdev, address: str(ctx.parsed.opts['address']) }), usage));
    } catch (e) {
      return reportError(ctx, e, usage);
    }
  };
}

export const cxlCommands: Command[] = [
  { path: ['cxl', 'list'], synopsis: 'daxsim cxl list [<options>]', summary: 'list CXL memdevs, ports, decoders and regions (cxl-cli 81 JSON)', options: LIST_OPTS, run: list },
  {
    path: ['cxl', 'create-region'],
    synopsis: 'daxsim cxl create-region -m -t ram -d decoder0.0 -w 2 -g 256 mem0 mem1',
    summary: 'create, commit and enable a region over memdevs (a RAM region becomes dax_region/daxN.0 claimed by kmem)',
    options: CREATE_OPTS,
    run: createRegion,
  },
  { path: ['cxl', 'enable-region'], synopsis: 'daxsim cxl enable-region <region>|all', summary: 'bind regions to cxl_region', options: REGION_OPTS, run: regionAction('enable') },
  {
    path: ['cxl', 'disable-region'],
    synopsis: 'daxsim cxl disable-region <region>|all',
    summary: "offline a region's memory (libdaxctl) and unbind it",
    options: REGION_OPTS,
    run: regionAction('disable'),
  },
  {
    path: ['cxl', 'destroy-region'],
    synopsis: 'daxsim cxl destroy-region <region>|all [-f]',
    summary: "tear a disabled region down and free its memdevs' DPA",
    options: REGION_OPTS,
    run: regionAction('destroy'),
  },
  { path: ['cxl', 'enable-memdev'], synopsis: 'daxsim cxl enable-memdev <memdev>|all', summary: 'bind memdevs to cxl_mem', options: MEMDEV_OPTS, run: memdevAction('enable') },
  { path: ['cxl', 'disable-memdev'], synopsis: 'daxsim cxl disable-memdev <memdev>|all', summary: 'unbind memdevs from cxl_mem', options: MEMDEV_OPTS, run: memdevAction('disable') },
  {
    path: ['cxl', 'inject-media-poison'],
    synopsis: 'daxsim cxl inject-media-poison <memdev> -a <dpa>',
    summary: "poison a memdev's media (ndctl v84; the debugfs inject_poison)",
    options: POISON_OPTS,
    run: mediaPoison('inject'),
  },
  {
    path: ['cxl', 'clear-media-poison'],
    synopsis: 'daxsim cxl clear-media-poison <memdev> -a <dpa>',
    summary: "clear a memdev's media poison (ndctl v84; the debugfs clear_poison)",
    options: POISON_OPTS,
    run: mediaPoison('clear'),
  },
];
