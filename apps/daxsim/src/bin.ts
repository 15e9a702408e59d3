// The daxsim executable: runs the dispatcher on the process's arguments and exits with its status.
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`daxsim: internal error: ${(e as Error).stack ?? e}\n`);
    process.exit(70);
  },
);
