// The daxsim executable: runs a command in its machine's daemon (./client.ts) or in this process, and exits with its status.
import { DAEMON_ARG, runInDaemon } from './client.js';

async function run(argv: string[]): Promise<number | undefined> {
  if (argv[0] === DAEMON_ARG) {
    const { serve } = await import('./daemon.js');
    await serve(argv[1]!, argv[2]!);
    return undefined; // it exits by itself
  }
  const code = await runInDaemon(argv);
  if (code !== undefined) return code;
  const { main } = await import('./cli.js');
  return main(argv);
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (e) => {
    process.stderr.write(`daxsim: internal error: ${(e as Error).stack ?? e}\n`);
    process.exit(70);
  },
);
