import {
  type CreateNamespaceRequest,
  NamespaceBusyError,
  NdctlError,
  ndctlCreateNamespace,
  ndctlDestroyNamespace,
  ndctlDisableNamespace,
  ndctlEnableNamespace,
  ndctlNamespaces,
  ndDimms,
  parseSize,
} from '@daxsim/machine';
import { ENODEV, EOPNOTSUPP, KernelError } from '@daxsim/mm';
import { type MapLocation, type NamespaceMode, namespaceName } from '@daxsim/nvdimm';
import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { jsonC } from '../output.js';
import { busJson, dimmJson, namespaceJson, pmemRegionJson } from '../json.js';
import { exitStatus, reportError, strerror, withMachine } from '../session.js';

const CREATE_OPTS: OptSpec[] = [
  { long: 'bus', short: 'b', arg: 'bus-id', help: 'limit namespace to a bus with an id or provider of <bus-id>' },
  { long: 'region', short: 'r', arg: 'region-id', help: 'limit to a region: regionN or N' },
  { long: 'name', short: 'n', arg: 'name', help: "the label's free-form name (labelled regions; at most 63 characters)" },
  { long: 'type', short: 't', arg: 'type', help: "the namespace type: 'pmem' (the only one QEMU's NVDIMM has)" },
  { long: 'mode', short: 'm', arg: 'mode', help: 'namespace mode: fsdax (default), devdax or raw' },
  { long: 'map', short: 'M', arg: 'mem|dev', help: 'where the struct pages live (fsdax/devdax; default dev)' },
  { long: 'size', short: 's', arg: 'size', help: 'namespace size (K/M/G/T suffixes; default: the largest free extent)' },
  { long: 'align', short: 'a', arg: 'align', help: 'mapping alignment: 4K, 2M (default) or 1G' },
  { long: 'reconfig', short: 'e', arg: 'namespace', help: 'reconfigure an existing namespace' },
  { long: 'force', short: 'f', help: 'reconfigure an active namespace' },
  { long: 'autolabel', short: 'L', help: 'automatically initialize labels (--no-autolabel: do not)' },
  { long: 'autorecover', short: 'R', help: 'automatically clean up on failure (the default; --no-autorecover: leave a failed namespace as it is)' },
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

/** A KernelError's message without the model's errno suffix, as the tools print it. */
const bare = (e: KernelError): string => e.message.replace(/ \(-E[A-Z0-9]+\)$/, '');

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
  const type = str(o['type']);
  if (type !== undefined && type !== 'pmem' && type !== 'blk') throw new UsageError(`invalid type '${type}'`);
  const bus = str(o['bus']);
  const name = str(o['name']);
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
    ...(name !== undefined ? { name } : {}),
    ...(type === 'blk' || (bus !== undefined && bus !== 'all' && bus !== 'ACPI.NFIT' && bus !== 'ndbus0') ? { noRegion: true } : {}),
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
      ctx.out.out(jsonC(namespaceJson(m, ns, { human: ctx.out.isTTY, dax: true })));
      return 0;
    });
  } catch (e) {
    if (e instanceof NdctlError) {
      ctx.out.err(e.toolMessage);
      return exitStatus(e.errno);
    }
    // ndctl's error(): "  Error: <why>" and a blank line for each thing it reports, then cmd_create_namespace()'s
    // "failed to <verb> namespace: <strerror of the cause>". cmd_create_namespace() (ndctl v81, ndctl/namespace.c)
    // then returns -ENODEV when it was given no namespace (-e) and created none, whatever the cause; with -e, the
    // cause. run_builtin() (util/main.c) exits with status & 0xff: 237 for ENODEV (measured: ndctl-ref rows 21-33).
    if (e instanceof KernelError) {
      const tail = `failed to ${req.reconfig === undefined ? 'create' : 'reconfigure'} namespace: ${strerror(e.errno)}`;
      const why = bare(e);
      ctx.out.err(why.endsWith(tail) ? why : `${why.split('\n').map((w) => `  Error: ${w}\n\n`).join('')}${tail}`);
      return exitStatus(req.reconfig === undefined ? ENODEV : e.errno);
    }
    return reportError(ctx, e);
  }
}

