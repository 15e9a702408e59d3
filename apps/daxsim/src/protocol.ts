/**
 * What a daxsim client and its machine's daemon say to each other over the
 * daemon's Unix socket: one JSON object a line, the client's request first,
 * then the daemon's messages until it closes the connection.
 */

/** Run a command line as the client would have run it itself. */
export interface CommandRequest {
  readonly argv: string[];
  /** The client's working directory: relative paths (--machine, --input, ...) are resolved there. */
  readonly cwd: string;
  /** The client's environment (DAXSIM_MACHINE, DAXSIM_FAIL, DAXSIM_LOCK_TIMEOUT, ...). */
  readonly env: Record<string, string | undefined>;
  /** Whether the client's stdout is a terminal. */
  readonly isTTY: boolean;
  /** Which build of daxsim the client is (client.ts's buildId()): a daemon of another build exits rather than run the command. */
  readonly build: string;
}

/** Stop the daemon (after the command it runs, if any). */
export interface StopRequest {
  readonly stop: true;
}

/** The daemon's process and what its machine cost so far. */
export interface StatusRequest {
  readonly status: true;
}

export type Request = CommandRequest | StopRequest | StatusRequest;

export interface DaemonStatus {
  readonly pid: number;
  /** The state file it serves (its real path). */
  readonly state: string;
  /** Boots of the machine from the state file (a replay of its log), and commands that found it in memory. */
  readonly boots: number;
  readonly hits: number;
  /** Resident set size now and at its peak (bytes). */
  readonly rss: number;
  readonly peakRss: number;
}

export type Reply =
  /** The command begins: from here on it may change the machine (a client that sees no `start` may send it again). */
  | { readonly t: 'start'; readonly pid: number }
  | { readonly t: 'out'; readonly d: string }
  | { readonly t: 'err'; readonly d: string }
  /** The command's exit status: anything it changed is in the state file. */
  | { readonly t: 'exit'; readonly code: number }
  | { readonly t: 'stopped'; readonly pid: number }
  | { readonly t: 'status'; readonly status: DaemonStatus };

/** Splits a stream into lines and hands each complete one to `onLine`. */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line) onLine(line);
    }
  };
}
