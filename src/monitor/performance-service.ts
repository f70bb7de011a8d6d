/**
 * Model quality from ground truth (issue 4 §4): logged predictions joined with the feedback that
 * arrived for them, per version, over a window of prediction time.
 *
 * What a version is judged as follows from its outputs and the feedback:
 * - feedback with `value` → regression: the first floating-point output, first element per row;
 * - feedback with `label` and a probability output two wide → binary classification: the score is
 *   the second column (the positive class, scikit-learn's `classes_[1]`); the positive label is
 *   "1" when the labels are 0/1, otherwise the larger of the two labels seen;
 * - otherwise multiclass: the predicted label output (integer or string) or the argmax of the
 *   probabilities, against the label.
 * Feedback names a request, so a multi-row request is judged on its first row.
 */
import { SlipwayError } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import type { RegistryService } from '../registry/registry-service.js';
import {
  binaryClassificationMetrics,
  multiclassMetrics,
  regressionMetrics,
  type BinaryClassificationMetrics,
  type MulticlassMetrics,
  type RegressionMetrics,
} from '../stats/index.js';
import { elementValue } from './feature-columns.js';
import { isFloat, predictedLabel } from './experiment-outcomes.js';
import type { PredictionStore, PredictionWithFeedback } from './prediction-store.js';

export type Task = 'binary' | 'multiclass' | 'regression';

export interface VersionPerformance {
  readonly version: string;
  readonly task: Task | null;
  /** Predictions in the window with feedback. */
  readonly count: number;
  readonly binary?: BinaryClassificationMetrics;
  readonly multiclass?: MulticlassMetrics;
  readonly regression?: RegressionMetrics;
  /** Why there are no metrics (e.g. no feedback yet). */
  readonly reason?: string;
}

export interface PerformanceReport {
  readonly model: string;
  readonly window: string;
  readonly since: number;
  readonly until: number;
  readonly versions: VersionPerformance[];
}

export interface PerformanceServiceOptions {
  readonly predictions: PredictionStore;
  readonly registry: RegistryService;
  /** Joined rows read per version at most (the newest); default 100,000. */
  readonly maxRows?: number;
  readonly now?: () => number;
}

/** Metric names alert rules may use, with how to read them from a version's performance. */
export const PERFORMANCE_METRICS = [
  'accuracy',
  'precision',
  'recall',
  'f1',
  'roc_auc',
  'log_loss',
  'macro_f1',
  'mae',
  'rmse',
  'r2',
  'feedback_count',
] as const;
export type PerformanceMetric = (typeof PERFORMANCE_METRICS)[number];

export class PerformanceService {
  private readonly now: () => number;

  constructor(private readonly options: PerformanceServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  async report(model: string, windowMs: number, version?: string): Promise<PerformanceReport> {
    await this.options.registry.getModel(model);
    const until = this.now();
    const since = until - windowMs;
    const rows = await this.options.predictions.joinedFeedback(
      { model, since, until, ...(version === undefined ? {} : { version }) },
      this.options.maxRows ?? 100_000,
    );
    const byVersion = new Map<string, PredictionWithFeedback[]>();
    for (const row of rows) {
      const list = byVersion.get(row.version) ?? [];
      list.push(row);
      byVersion.set(row.version, list);
    }
    const versions = [...byVersion.entries()]
      .sort(([a], [b]) => b.localeCompare(a, undefined, { numeric: true }))
      .map(([v, list]) => evaluate(v, list));
    if (version !== undefined && versions.length === 0)
      versions.push({ version, task: null, count: 0, reason: 'no feedback for predictions in this window' });
    return { model, window: formatDuration(windowMs), since, until, versions };
  }

  /** One figure for alert rules; undefined when there is no feedback to compute it from. */
  async metric(
    name: PerformanceMetric,
    scope: { model: string; version?: string },
    windowMs: number,
  ): Promise<number | undefined> {
    const report = await this.report(scope.model, windowMs, scope.version);
    const v = report.versions[0];
    if (v === undefined) return undefined;
    if (name === 'feedback_count') return v.count;
    const value: number | null | undefined = v.binary
      ? {
          accuracy: v.binary.accuracy,
          precision: v.binary.precision,
          recall: v.binary.recall,
          f1: v.binary.f1,
          roc_auc: v.binary.rocAuc,
          log_loss: v.binary.logLoss,
        }[name as string]
      : v.multiclass
        ? { accuracy: v.multiclass.accuracy, macro_f1: v.multiclass.macroF1 }[name as string]
        : v.regression
          ? { mae: v.regression.mae, rmse: v.regression.rmse, r2: v.regression.r2 }[name as string]
          : undefined;
    return value ?? undefined;
  }
}

function evaluate(version: string, rows: readonly PredictionWithFeedback[]): VersionPerformance {
  const labelled = rows.filter((r) => r.label !== null);
  const valued = rows.filter((r) => r.value !== null && r.label === null);
  if (valued.length > labelled.length) {
    const predicted: number[] = [];
    const actual: number[] = [];
    for (const row of valued) {
      const output = row.outputs.find((t) => t.datatype === 'FP32' || t.datatype === 'FP64' || t.datatype === 'FP16');
      const value = output === undefined ? null : elementValue(output, 0);
      if (typeof value !== 'number') continue;
      predicted.push(value);
      actual.push(row.value as number);
    }
    if (predicted.length === 0)
      return {
        version,
        task: 'regression',
        count: 0,
        reason: 'the model has no floating-point output to compare values with',
      };
    return {
      version,
      task: 'regression',
      count: predicted.length,
      regression: regressionMetrics({ actual, predicted }),
    };
  }
  if (labelled.length === 0)
    return { version, task: null, count: 0, reason: 'no feedback for predictions in this window' };
  const first = labelled[0] as PredictionWithFeedback;
  const probabilities = first.outputs.find((t) => isFloat(t) && t.shape.length === 2 && (t.shape[1] as number) >= 2);
  const distinct = [...new Set(labelled.map((r) => r.label as string))].sort(compareLabels);
  if (probabilities !== undefined && probabilities.shape[1] === 2 && distinct.length <= 2) {
    const positive = distinct.every((l) => l === '0' || l === '1') ? '1' : (distinct[distinct.length - 1] as string);
    const labels: number[] = [];
    const scores: number[] = [];
    for (const row of labelled) {
      const tensor = row.outputs.find((t) => t.name === probabilities.name);
      const score = tensor === undefined ? null : elementValue(tensor, 1);
      if (typeof score !== 'number') continue;
      labels.push(row.label === positive ? 1 : 0);
      scores.push(score);
    }
    return { version, task: 'binary', count: labels.length, binary: binaryClassificationMetrics({ labels, scores }) };
  }
  const labels: string[] = [];
  const predicted: string[] = [];
  for (const row of labelled) {
    const guess = predictedLabel(row.outputs);
    if (guess === undefined) continue;
    labels.push(row.label as string);
    predicted.push(guess);
  }
  if (labels.length === 0)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `version ${version} has neither a label output nor class probabilities to compare labels with`,
    );
  return { version, task: 'multiclass', count: labels.length, multiclass: multiclassMetrics({ labels, predicted }) };
}

function compareLabels(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : a.localeCompare(b);
}
