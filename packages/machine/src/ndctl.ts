import { SZ_1M, EBUSY, EINVAL, ENODEV, ENOSPC, ENXIO, KernelError, pmdSize, strerror } from '@daxsim/mm';
import {
  type MapLocation,
  type Namespace,
  type NamespaceMode,
  NSLABEL_NAME_LEN,
  type PmemRegion,
  REGION_ALIGN,
  freeExtents,
  isConfigurationIdle,
  isConfigured,
  maxAvailableExtent,
  namespaceName,
  namespaceResizeError,
  regionGetNamespace,
} from '@daxsim/nvdimm';
import { checkHostMemory } from './host-memory.js';
import type { Machine } from './machine.js';

/**
 * ndctl's namespace verbs (ndctl/namespace.c) down to the kernel-level
 * operations they make: which region and namespace, what size, align and
 * map, refused with the errno and message ndctl gives. Argument syntax
 * (set_defaults()) is the command line's; everything that needs the
 * machine is here.
 */


export interface CreateNamespaceRequest {
  /** -m; default fsdax for a new namespace, the namespace's own for -e. */
  readonly mode?: NamespaceMode;
  /** -M; default dev. */
  readonly map?: MapLocation;
  /** -a, and its text for messages. */
  readonly align?: number;
  readonly alignText?: string;
  /** -s, and the unit it was given in (for "did you intend --size=...?"). */
  readonly size?: number;
  readonly sizeUnit?: number;
  /** -r */
  readonly region?: number;
  /** -e: the namespace to reconfigure. */
  readonly reconfig?: string;
  /** -f */
  readonly force?: boolean;
  /** -n: the label's alt_name (labelled namespaces; ndctl's setup_namespace() skips it for a label-less one). */
  readonly name?: string;
  /** -t blk or a -b naming another bus: no region qualifies (QEMU's one bus has pmem regions only). */
  readonly noRegion?: boolean;
}

interface Validated {
  size: number;
  align: number;
  mode: NamespaceMode;
  map: MapLocation;
}

/** EAGAIN in ndctl: this region cannot take the namespace; try the next. */
const AGAIN = null;

const UNIT_SUFFIX: Record<number, string> = { [2 ** 10]: 'K', [2 ** 20]: 'M', [2 ** 30]: 'G', [2 ** 40]: 'T' };

/**
 * A refusal ndctl reports with its err() macro (ndctl v81 ndctl/namespace.c:
 * `err_count++`, then "  Error: create namespace: <why>"): cmd_create_namespace()
 * then prints no "failed to ... namespace" line and returns the errno as it is
 * (EINVAL, exit 234; measured: ndctl-ref flow 3 rows 24 and 26), where a refusal
 * reported with plain error() ends in -ENODEV when no namespace was named (-e).
 */
const counted = (why: string): NdctlError => new NdctlError(EINVAL, `  Error: create namespace: ${why}\n\n`, `create namespace: ${why}`);

/** validate_namespace_options(): the parameters for setup_namespace(), or AGAIN. */
function validate(m: Machine, region: PmemRegion, ns: Namespace | null, req: CreateNamespaceRequest): Validated | typeof AGAIN {
  const name = `region${region.id}`;
  const defaultSize = req.size === undefined && !ns;
  let size = req.size ?? ns?.size ?? 0;
  if (!ns) {
    // validate_available_capacity(): a label-less region offers its whole size (its io namespace holds it)
    const available = region.nstype === 'io' ? region.size : maxAvailableExtent(region);
    if (!available || size > available) return AGAIN;
    if (size === 0) size = available;
  }
  if (region.nstype === 'io' && size !== region.size)
    throw new KernelError(EINVAL, 'Legacy / label-less namespaces do not support sub-dividing a region\nRetry without -s/--size=');
  const mode: NamespaceMode = req.mode ?? ns?.mode ?? 'fsdax';
  const arch = m.arch;
  let align: number;
  if (req.align !== undefined) {
    // -a is checked against the supported alignments first (measured: a raw namespace with -a 8K is "unsupported align")
    if (!arch.devdaxAligns.includes(req.align)) throw new KernelError(ENXIO, `unsupported align: ${req.alignText ?? req.align}`);
    if (mode === 'raw') throw new KernelError(ENXIO, 'raw mode does not support setting an alignment');
    align = req.align;
  } else {
    if (ns && mode === ns.mode) align = ns.align;
    // the pfn/dax seed's default: nd_pfn_default_alignment(), PMD_SIZE
    else align = mode === 'raw' ? arch.pageSize : pmdSize(arch);
    // fall back to a page alignment when the region is not aligned to the default
    if (region.start % align) align = arch.pageSize;
  }
  if (size % REGION_ALIGN) throw counted(`${name}: align setting is 0x${REGION_ALIGN.toString(16)} size 0x${size.toString(16)} is misaligned`);
  if (size % align) {
    const units = req.sizeUnit ?? 1;
    const sizeAlign = Math.max(units, align);
    const suggest = ((Math.floor(size / sizeAlign) + 1) * sizeAlign) / units;
    throw counted(`'--size=' must align to interleave-width: 1 and alignment: ${align}\ndid you intend --size=${suggest}${UNIT_SUFFIX[units] ?? ''}?`);
  }
  if (size < 16 * SZ_1M && mode !== 'raw') {
    if (defaultSize) return AGAIN;
    throw new KernelError(EINVAL, `'--size=' must be >= 16MiB for '${mode}' mode`);
  }
  if (req.map !== undefined && ns && mode !== 'fsdax' && mode !== 'devdax')
    throw counted(`${namespaceName(ns)}: --map= only valid for fsdax mode namespace`);
  return { size, align, mode, map: req.map ?? 'dev' };
}

