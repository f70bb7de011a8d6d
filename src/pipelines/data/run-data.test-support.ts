import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PredictionEntry, PredictionStore } from '../../monitor/prediction-store.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { fixtureBytes } from '../../testing/fixtures.js';
import type { Signature } from '../../tensor/datatypes.js';
import type { DataSpec, PipelineSpec } from '../types.js';

/** Test helpers for pipeline run data: a spec, breast_cancer's rows and logging them with feedback. */

export const PIPELINE_FIXTURES = fileURLToPath(new URL('../../../fixtures/pipelines/', import.meta.url));
const OPTIMIZE_FIXTURES = fileURLToPath(new URL('../../../fixtures/optimize/', import.meta.url));

export const BASE_MS = Date.UTC(2026, 5, 1);
export const MINUTE = 60_000;

export function breastCancerSignature(): Signature {
  return readOnnxModel(fixtureBytes('breast_cancer.onnx')).signature;
}

/** A labelled CSV of fixtures/optimize (input_0..input_29 + label). */
export function breastCancerRows(split: 'train' | 'test'): { features: number[]; label: number }[] {
  const [, ...lines] = readFileSync(path.join(OPTIMIZE_FIXTURES, `breast_cancer_${split}.csv`), 'utf8')
    .trimEnd()
    .split('\n');
  return lines.map((line) => {
    const cells = line.split(',').map(Number);
    return { features: cells.slice(0, 30), label: cells[30]! };
  });
}

export function pipelineSpec(data: Partial<DataSpec> = {}): PipelineSpec {
  return {
    name: 'cancer-retrain',
    model: 'breast_cancer',
    triggers: [{ kind: 'manual' }],
    minIntervalMs: 3_600_000,
    data: {
      labels: { kind: 'feedback' },
      windowMs: 30 * 86_400_000,
      split: { train: 0.7, validation: 0.15, test: 0.15 },
      labelColumn: 'label',
      ...data,
    },
    train: { command: ['node', 'train.mjs'], workdir: PIPELINE_FIXTURES, timeoutMs: 60_000, env: {} },
    evaluate: { gates: [] },
    release: { kind: 'none' },
    allowMajor: false,
  };
}

/** A logged breast_cancer request of one row. */
export function cancerRequest(
  requestId: string,
  timeMs: number,
  features: readonly number[],
  rows = 1,
): PredictionEntry {
  return {
    requestId,
    timeMs,
    deployment: undefined,
    model: 'breast_cancer',
    version: '1.0.0',
    protocol: 'http',
    inputs: [
      {
        name: 'input',
        datatype: 'FP32',
        shape: [rows, 30],
        data: Float32Array.from(Array.from({ length: rows }, () => features).flat()),
      },
    ],
    outputs: [],
    latencyMs: 1,
  };
}

/** Log `rows` as requests `r<i>` one minute apart from `startMs` (in a scrambled order), each with its label as feedback. */
export async function logWithFeedback(
  predictions: PredictionStore,
  rows: readonly { features: number[]; label: number }[],
  startMs: number,
  prefix = 'r',
): Promise<void> {
  const entries = rows.map((row, i) => cancerRequest(`${prefix}${i}`, startMs + i * MINUTE, row.features));
  const scrambled = entries.map((entry, i) => entries[(i * 7) % entries.length]!);
  await predictions.append(new Set(scrambled).size === entries.length ? scrambled : entries);
  await predictions.addFeedback(rows.map((row, i) => ({ requestId: `${prefix}${i}`, label: String(row.label) })));
}
