/**
 * Per-request outcomes for champion/challenger experiments, from logged predictions joined with
 * their ground truth: `accuracy` (1 when the predicted label equals the feedback label),
 * `conversion` (the feedback value, 0/1: did the user convert), `mae` (absolute error of the first
 * floating-point output against the feedback value; lower is better).
 */
import type { Tensor } from '../tensor/datatypes.js';
import { elementValue } from './feature-columns.js';
import type { PredictionStore, PredictionWithFeedback } from './prediction-store.js';

export const EXPERIMENT_METRICS = ['accuracy', 'conversion', 'mae'] as const;
export type ExperimentMetric = (typeof EXPERIMENT_METRICS)[number];

/** Which way is better, and whether the metric is a proportion (0/1 per request). */
export const METRIC_SHAPE: Readonly<
  Record<ExperimentMetric, { direction: 'higher' | 'lower'; kind: 'proportion' | 'mean' }>
> = {
  accuracy: { direction: 'higher', kind: 'proportion' },
  conversion: { direction: 'higher', kind: 'proportion' },
  mae: { direction: 'lower', kind: 'mean' },
};

/** One request's outcome, or undefined when its feedback or outputs cannot give one. */
export function outcomeValue(metric: ExperimentMetric, row: PredictionWithFeedback): number | undefined {
  if (metric === 'conversion') {
    const v = row.value ?? (row.label === null ? null : Number(row.label));
    return v === null || !Number.isFinite(v) ? undefined : v;
  }
  if (metric === 'mae') {
    const output = row.outputs.find(isFloat);
    const predicted = output === undefined ? null : elementValue(output, 0);
    return typeof predicted === 'number' && row.value !== null ? Math.abs(predicted - row.value) : undefined;
  }
  if (row.label === null) return undefined;
  const guess = predictedLabel(row.outputs);
  return guess === undefined ? undefined : Number(guess === row.label);
}

/** The predicted class of a request's first row: its label output, else the argmax of its probabilities. */
export function predictedLabel(outputs: readonly Tensor[]): string | undefined {
  const label = outputs.find((t) => t.datatype === 'BYTES' || /INT/.test(t.datatype));
  if (label !== undefined) {
    const value = elementValue(label, 0);
    return value === null ? undefined : String(value);
  }
  const probabilities = outputs.find((t) => isFloat(t) && t.shape.length === 2 && (t.shape[1] as number) >= 2);
  if (probabilities === undefined) return undefined;
  const width = probabilities.shape[1] as number;
  let best = 0;
  for (let j = 1; j < width; j++)
    if ((elementValue(probabilities, j) as number) > (elementValue(probabilities, best) as number)) best = j;
  return String(best);
}

/** The outcomes of every request a deployment served with a version since `since` that has feedback (the newest 100,000). */
export async function armOutcomes(
  predictions: PredictionStore,
  scope: { model: string; version: string; deployment: string; since: number },
  metric: ExperimentMetric,
): Promise<number[]> {
  const rows = await predictions.joinedFeedback(scope, 100_000);
  const out: number[] = [];
  for (const row of rows) {
    const v = outcomeValue(metric, row);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** A floating-point tensor (FP16, FP32 or FP64). */
export function isFloat(t: Tensor): boolean {
  return t.datatype === 'FP32' || t.datatype === 'FP64' || t.datatype === 'FP16';
}
