import type { Command } from 'commander';
import { formatDuration } from '../core/duration.js';
import {
  pipelineOverview,
  pipelineSummaries,
  type PipelineOverview,
  type PipelineStores,
  type PipelineSummary,
} from '../pipelines/definitions/overview.js';
import { readPipelinesFile } from '../pipelines/definitions/parse-pipelines.js';
import { describeRelease, describeTrigger, formatPipelinePlan, planHasChanges } from '../pipelines/definitions/plan.js';
import { SqlPipelineStore } from '../pipelines/pipeline-store.js';
import { SqlRunStore } from '../pipelines/run-store.js';
import type { PipelineSpec } from '../pipelines/types.js';
import { auditedCliChange } from './cli-audit.js';
import { jsonText, table } from './format.js';
import type { CliIo } from './io.js';
import { withRegistry } from './registry-commands.js';
import type { OpenRegistry } from '../registry/open-registry.js';

function storesOf(database: OpenRegistry['database']): PipelineStores {
  return { pipelines: new SqlPipelineStore(database), runs: new SqlRunStore(database) };
}

/**
 * `slipway pipelines apply|list|show`: continuous-training definitions, applied like `features apply`
 * (the plan is printed; --yes applies it). Runs are `slipway pipeline run|runs|...` (pipeline-run-commands.ts).
 */
export function registerPipelineDefinitionCommands(program: Command, io: CliIo): void {
  const pipelines = program
    .command('pipelines')
    .description('Continuous-training pipeline definitions: apply a pipelines.yaml, list, show');

  pipelines
    .command('apply')
    .description('Make the active pipelines equal pipelines.yaml: shows the plan, applies it with --yes')
    .argument('<file>', 'pipelines.yaml')
    .option('--yes', 'apply (the plan is still printed)')
    .option('--json', 'print the plan as JSON')
    .action(async (file: string, options: { yes?: boolean; json?: boolean }) => {
      const specs = await readPipelinesFile(file, io.cwd);
      await withRegistry(io, async ({ database }) => {
        const store = new SqlPipelineStore(database);
        let result = await store.apply(specs, { dryRun: true });
        const apply = options.yes === true && planHasChanges(result.plan);
        if (apply)
          result = await auditedCliChange(
            database,
            {
              action: 'pipelines.apply',
              target: () => file,
              details: {
                added: result.plan.added.length,
                changed: result.plan.changed.length,
                removed: result.plan.removed.length,
              },
            },
            () => store.apply(specs),
          );
        if (options.json === true) {
          io.stdout(jsonText({ ...result.plan, applied: apply, pipelines: apply ? result.applied : undefined }));
          return;
        }
        io.stdout(formatPipelinePlan(result.plan));
        if (!planHasChanges(result.plan)) return;
        if (!apply) io.stdout('\nNothing applied: run again with --yes to apply this plan.\n');
        else
          io.stdout(
            `\nApplied: ${result.applied.map((p) => `${p.name} v${p.version}`).join(', ') || 'no active pipelines'}.\n`,
          );
      });
    });

  pipelines
    .command('list')
    .description('Active pipelines with their version, model, triggers, release and last run')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      await withRegistry(io, async ({ database }) => {
        const summaries = await pipelineSummaries(storesOf(database));
        io.stdout(options.json === true ? jsonText(summaries) : formatSummaries(summaries));
      });
    });

  pipelines
    .command('show')
    .description('One pipeline: its definition, the last 10 trigger evaluations and the last 5 runs')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { json?: boolean }) => {
      await withRegistry(io, async ({ database }) => {
        const overview = await pipelineOverview(storesOf(database), name);
        io.stdout(options.json === true ? jsonText(overview) : formatOverview(overview));
      });
    });
}

function formatSummaries(summaries: readonly PipelineSummary[]): string {
  if (summaries.length === 0) return 'No pipelines: run `slipway pipelines apply pipelines.yaml --yes`.\n';
  return table([
    ['NAME', 'VERSION', 'MODEL', 'TRIGGERS', 'RELEASE', 'LAST RUN'],
    ...summaries.map((s) => [
      s.name,
      String(s.version),
      s.spec.deployment === undefined ? s.spec.model : `${s.spec.model} -> ${s.spec.deployment}`,
      s.spec.triggers.map((t) => t.kind).join(','),
      describeRelease(s.spec.release),
      s.lastRun === null ? '-' : `${s.lastRun.id} ${s.lastRun.status} at ${s.lastRun.step}`,
    ]),
  ]);
}

/** The definition as indented lines, one per top-level key of the YAML. */
export function describeSpec(spec: PipelineSpec): string[] {
  const data = spec.data;
  const labels = data.labels.kind === 'feedback' ? 'feedback' : `file ${data.labels.path}`;
  const env = Object.keys(spec.train.env);
  return [
    `model: ${spec.model}${spec.deployment === undefined ? '' : ` (deployment ${spec.deployment})`}`,
    `triggers: ${spec.triggers.map(describeTrigger).join('; ')}`,
    `min interval: ${formatDuration(spec.minIntervalMs)}`,
    `data: labels from ${labels}${data.featureService === undefined ? '' : `, features from ${data.featureService}`}, last ${formatDuration(data.windowMs)}, split ${data.split.train}/${data.split.validation}/${data.split.test}, label column ${data.labelColumn}`,
    `train: ${spec.train.command.join(' ')} in ${spec.train.workdir}, timeout ${formatDuration(spec.train.timeoutMs)}${env.length === 0 ? '' : `, env ${env.join(', ')}`}`,
    `evaluate: ${spec.evaluate.gates.length === 0 ? 'no gates' : spec.evaluate.gates.join(', ')}`,
    `release: ${describeRelease(spec.release)}`,
    `allow major: ${spec.allowMajor ? 'yes' : 'no'}`,
  ];
}

function formatOverview(overview: PipelineOverview): string {
  const { pipeline, evaluations, runs } = overview;
  const lines = [
    `pipeline ${pipeline.name} v${pipeline.version} (applied ${pipeline.createdAt})`,
    ...describeSpec(pipeline.spec).map((line) => `  ${line}`),
    '',
    'Trigger evaluations (newest first)',
  ];
  const sections = [`${lines.join('\n')}\n`];
  sections.push(
    evaluations.length === 0
      ? '  none yet (a running `slipway serve` evaluates the triggers)\n'
      : table([
          ['AT', 'TRIGGER', 'FIRED', 'VALUE', 'REASON'],
          ...evaluations.map((e) => [
            e.at,
            e.trigger,
            e.fired ? 'yes' : 'no',
            e.value === null ? '-' : String(Number(e.value.toPrecision(4))),
            e.reason,
          ]),
        ]),
  );
  sections.push('\nRuns (newest first)\n');
  sections.push(
    runs.length === 0
      ? `  none yet (\`slipway pipeline run ${pipeline.name}\` starts one)\n`
      : table([
          ['RUN', 'STATUS', 'STEP', 'TRIGGER', 'CREATED', 'REASON'],
          ...runs.map((r) => [r.id, r.status, r.step, r.trigger.kind, r.createdAt, r.reason ?? '']),
        ]),
  );
  return sections.join('');
}
