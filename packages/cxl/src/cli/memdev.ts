import { EBUSY, ENXIO, KernelError, hex, strerror } from '@daxsim/mm';
import type { CxlBus } from '../cxl-bus.js';
import type { CxlMemdev } from '../objects.js';
import type { CxlSysfs } from '../sysfs.js';
import type { CxlCmdResult } from './list.js';
import { memdevFilter } from './list.js';

/** What enable-memdev and disable-memdev take (cxl/memdev.c BASE_OPTIONS and -f). */
export interface MemdevActionParams {
  readonly bus?: string | undefined;
  /** -S: the arguments are serial numbers. */
  readonly serial?: boolean;
  readonly force?: boolean;
  readonly memdevs: readonly string[];
}

const step = (f: () => void): KernelError | null => {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof KernelError) return e;
    throw e;
  }
};

/**
 * `cxl enable-memdev` / `cxl disable-memdev` (memdev_action() of cxl-cli
 * 81): each argument is "all", memN or N (else "is not a valid memdev
 * name"; none valid: usage, 129); every matching memdev gets the action.
 * disable refuses a memdev whose endpoint has committed decoders ("is part
 * of an active region") unless -f; where the kernel would then reset a
 * decode under online memory the model refuses the unbind, and says why.
 */
export function cxlMemdevAction(bus: CxlBus, sysfs: CxlSysfs, action: 'enable' | 'disable', prm: MemdevActionParams): CxlCmdResult {
  const lines: string[] = [];
  const err = (fn: string, msg: string) => lines.push(`cxl memdev: ${fn}: ${msg}`);
  if (!prm.memdevs.length) return { exitCode: 129, stderr: [], usage: true };
  let bad = 0;
  let args = [...prm.memdevs];
  for (const a of args) {
    if (prm.serial) {
      if (/^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.test(a)) continue;
    } else {
      if (a === 'all') {
        args = ['all'];
        break;
      }
      if (/^mem\d+/.test(a) || /^\d+/.test(a)) continue;
    }
    err('memdev_action', `'${a}' is not a valid memdev ${prm.serial ? 'serial number' : 'name'}`);
    bad++;
  }
  if (bad === args.length) return { exitCode: 129, stderr: lines, usage: true };
  let count = 0;
  let rcErr = 0;
  for (const a of args) {
    let found = false;
    for (const md of bus.memdevs) {
      if (!(prm.serial ? memdevFilter(md, undefined, a) : memdevFilter(md, a))) continue;
      found = true;
      const rc = action === 'enable' ? enableMemdev(sysfs, md, lines) : disableMemdev(sysfs, md, prm.force ?? false, lines);
      if (rc === 0) count++;
      else if (!rcErr) rcErr = rc;
    }
    if (!found) err('memdev_action', `no memdev matches ${a}`);
  }
  const result = count > 0 ? count : rcErr;
  const n = result >= 0 ? result : 0;
  err(`cmd_${action}_memdev`, `${action}d ${n} mem${n > 1 ? 's' : ''}`);
  return { exitCode: result >= 0 ? 0 : 1, stderr: lines };
}

/** cxl_memdev_enable(): the bind; ENXIO when it did not come up. */
function enableMemdev(sysfs: CxlSysfs, md: CxlMemdev, lines: string[]): number {
  if (md.enabled) return 0;
  step(() => sysfs.bind(md.name));
  if (!md.enabled) {
    lines.push(`libcxl: cxl_memdev_enable: ${md.name}: failed to enable`);
    return -ENXIO;
  }
  return 0;
}

/** action_disable() + cxl_memdev_disable_invalidate() */
function disableMemdev(sysfs: CxlSysfs, md: CxlMemdev, force: boolean, lines: string[]): number {
  if (!md.enabled) return 0;
  const fn = 'action_disable';
  if (md.endpoint!.decodersCommitted) {
    lines.push(`cxl memdev: ${fn}: ${md.name} is part of an active region`);
    if (!force) return -EBUSY;
    lines.push(`cxl memdev: ${fn}: Forcing ${md.name} disable with an active region!`);
  }
  const e = step(() => sysfs.unbind(md.name));
  if (md.enabled) {
    if (e) lines.push(`cxl memdev: ${fn}: ${md.name}: refusing the forced disable: ${e.message} (the kernel would reset the region's decode under memory still in use)`);
    lines.push(`libcxl: cxl_memdev_disable_invalidate: ${md.name}: failed to disable`);
    return -EBUSY;
  }
  return 0;
}

/** What `cxl inject-media-poison` / `clear-media-poison` (ndctl v84) take. */
export interface MediaPoisonParams {
  readonly memdev: string;
  /** -a/--address: the DPA, hex or decimal. */
  readonly address: string | undefined;
}

/**
 * `cxl inject-media-poison MEMDEV -a DPA` / `cxl clear-media-poison` (ndctl
 * v84's cxl/inject-error.c): a write of the DPA to the memdev's debugfs
 * inject_poison / clear_poison. Success prints "poison inject at
 * mem0:0x1000" (v84's man page); the failure messages and the clear
 * command's success line are the model's (not confirmed against v84).
 */
export function cxlMediaPoison(bus: CxlBus, sysfs: CxlSysfs, kind: 'inject' | 'clear', prm: MediaPoisonParams): CxlCmdResult {
  const cmd = `cxl ${kind}-media-poison`;
  if (prm.address === undefined) return { exitCode: 129, stderr: [`  Error: ${kind === 'inject' ? 'inject' : 'clear'}-media-poison requires an address (-a/--address)`], usage: true };
  const md = bus.memdevs.find((m) => memdevFilter(m, prm.memdev));
  if (!md) return { exitCode: 1, stderr: [`${cmd}: no memdev matches ${prm.memdev}`] };
  const s = prm.address.trim();
  if (!/^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.test(s)) return { exitCode: 1, stderr: [`${cmd}: invalid address: ${prm.address}`] };
  const dpa = Number(s.startsWith('0') && !/^0[xX]/.test(s) && s.length > 1 ? parseInt(s, 8) : s);
  const e = step(() => sysfs.debugfs(md.name, kind === 'inject' ? 'inject_poison' : 'clear_poison', hex(dpa)));
  if (e) return { exitCode: 1, stderr: [`${cmd}: failed to ${kind} poison at ${md.name}:${hex(dpa)}: ${strerror(e.errno)} (${e.message})`] };
  return { exitCode: 0, stdout: [`poison ${kind} at ${md.name}:${hex(dpa)}`], stderr: [] };
}
