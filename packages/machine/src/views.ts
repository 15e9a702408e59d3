import type { Machine } from './machine.js';
import { procIomem, procMeminfo, procVmstat, procZoneinfo } from './procfs.js';
import { sysfsRoot } from './sysfs.js';
import { type DirEntry, type VDir, dir, file, listDir, readFile } from './vfs.js';

/** The machine's /proc and /sys as one read-only tree: every file generated from its state when read. */
export function machineFs(m: Machine): VDir {
  return dir(() => ({
    proc: dir(() => ({
      iomem: file(() => procIomem(m)),
      meminfo: file(() => procMeminfo(m)),
      vmstat: file(() => procVmstat(m)),
      zoneinfo: file(() => procZoneinfo(m)),
    })),
    sys: sysfsRoot(m),
  }));
}

/** `cat PATH` on the machine: the file's contents; KernelError ENOENT / ENOTDIR / EISDIR as open() or read() would fail. */
export function catPath(m: Machine, path: string): string {
  return readFile(machineFs(m), path);
}

/** `ls PATH` on the machine: a directory's entries in name order (a file lists as itself); KernelError ENOENT / ENOTDIR. */
export function lsPath(m: Machine, path: string): DirEntry[] {
  return listDir(machineFs(m), path);
}