const LIST_OPTS: OptSpec[] = [
  { long: 'bus', short: 'b', arg: 'bus-id', help: 'filter by bus' },
  { long: 'region', short: 'r', arg: 'region-id', help: 'filter by region' },
  { long: 'dimm', short: 'd', arg: 'dimm-id', help: 'filter by dimm' },
  { long: 'namespace', short: 'n', arg: 'namespace-id', help: 'filter by namespace id' },
  { long: 'mode', short: 'm', arg: 'namespace-mode', help: 'filter by namespace mode' },
  { long: 'type', short: 't', arg: 'region-type', help: 'filter by region-type' },
  { long: 'buses', short: 'B', help: 'include bus info' },
  { long: 'dimms', short: 'D', help: 'include dimm info' },
  { long: 'firmware', short: 'F', help: "include firmware info (QEMU's NVDIMM has none: nothing added)" },
  { long: 'health', short: 'H', help: "include dimm health (QEMU's NVDIMM has none: nothing added)" },
  { long: 'regions', short: 'R', help: 'include region info' },
  { long: 'namespaces', short: 'N', help: 'include namespace info (default)' },
  { long: 'dax', short: 'X', help: 'include device-dax info' },
  { long: 'capabilities', short: 'C', help: 'include region capability info' },
  { long: 'idle', short: 'i', help: 'include idle devices' },
  { long: 'media-errors', short: 'M', help: 'include media errors (none known to libnvdimm: see the README)' },
  { long: 'human', short: 'u', help: 'use human friendly number formats' },
  { long: 'verbose', short: 'v', repeat: true, help: 'increase output detail: -v namespaces and numa_node / target_node, -vv buses, dimms and regions too, -vvv capabilities and idle devices' },
  { long: 'help', short: 'h', help: 'show this help' },
];

/** util_*_filter(): "all", the device name, or its id ("0", "0.0"). */
const matches = (filter: string | undefined, name: string, prefix: string): boolean =>
  filter === undefined || filter === 'all' || filter === name || `${prefix}${filter}` === name;

/** The -m names of a namespace mode (ndctl's and the kernel's). */
const MODE_NAMES: Record<string, string> = { fsdax: 'fsdax', memory: 'fsdax', devdax: 'devdax', dax: 'devdax', raw: 'raw' };

/**
 * cmd_list() (ndctl/list.c): which kinds to list (-B/-D/-R/-N; without any,
 * the kinds the filters name, else namespaces), filtered by -b/-r/-d/-n/-m/-t.
 * One kind prints an array (its single element bare with -u); more kinds
 * (-D with -R or -N, -R with -N or -v) an object keyed by the top kinds,
 * namespaces nested in their regions; buses nest the rest.
 * Nothing matching prints nothing.
 */
