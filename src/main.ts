/**
 * The `slipway` command as `bin/slipway.js` runs it: the CLI (`cli/main.ts`) with the server's
 * `serve` command added. Composed here because `cli/` may not import `server/` (docs/architecture.md,
 * checked by src/architecture.test.ts).
 */
import { processIo, type CliIo } from './cli/io.js';
import { runCli } from './cli/main.js';
import { registerServeCommand } from './server/serve-command.js';

/** Run every `slipway` command, `serve` included, and return the exit code (see `runCli`). */
export function runSlipway(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  return runCli(argv, io, [registerServeCommand]);
}
