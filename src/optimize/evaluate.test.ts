import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel } from '../registry/onnx/read-onnx.js';
import { readEvalSet } from './eval-set.js';
import { evaluateCandidate } from './evaluate.js';
import { checkGates, parseGate } from './gates.js';
import { decodeModel, encodeModel } from './onnx/model-proto.js';
import { floatTensor, readFloats } from './onnx/tensor-proto.js';
import type { OptimizationReport } from './types.js';

// Read directly rather than through src/testing/fixtures.ts, which opens the whole platform's import graph.
const fixtureBytes = (file: string): Buffer => readFileSync(path.resolve('fixtures/models', file));
const fixtureJson = <T>(file: string): T =>
  JSON.parse(readFileSync(path.resolve('fixtures/models', file), 'utf8')) as T;
const BREAST_CANCER_TEST = path.resolve('fixtures/optimize/breast_cancer_test.csv');
const FAST = { batchSizes: [1, 64], minSeconds: 0.02 };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-evaluate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The figures a report must hold together: speedup and rows/s from its own mean times. */
function expectConsistentLatency(report: OptimizationReport, batchSizes: readonly number[]): void {
  expect(report.latency.map((l) => l.batchSize)).toEqual(batchSizes);
  for (const l of report.latency) {
    expect(l.speedup).toBe(l.parent.meanMs / l.candidate.meanMs);
    for (const side of [l.parent, l.candidate]) {
      expect(side.rowsPerSecond).toBe((l.batchSize * 1000) / side.meanMs);
      expect(side.p50Ms).toBeGreaterThan(0);
      expect(side.p99Ms).toBeGreaterThanOrEqual(side.p50Ms);
    }
  }
  expect(report.loadMs.parent).toBeGreaterThan(0);
  expect(report.loadMs.candidate).toBeGreaterThan(0);
}

/** The held-out table parsed by hand (not through readEvalSet): features and labels. */
function heldOut(): { features: Float32Array; labels: number[]; rows: number } {
  const lines = readFileSync(BREAST_CANCER_TEST, 'utf8').trim().split('\n').slice(1);
  const features = new Float32Array(lines.length * 30);
  const labels = lines.map((line, row) => {
    const cells = line.split(',').map(Number);
    features.set(cells.slice(0, 30), row * 30);
    return cells[30]!;
  });
  return { features, labels, rows: lines.length };
}

/** Accuracy, f1 of class 1 and ROC AUC (pairs counted directly, ties half) of one model, computed here. */
async function independentMetrics(file: string, data: ReturnType<typeof heldOut>) {
  const session = await ort.InferenceSession.create(fixtureBytes(file));
  const out = await session.run({ input: new ort.Tensor('float32', data.features, [data.rows, 30]) });
  await session.release();
  const predicted = Array.from(out['label']!.data as BigInt64Array, Number);
  const probabilities = out['probabilities']!.data as Float32Array;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let correct = 0;
  predicted.forEach((p, i) => {
    const y = data.labels[i]!;
    if (p === y) correct++;
    if (p === 1 && y === 1) tp++;
    if (p === 1 && y === 0) fp++;
    if (p === 0 && y === 1) fn++;
  });
  let pairs = 0;
  let wins = 0;
  data.labels.forEach((yi, i) => {
    if (yi !== 1) return;
    data.labels.forEach((yj, j) => {
      if (yj !== 0) return;
      pairs++;
      const a = probabilities[i * 2 + 1]!;
      const b = probabilities[j * 2 + 1]!;
      wins += a > b ? 1 : a === b ? 0.5 : 0;
    });
  });
  return {
    predicted,
    probabilities,
    metrics: { accuracy: correct / data.rows, f1: (2 * tp) / (2 * tp + fp + fn), auc: wins / pairs },
  };
}

