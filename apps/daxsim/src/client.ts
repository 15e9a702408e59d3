import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { splitGlobals, statePathOf } from './globals.js';
import { type CommandRequest, type DaemonStatus, type Reply, type Request, lineReader } from './protocol.js';

/**
 * The client side of daxsim's daemon. A command that uses a state file's
 * machine is sent to that file's daemon, which keeps the machine in memory
 * (./daemon.ts); the client starts the daemon when none answers, streams
 * the command's stdout and stderr as the daemon prints them, and exits with
 * its status. This module stays small (no simulation code): a command sent
 * to a daemon costs a Node.js start, a connection and what the command
 * touches.
 */

/** argv[0] of a daemon process (`node cli.js --daxsim-daemon SOCKET STATE`). */
export const DAEMON_ARG = '--daxsim-daemon';

/** Seconds a daemon waits for a command before it exits ($DAXSIM_DAEMON_IDLE). */
export const DEFAULT_IDLE_SECONDS = 30;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Commands that run in the calling process: they do not use the state
 * file's machine (`plan`, the default run, help) or boot a copy of their own
 * (`run`), or they talk to the daemon themselves (`machine stop`).
 */
const LOCAL_COMMANDS: readonly (readonly string[])[] = [['plan'], ['run'], ['machine', 'stop']];

/**
 * Which build of daxsim this process runs: its script's real path, size and
 * modification time. A daemon started by an earlier build (the CLI rebuilt
 * or upgraded since) exits when a client of another build asks it to run a
 * command, and the client starts one of its own build.
 */
export function buildId(script = process.argv[1] ?? ''): string {
  try {
    const st = statSync(script);
    return `${realpathSync(script)}:${st.size}:${st.mtimeMs}`;
  } catch {
    return script;
  }
}

/** Whether a command line goes to its machine's daemon ($DAXSIM_DAEMON=0: never). */
export function usesDaemon(argv: readonly string[], env: Env): boolean {
  if (env['DAXSIM_DAEMON'] === '0') return false;
  const g = splitGlobals(argv);
  const first = g.rest[0];
  if (g.help || first === undefined || first.startsWith('-')) return false;
  return !LOCAL_COMMANDS.some((p) => p.every((w, i) => g.rest[i] === w));
}

/** The real path of a state file (its directory's, when the file does not exist yet). */
export function realStatePath(path: string, cwd = process.cwd()): string {
  const abs = resolve(cwd, path);
  try {
    return realpathSync(abs);
  } catch {}
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

export interface DaemonPaths {
  /** The state file's real path, which names the daemon. */
  readonly state: string;
  /** A directory of the user's own (mode 0700). */
  readonly dir: string;
  readonly socket: string;
  /** The daemon's pid, while it listens. */
  readonly pid: string;
  /** Its stdout and stderr (appended). */
  readonly log: string;
}

/**
 * Where the daemon of a state file listens: `$TMPDIR/daxsim-UID/HASH.sock`,
 * HASH the first 16 hex digits of the sha256 of the file's real path (a
 * socket's path must fit in sun_path's 108 bytes; under a $TMPDIR too long
 * for that, /tmp).
 */
export function daemonPaths(statePath: string, cwd = process.cwd()): DaemonPaths {
  const state = realStatePath(statePath, cwd);
  const h = createHash('sha256').update(state).digest('hex').slice(0, 16);
  const uid = process.getuid?.() ?? 0;
  let dir = join(tmpdir(), `daxsim-${uid}`);
  if (Buffer.byteLength(join(dir, `${h}.sock`)) > 100) dir = join('/tmp', `daxsim-${uid}`);
  return { state, dir, socket: join(dir, `${h}.sock`), pid: join(dir, `${h}.pid`), log: join(dir, `${h}.log`) };
}

/** Makes the socket directory, or checks the one there: a directory, the user's, closed to others. */
export function ensureDaemonDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0)
    throw new Error(`${dir} is not a private directory of this user: not using a daemon`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connects to a Unix socket; undefined when nothing listens there. */
function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', () => resolve(undefined));
  });
}

