/**
 * A run's registering step: push the evaluated candidate with its lineage (pipeline, run, champion,
 * data), once per run, unless its schema breaks clients and the pipeline does not allow a major bump.
 */
import { SlipwayError } from '../../core/errors.js';
import { reportMetrics } from '../../optimize/gates.js';
import type { RegistryService } from '../../registry/registry-service.js';
import type { VersionRecord } from '../../registry/types.js';
import type { RunEvaluation, RunRecord } from '../types.js';

export interface RegisterCandidateInput {
  readonly registry: RegistryService;
  readonly model: string;
  readonly bytes: Uint8Array;
  readonly run: RunRecord;
  /** The version it was compared with (lineage.parentVersion); null on the model's first training. */
  readonly championVersion: string | null;
  readonly allowMajor: boolean;
  /** DataFingerprint.sha256 of the run's splits. */
  readonly dataSha256: string;
  /** The run's evaluation (defaults to run.evaluation): its figures become the version's metrics. */
  readonly evaluation?: RunEvaluation | null;
  /** Class labels (index = class index); default: those the ONNX file declares. */
  readonly labels?: readonly string[];
}

export type RegisterOutcome = { readonly version: VersionRecord } | { readonly stopped: string };

/**
 * Register the candidate of `run`. Idempotent per run: when a version of the model already has
 * lineage.run = run.id (a restart during registering) it is returned and nothing is pushed. Else
 * `planPush` first: a required major bump with `allowMajor` false, or bytes a version already has,
 * gives `{ stopped }` with the reason and stores nothing; otherwise push with lineage {parentVersion,
 * pipeline, run, dataSha256, gitCommit}, params {pipeline, run, trigger}, the evaluation's figures
 * as metrics and a card listing the gates.
 */
export async function registerCandidate(input: RegisterCandidateInput): Promise<RegisterOutcome> {
  const { registry, model, run } = input;
  const existing = await versionOfRun(registry, model, run.id);
  if (existing !== undefined) return { version: existing };
  let plan;
  try {
    plan = await registry.planPush({
      name: model,
      bytes: input.bytes,
      ...(input.labels === undefined ? {} : { labels: input.labels, labelsSource: `run ${run.id}'s class labels` }),
    });
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'ALREADY_EXISTS')
      return { stopped: `the candidate is not new: ${error.message}` };
    throw error;
  }
  const breaking = plan.differences.filter((d) => d.severity === 'breaking');
  if (breaking.length > 0 && !input.allowMajor)
    return {
      stopped: `the candidate breaks clients: ${breaking.map((d) => d.message).join('; ')}; allowMajor is false`,
    };
  const evaluation = input.evaluation ?? run.evaluation;
  const gitCommit = run.training?.gitCommit ?? null;
  const version = await registry.push({
    name: model,
    bytes: input.bytes,
    description: `retrained by pipeline ${run.pipeline} run ${run.id}`,
    lineage: {
      ...(input.championVersion === null ? {} : { parentVersion: input.championVersion }),
      pipeline: run.pipeline,
      run: run.id,
      dataSha256: input.dataSha256,
      ...(gitCommit === null ? {} : { gitCommit }),
    },
    params: { pipeline: run.pipeline, run: run.id, trigger: run.trigger.kind, triggerReason: run.trigger.reason },
    metrics: evaluation === null || evaluation === undefined ? {} : evaluationMetrics(evaluation),
    ...(evaluation === null || evaluation === undefined ? {} : { card: evaluationCard(run, evaluation) }),
    ...(input.labels === undefined ? {} : { labels: input.labels, labelsSource: `run ${run.id}'s class labels` }),
  });
  return { version };
}

/** The version of `model` a run already registered (lineage.run), archived ones included. */
export async function versionOfRun(
  registry: RegistryService,
  model: string,
  runId: string,
): Promise<VersionRecord | undefined> {
  let versions: VersionRecord[];
  try {
    versions = await registry.listVersions(model, { includeArchived: true });
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
  return versions.find((v) => v.lineage.run === runId);
}

/**
 * The version's metrics: with a champion, src/optimize/gates.ts reportMetrics (the candidate's task
 * metrics under their own names, comparisons as `optimize.*`); without one the report compared the
 * candidate with itself, so only its own task metrics and latencies are kept.
 */
export function evaluationMetrics(evaluation: RunEvaluation): Record<string, number> {
  const all = reportMetrics(evaluation.report);
  if (evaluation.champion !== null) return all;
  const own = Object.entries(all).filter(
    ([name]) =>
      !name.startsWith('optimize.') ||
      /^optimize\.(p50_ms|p99_ms|rows_per_second)_b[0-9]+$/.test(name) ||
      name === 'optimize.rows' ||
      name === 'optimize.bytes',
  );
  return Object.fromEntries(own);
}

/** A short Markdown card: where the version came from and each gate's verdict. */
function evaluationCard(run: RunRecord, evaluation: RunEvaluation): string {
  const lines = [
    `# Retrained by pipeline ${run.pipeline}`,
    '',
    `Run ${run.id}, triggered by ${run.trigger.kind}: ${run.trigger.reason}.`,
    `Evaluated on ${evaluation.report.rows} test rows against ${evaluation.champion === null ? 'no champion' : `champion ${evaluation.champion}`}.`,
    '',
    '| gate | measured | threshold | verdict |',
    '|---|---|---|---|',
    ...evaluation.gates.map(
      (g) => `| \`${g.text}\` | ${g.actual ?? 'n/a'} | ${g.op} ${g.value} | ${g.passed ? 'pass' : 'fail'} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}
