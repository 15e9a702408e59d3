import { type OptSpec, type Parsed, UsageError, formatUsage, parseArgs } from './args.js';
import type { Command, CommandContext, ResidentMachine } from './command.js';
import { cxlCommands } from './commands/cxl.js';
import { daxctlCommands } from './commands/daxctl.js';
import { defaultRunCommand } from './commands/default-run.js';
import { fsCommands } from './commands/fs.js';
import { infoCommands } from './commands/info.js';
import { machineCommands } from './commands/machine.js';
import { ndctlCommands } from './commands/ndctl.js';
import { pageCommands } from './commands/page.js';
import { planCommand } from './commands/plan.js';
import { workloadCommands } from './commands/workload.js';
import type { Machine } from '@daxsim/machine';
import { type Output, processOutput } from './output.js';
import { splitGlobals, statePathOf } from './globals.js';

export const COMMANDS: Command[] = [
  ...machineCommands,
  ...ndctlCommands,
  ...daxctlCommands,
  ...cxlCommands,
  ...workloadCommands,
  ...infoCommands,
  ...pageCommands,
  ...fsCommands,
  planCommand,
];

const GLOBAL_OPTS: OptSpec[] = [
  { long: 'machine', arg: 'path', help: 'machine state file (default ./daxsim-machine.json or $DAXSIM_MACHINE)' },
  { long: 'lock-timeout', arg: 'seconds', help: "wait this long for another command's lock on the state file (default 60 or $DAXSIM_LOCK_TIMEOUT)" },
  { long: 'help', short: 'h', help: 'show this help' },
];

function topUsage(): string {
  const lines = [
    'usage: daxsim [--machine PATH] <command> [<args>]',
    '       daxsim [--json]            the seed experiments on a default machine',
    '',
    'commands:',
  ];
  const all = [defaultRunCommand, ...COMMANDS];
  for (const c of all) if (c.path.length) lines.push(`  ${c.path.join(' ').padEnd(28)} ${c.summary}`);
  lines.push('', 'global options:');
  for (const o of GLOBAL_OPTS) lines.push(`  --${o.long}${o.arg ? ` <${o.arg}>` : ''}`.padEnd(31) + o.help);
  lines.push('', "Run 'daxsim <command> --help' for a command's options.");
  return lines.join('\n');
}

/** Runs daxsim with `argv` (without node and the script); returns the exit status. */
export async function main(
  argv: string[],
  out: Output = processOutput,
  env: Record<string, string | undefined> = process.env,
  machine?: Machine,
  resident?: ResidentMachine,
): Promise<number> {
  const g = splitGlobals(argv);
  if (g.help) {
    out.out(topUsage());
    return 0;
  }
  const statePath = statePathOf(g, env);
  const lockText = g.lockTimeout ?? env['DAXSIM_LOCK_TIMEOUT'];
  const lockSeconds = lockText === undefined ? undefined : Number(lockText);
  if (lockSeconds !== undefined && !(lockSeconds >= 0 && Number.isFinite(lockSeconds))) {
    out.err(`  Error: invalid --lock-timeout '${lockText}': seconds, a number >= 0\n\n${topUsage()}`);
    return 129;
  }
  let cmd: Command | undefined;
  let words = 0;
  for (const c of COMMANDS) {
    if (c.path.every((w, i) => g.rest[i] === w) && c.path.length > words) {
      cmd = c;
      words = c.path.length;
    }
  }
  if (!cmd) {
    const first = g.rest[0];
    if (first !== undefined && !first.startsWith('-')) {
      out.err(`Unknown command: '${g.rest.slice(0, 2).join(' ')}'\n\n${topUsage()}`);
      return 1;
    }
  }
  const dispatch = (argv2: string[], out2: Output, m2?: Machine) => main(argv2, out2, env, m2);
  return runCommand(cmd ?? defaultRunCommand, g.rest.slice(words), {
    out,
    statePath,
    env,
    dispatch,
    ...(lockSeconds !== undefined ? { lockTimeoutMs: lockSeconds * 1000 } : {}),
    ...(machine ? { machine } : resident ? { resident } : {}),
  });
}

async function runCommand(cmd: Command, args: string[], base: Omit<CommandContext, 'parsed'>): Promise<number> {
  const out = base.out;
  const usage = formatUsage(cmd.synopsis, cmd.options);
  let parsed: Parsed;
  try {
    parsed = cmd.raw
      ? { opts: args.includes('--help') ? { help: true } : {}, positionals: args.filter((a) => a !== '--help') }
      : parseArgs(args, cmd.options);
  } catch (e) {
    if (e instanceof UsageError) {
      out.err(`  Error: ${e.message}\n\n${usage}`);
      return 129;
    }
    throw e;
  }
  if (parsed.opts['help']) {
    out.out(`${cmd.summary}\n\n${usage}${cmd.details ? `\n\n${cmd.details()}` : ''}`);
    return 0;
  }
  return cmd.run({ ...base, parsed });
}