async function list(ctx: CommandContext): Promise<number> {
  try {
    const o = ctx.parsed.opts;
    if (ctx.parsed.positionals.length) throw new UsageError(`unknown parameter "${ctx.parsed.positionals[0]}"`);
    const human = flag(o['human']);
    const f = { bus: str(o['bus']), region: str(o['region']), dimm: str(o['dimm']), ns: str(o['namespace']), mode: str(o['mode']), type: str(o['type']) };
    if (f.mode !== undefined && !MODE_NAMES[f.mode] && f.mode !== 'sector' && f.mode !== 'safe') throw new UsageError(`invalid mode '${f.mode}'`);
    const any = ['buses', 'dimms', 'regions', 'namespaces'].some((k) => flag(o[k]));
    const want = any
      ? { B: flag(o['buses']), D: flag(o['dimms']), R: flag(o['regions']), N: flag(o['namespaces']) }
      : { B: f.bus !== undefined, D: f.dimm !== undefined, R: f.region !== undefined, N: false };
    // cmd_list()'s verbosity levels (ndctl v81, ndctl/list.c): 3 adds idle devices, firmware, health and
    // capabilities; 2 buses, dimms and regions; 1 media errors, namespaces and dax (measured: -D -v, -N -vv, -N -vvv)
    const vcount = Array.isArray(o['verbose']) ? o['verbose'].length : 0;
    const verbose = vcount >= 1;
    if (vcount >= 2) want.B = want.D = want.R = true;
    if (vcount >= 1) want.N = true;
    if (!want.B && !want.D && !want.R) want.N = true;
    const idle = flag(o['idle']) || vcount >= 3;
    const capabilities = flag(o['capabilities']) || vcount >= 3;
    return await withMachine(
      ctx,
      (m) => {
        const busOk = f.bus === undefined || f.bus === 'all' || f.bus === 'ACPI.NFIT' || f.bus === 'ndbus0';
        const typeOk = f.type === undefined || f.type === 'pmem';
        const regions = busOk && typeOk ? m.pmem.filter((r) => matches(f.region, `region${r.id}`, 'region')) : [];
        const dimms = busOk ? ndDimms(m).filter((d) => matches(f.dimm, d.dev, 'nmem') && regions.some((r) => r.id === d.region)) : [];
        const nsOf = (r: (typeof regions)[number]) =>
          r.namespaces
            .filter((n) => n.enabled || idle)
            .filter((n) => matches(f.ns, namespaceName(n), 'namespace'))
            .filter((n) => f.mode === undefined || MODE_NAMES[f.mode] === n.mode)
            // -X lists the dax namespaces only (measured: a raw namespace with -X prints nothing)
            .filter((n) => !flag(o['dax']) || n.mode === 'devdax')
            .map((n) => namespaceJson(m, n, { human, dax: flag(o['dax']), verbose }));
        const regionItems = () =>
          regions.flatMap((r) => {
            const j = pmemRegionJson(r, { human, mappings: want.D, verbose, ...(capabilities ? { capabilities: m.arch.devdaxAligns } : {}) });
            if (want.N) {
              const ns = nsOf(r);
              if (ns.length) j['namespaces'] = ns;
              else if (f.ns !== undefined || f.mode !== undefined) return [];
            }
            return [j];
          });
        const kinds: [string, unknown[]][] = [];
        if (want.D) kinds.push(['dimms', dimms.map(dimmJson)]);
        if (want.R) kinds.push(['regions', regionItems()]);
        else if (want.N) kinds.push(['namespaces', regions.flatMap(nsOf)]);
        const present = kinds.filter(([, v]) => v.length);
        let top: unknown;
        if (want.B) {
          if (!busOk || !m.pmem.length) return 0;
          top = [{ ...busJson(), ...Object.fromEntries(present) }];
        } else if ([want.D, want.R, want.N].filter(Boolean).length === 1) top = kinds[0]![1];
        // more than one kind asked for (regions with their namespaces too): an object keyed by kind (measured: -R -v)
        else top = present.length ? Object.fromEntries(present) : [];
        if (Array.isArray(top)) {
          if (!top.length) return 0;
          ctx.out.out(jsonC(human && top.length === 1 ? top[0] : top));
        } else ctx.out.out(jsonC(top));
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
            // an in-use refusal prints nothing of its own; other errors their message and a blank line (ndctl's error())
            if (!(e instanceof NamespaceBusyError)) ctx.out.err(`  Error: ${e.message.replace(/ \(-E[A-Z]+\)$/, '')}\n\n`);
            rc = -e.errno;
          }
        }
        const past = { destroy: 'destroyed', enable: 'enabled', disable: 'disabled' }[verb];
        if (rc < 0) ctx.out.err(`error ${verb === 'destroy' ? 'destroying' : verb === 'enable' ? 'enabling' : 'disabling'} namespaces: ${strerror(-rc)}`);
        ctx.out.err(`${past} ${done} namespace${done === 1 ? '' : 's'}`);
        return rc ? exitStatus(rc) : 0;
      });
    } catch (e) {
      return reportError(ctx, e, usage);
    }
  };
}

