/**
 * A pipeline's evaluation gates (pipelines/types.ts PipelineSpec.evaluate): `metric op value` on the
 * candidate's own figure, or `metric op champion [+|-] number` relative to the champion's figure on
 * the same test rows, checked on the candidate-vs-champion report of src/optimize/evaluate.ts.
 */
import { invalid } from '../../core/errors.js';
import { TASK_METRICS } from '../../optimize/gates.js';
import type { GateResult, OptimizationReport, Task } from '../../optimize/types.js';

/** A task metric, a latency at batch 1, or a comparison figure of the candidate with the champion. */
export const LATENCY_METRICS = ['p50_ms', 'p99_ms'] as const;
/** Figures that already compare the candidate with the champion: absolute gates only. */
export const COMPARISON_METRICS = ['agreement', 'max_abs_diff', 'mean_abs_diff'] as const;

export type Op = '>=' | '<=' | '>' | '<';

export interface PipelineGate {
  readonly metric: string;
  readonly op: Op;
  /** `absolute`: `value` is the threshold; `relative`: the threshold is the champion's figure + `offset`. */
  readonly kind: 'absolute' | 'relative';
  readonly value: number;
  readonly offset: number;
  readonly text: string;
}

const NUMBER = '([-+]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?)';
const ABSOLUTE = new RegExp(`^\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*(>=|<=|>|<)\\s*${NUMBER}\\s*$`);
const RELATIVE = new RegExp(
  `^\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*(>=|<=|>|<)\\s*champion\\s*(?:([-+])\\s*((?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][-+]?[0-9]+)?))?\\s*$`,
  'i',
);

/** Every metric a pipeline gate may name, for messages. */
export function pipelineGateMetrics(): string[] {
  return [...Object.keys(TASK_METRICS), ...LATENCY_METRICS, ...COMPARISON_METRICS];
}

/**
 * Parse one gate: `auc >= 0.8`, `p99_ms <= 20`, `agreement >= 0.9`, `accuracy >= champion - 0.005`,
 * `rmse <= champion + 0.5`. Malformed text, an unknown metric, or a relative gate on a figure that
 * is itself a comparison with the champion (agreement, diffs) is refused with INVALID_ARGUMENT.
 */
export function parsePipelineGate(text: string): PipelineGate {
  const relative = RELATIVE.exec(text);
  const absolute = relative === null ? ABSOLUTE.exec(text) : null;
  const match = relative ?? absolute;
  if (match === null)
    throw invalid(
      `gate "${text}" is not 'metric op value' or 'metric op champion [+|-] number' (op one of >=, <=, >, <; e.g. 'auc >= 0.8', 'accuracy >= champion - 0.005')`,
    );
  const metric = match[1]!.toLowerCase();
  if (!pipelineGateMetrics().includes(metric))
    throw invalid(
      `gate "${text}": unknown metric "${metric}"; pipeline gates know ${pipelineGateMetrics().join(', ')}`,
    );
  const op = match[2] as Op;
  if (relative !== null) {
    if ((COMPARISON_METRICS as readonly string[]).includes(metric))
      throw invalid(
        `gate "${text}": ${metric} already compares the candidate with the champion; give an absolute threshold (e.g. '${metric} ${op} 0.9')`,
      );
    const magnitude = relative[4] === undefined ? 0 : Number(relative[4]);
    const offset = relative[3] === '-' ? -magnitude : magnitude;
    if (!Number.isFinite(offset)) throw invalid(`gate "${text}": ${relative[4]} is not a finite number`);
    return { metric, op, kind: 'relative', value: Number.NaN, offset, text };
  }
  const value = Number(absolute![3]);
  if (!Number.isFinite(value)) throw invalid(`gate "${text}": ${absolute![3]} is not a finite number`);
  return { metric, op, kind: 'absolute', value, offset: 0, text };
}

/** Which figure of the report a gate reads, for the candidate or the champion (the report's parent). */
function figure(report: OptimizationReport, metric: string, side: 'candidate' | 'parent'): number | null {
  if (metric in TASK_METRICS) return report.metrics?.[side][metric] ?? null;
  if (metric === 'p50_ms' || metric === 'p99_ms') {
    const batch1 = report.latency.find((l) => l.batchSize === 1);
    if (batch1 === undefined) return null;
    return metric === 'p50_ms' ? batch1[side].p50Ms : batch1[side].p99Ms;
  }
  if (metric === 'agreement') return report.agreement;
  if (metric === 'max_abs_diff') return report.maxAbsDiff;
  if (metric === 'mean_abs_diff') return report.meanAbsDiff;
  return null;
}

function holds(actual: number, op: Op, value: number): boolean {
  if (op === '>=') return actual >= value;
  if (op === '<=') return actual <= value;
  if (op === '>') return actual > value;
  return actual < value;
}

/**
 * Refuse gates the evaluation can never answer: a task metric the model's task does not have, a task
 * metric without labels, and — when there is no champion to compare with (`hasChampion` false: the
 * model's first version, or a signature change the pipeline allows) — relative gates and the
 * comparison figures. INVALID_ARGUMENT (FAILED_PRECONDITION for the missing champion) naming the gate.
 */
export function assertPipelineGatesApplicable(
  gates: readonly PipelineGate[],
  context: {
    readonly task: Task;
    readonly labelled: boolean;
    readonly hasChampion: boolean;
    readonly why?: string;
  },
): void {
  for (const gate of gates) {
    const tasks = TASK_METRICS[gate.metric];
    if (tasks !== undefined && !tasks.includes(context.task))
      throw invalid(
        `gate "${gate.text}": ${gate.metric} is not a metric of a ${context.task} model (${tasks.join(', ')} only)`,
      );
    if (tasks !== undefined && !context.labelled)
      throw invalid(`gate "${gate.text}" needs labels, but the test split has none`);
    if (
      !context.hasChampion &&
      (gate.kind === 'relative' || (COMPARISON_METRICS as readonly string[]).includes(gate.metric))
    )
      throw invalid(
        `gate "${gate.text}" compares with the champion, but there is none to compare with (${context.why ?? 'no champion'}); only absolute gates on the candidate's own figures apply`,
      );
  }
}

/**
 * Each gate against the report (the champion as the report's parent). For a relative gate `value`
 * is the champion's figure + offset, so `accuracy 0.951 >= 0.953` reads naturally; a figure the
 * report lacks (no auc from non-finite scores) gives actual null and fails the gate.
 */
export function checkPipelineGates(
  report: OptimizationReport,
  gates: readonly (PipelineGate | string)[],
  options: { readonly hasChampion?: boolean; readonly why?: string } = {},
): GateResult[] {
  const parsed = gates.map((g) => (typeof g === 'string' ? parsePipelineGate(g) : g));
  assertPipelineGatesApplicable(parsed, {
    task: report.task,
    labelled: report.metrics !== undefined,
    hasChampion: options.hasChampion ?? true,
    ...(options.why === undefined ? {} : { why: options.why }),
  });
  return parsed.map((gate) => {
    const actual = figure(report, gate.metric, 'candidate');
    const base = gate.kind === 'relative' ? figure(report, gate.metric, 'parent') : 0;
    const value = gate.kind === 'relative' ? (base === null ? Number.NaN : base + gate.offset) : gate.value;
    const passed = actual !== null && Number.isFinite(value) && holds(actual, gate.op, value);
    return { metric: gate.metric, op: gate.op, value, text: gate.text, actual, passed };
  });
}