/** setup_namespace() on an idle labelled namespace: capacity from the first free extent that holds it. */
function setupIdle(m: Machine, region: PmemRegion, ns: Namespace, v: Validated, name?: string): void {
  const ext = freeExtents(region).find((e) => e.size >= v.size);
  if (!ext) throw new KernelError(ENOSPC, `${namespaceName(ns)}: no free extent of ${v.size} bytes in region${region.id}`);
  m.apply({ op: 'ns.create', region: region.id, id: ns.id, start: ext.start, size: v.size, mode: v.mode, align: v.align, map: v.map, ...(name ? { name } : {}) });
}

/** An error ndctl reports in words of its own: `toolMessage` is what it prints (measured), the exit status its errno's. */
export class NdctlError extends KernelError {
  constructor(
    errno: number,
    readonly toolMessage: string,
    detail: string,
  ) {
    super(errno, detail);
    this.name = 'NdctlError';
  }
}

/**
 * A namespace ndctl will not tear down because its dax device's memory is
 * online as System RAM (ndctl_namespace_disable_safe() and the daxctl
 * checks behind it): EBUSY, nothing changed. `toolMessage` is what ndctl
 * prints for it (measured on 7.3: shared/real-kernel/ndctl-ref flow 4).
 */
export class NamespaceBusyError extends NdctlError {
  constructor(toolMessage: string, detail: string) {
    super(EBUSY, toolMessage, detail);
    this.name = 'NamespaceBusyError';
  }
}

/** Refuses (NamespaceBusyError) to tear down a namespace whose dax device has online system-ram memory. */
function checkNotInUse(m: Machine, ns: Namespace, toolMessage: string): void {
  if (!m.namespaceMemoryOnline(ns)) return;
  const d = m.kmemDeviceOf(ns)!;
  throw new NamespaceBusyError(toolMessage, `${namespaceName(ns)}: ${d.name} is system-ram with online memory; daxctl offline-memory ${d.name} first`);
}

/**
 * `ndctl create-namespace`: without -e, namespace_create() on the first
 * region (of -r's, or all) that can take it; with -e, namespace_reconfig()
 * of that namespace (disabled, its info block zeroed, given the new mode).
 * Returns the namespace; throws a KernelError carrying ndctl's message.
 */