describe('evaluateCandidate', () => {
  it('a model against itself: agreement 1, no differences, the fixture held-out accuracy and f1', async () => {
    const parent = fixtureBytes('breast_cancer.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(BREAST_CANCER_TEST, signature, { labelColumn: 'label', purpose: 'eval' });
    const lines: string[] = [];
    const report = await evaluateCandidate({
      parent,
      candidate: parent,
      signature,
      evalSet,
      ...FAST,
      progress: (m) => lines.push(m),
    });
    const expected = fixtureJson<{ accuracy: number; f1: number; roc_auc: number }>('breast_cancer.metrics.json');
    expect(report.rows).toBe(143);
    expect(report.task).toBe('binary');
    expect(report.agreement).toBe(1);
    expect(report.maxAbsDiff).toBe(0);
    expect(report.meanAbsDiff).toBe(0);
    expect(report.metrics!.parent['accuracy']).toBeCloseTo(0.958, 4);
    expect(report.metrics!.parent['accuracy']).toBeCloseTo(expected.accuracy, 12);
    expect(report.metrics!.parent['f1']).toBeCloseTo(expected.f1, 12);
    expect(report.metrics!.parent['auc']).toBeCloseTo(expected.roc_auc, 3);
    expect(report.metrics!.candidate).toEqual(report.metrics!.parent);
    expect(report.metrics!.delta).toEqual({ accuracy: 0, f1: 0, auc: 0 });
    expect(report.size).toEqual({ parentBytes: parent.byteLength, candidateBytes: parent.byteLength, ratio: 1 });
    expectConsistentLatency(report, [1, 64]);
    expect(lines).toContain('latency batch 64: round 20');
    expect(lines).toContain('outputs: 143/143 rows');
  });

  it('a retrained candidate: agreement, differences and each model’s metrics equal those computed here', async () => {
    const parent = fixtureBytes('breast_cancer.onnx');
    const candidate = fixtureBytes('breast_cancer_retrained.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(BREAST_CANCER_TEST, signature, { labelColumn: 'label', purpose: 'eval' });
    const report = await evaluateCandidate({
      parent,
      candidate,
      signature,
      evalSet,
      ...FAST,
      batchSizes: [1, 32, 500],
    });
    const data = heldOut();
    const a = await independentMetrics('breast_cancer.onnx', data);
    const b = await independentMetrics('breast_cancer_retrained.onnx', data);
    const agreement = a.predicted.filter((p, i) => p === b.predicted[i]).length / data.rows;
    expect(agreement).toBeLessThan(1);
    expect(report.agreement).toBe(agreement);
    const diffs = Array.from(a.probabilities, (p, i) => Math.abs(p - b.probabilities[i]!));
    expect(report.maxAbsDiff).toBe(Math.max(...diffs));
    expect(report.meanAbsDiff).toBeCloseTo(diffs.reduce((s, d) => s + d, 0) / diffs.length, 12);
    for (const [side, mine] of [
      ['parent', a.metrics],
      ['candidate', b.metrics],
    ] as const)
      for (const name of ['accuracy', 'f1', 'auc'] as const)
        expect(report.metrics![side][name]).toBeCloseTo(mine[name], 12);
    expect(report.metrics!.delta['f1']).toBeCloseTo(b.metrics.f1 - a.metrics.f1, 12);
    expect(report.size.ratio).toBe(candidate.byteLength / parent.byteLength);
    // 500 is capped at the set's 143 rows.
    expectConsistentLatency(report, [1, 32, 143]);
  });

  it('maps text labels through the class labels', async () => {
    const text = readFileSync(BREAST_CANCER_TEST, 'utf8').replace(/,([01])$/gm, (_, y: string) =>
      y === '1' ? ',benign' : ',malignant',
    );
    const file = path.join(dir, 'named.csv');
    await writeFile(file, text);
    const parent = fixtureBytes('breast_cancer.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(file, signature, { labelColumn: 'label', purpose: 'eval' });
    const options = { parent, candidate: parent, signature, evalSet, batchSizes: [8], minSeconds: 0 };
    const report = await evaluateCandidate({ ...options, classLabels: ['malignant', 'benign'] });
    expect(report.metrics!.parent['accuracy']).toBeCloseTo(0.958041958041958, 12);
    await expect(evaluateCandidate(options)).rejects.toThrow(
      'label column "label" holds text ("benign", row 1) but the label output "label" gives numbers',
    );
  });

  it('multiclass: accuracy and macro f1 equal the digits fixture held-out figures', async () => {
    const parent = fixtureBytes('digits_mlp.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(path.resolve('fixtures/optimize/digits_test.csv'), signature, {
      labelColumn: 'label',
      purpose: 'eval',
    });
    const report = await evaluateCandidate({
      parent,
      candidate: parent,
      signature,
      evalSet,
      batchSizes: [64],
      minSeconds: 0,
    });
    const expected = fixtureJson<{ accuracy: number; f1: number }>('digits_mlp.metrics.json');
    expect(report.task).toBe('multiclass');
    expect(report.rows).toBe(450);
    expect(report.metrics!.candidate['accuracy']).toBeCloseTo(expected.accuracy, 12);
    expect(report.metrics!.candidate['f1']).toBeCloseTo(expected.f1, 12);
    expect(report.metrics!.candidate['auc']).toBeUndefined();
  });

  it('several inputs, one of them BYTES: every row fed, labels compared with the label output', async () => {
    interface Expected {
      inputs: { name: string; data: (number | string)[] }[];
      outputs: { name: string; data: number[] }[];
    }
    const expected = fixtureJson<Expected>('iris_mixed.expected.json');
    const labels = expected.outputs.find((o) => o.name === 'label')!.data;
    const header = [...expected.inputs.map((i) => i.name), 'species'].join(',');
    const rows = labels.map((label, row) =>
      [...expected.inputs.map((i) => String(i.data[row])), String(label)].join(','),
    );
    const file = path.join(dir, 'iris.csv');
    await writeFile(file, [header, ...rows].join('\n') + '\n');
    const parent = fixtureBytes('iris_mixed.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(file, signature, { labelColumn: 'species', purpose: 'eval' });
    const report = await evaluateCandidate({
      parent,
      candidate: parent,
      signature,
      evalSet,
      batchSizes: [1, 7],
      minSeconds: 0,
    });
    expect(report.task).toBe('multiclass');
    expect(report.rows).toBe(20);
    expect(report.metrics!.candidate['accuracy']).toBe(1);
    expect(report.agreement).toBe(1);
    expect(report.latency.map((l) => l.batchSize)).toEqual([1, 7]);
  });

  it('regression: mae, rmse and r2 equal those of scikit-learn’s own predictions', async () => {
    interface Expected {
      inputs: { data: number[] }[];
      outputs: { data: number[] }[];
    }
    const expected = fixtureJson<Expected>('diabetes_ridge.expected.json');
    const predictions = expected.outputs[0]!.data;
    // No held-out table of diabetes is committed: labels are sklearn's predictions plus fixed offsets.
    const actual = predictions.map((p, i) => p + ((i % 5) - 2) * 10 + (i % 3));
    const rows = predictions.map((_, i) =>
      [...expected.inputs[0]!.data.slice(i * 10, i * 10 + 10).map(String), String(actual[i])].join(','),
    );
    const header = [...Array.from({ length: 10 }, (_, j) => `input_${j}`), 'y'].join(',');
    const file = path.join(dir, 'diabetes.csv');
    await writeFile(file, [header, ...rows].join('\n') + '\n');
    const parent = fixtureBytes('diabetes_ridge.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(file, signature, { labelColumn: 'y', purpose: 'eval' });
    const report = await evaluateCandidate({
      parent,
      candidate: parent,
      signature,
      evalSet,
      batchSizes: [4],
      minSeconds: 0,
    });
    const n = actual.length;
    const mae = actual.reduce((s, y, i) => s + Math.abs(y - predictions[i]!), 0) / n;
    const sse = actual.reduce((s, y, i) => s + (y - predictions[i]!) ** 2, 0);
    const mean = actual.reduce((s, y) => s + y, 0) / n;
    const sst = actual.reduce((s, y) => s + (y - mean) ** 2, 0);
    expect(report.task).toBe('regression');
    expect(report.agreement).toBe(1);
    const metrics = report.metrics!.candidate;
    // FP32 outputs against sklearn's float64 predictions (tolerance 1e-5 relative, values ~200).
    expect(Math.abs(metrics['mae']! - mae)).toBeLessThan(5e-3);
    expect(Math.abs(metrics['rmse']! - Math.sqrt(sse / n))).toBeLessThan(5e-3);
    expect(Math.abs(metrics['r2']! - (1 - sse / sst))).toBeLessThan(1e-5);
    expect(report.metrics!.delta).toEqual({ mae: 0, rmse: 0, r2: 0 });
  });

  it('reports a wildly different candidate instead of refusing it, and its gates fail', async () => {
    const parent = fixtureBytes('breast_cancer.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(BREAST_CANCER_TEST, signature, { labelColumn: 'label', purpose: 'eval' });
    const edited = (edit: (name: string, values: Float32Array) => Float32Array): Uint8Array => {
      const model = decodeModel(parent);
      model.graph.initializer = model.graph.initializer.map((t) =>
        t.name === 'coef' || t.name === 'intercept'
          ? floatTensor(t.name, t.dims ?? [], edit(t.name, readFloats(t)))
          : t,
      );
      return encodeModel(model);
    };
    const flipped = edited((_, values) => values.map((v) => -v));
    const flippedReport = await evaluateCandidate({
      parent,
      candidate: flipped,
      signature,
      evalSet,
      batchSizes: [16],
      minSeconds: 0,
    });
    expect(flippedReport.agreement).toBe(0);
    expect(flippedReport.metrics!.candidate['accuracy']).toBeCloseTo(1 - 0.958041958041958, 12);
    expect(flippedReport.metrics!.delta['auc']).toBeCloseTo(1 - 2 * flippedReport.metrics!.parent['auc']!, 12);
    const broken = edited((name, values) => (name === 'intercept' ? values.map(() => Number.NaN) : values));
    const brokenReport = await evaluateCandidate({
      parent,
      candidate: broken,
      signature,
      evalSet,
      batchSizes: [16],
      minSeconds: 0,
    });
    expect(brokenReport.maxAbsDiff).toBe(Infinity);
    expect(brokenReport.metrics!.candidate['auc']).toBeUndefined();
    const results = checkGates(brokenReport, ['auc>=-0.01', 'max_abs_diff<=1e-3'].map(parseGate));
    expect(results.map((r) => [r.actual, r.passed])).toEqual([
      [null, false],
      [Infinity, false],
    ]);
  });

  it('refuses a candidate whose signature differs, naming it', async () => {
    const parent = fixtureBytes('breast_cancer.onnx');
    const signature = readOnnxModel(parent).signature;
    const evalSet = await readEvalSet(BREAST_CANCER_TEST, signature, { labelColumn: 'label', purpose: 'eval' });
    const candidate = fixtureBytes('breast_cancer_extra_output.onnx');
    await expect(evaluateCandidate({ parent, candidate, signature, evalSet, ...FAST })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(
        "the candidate's signature differs from the parent version's: outputs:",
      ) as string,
    });
    await expect(evaluateCandidate({ parent, candidate, signature, evalSet, ...FAST })).rejects.toThrow('logit FP32');
  });
});
