import type { Command } from 'commander';
import type { RunRecord } from '../pipelines/types.js';
import { cliActorName } from './cli-audit.js';
import { jsonText } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';

/** One line per run: id, status, step, trigger, champion → candidate, reason. */
export function runLine(run: RunRecord): string {
  const versions = `${run.championVersion ?? '-'} -> ${run.candidateVersion ?? '-'}`;
  return [run.id, run.status, run.step, run.trigger.kind, versions, run.createdAt, run.reason ?? '']
    .join('  ')
    .trimEnd();
}

/** A run's timeline, for `pipeline status` and after `pipeline run --wait`. */
export function runDetails(run: RunRecord): string {
  const lines = [`run ${run.id} of pipeline ${run.pipeline} (v${run.pipelineVersion}): ${run.status} at ${run.step}`];
  lines.push(`  trigger: ${run.trigger.kind}: ${run.trigger.reason}`);
  if (run.data !== null)
    lines.push(
      `  data: ${run.data.rows} rows (train ${run.data.splits.train}, validation ${run.data.splits.validation}, test ${run.data.splits.test}) from ${run.data.from} to ${run.data.to}, sha256 ${run.data.sha256.slice(0, 12)}`,
    );
  if (run.training !== null)
    lines.push(
      `  training: ${run.training.command.join(' ')} -> exit ${run.training.exitCode ?? run.training.signal ?? '?'}${run.training.timedOut ? ' (timed out)' : ''} in ${(run.training.durationMs / 1000).toFixed(1)} s${run.training.gitCommit ? ` at ${run.training.gitCommit.slice(0, 12)}` : ''}`,
    );
  if (run.evaluation !== null) {
    const { report, gates } = run.evaluation;
    const m = report.metrics;
    if (m !== undefined)
      for (const key of Object.keys(m.candidate))
        lines.push(`  ${key}: champion ${fmt(m.parent[key])}, candidate ${fmt(m.candidate[key])}`);
    for (const g of gates) lines.push(`  gate ${g.passed ? 'PASS' : 'FAIL'} ${g.text} (measured ${fmt(g.actual)})`);
  }
  if (run.candidateVersion !== null)
    lines.push(`  registered ${run.candidateVersion} (champion ${run.championVersion ?? 'none'})`);
  if (run.release !== null) lines.push(`  release: ${run.release.summary}`);
  if (run.reason !== null) lines.push(`  reason: ${run.reason}`);
  return `${lines.join('\n')}\n`;
}

function fmt(v: number | null | undefined): string {
  return v === null || v === undefined ? 'n/a' : String(Number(v.toPrecision(4)));
}

/** `slipway pipeline run|runs|status|logs|cancel`. */
export function registerPipelineRunCommands(program: Command, io: CliIo): void {
  const pipeline = program.command('pipeline').description('Runs of a continuous-training pipeline');
  pipeline
    .command('run')
    .description('Start a run by hand; --wait advances it in this process until it ends or waits on its release')
    .argument('<name>', 'the pipeline')
    .option('--wait', 'run it here and wait')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { wait?: boolean; json?: boolean }) => {
      await withPlatform(io, async ({ pipelines }) => {
        let run = await pipelines.startRun(name, { kind: 'manual', reason: `started by hand (cli:${cliActorName()})` });
        if (options.wait === true) run = await pipelines.drive(run.id);
        if (options.json === true) io.stdout(jsonText(run));
        else if (options.wait === true) io.stdout(runDetails(run));
        else io.stdout(`run ${run.id} of ${name} created: a running \`slipway serve\` advances it (or use --wait)\n`);
      });
    });
  pipeline
    .command('runs')
    .description('Runs of a pipeline, newest first')
    .argument('<name>', 'the pipeline')
    .option('--limit <n>', 'most runs shown', '20')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { limit: string; json?: boolean }) => {
      await withPlatform(io, async ({ pipelines }) => {
        const runs = await pipelines.list({ pipeline: name, limit: Number(options.limit) });
        if (options.json === true) io.stdout(jsonText(runs));
        else io.stdout(runs.length === 0 ? `no runs of ${name}\n` : `${runs.map(runLine).join('\n')}\n`);
      });
    });
  pipeline
    .command('status')
    .description("One run's timeline: trigger, data, training, evaluation, version, release")
    .argument('<run>', 'the run id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ pipelines }) => {
        const run = await pipelines.get(id);
        io.stdout(options.json === true ? jsonText(run) : runDetails(run));
      });
    });
  pipeline
    .command('logs')
    .description("A run's training log (stdout and stderr)")
    .argument('<run>', 'the run id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ pipelines }) => {
        const text = await pipelines.logs(id);
        io.stdout(options.json === true ? jsonText({ run: id, log: text }) : text);
      });
    });
  pipeline
    .command('cancel')
    .description('Cancel a run: its training process group is stopped, nothing more is registered or released')
    .argument('<run>', 'the run id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ pipelines }) => {
        const run = await pipelines.cancel(id);
        io.stdout(
          options.json === true
            ? jsonText(run)
            : `run ${id}: ${run.status === 'cancelled' ? 'cancelled' : 'cancel requested'}\n`,
        );
      });
    });
}
