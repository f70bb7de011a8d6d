/**
 * What task a model's signature says it does, and the task metrics of its outputs against an eval
 * set's labels, through stats/classification.ts and stats/regression.ts (scikit-learn-equal).
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { binaryClassificationMetrics, multiclassMetrics } from '../stats/classification.js';
import { regressionMetrics } from '../stats/regression.js';
import type { Signature, TensorSpec } from '../tensor/datatypes.js';
import type { Task } from './types.js';

/** The outputs that decide the task: a label output (classification) or the first float output (regression). */
export interface TaskOutputs {
  readonly task: Task;
  /** INT64/INT32/BYTES output of shape [batch] or [batch, 1]: the predicted label. */
  readonly labelOutput?: TensorSpec;
  /** Float output of shape [batch, k], k >= 2: class probabilities (binary when k = 2). */
  readonly probabilityOutput?: TensorSpec;
  /** Regression: the first float output. */
  readonly valueOutput?: TensorSpec;
}

const FLOAT_TYPES = new Set(['FP32', 'FP64', 'FP16']);

/** Whether an output holds floating-point numbers (the ones max/mean absolute differences cover). */
export function isFloatOutput(spec: TensorSpec): boolean {
  return FLOAT_TYPES.has(spec.datatype);
}

/**
 * The task of a model from its signature: an INT64/BYTES/INT32 output of shape [batch] or [batch, 1]
 * is the label output (binary when the probability output has 2 columns, else multiclass);
 * otherwise regression on the first float output. FAILED_PRECONDITION when there is neither.
 */
export function taskOutputs(signature: Signature): TaskOutputs {
  const labelOutput = signature.outputs.find(
    (o) =>
      (o.datatype === 'INT64' || o.datatype === 'INT32' || o.datatype === 'BYTES') &&
      (o.shape.length === 1 || (o.shape.length === 2 && o.shape[1] === 1)),
  );
  const probabilityOutput = signature.outputs.find(
    (o) => isFloatOutput(o) && o.shape.length === 2 && (o.shape[1] ?? 0) >= 2,
  );
  if (labelOutput !== undefined)
    return {
      task: probabilityOutput?.shape[1] === 2 ? 'binary' : 'multiclass',
      labelOutput,
      ...(probabilityOutput === undefined ? {} : { probabilityOutput }),
    };
  const valueOutput = signature.outputs.find(isFloatOutput);
  if (valueOutput === undefined)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `cannot tell the model's task: no INT64/INT32/BYTES label output of shape [batch] or [batch, 1] and no float output (outputs: ${signature.outputs.map((o) => `${o.name} ${o.datatype}`).join(', ')})`,
    );
  return { task: 'regression', valueOutput };
}

/**
 * The eval set's labels as comparable keys (`String` of the value, so 1 and "1" are equal). Text
 * labels meet a numeric label output through `classLabels` (text -> class index) or as numbers; text
 * that is neither is refused, since every row would silently count as wrong.
 */
export function labelKeys(
  labels: readonly (number | string)[],
  labelColumn: string,
  labelOutput: TensorSpec,
  classLabels: readonly string[] | undefined,
): string[] {
  const numericOutput = labelOutput.datatype !== 'BYTES';
  return labels.map((label, row) => {
    if (typeof label === 'number' || !numericOutput) return String(label);
    if (classLabels !== undefined) {
      const index = classLabels.indexOf(label);
      if (index < 0)
        throw invalid(
          `label column "${labelColumn}", row ${row + 1}: "${label}" is not one of the class labels (${classLabels.join(', ')})`,
        );
      return String(index);
    }
    const value = label.trim() === '' ? Number.NaN : Number(label);
    if (Number.isNaN(value))
      throw invalid(
        `label column "${labelColumn}" holds text ("${label}", row ${row + 1}) but the label output "${labelOutput.name}" gives numbers; give the version's class labels to map them`,
      );
    return String(value);
  });
}

/** Metrics of one model's predicted labels: accuracy, f1 (binary: of `positive`; multiclass: macro), auc (binary). */
export function classificationMetrics(
  task: 'binary' | 'multiclass',
  truth: readonly string[],
  predicted: readonly string[],
  positive: string | undefined,
  positiveScores: ArrayLike<number> | undefined,
): Record<string, number> {
  const scores = multiclassMetrics({ labels: truth, predicted });
  if (task === 'multiclass') return { accuracy: scores.accuracy, f1: scores.macroF1 };
  const result: Record<string, number> = {
    accuracy: scores.accuracy,
    // sklearn f1_score(pos_label=positive): 0 when the class is neither true nor predicted anywhere.
    f1: scores.classes.find((c) => c.label === positive)?.f1 ?? 0,
  };
  const auc = positiveScores === undefined ? null : rocAuc(truth, positive, positiveScores);
  if (auc !== null) result['auc'] = auc;
  return result;
}

/**
 * ROC AUC of the class-1 probability. Scores outside [0, 1] (a rewritten model may overshoot) are
 * rescaled linearly, which keeps their order and so the AUC; a non-finite score gives none.
 */
function rocAuc(truth: readonly string[], positive: string | undefined, scores: ArrayLike<number>): number | null {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) return null;
    min = Math.min(min, s);
    max = Math.max(max, s);
  }
  const rescale = min < 0 || max > 1;
  const span = max - min;
  const fitted = Float64Array.from({ length: scores.length }, (_, i) =>
    rescale ? (span === 0 ? 0.5 : (scores[i]! - min) / span) : scores[i]!,
  );
  const labels = truth.map((t) => (t === positive ? 1 : 0));
  return binaryClassificationMetrics({ labels, scores: fitted }).rocAuc;
}

/** mae, rmse, r2 of predictions against numeric labels; empty when a prediction is not finite. */
export function regressionTaskMetrics(
  labels: readonly (number | string)[],
  labelColumn: string,
  predicted: ArrayLike<number>,
): Record<string, number> {
  const actual = labels.map((label, row) => {
    const value = typeof label === 'number' ? label : label.trim() === '' ? Number.NaN : Number(label);
    if (!Number.isFinite(value))
      throw invalid(`label column "${labelColumn}", row ${row + 1}: ${JSON.stringify(label)} is not a finite number`);
    return value;
  });
  for (let i = 0; i < predicted.length; i++) if (!Number.isFinite(predicted[i]!)) return {};
  const metrics = regressionMetrics({ actual, predicted });
  return { mae: metrics.mae, rmse: metrics.rmse, ...(metrics.r2 === null ? {} : { r2: metrics.r2 }) };
}

/** candidate - parent for every metric both have. */
export function metricDelta(
  parent: Readonly<Record<string, number>>,
  candidate: Readonly<Record<string, number>>,
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, value] of Object.entries(candidate)) {
    const before = parent[name];
    if (before !== undefined) delta[name] = value - before;
  }
  return delta;
}