const CLEAR_OPTS: OptSpec[] = [
  { long: 'bus', short: 'b', arg: 'bus-id', help: 'limit namespace to a bus with an id or provider of <bus-id>' },
  { long: 'region', short: 'r', arg: 'region-id', help: 'limit namespace to a region with an id or name of <region-id>' },
  { long: 'verbose', short: 'v', help: 'emit extra debug messages to stderr' },
  { long: 'scrub', short: 's', help: 'run a scrub to find latent errors' },
  { long: 'help', short: 'h', help: 'show this help' },
];

/**
 * ndctl clear-errors (ndctl v81, ndctl/namespace.c: cmd_clear_errors() →
 * do_xaction_namespace(ACTION_CLEAR) → namespace_clear_bb()). Before it
 * disables the namespace and sends ARS clear-error commands for the region's
 * badblocks in the data area, namespace_wait_scrub() reads the bus's scrub
 * state from /sys/bus/nd/devices/ndbus0/nfit/scrub. The NFIT of the machine
 * daxsim models is QEMU's, whose root _DSM offers no address range scrub,
 * so the kernel hides that attribute (nfit_visible(): !ars_supported()) and
 * libndctl's ndctl_bus_get_scrub_state() fails with -EOPNOTSUPP: every
 * namespace fails, nothing is disabled, nothing cleared. Derived from the
 * sources, not run on the rigs (not confirmed).
 */
async function clearErrors(ctx: CommandContext): Promise<number> {
  const usage = formatUsage('daxsim ndctl clear-errors <namespace> [<options>]', CLEAR_OPTS);
  const target = ctx.parsed.positionals[0];
  if (!target) return reportError(ctx, new UsageError('specify a namespace to clear errors, or "all"'), usage);
  if (ctx.parsed.positionals.length > 1) return reportError(ctx, new UsageError(`unknown extra parameter "${ctx.parsed.positionals[1]}"`), usage);
  const bus = str(ctx.parsed.opts['bus']);
  const region = str(ctx.parsed.opts['region']);
  try {
    return await withMachine(
      ctx,
      (m) => {
        const busOk = bus === undefined || bus === 'all' || bus === 'ACPI.NFIT' || bus === 'ndbus0';
        let rc = target === 'all' ? 0 : -6; // do_xaction_namespace(): -ENXIO until a namespace matches
        for (const ns of busOk ? ndctlNamespaces(m, target) : []) {
          if (!matches(region, `region${ns.region}`, 'region')) continue;
          // namespace_wait_scrub(): ndctl_bus_get_scrub_state() on a bus without ARS
          ctx.out.err(`  Error: ${namespaceName(ns)}: Unable to determine scrub state: ${strerror(-EOPNOTSUPP)}\n\n`);
          rc = -EOPNOTSUPP;
        }
        if (rc < 0) ctx.out.err(`error clearing namespaces: ${strerror(-rc)}`);
        ctx.out.err('cleared 0 namespaces');
        if (rc === -EOPNOTSUPP)
          ctx.out.err(
            "daxsim: hint: QEMU's NVDIMM has no address range scrub, so no clear-error either. Software poison (MADV_HWPOISON, corrupt-pfn) lives in the struct pages: " +
              'destroying and re-creating the namespace gives new ones (poison-ref, 6.1 and 7.3); unpoison-pfn refuses dax pfns with EIO.',
          );
        return rc ? exitStatus(rc) : 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, usage);
  }
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
    path: ['ndctl', 'clear-errors'],
    synopsis: 'daxsim ndctl clear-errors <namespace>|all [-s] [-r REGION] [-b BUS]',
    summary: "clear a namespace's media errors (QEMU's NVDIMM has no ARS: fails as ndctl does there)",
    options: CLEAR_OPTS,
    run: clearErrors,
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

