import { Command, CommanderError } from 'commander';
import { toSlipwayError } from '../core/errors.js';
import { SLIPWAY_VERSION } from '../version.js';
import { processIo, type CliIo } from './io.js';
import { registerLifecycleCommands } from './lifecycle-commands.js';
import { registerMonitorCommands } from './monitor-commands.js';
import { registerAlertCommands } from './alert-commands.js';
import { registerBatchCommands } from './batch-commands.js';
import { registerBatchJobCommands } from './batch-job-commands.js';
import { registerFeatureCommands } from './feature-commands.js';
import { registerPredictCommand } from './predict-command.js';
import { registerRegistryCommands } from './registry-commands.js';
import { registerDeployCommands } from './deploy-commands.js';
import { registerRolloutCommands } from './rollout-commands.js';
import { registerTokenCommands } from './token-commands.js';
import { registerAuditCommands } from './audit-commands.js';
import { registerTuneCommand } from './tune-command.js';
import { registerOptimizeCommands } from './optimize-commands.js';
import { registerPipelineDefinitionCommands } from './pipeline-definition-commands.js';
import { registerPipelineRunCommands } from './pipeline-run-commands.js';

/** Adds commands to the program; how entry points outside `cli/` contribute theirs. */
export type CommandRegistrar = (program: Command, io: CliIo) => void;

/**
 * Run the `slipway` CLI and return its exit code: 0 on success, 1 on an error (one clear line on
 * stderr), 2 on a usage mistake.
 *
 * `extra` registers commands that live outside `cli/`: `serve` is the server's own
 * (`server/serve-command.ts`), and `cli/` may not import `server/`, so `src/main.ts` passes it in.
 * Without it the program has every command but `serve`.
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = processIo(),
  extra: readonly CommandRegistrar[] = [],
): Promise<number> {
  const program = new Command('slipway')
    .description('Slipway: take a trained ONNX model to production and keep it healthy there')
    .version(SLIPWAY_VERSION)
    // so `push --version 1.2.0` is the push's option, not the program's
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(false);
  registerRegistryCommands(program, io);
  // Where `serve` always was in `--help`: after the registry's commands.
  for (const register of extra) register(program, io);
  registerPredictCommand(program, io);
  registerLifecycleCommands(program, io);
  registerMonitorCommands(program, io);
  registerAlertCommands(program, io);
  registerFeatureCommands(program, io);
  registerBatchCommands(program, io);
  registerBatchJobCommands(program, io);
  registerDeployCommands(program, io);
  registerRolloutCommands(program, io);
  registerTokenCommands(program, io);
  registerAuditCommands(program, io);
  registerTuneCommand(program, io);
  registerOptimizeCommands(program, io);
  registerPipelineDefinitionCommands(program, io);
  registerPipelineRunCommands(program, io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
        ? 0
        : 2;
    }
    const e = toSlipwayError(error);
    io.stderr(`error: ${e.message}\n`);
    if (e.code === 'INTERNAL' && io.env.SLIPWAY_DEBUG) io.stderr(`${(error as Error).stack ?? ''}\n`);
    return 1;
  }
}
