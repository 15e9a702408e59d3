/** The global options that come before the command words (--machine, --lock-timeout, a lone --help). */
export interface Globals {
  machine?: string;
  lockTimeout?: string;
  help: boolean;
  rest: string[];
}

/** Splits leading global options (--machine) from the command words. */
export function splitGlobals(argv: readonly string[]): Globals {
  let machine: string | undefined;
  let lockTimeout: string | undefined;
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--machine') machine = argv[++i];
    else if (a.startsWith('--machine=')) machine = a.slice('--machine='.length);
    else if (a === '--lock-timeout') lockTimeout = argv[++i] ?? '';
    else if (a.startsWith('--lock-timeout=')) lockTimeout = a.slice('--lock-timeout='.length);
    else if ((a === '--help' || a === '-h') && i === 0 && argv.length === 1) help = true;
    else break;
  }
  return { ...(machine !== undefined ? { machine } : {}), ...(lockTimeout !== undefined ? { lockTimeout } : {}), help, rest: argv.slice(i) };
}

/** The state file a command line names: --machine, else $DAXSIM_MACHINE, else ./daxsim-machine.json. */
export const statePathOf = (g: Globals, env: Readonly<Record<string, string | undefined>>): string => g.machine ?? (env['DAXSIM_MACHINE'] || 'daxsim-machine.json');
