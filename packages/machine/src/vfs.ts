import { EISDIR, ENOENT, ENOTDIR, KernelError } from '@daxsim/mm';

/**
 * A read-only file tree whose files are generated from the machine's state
 * when they are read (procfs and sysfs are made this way: a show() function
 * per attribute, never a stored string).
 */
export type VNode = VFile | VDir | VLink;

export interface VFile {
  readonly kind: 'file';
  /** The file's bytes as the kernel's show function prints them (usually ending in a newline). */
  readonly read: () => string;
  /** ls -l's mode string, as the kernel's attribute declares it (default -r--r--r--). */
  readonly mode?: string;
}

export interface VDir {
  readonly kind: 'dir';
  /** The directory's entries, made when it is looked at (sysfs directories come and go with devices). */
  readonly entries: () => ReadonlyMap<string, VNode>;
}

export interface VLink {
  readonly kind: 'link';
  /** The link as readlink() gives it (relative to the link's directory). */
  readonly target: string;
}

export const file = (read: () => string, mode?: string): VFile => (mode === undefined ? { kind: 'file', read } : { kind: 'file', read, mode });
export const dir = (entries: () => ReadonlyMap<string, VNode> | Record<string, VNode>): VDir => ({
  kind: 'dir',
  entries: () => {
    const e = entries();
    return e instanceof Map ? e : new Map(Object.entries(e));
  },
});
export const link = (target: string): VLink => ({ kind: 'link', target });

/** A path's components, with '.' and '..' resolved lexically ('/a/b/../c' is /a/c). */
export function pathParts(path: string): string[] {
  const out: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out;
}

/**
 * The node at an absolute path, following symbolic links on the way (and at
 * the end when `follow`). ENOENT when a component is missing, ENOTDIR when
 * one is not a directory.
 */
export function lookup(root: VDir, path: string, follow = true, depth = 0): { node: VNode; parts: string[] } {
  if (depth > 40) throw new KernelError(ENOENT, `${path}: too many levels of symbolic links`);
  const parts = pathParts(path);
  let node: VNode = root;
  for (let i = 0; i < parts.length; i++) {
    if (node.kind === 'link') throw new KernelError(ENOTDIR, `${path}: not a directory`);
    if (node.kind !== 'dir') throw new KernelError(ENOTDIR, `${path}: not a directory`);
    const next = node.entries().get(parts[i]!);
    if (!next) throw new KernelError(ENOENT, `${path}: no such file or directory`);
    if (next.kind === 'link' && (follow || i < parts.length - 1)) {
      const base = '/' + parts.slice(0, i).join('/');
      const rest = parts.slice(i + 1).join('/');
      const resolved = lookup(root, `${next.target.startsWith('/') ? next.target : `${base}/${next.target}`}/${rest}`, follow, depth + 1);
      return resolved;
    }
    node = next;
  }
  return { node, parts };
}

/** The contents of a file (EISDIR for a directory). */
export function readFile(root: VDir, path: string): string {
  const { node } = lookup(root, path);
  if (node.kind === 'dir') throw new KernelError(EISDIR, `${path}: is a directory`);
  if (node.kind === 'link') throw new KernelError(ENOENT, `${path}: dangling link`);
  return node.read();
}

/** One directory entry, as `ls -l` shows it. */
export interface DirEntry {
  readonly name: string;
  readonly kind: VNode['kind'];
  readonly mode: string;
  /** The link's target (links only). */
  readonly target?: string;
}

/** The entries of a directory in name order (C locale); a file lists as itself. */
export function listDir(root: VDir, path: string): DirEntry[] {
  const { node, parts } = lookup(root, path);
  const entry = (name: string, n: VNode): DirEntry =>
    n.kind === 'dir'
      ? { name, kind: 'dir', mode: 'drwxr-xr-x' }
      : n.kind === 'link'
        ? { name, kind: 'link', mode: 'lrwxrwxrwx', target: n.target }
        : { name, kind: 'file', mode: n.mode ?? '-r--r--r--' };
  if (node.kind !== 'dir') return [entry(parts[parts.length - 1] ?? '/', node)];
  return [...node.entries()].map(([name, n]) => entry(name, n)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
