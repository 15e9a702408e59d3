import { EBUSY, EINVAL, ENODEV, ENOSPC, ENXIO, KernelError } from '@daxsim/mm';
import { type OptSpec, UsageError, flag, formatUsage, parseArgs, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { namespaceJson, pmemRegionJson } from '../json.js';
import type { Machine } from '../machine.js';
import { type MapLocation, type Namespace, type NamespaceMode, REGION_ALIGN, freeExtents, nextNamespaceId } from '../nvdimm.js';
import { exitStatus, reportError, strerror, withMachine } from '../session.js';
import { parseSize } from '../size.js';

const MiB = 2 ** 20;

const CREATE_OPTS: OptSpec[] = [
  { long: 'region', short: 'r', arg: 'region-id', help: 'limit to a region: regionN or N' },
  { long: 'mode', short: 'm', arg: 'mode', help: 'namespace mode: fsdax (default), devdax or raw' },
  { long: 'map', short: 'M', arg: 'mem|dev', help: 'where the struct pages live (fsdax/devdax; default dev)' },
  { long: 'size', short: 's', arg: 'size', help: 'namespace size (K/M/G/T suffixes; default: the largest free extent)' },
  { long: 'align', short: 'a', arg: 'align', help: 'mapping alignment: 4K, 2M (default) or 1G' },
  { long: 'reconfig', short: 'e', arg: 'namespace', help: 'reconfigure an existing namespace' },
  { long: 'force', short: 'f', help: 'reconfigure an active namespace' },
  { long: 'verbose', short: 'v', help: 'more output' },
  { long: 'help', short: 'h', help: 'show this help' },
];
const CREATE_USAGE = formatUsage('daxsim ndctl create-namespace [<options>]', CREATE_OPTS);

function parseRegionId(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(?:region)?(\d+)$/.exec(s);
  if (!m) throw new UsageError(`invalid region '${s}'`);
  return Number(m[1]);
}

interface CreateRequest {
  mode: NamespaceMode;
  map: MapLocation;
  align: number | undefined;
  alignText: string | undefined;
  size: number | undefined;
  sizeText: string | undefined;
  region: number | undefined;
  reconfig: string | undefined;
  force: boolean;
}

/** set_defaults() (ndctl/namespace.c): everything refused here is a usage error. */
function createDefaults(ctx: CommandContext): CreateRequest {
  const o = ctx.parsed.opts;
  if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
  const modeText = str(o['mode']);
  const aliases: Record<string, NamespaceMode> = { fsdax: 'fsdax', memory: 'fsdax', devdax: 'devdax', dax: 'devdax', raw: 'raw' };
  if (modeText !== undefined && !aliases[modeText]) throw new UsageError(`invalid mode '${modeText}'`);
  const mode = modeText ? aliases[modeText]! : 'fsdax';
  const mapText = str(o['map']);
  if (mapText !== undefined && mapText !== 'mem' && mapText !== 'dev') throw new UsageError(`invalid map location '${mapText}'`);
  if (mapText !== undefined && mode !== 'fsdax' && mode !== 'devdax')
    throw new UsageError('--map only valid for an devdax mode pmem namespace');
  const sizeText = str(o['size']);
  const size = sizeText === undefined ? undefined : parseSize(sizeText);
  if (sizeText !== undefined && size === undefined) throw new UsageError(`failed to parse namespace size '${sizeText}'`);
  const alignText = str(o['align']);
  const align = alignText === undefined ? undefined : parseSize(alignText);
  if (alignText !== undefined && align === undefined) throw new UsageError(`failed to parse namespace alignment '${alignText}'`);
  if (align !== undefined && (align < 4096 || (align & (align - 1)) !== 0 || align > 2 ** 40))
    throw new UsageError('align must be a power-of-2 greater than 4096');
  return {
    mode,
    map: (mapText as MapLocation | undefined) ?? 'dev',
    align,
    alignText,
    size,
    sizeText,
    region: parseRegionId(str(o['region'])),
    reconfig: str(o['reconfig']),
    force: flag(o['force']),
  };
}

/** validate_namespace_options() for one region; EAGAIN-like refusals return null (try the next region). */
function placeNamespace(m: Machine, req: CreateRequest, regionId: number, existing: Namespace | null) {
  const region = m.pmem[regionId]!;
  const arch = m.arch;
  let size = req.size ?? existing?.size;
  let start: number;
  if (existing) {
    start = existing.start;
    size = existing.size;
  } else {
    const extents = freeExtents(region);
    const largest = extents.reduce((a, e) => Math.max(a, e.size), 0);
    if (!largest || (size !== undefined && size > largest)) return null;
    if (size === undefined || size === 0) size = largest;
    start = extents.find((e) => e.size >= size!)!.start;
  }
  let align = req.align;
  if (req.mode === 'raw') {
    if (align !== undefined) throw new KernelError(ENXIO, `create namespace: region${regionId}: raw mode does not support setting an alignment`);
    align = arch.pageSize;
  } else {
    align ??= 2 * MiB;
    if (!arch.devdaxAligns.includes(align))
      throw new KernelError(ENXIO, `create namespace: region${regionId}: unsupported align: ${req.alignText ?? align}`);
  }
  if (size % REGION_ALIGN)
    throw new KernelError(EINVAL, `create namespace: region${regionId}: align setting is ${'0x' + REGION_ALIGN.toString(16)} size ${'0x' + size.toString(16)} is misaligned`);
  if (size % align) {
    const unit = req.sizeText?.match(/[kKmMgGtT]$/)?.[0]?.toUpperCase() ?? '';
    const mul = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[unit] ?? 1;
    const suggest = Math.ceil(size / align) * align;
    throw new KernelError(
      EINVAL,
      `create namespace: '--size=' must align to interleave-width: 1 and alignment: ${align}\ndid you intend --size=${suggest / mul}${unit}?`,
    );
  }
  if (size < 16 * MiB && req.mode !== 'raw')
    throw new KernelError(EINVAL, `create namespace: '--size=' must be >= 16MiB for '${req.mode}' mode`);
  return { region: regionId, id: existing?.id ?? nextNamespaceId(region), start, size, align };
}

function createNamespace(ctx: CommandContext): number {
  let req: CreateRequest;
  try {
    req = createDefaults(ctx);
  } catch (e) {
    return reportError(ctx, e, CREATE_USAGE);
  }
  try {
    return withMachine(ctx, (m) => {
      let existing: Namespace | null = null;
      if (req.reconfig !== undefined) {
        existing = m.namespace(req.reconfig);
        if (existing.enabled && existing.mode !== 'raw' && !req.force)
          throw new KernelError(EBUSY, `create namespace: ${req.reconfig} is active, specify --force for re-configuration`);
      }
      const candidates = existing ? [existing.region] : req.region !== undefined ? [req.region] : m.pmem.map((r) => r.id);
      if (req.region !== undefined && !m.pmem[req.region]) throw new KernelError(ENXIO, `create namespace: region${req.region} does not exist`);
      for (const rid of candidates) {
        const place = placeNamespace(m, req, rid, existing);
        if (!place) continue;
        if (existing) m.apply({ op: 'ns.destroy', dev: `namespace${existing.region}.${existing.id}` });
        m.apply({ op: 'ns.create', ...place, mode: req.mode, map: req.map });
        const ns = m.namespace(`namespace${place.region}.${place.id}`);
        ctx.out.out(JSON.stringify(namespaceJson(m, ns, { human: ctx.out.isTTY, dax: true }), null, 2));
        return 0;
      }
      ctx.out.err(`failed to create namespace: ${strerror(ENOSPC)}`);
      return exitStatus(ENODEV);
    });
  } catch (e) {
    return reportError(ctx, e);
  }
}

const LIST_OPTS: OptSpec[] = [
  { long: 'region', short: 'r', arg: 'region-id', help: 'filter by region' },
  { long: 'namespaces', short: 'N', help: 'include namespaces (the default)' },
  { long: 'regions', short: 'R', help: 'include regions' },
  { long: 'idle', short: 'i', help: 'include idle (disabled) namespaces' },
  { long: 'human', short: 'u', help: 'human-readable sizes' },
  { long: 'dax', short: 'X', help: 'include dax region details' },
  { long: 'help', short: 'h', help: 'show this help' },
];

function list(ctx: CommandContext): number {
  try {
    const o = ctx.parsed.opts;
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown parameter "${ctx.parsed.positionals[0]}"`);
    const human = flag(o['human']);
    const regionFilter = parseRegionId(str(o['region']));
    const wantR = flag(o['regions']) || (regionFilter !== undefined && !flag(o['namespaces']));
    const wantN = flag(o['namespaces']) || !wantR;
    return withMachine(
      ctx,
      (m) => {
        const regions = m.pmem.filter((r) => regionFilter === undefined || r.id === regionFilter);
        const nsOf = (r: (typeof regions)[number]) =>
          r.namespaces.filter((n) => n.enabled || flag(o['idle'])).map((n) => namespaceJson(m, n, { human, dax: flag(o['dax']) }));
        let items: unknown[];
        if (wantR) {
          items = regions.map((r) => {
            const j = pmemRegionJson(r, { human });
            if (wantN) {
              const ns = nsOf(r);
              if (ns.length) j['namespaces'] = ns;
            }
            return j;
          });
        } else items = regions.flatMap(nsOf);
        if (items.length === 0) return 0;
        ctx.out.out(JSON.stringify(human && items.length === 1 ? items[0] : items, null, 2));
        return 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, formatUsage('daxsim ndctl list [<options>]', LIST_OPTS));
  }
}

/** destroy-namespace / enable-namespace / disable-namespace over a name or "all". */
function namespaceAction(verb: 'destroy' | 'enable' | 'disable', opts: OptSpec[]) {
  return (ctx: CommandContext): number => {
    const usage = formatUsage(`daxsim ndctl ${verb}-namespace <namespace> [<options>]`, opts);
    const target = ctx.parsed.positionals[0];
    if (!target) return reportError(ctx, new UsageError(`specify a namespace to ${verb}, or "all"`), usage);
    if (ctx.parsed.positionals.length > 1) return reportError(ctx, new UsageError(`unknown extra parameter "${ctx.parsed.positionals[1]}"`), usage);
    try {
      return withMachine(ctx, (m) => {
        const targets =
          target === 'all' ? m.pmem.flatMap((r) => r.namespaces) : [m.namespace(target)];
        let done = 0;
        let rc = 0;
        for (const ns of [...targets]) {
          const dev = `namespace${ns.region}.${ns.id}`;
          try {
            if (verb === 'destroy') {
              if (ns.enabled && ns.mode !== 'raw' && !flag(ctx.parsed.opts['force']))
                throw new KernelError(EBUSY, `${dev} is active, specify --force for deletion`);
              m.apply({ op: 'ns.destroy', dev });
            } else if (verb === 'disable') {
              if (ns.enabled) m.apply({ op: 'ns.disable', dev });
            } else if (!ns.enabled) m.apply({ op: 'ns.enable', dev });
            done++;
          } catch (e) {
            if (!(e instanceof KernelError)) throw e;
            ctx.out.err(`  Error: ${e.message}`);
            rc = -e.errno;
          }
        }
        const past = { destroy: 'destroyed', enable: 'enabled', disable: 'disabled' }[verb];
        ctx.out.err(`${past} ${done} namespace${done === 1 ? '' : 's'}`);
        return rc ? exitStatus(rc) : 0;
      });
    } catch (e) {
      return reportError(ctx, e, usage);
    }
  };
}

const FORCE_OPTS: OptSpec[] = [
  { long: 'force', short: 'f', help: 'act on an active namespace' },
  { long: 'help', short: 'h', help: 'show this help' },
];

export const ndctlCommands: Command[] = [
  {
    path: ['ndctl', 'create-namespace'],
    synopsis: 'daxsim ndctl create-namespace [<options>]',
    summary: 'create a namespace (fsdax, devdax or raw) in a pmem region',
    options: CREATE_OPTS,
    run: createNamespace,
  },
  {
    path: ['ndctl', 'list'],
    synopsis: 'daxsim ndctl list [<options>]',
    summary: 'list namespaces (-N) and regions (-R) as JSON',
    options: LIST_OPTS,
    run: list,
  },
  {
    path: ['ndctl', 'destroy-namespace'],
    synopsis: 'daxsim ndctl destroy-namespace <namespace>|all [-f]',
    summary: 'destroy a namespace',
    options: FORCE_OPTS,
    run: namespaceAction('destroy', FORCE_OPTS),
  },
  {
    path: ['ndctl', 'enable-namespace'],
    synopsis: 'daxsim ndctl enable-namespace <namespace>|all',
    summary: 'enable a namespace',
    options: FORCE_OPTS,
    run: namespaceAction('enable', FORCE_OPTS),
  },
  {
    path: ['ndctl', 'disable-namespace'],
    synopsis: 'daxsim ndctl disable-namespace <namespace>|all',
    summary: 'disable a namespace',
    options: FORCE_OPTS,
    run: namespaceAction('disable', FORCE_OPTS),
  },
];

export { parseArgs };
