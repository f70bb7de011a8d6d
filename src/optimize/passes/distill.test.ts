import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { decodeModel } from '../onnx/model-proto.js';
import { findInitializer } from '../onnx/graph-edit.js';
import type { EvalSet } from '../types.js';
import { distillationPass } from './distill.js';
import {
  batchOneLatency,
  distillContext,
  labelAgreement,
  modelFixture,
  readTable,
  runAll,
} from './distill.test-support.js';

/** The dims of the student's weight matrices, input side first. */
function weightDims(student: Uint8Array): number[][] {
  const graph = decodeModel(student).graph;
  return graph.node.filter((n) => n.opType === 'MatMul').map((n) => findInitializer(graph, n.input[1]!)!.dims!);
}

/** Iris-like rows (seeded): three numeric inputs in the data set's ranges and a band string. */
function irisRows(count: number, seed: number): EvalSet {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const column = (lo: number, hi: number) => Float32Array.from({ length: count }, () => lo + random() * (hi - lo));
  const bands = ['narrow', 'medium', 'wide'];
  return {
    rowCount: count,
    source: `iris rows (seed ${seed})`,
    inputs: {
      sepal_length: { datatype: 'FP32', dims: [count, 1], data: column(4.3, 7.9) },
      sepal_width: { datatype: 'FP32', dims: [count, 1], data: column(2, 4.4) },
      petal_length: { datatype: 'FP32', dims: [count, 1], data: column(1, 6.9) },
      petal_width_band: {
        datatype: 'BYTES',
        dims: [count, 1],
        data: Array.from({ length: count }, () => bands[Math.floor(random() * 3)]!),
      },
    },
  };
}

/** Fewer epochs than the defaults (30) keep each test within ~20 s; a larger learning rate makes up. */
const EPOCHS_FOREST = 15;
const EPOCHS_DIGITS = 4;
const EPOCHS_IRIS = 20;
/** Measured 0.987 (digits: 444 of 450 held-out rows) and 0.993 (iris: 298 of 300 rows), minus a margin. */
const DIGITS_AGREEMENT = 0.97;
const IRIS_AGREEMENT = 0.97;

describe('distillationPass', () => {
  it('distils the 2,500-tree forest into a 30-128-64-2 MLP agreeing on held-out rows', async () => {
    const teacher = modelFixture('breast_cancer_forest.onnx');
    const signature = readOnnxModel(teacher).signature;
    const messages: string[] = [];
    const started = performance.now();
    const student = await distillationPass({ epochs: EPOCHS_FOREST, learningRate: 3e-3 }).apply(
      teacher,
      distillContext(signature, readTable('breast_cancer_unlabeled.csv'), messages),
    );
    const trainMs = performance.now() - started;
    const held = readTable('breast_cancer_test.csv');
    const agreement = await labelAgreement(teacher, student, held);
    const latency = await batchOneLatency(teacher, student, held);
    console.log({ trainMs, agreement, latency, last: messages.at(-1) });
    expect(readOnnxModel(student).signature).toEqual(signature);
    expect(weightDims(student)).toEqual([
      [30, 128],
      [128, 64],
      [64, 2],
    ]);
    expect(messages.filter((m) => m.startsWith('distill: epoch ')).length).toBe(EPOCHS_FOREST);
    // measured 0.986 (141 of 143 rows); the budget is 0.97
    expect(agreement).toBeGreaterThanOrEqual(0.98);
    // measured 5.4x (p50, ~99 us vs ~18 us); a loose bound, as other work shares the machine
    // Speed is the bench's to judge (bench/optimize: budget 5x per row at batch 1); here only that it was measured.
    expect(Number.isFinite(latency.speedup)).toBe(true);
  }, 120_000);

  it('distils the wide digits MLP (1.1M parameters) into a 64-128-64-10 MLP', async () => {
    const teacher = modelFixture('digits_mlp_wide.onnx');
    const signature = readOnnxModel(teacher).signature;
    const started = performance.now();
    const student = await distillationPass({ epochs: EPOCHS_DIGITS, learningRate: 3e-3 }).apply(
      teacher,
      distillContext(signature, readTable('digits_unlabeled.csv')),
    );
    const trainMs = performance.now() - started;
    const held = readTable('digits_test.csv');
    const agreement = await labelAgreement(teacher, student, held);
    const latency = await batchOneLatency(teacher, student, held, 500);
    console.log({ trainMs, agreement, latency });
    expect(readOnnxModel(student).signature).toEqual(signature);
    expect(weightDims(student)).toEqual([
      [64, 128],
      [128, 64],
      [64, 10],
    ]);
    expect(agreement).toBeGreaterThanOrEqual(DIGITS_AGREEMENT);
  }, 120_000);

  it('distils iris_mixed through its OneHotEncoder: the student takes the same band strings', async () => {
    const teacher = modelFixture('iris_mixed.onnx');
    const signature = readOnnxModel(teacher).signature;
    const student = await distillationPass({ hidden: [32, 16], epochs: EPOCHS_IRIS, learningRate: 1e-2 }).apply(
      teacher,
      distillContext(signature, irisRows(2000, 1)),
    );
    expect(readOnnxModel(student).signature).toEqual(signature);
    const encoder = decodeModel(student).graph.node.find((n) => n.opType === 'OneHotEncoder');
    expect(encoder?.input).toEqual(['petal_width_band']);
    const rows = irisRows(300, 2);
    const agreement = await labelAgreement(teacher, student, rows);
    // how close the probabilities are, for the report
    const [a, b] = [await runAll(teacher, rows), await runAll(student, rows)];
    const maxProbabilityDiff = Math.max(
      ...a['probabilities']!.map((p, i) => Math.abs((p as number) - (b['probabilities']![i] as number))),
    );
    console.log({ agreement, maxProbabilityDiff });
    expect(agreement).toBeGreaterThanOrEqual(IRIS_AGREEMENT);
    expect(maxProbabilityDiff).toBeLessThan(0.08); // measured 0.030
  }, 60_000);

  it('refuses to run without --data and refuses unknown or out-of-range settings by name', async () => {
    const teacher = modelFixture('iris_mixed.onnx');
    const signature = readOnnxModel(teacher).signature;
    const refusal = await distillationPass()
      .apply(teacher, distillContext(signature, undefined))
      .catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(SlipwayError);
    expect((refusal as SlipwayError).code).toBe('FAILED_PRECONDITION');
    expect((refusal as SlipwayError).message).toContain('--data');
    expect(() => distillationPass({ dropout: 0.5 } as never)).toThrow(/unknown setting dropout/);
    expect(() => distillationPass({ hidden: [] })).toThrow(/hidden must list 1 to 8 layer widths/);
    expect(() => distillationPass({ temperature: 0 })).toThrow(/temperature must be a number above 0/);
    expect(distillationPass({ epochs: 3 }).settings).toEqual({
      hidden: [128, 64],
      epochs: 3,
      temperature: 2,
      batchSize: 64,
      learningRate: 1e-3,
      seed: 0,
    });
  });
});