export function ndctlCreateNamespace(m: Machine, req: CreateNamespaceRequest): Namespace {
  // validate_namespace_options(): the name must fit the label's alt_name (NSLABEL_NAME_LEN with its NUL)
  if (req.name !== undefined && req.name.length >= NSLABEL_NAME_LEN)
    throw new NdctlError(EINVAL, '  Error: create namespace: validate_namespace_options: alt name overflow\n\n', `create namespace: -n is ${req.name.length} characters, at most ${NSLABEL_NAME_LEN - 1}`);
  const regions = req.noRegion ? [] : m.pmem.filter((r) => req.region === undefined || r.id === req.region);
  if (!regions.length) {
    // do_xaction_namespace() found no region: -ENXIO, which cmd_create_namespace() turns into -ENODEV for a create
    const what = req.region !== undefined && !m.pmem[req.region] ? `region${req.region} does not exist` : 'no region matches -r/-t/-b';
    if (req.reconfig !== undefined) throw new KernelError(ENXIO, `failed to reconfigure namespace: ${what}`);
    throw new NdctlError(ENODEV, `failed to create namespace: ${strerror(ENXIO)}`, `create namespace: ${what}`);
  }
  if (req.reconfig !== undefined) {
    const ns = regions.flatMap((r) => r.namespaces).find((n) => namespaceName(n) === req.reconfig);
    if (!ns) throw new KernelError(ENXIO, `failed to reconfigure namespace: ${strerror(ENXIO)}`);
    const region = m.pmem[ns.region]!;
    const v = validate(m, region, ns, req)!;
    if (v.mode === 'devdax' || v.mode === 'fsdax') checkHostMemory(m, `failed to reconfigure namespace ${namespaceName(ns)}`, { start: isConfigured(ns) ? ns.start : region.start, ...v, mode: v.mode });
    // namespace_prep_reconfig()
    if (ns.enabled && !req.force) throw new KernelError(EBUSY, `${namespaceName(ns)} is active, specify --force for re-configuration`);
    checkNotInUse(m, ns, `failed to reconfigure namespace: ${strerror(EBUSY)}`);
    const dev = namespaceName(ns);
    // setup_namespace() writes the new size of a labelled namespace after the info block is zeroed; the
    // kernel's refusal (-ENOSPC when it cannot grow in place) is checked first, so a refused
    // reconfiguration leaves the namespace as it was rather than disabled and raw
    const resize = isConfigured(ns) && ns.type === 'pmem' && v.size !== ns.size;
    if (resize) {
      const err = namespaceResizeError(region, { ...ns, enabled: false }, v.size);
      if (err) throw new KernelError(err.errno, `${err.message}\nfailed to reconfigure namespace: ${strerror(err.errno)}`);
    }
    if (ns.enabled) m.apply({ op: 'ns.disable', dev });
    if (!isConfigured(ns)) {
      setupIdle(m, region, ns, v, req.name);
      return ns;
    }
    if (ns.mode !== 'raw') m.apply({ op: 'ns.raw', dev });
    if (resize) m.apply({ op: 'ns.resize', dev, size: v.size });
    m.apply({ op: 'ns.reconfig', dev, mode: v.mode, align: v.align, map: v.map });
    return ns;
  }
  for (const region of regions) {
    const v = validate(m, region, null, req);
    if (v === AGAIN) continue;
    const ns = regionGetNamespace(region);
    if (!ns || !isConfigurationIdle(ns)) continue; // "no idle/available namespace seed"
    if (v.mode === 'devdax' || v.mode === 'fsdax') checkHostMemory(m, `failed to create namespace in region${region.id}`, { start: freeExtents(region).find((e) => e.size >= v.size)?.start ?? region.start, ...v, mode: v.mode });
    setupIdle(m, region, ns, v, req.name);
    return ns;
  }
  // every candidate region said it has no room
  throw new KernelError(ENOSPC, `failed to create namespace: ${strerror(ENOSPC)}`);
}

/** The namespaces a destroy/enable/disable-namespace names ("all", or one name), in region and id order. */
export function ndctlNamespaces(m: Machine, target: string, region?: number): Namespace[] {
  const regions = m.pmem.filter((r) => region === undefined || r.id === region);
  if (target === 'all') return regions.flatMap((r) => r.namespaces);
  return regions.flatMap((r) => r.namespaces).filter((n) => namespaceName(n) === target);
}

/**
 * namespace_destroy(): refuses an active namespace without -f; disables it,
 * zeroes its info block and gives a labelled namespace's capacity back.
 * Returns false when it was skipped (nothing to destroy: ndctl does not count it).
 */
export function ndctlDestroyNamespace(m: Machine, ns: Namespace, force: boolean): boolean {
  const dev = namespaceName(ns);
  if (ns.enabled && !force) throw new KernelError(EBUSY, `${dev} is active, specify --force for re-configuration`);
  checkNotInUse(m, ns, '');
  if (!isConfigured(ns)) return false;
  // a label-less namespace counts as destroyed only when it had an info block to zero
  const counted = ns.type === 'pmem' || ns.mode !== 'raw';
  m.apply({ op: 'ns.destroy', dev });
  return counted;
}

/** ndctl enable-namespace: a seed (configuration idle) is skipped, not an error. Returns whether it was enabled. */
export function ndctlEnableNamespace(m: Machine, ns: Namespace): boolean {
  if (isConfigurationIdle(ns)) return false;
  if (!ns.enabled) m.apply({ op: 'ns.enable', dev: namespaceName(ns) });
  return true;
}

/** ndctl disable-namespace: ndctl_namespace_disable_safe() refuses a namespace whose memory is online (EBUSY). */
export function ndctlDisableNamespace(m: Machine, ns: Namespace): void {
  checkNotInUse(m, ns, '');
  if (ns.enabled) m.apply({ op: 'ns.disable', dev: namespaceName(ns) });
}