/** Starts a daemon for the state file, detached from this process (its stdio a log file, so that pipes close when the client exits). */
function spawnDaemon(p: DaemonPaths): ChildProcess {
  const log = openSync(p.log, 'a', 0o600);
  try {
    const script = process.argv[1]!;
    const node = process.execArgv.filter((a) => !a.startsWith('--inspect'));
    const child = spawn(process.execPath, [...node, '--expose-gc', script, DAEMON_ARG, p.socket, p.state], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: '/',
      env: process.env,
    });
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

/** A connection to the state file's daemon, started when none answers (undefined when it cannot be). */
async function connectDaemon(p: DaemonPaths, start: boolean): Promise<Socket | undefined> {
  const s = await tryConnect(p.socket);
  if (s || !start) return s;
  const child = spawnDaemon(p);
  let exited = false;
  child.once('exit', () => (exited = true));
  // it listens once Node.js has loaded it (~0.1-0.3 s); it boots the machine when the first command needs it
  for (let waited = 0, step = 5; waited < 30_000; waited += step, step = Math.min(step * 2, 50)) {
    await sleep(step);
    const c = await tryConnect(p.socket);
    if (c) return c;
    // it exited without listening: another daemon took the path (then the next try connects to it), or it could not start
    if (exited) return tryConnect(p.socket);
  }
  return undefined;
}

/** Sends one request and hands every reply to `onReply`; resolves with the replies' count when the daemon closes. */
function exchange(s: Socket, req: Request, onReply: (r: Reply) => void): Promise<void> {
  return new Promise((resolve) => {
    s.setEncoding('utf8');
    s.on('data', lineReader((line) => onReply(JSON.parse(line) as Reply)));
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.write(JSON.stringify(req) + '\n');
  });
}

/**
 * Runs a command line in its machine's daemon, printing what it prints;
 * resolves with its exit status, or undefined when the command should run
 * in this process instead ($DAXSIM_DAEMON=0, a local command, no daemon
 * could be started).
 */
export async function runInDaemon(argv: string[], env: Env = process.env): Promise<number | undefined> {
  if (!usesDaemon(argv, env)) return undefined;
  const statePath = statePathOf(splitGlobals(argv), env);
  let p: DaemonPaths;
  try {
    p = daemonPaths(statePath);
    ensureDaemonDir(p.dir);
  } catch {
    return undefined;
  }
  const req: CommandRequest = { argv, cwd: process.cwd(), env: { ...env }, isTTY: Boolean(process.stdout.isTTY), build: buildId() };
  for (let attempt = 0; attempt < 5; attempt++) {
    const s = await connectDaemon(p, true);
    if (!s) return undefined;
    let pid = 0;
    let code: number | undefined;
    await exchange(s, req, (r) => {
      if (r.t === 'start') pid = r.pid;
      else if (r.t === 'out') process.stdout.write(r.d);
      else if (r.t === 'err') process.stderr.write(r.d);
      else if (r.t === 'exit') code = r.code;
    });
    if (code !== undefined) return code;
    // closed before the command began (the daemon was exiting, idle, stopped or of another build): nothing ran, ask again
    if (!pid) continue;
    process.stderr.write(
      `daxsim: the daemon of ${statePath} (pid ${pid}) died while it ran this command; what the command had not saved is lost, what earlier commands reported is in the state file\n`,
    );
    return 70;
  }
  return undefined;
}

/** Stops the daemon of a state file; resolves with its pid, or undefined when none runs. */
export async function stopDaemon(statePath: string): Promise<number | undefined> {
  const s = await connectDaemon(daemonPaths(statePath), false);
  if (!s) return undefined;
  let pid: number | undefined;
  await exchange(s, { stop: true }, (r) => {
    if (r.t === 'stopped') pid = r.pid;
  });
  return pid;
}

/** What the daemon of a state file reports about itself; undefined when none runs. */
export async function daemonStatus(statePath: string): Promise<DaemonStatus | undefined> {
  const s = await connectDaemon(daemonPaths(statePath), false);
  if (!s) return undefined;
  let status: DaemonStatus | undefined;
  await exchange(s, { status: true }, (r) => {
    if (r.t === 'status') status = r.status;
  });
  return status;
}

/** The pid the daemon of a state file wrote, if any (it may have died since). */
export function daemonPid(statePath: string): number | undefined {
  try {
    const n = Number(readFileSync(daemonPaths(statePath).pid, 'utf8'));
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
