import {
  type CreateNamespaceRequest,
  ndctlCreateNamespace,
  ndctlDestroyNamespace,
  ndctlDisableNamespace,
  ndctlEnableNamespace,
  ndctlNamespaces,
  parseSize,
} from '@daxsim/machine';
import { ENODEV, ENOSPC, KernelError } from '@daxsim/mm';
import type { MapLocation, NamespaceMode } from '@daxsim/nvdimm';
import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { namespaceJson, pmemRegionJson } from '../json.js';
import { exitStatus, reportError, strerror, withMachine } from '../session.js';

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

/** set_defaults() (ndctl/namespace.c): everything refused here is a usage error. */
function createDefaults(ctx: CommandContext): CreateNamespaceRequest {
  const o = ctx.parsed.opts;
  if (ctx.parsed.positionals.length) throw new UsageError(`unknown extra parameter "${ctx.parsed.positionals[0]}"`);
  const modeText = str(o['mode']);
  const aliases: Record<string, NamespaceMode> = { fsdax: 'fsdax', memory: 'fsdax', devdax: 'devdax', dax: 'devdax', raw: 'raw' };
  if (modeText !== undefined && !aliases[modeText]) throw new UsageError(`invalid mode '${modeText}'`);
  const reconfig = str(o['reconfig']);
  const mapText = str(o['map']);
  if (mapText !== undefined && mapText !== 'mem' && mapText !== 'dev') throw new UsageError(`invalid map location '${mapText}'`);
  if (mapText !== undefined && reconfig === undefined && modeText !== undefined && aliases[modeText] === 'raw')
    throw new UsageError('--map only valid for an devdax mode pmem namespace');
  const sizeText = str(o['size']);
  const size = sizeText === undefined ? undefined : parseSize(sizeText);
  if (sizeText !== undefined && size === undefined) throw new UsageError(`failed to parse namespace size '${sizeText}'`);
  const alignText = str(o['align']);
  const align = alignText === undefined ? undefined : parseSize(alignText);
  if (alignText !== undefined && align === undefined) throw new UsageError(`failed to parse namespace alignment '${alignText}'`);
  if (align !== undefined && (align < 4096 || (align & (align - 1)) !== 0 || align > 2 ** 40))
    throw new UsageError('align must be a power-of-2 greater than 4096');
  const unit = sizeText?.match(/[kKmMgGtT]\s*$/)?.[0]?.toUpperCase();
  const sizeUnit = unit ? { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[unit] : undefined;
  const region = parseRegionId(str(o['region']));
  // without -e a new namespace defaults to fsdax; with -e the namespace keeps its mode unless -m says otherwise
  const mode = modeText ? aliases[modeText]! : reconfig === undefined ? 'fsdax' : undefined;
  return {
    ...(mode !== undefined ? { mode } : {}),
    ...(mapText !== undefined ? { map: mapText as MapLocation } : {}),
    ...(align !== undefined ? { align } : {}),
    ...(alignText !== undefined ? { alignText } : {}),
    ...(size !== undefined ? { size } : {}),
    ...(sizeUnit !== undefined ? { sizeUnit } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(reconfig !== undefined ? { reconfig } : {}),
    force: flag(o['force']),
  };
}

async function createNamespace(ctx: CommandContext): Promise<number> {
  let req: CreateNamespaceRequest;
  try {
    req = createDefaults(ctx);
  } catch (e) {
    return reportError(ctx, e, CREATE_USAGE);
  }
  try {
    return await withMachine(ctx, (m) => {
      const ns = ndctlCreateNamespace(m, req);
      ctx.out.out(JSON.stringify(namespaceJson(m, ns, { human: ctx.out.isTTY, dax: true }), null, 2));
      return 0;
    });
  } catch (e) {
    // cmd_create_namespace(): when no region could take a new namespace, ndctl exits -ENODEV
    if (e instanceof KernelError && e.errno === ENOSPC && req.reconfig === undefined) {
      ctx.out.err(e.message);
      return exitStatus(ENODEV);
    }
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

async function list(ctx: CommandContext): Promise<number> {
  try {
    const o = ctx.parsed.opts;
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown parameter "${ctx.parsed.positionals[0]}"`);
    const human = flag(o['human']);
    const regionFilter = parseRegionId(str(o['region']));
    const wantR = flag(o['regions']) || (regionFilter !== undefined && !flag(o['namespaces']));
    const wantN = flag(o['namespaces']) || !wantR;
    return await withMachine(
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

/** destroy-namespace / enable-namespace / disable-namespace over a name or "all" (do_xaction_namespace()). */
function namespaceAction(verb: 'destroy' | 'enable' | 'disable', opts: OptSpec[]) {
  return async (ctx: CommandContext): Promise<number> => {
    const usage = formatUsage(`daxsim ndctl ${verb}-namespace <namespace> [<options>]`, opts);
    const target = ctx.parsed.positionals[0];
    if (!target) return reportError(ctx, new UsageError(`specify a namespace to ${verb}, or "all"`), usage);
    if (ctx.parsed.positionals.length > 1) return reportError(ctx, new UsageError(`unknown extra parameter "${ctx.parsed.positionals[1]}"`), usage);
    try {
      return await withMachine(ctx, (m) => {
        let done = 0;
        let rc = target === 'all' ? 0 : -6; // -ENXIO until the named namespace is found
        for (const ns of ndctlNamespaces(m, target)) {
          if (rc === -6) rc = 0;
          try {
            if (verb === 'destroy') done += ndctlDestroyNamespace(m, ns, flag(ctx.parsed.opts['force'])) ? 1 : 0;
            else if (verb === 'disable') {
              ndctlDisableNamespace(m, ns);
              done++;
            } else done += ndctlEnableNamespace(m, ns) ? 1 : 0;
          } catch (e) {
            if (!(e instanceof KernelError)) throw e;
            ctx.out.err(`  Error: ${e.message}`);
            rc = -e.errno;
          }
        }
        const past = { destroy: 'destroyed', enable: 'enabled', disable: 'disabled' }[verb];
        if (rc === -6) ctx.out.err(`error ${verb === 'destroy' ? 'destroying' : verb === 'enable' ? 'enabling' : 'disabling'} namespaces: ${strerror(6)}`);
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

