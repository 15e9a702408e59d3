import { chmodSync, existsSync, lstatSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { Machine } from '@daxsim/machine';
import { readState, sameStateFile, stateFileId, withStateLock } from '@daxsim/machine/state-file';
import { main } from './cli.js';
import { DEFAULT_IDLE_SECONDS, buildId, ensureDaemonDir } from './client.js';
import type { Output } from './output.js';
import { type CommandRequest, type Reply, type Request, lineReader } from './protocol.js';
import { Resident, observeMachine } from './resident.js';

/**
 * A state file's daemon: one process per state file that keeps its machine
 * in memory (a Resident) and runs the commands its clients send, one at a
 * time, with the same code a command run in its own process runs (cli.ts's
 * main() with the resident machine). A command that changes the machine
 * takes the state file's lock and writes the file (atomically: temporary
 * file, fsync, rename) before its exit status goes back: whatever a client
 * was told succeeded is in the file, so a SIGKILL of the daemon loses
 * nothing acknowledged, and the next command's daemon boots from the file
 * once. It exits when no command came for $DAXSIM_DAEMON_IDLE seconds
 * (default 30), on `daxsim machine stop`, and on SIGTERM/SIGINT.
 */
export async function serve(socketPath: string, statePath: string): Promise<void> {
  ensureDaemonDir(dirname(socketPath));
  const pidPath = socketPath.replace(/\.sock$/, '.pid');
  const resident = new Resident();
  const build = buildId();
  let idleSeconds = idleFrom(process.env) ?? DEFAULT_IDLE_SECONDS;
  const queue: { sock: Socket; req: Request }[] = [];
  let busy = false;
  let stopping = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let open = 0;
  /** A signal that came while a command ran: the daemon exits once it has answered. */
  let stopAfter: string | undefined;
  /** The socket file this daemon bound (its inode), once it listens. */
  let inode = -1;
  const logPath = socketPath.replace(/\.sock$/, '.log');

  const server = createServer((sock) => {
    open++;
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('close', () => {
      open--;
      armIdle();
    });
    let got = false;
    sock.on(
      'data',
      lineReader((line) => {
        if (got) return;
        got = true;
        let req: Request;
        try {
          req = JSON.parse(line) as Request;
        } catch {
          sock.destroy();
          return;
        }
        queue.push({ sock, req });
        void pump();
      }),
    );
    armIdle();
  });

  // whatever ends this process leaves no socket or pid file of its own behind
  process.on('exit', removeOwnFiles);
  process.on('uncaughtException', (e) => {
    log(`internal error: ${(e as Error).stack ?? e}`);
    crashed = true;
    process.exit(70);
  });
  let crashed = false;

  inode = await listen(server, socketPath);
  if (inode < 0) {
    log(`another daemon answers on ${socketPath}: exiting`);
    process.exit(0);
  }
  writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  log(`pid ${process.pid} serves ${statePath} on ${socketPath} (idle exit after ${idleSeconds} s)`);
  setInterval(watch, WATCH_MS).unref();

  /**
   * Between commands: a daemon whose machine no longer is its file's exits
   * rather than keep it in memory — the state file deleted or replaced by
   * another writer (a command run with DAXSIM_DAEMON=0, a copy, an edit),
   * its directory gone — and so does one whose socket file was removed or
   * taken over (no client can reach it).
   */
  function watch(): void {
    if (busy || queue.length || stopping) return;
    try {
      if (lstatSync(socketPath).ino !== inode) return shutdown('its socket file was replaced');
    } catch {
      return shutdown('its socket file was removed');
    }
    if (!existsSync(dirname(statePath))) return shutdown(`${dirname(statePath)} was removed`);
    const held = resident.heldId;
    if (!held) return;
    let now;
    try {
      now = stateFileId(held.path);
    } catch {
      now = undefined;
    }
    if (!now) return shutdown(`${held.path} was deleted`);
    if (!sameStateFile(now, held.id)) return shutdown(`${held.path} was replaced by another writer`);
  }

  function armIdle(): void {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (busy || queue.length || open > 0 || stopping) return;
    idleTimer = setTimeout(() => shutdown(`idle for ${idleSeconds} s`), idleSeconds * 1000);
  }

  /** Stops listening, leaves the socket and pid file to whoever comes next, and exits. */
  function shutdown(why: string): void {
    if (stopping) return;
    stopping = true;
    server.close();
    removeOwnFiles();
    // a client whose command never began sees its connection close without `start` and asks again (a new daemon)
    for (const q of queue.splice(0)) q.sock.destroy();
    log(`exits: ${why} (${resident.boots} boots, ${resident.hits} commands found the machine in memory)`);
    process.exit(0);
  }

  /** Removes the socket and pid file if they are still this daemon's (a daemon started after it may have bound a new socket at the path), and its log after a clean exit. */
  function removeOwnFiles(): void {
    try {
      if (inode >= 0 && lstatSync(socketPath).ino === inode) unlinkSync(socketPath);
    } catch {}
    try {
      if (Number(readFileSync(pidPath, 'utf8')) === process.pid) unlinkSync(pidPath);
    } catch {}
    if (!crashed && process.exitCode === undefined)
      try {
        if (inode >= 0) unlinkSync(logPath);
      } catch {}
  }

  process.on('SIGTERM', () => (busy ? (stopAfter = 'SIGTERM') : shutdown('SIGTERM')));
  process.on('SIGINT', () => (busy ? (stopAfter = 'SIGINT') : shutdown('SIGINT')));
  process.on('SIGHUP', () => {});

  async function pump(): Promise<void> {
    if (busy) return;
    busy = true;
    if (idleTimer) clearTimeout(idleTimer);
    try {
      while (queue.length && !stopping) {
        const { sock, req } = queue.shift()!;
        if ('stop' in req) {
          send(sock, { t: 'stopped', pid: process.pid });
          await end(sock);
          shutdown('machine stop');
          return;
        }
        if ('status' in req) {
          const mem = readStatus();
          send(sock, { t: 'status', status: { pid: process.pid, state: statePath, boots: resident.boots, hits: resident.hits, ...mem } });
          await end(sock);
          continue;
        }
        // a client that went away before its command began: the command never runs, as if it had been killed before it started
        if (sock.destroyed || !sock.writable) continue;
        if (req.build !== build) {
          // daxsim was rebuilt or upgraded since this daemon started: its client starts one of its own build
          sock.destroy();
          shutdown(`a client of another build (${req.build}; this one is ${build})`);
          return;
        }
        await runCommand(sock, req);
        if (stopAfter) shutdown(stopAfter);
      }
    } finally {
      busy = false;
      armIdle();
    }
  }

  async function runCommand(sock: Socket, req: CommandRequest): Promise<void> {
    idleSeconds = idleFrom(req.env) ?? idleSeconds;
    // `start` reaches the client before anything can change: a client that never saw it knows nothing ran
    if (!(await sendFlushed(sock, { t: 'start', pid: process.pid }))) return;
    const out: Output = {
      out: (t) => send(sock, { t: 'out', d: t.endsWith('\n') ? t : t + '\n' }),
      err: (t) => send(sock, { t: 'err', d: t.endsWith('\n') ? t : t + '\n' }),
      isTTY: req.isTTY,
    };
    let code: number;
    try {
      process.chdir(req.cwd);
      code = await main(req.argv, out, req.env, undefined, resident);
      if (req.env['DAXSIM_DAEMON_VERIFY']) code = verify(out, code);
    } catch (e) {
      // what bin.ts prints for an error no command reported; the machine may be half-changed: boot it again next time
      resident.drop();
      out.err(`daxsim: internal error: ${(e as Error).stack ?? e}`);
      code = 70;
    } finally {
      try {
        process.chdir('/');
      } catch {}
    }
    send(sock, { t: 'exit', code });
    await end(sock);
  }

  /**
   * DAXSIM_DAEMON_VERIFY (tests): the machine kept in memory must be what a
   * boot from the state file gives — its state, memory digest, log,
   * counters, operations and checkpoints. A difference fails the command.
   */
  function verify(out: Output, code: number): number {
    const m = resident.machine;
    const path = resident.file;
    if (!m || !path) return code;
    let state;
    try {
      state = readState(path);
    } catch {
      return code;
    }
    if (!state) return code;
    const a = observeMachine(m);
    const b = observeMachine(Machine.fromState(state));
    const differ = Object.keys(a).filter((k) => JSON.stringify(a[k as keyof typeof a]) !== JSON.stringify(b[k as keyof typeof b]));
    if (!differ.length) return code;
    resident.drop();
    out.err(`daxsim daemon: the machine in memory differs from a boot from ${path}: ${differ.join(', ')}`);
    return 70;
  }

  armIdle();
}

/** How often an idle daemon looks at its state file and socket (ms). */
const WATCH_MS = 1000;

const idleFrom = (env: Readonly<Record<string, string | undefined>>): number | undefined => {
  const v = Number(env['DAXSIM_DAEMON_IDLE']);
  return env['DAXSIM_DAEMON_IDLE'] !== undefined && v >= 0 && Number.isFinite(v) ? v : undefined;
};

function send(sock: Socket, r: Reply): void {
  if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
}

/** Sends a reply and waits until the kernel has it (false: the client is gone). */
function sendFlushed(sock: Socket, r: Reply): Promise<boolean> {
  return new Promise((resolve) => {
    if (sock.destroyed || !sock.writable) return resolve(false);
    sock.write(JSON.stringify(r) + '\n', (e) => resolve(!e));
  });
}

/** Ends a connection once what was written to it has gone. */
function end(sock: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve();
    sock.end(() => resolve());
    sock.once('close', () => resolve());
  });
}

/** VmRSS and VmHWM of this process (bytes). */
function readStatus(): { rss: number; peakRss: number } {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
  } catch {
    return { rss: process.memoryUsage().rss, peakRss: 0 };
  }
}

const log = (text: string) => process.stderr.write(`${new Date().toISOString()} daxsim daemon: ${text}\n`);

/**
 * Listens on the socket path; returns the socket file's inode, or -1 when
 * another daemon answers there (two clients started one each). A
 * socket file nobody answers on (its daemon was killed) is removed first,
 * under a lock, so that two new daemons never remove each other's.
 */
async function listen(server: Server, path: string): Promise<number> {
  // the state file's lock protocol, on the socket's path (a `<socket>.lock` directory)
  return withStateLock(
    path,
    async () => {
      for (;;) {
        const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
          server.once('error', resolve);
          server.listen(path, () => {
            server.removeListener('error', resolve);
            resolve(undefined);
          });
        });
        if (!err) break;
        if (err.code !== 'EADDRINUSE') throw err;
        if (await answers(path)) return -1;
        unlinkSync(path);
      }
      chmodSync(path, 0o600);
      return lstatSync(path).ino;
    },
    { timeoutMs: 10_000, staleMs: 5_000 },
  );
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
