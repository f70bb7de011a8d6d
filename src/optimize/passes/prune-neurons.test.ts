import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { decodeModel } from '../onnx/model-proto.js';
import type { EvalSet, PassContext } from '../types.js';
import { neuronPruningPass } from './prune-neurons.js';

// Read directly (not through src/testing/fixtures.ts, which opens the whole platform).
const fixture = (file: string) => readFileSync(new URL(`../../../fixtures/${file}`, import.meta.url));
const WIDE = fixture('models/digits_mlp_wide.onnx');

/** A fixtures/optimize table as an EvalSet: input_0..input_n-1 into `input` FP32, `label` as labels. */
function table(file: string): EvalSet {
  const [header, ...lines] = fixture(`optimize/${file}`).toString('utf8').trim().split('\n');
  const columns = header!.split(',');
  const labelAt = columns.indexOf('label');
  const width = columns.length - 1;
  const data = new Float32Array(lines.length * width);
  const labels: number[] = [];
  lines.forEach((line, r) => {
    const cells = line.split(',').map(Number);
    labels.push(cells[labelAt]!);
    cells.filter((_, c) => c !== labelAt).forEach((v, c) => (data[r * width + c] = v));
  });
  return {
    rowCount: lines.length,
    inputs: { input: { datatype: 'FP32', dims: [lines.length, width], data } },
    labels,
    labelColumn: 'label',
    source: file,
  };
}

const TEST = table('digits_test.csv');
const TRAIN = table('digits_train.csv');

function context(extra: Partial<PassContext> = {}): PassContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    signature: readOnnxModel(WIDE).signature,
    workDir: '/nonexistent',
    progress: (line) => lines.push(line),
    lines,
    ...extra,
  };
}

async function accuracy(bytes: Uint8Array, rows: EvalSet): Promise<number> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const input = rows.inputs.input!;
  const out = await session.run({ input: new ort.Tensor('float32', input.data as Float32Array, [...input.dims]) });
  const labels = out.label!.data as BigInt64Array;
  await session.release();
  return rows.labels!.filter((y, i) => Number(labels[i]) === y).length / rows.rowCount;
}

function dims(bytes: Uint8Array): Record<string, number[]> {
  return Object.fromEntries(decodeModel(bytes).graph.initializer.map((t) => [t.name!, t.dims ?? []]));
}

/** Parent time / candidate time at batch 64: two sessions alternating after warm-up, one thread each. */
async function speedup(parent: Uint8Array, candidate: Uint8Array): Promise<number> {
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 as const };
  const sessions = [
    await ort.InferenceSession.create(parent, options),
    await ort.InferenceSession.create(candidate, options),
  ];
  const feed = {
    input: new ort.Tensor('float32', (TEST.inputs.input!.data as Float32Array).slice(0, 64 * 64), [64, 64]),
  };
  const totals = [0, 0];
  for (let round = 0; round < 120; round++)
    for (const [i, session] of sessions.entries()) {
      const start = process.hrtime.bigint();
      await session.run(feed);
      if (round >= 20) totals[i]! += Number(process.hrtime.bigint() - start);
    }
  await Promise.all(sessions.map((s) => s.release()));
  return totals[0]! / totals[1]!;
}

const PARENT_ACCURACY = 0.9733;

describe('prune-neurons on digits_mlp_wide (64 -> 1024 -> 1024 -> 10)', () => {
  it('halves every hidden layer: smaller matrices, same signature, faster, deterministic bytes', async () => {
    const pass = neuronPruningPass({ fraction: 0.5 });
    const ctx = context();
    const out = await pass.apply(WIDE, ctx);
    expect(dims(out)).toMatchObject({ W1: [64, 512], b1: [512], W2: [512, 512], b2: [512], W3: [512, 10], b3: [10] });
    expect(readOnnxModel(out).signature).toEqual(readOnnxModel(WIDE).signature);
    expect(pass.settings).toEqual({
      fraction: 0.5,
      fineTuneEpochs: 0,
      importance: 'weights',
      hiddenUnits: '1024->512, 1024->512',
    });
    expect(ctx.lines).toEqual(['prune-neurons: hidden units 1024->512, 1024->512']);
    const again = await neuronPruningPass({ fraction: 0.5 }).apply(WIDE, context());
    expect(Buffer.from(again).equals(Buffer.from(out))).toBe(true);

    expect(await accuracy(WIDE, TEST)).toBeCloseTo(PARENT_ACCURACY, 4);
    // Measured without fine-tune: 0.9689 (-0.44 points).
    expect(await accuracy(out, TEST)).toBeCloseTo(0.9689, 2);
    // Measured 3.6x (about 1.1M -> 0.3M multiply-adds per row); the budget is 1.6x.
    const ratio = await speedup(WIDE, out);
    console.log(`prune-neurons 0.5, batch 64 speedup ${ratio.toFixed(2)}x`);
    // Speed is the bench's to judge (bench/optimize: budget 1.6x); here only that it was measured.
    expect(Number.isFinite(ratio)).toBe(true);
  });

  it('fine-tunes on the training rows and stays within 1 point of the parent', async () => {
    const ctx = context({ training: TRAIN });
    const pass = neuronPruningPass({ fraction: 0.5, fineTuneEpochs: 1 });
    const started = Date.now();
    const tuned = await pass.apply(WIDE, ctx);
    const seconds = (Date.now() - started) / 1000;
    expect(pass.settings).toEqual({
      fraction: 0.5,
      fineTuneEpochs: 1,
      learningRate: 1e-4,
      batchSize: 64,
      seed: 0,
      importance: 'weights',
      hiddenUnits: '1024->512, 1024->512',
    });
    expect(ctx.lines[1]).toMatch(/^fine-tune epoch 1\/1 loss \d+\.\d{3}$/);
    expect(dims(tuned)).toMatchObject({ W1: [64, 512], W2: [512, 512], W3: [512, 10] });
    const tunedAccuracy = await accuracy(tuned, TEST);
    console.log(`prune-neurons 0.5 + 1 epoch fine-tune: accuracy ${tunedAccuracy.toFixed(4)}, ${seconds.toFixed(1)} s`);
    // Measured 0.9756 (1 epoch at the default 1e-4).
    expect(Math.abs(tunedAccuracy - PARENT_ACCURACY)).toBeLessThanOrEqual(0.01);
    expect(readOnnxModel(tuned).signature).toEqual(readOnnxModel(WIDE).signature);
  }, 60_000);

  it('ranks by activation spread over the training rows when asked', async () => {
    const pass = neuronPruningPass({ fraction: 0.5, importance: 'activations' });
    const out = await pass.apply(WIDE, context({ training: TRAIN }));
    expect(pass.settings).toMatchObject({ importance: 'activations', importanceRows: 'training (1347 rows)' });
    expect(dims(out)).toMatchObject({ W1: [64, 512], W2: [512, 512], W3: [512, 10] });
    // Measured 0.9356: worse than the weight ranking on this model, hence not the default.
    expect(await accuracy(out, TEST)).toBeCloseTo(0.9356, 2);
  });

  it('keeps at least one unit per layer', async () => {
    const small = fixture('models/digits_mlp.onnx');
    const out = await neuronPruningPass({ fraction: 0.999 }).apply(
      small,
      context({ signature: readOnnxModel(small).signature }),
    );
    expect(dims(out)).toMatchObject({ W1: [64, 1], b1: [1], W2: [1, 10] });
  });
});

describe('prune-neurons refusals', () => {
  it.each([
    [{ fraction: 0 }, /fraction must be a number in \(0, 1\), got 0/],
    [{ fraction: 1 }, /fraction must be a number in \(0, 1\), got 1/],
    [{ fraction: '0.5' }, /fraction must be a number in \(0, 1\), got 0.5/],
    [{ fraction: 0.5, sparsity: 0.5 }, /no setting "sparsity"/],
    [{ fraction: 0.5, fineTuneEpochs: 1.5 }, /fineTuneEpochs must be an integer >= 0, got 1.5/],
    [{ fraction: 0.5, learningRate: 1e-3 }, /learningRate is a fine-tune setting: it needs fineTuneEpochs > 0/],
    [{ fraction: 0.5, importance: 'random' }, /importance must be weights or activations, got random/],
  ])('%j', (settings, message) => {
    expect(() => neuronPruningPass(settings as never)).toThrow(message);
  });

  it('refuses a fine-tune without labelled training rows, and activations without rows', async () => {
    const unlabelled: EvalSet = { rowCount: TRAIN.rowCount, inputs: TRAIN.inputs, source: TRAIN.source };
    await expect(neuronPruningPass({ fraction: 0.5, fineTuneEpochs: 2 }).apply(WIDE, context())).rejects.toThrow(
      /fineTuneEpochs 2 needs labelled training rows/,
    );
    await expect(
      neuronPruningPass({ fraction: 0.5, fineTuneEpochs: 2 }).apply(WIDE, context({ training: unlabelled })),
    ).rejects.toThrow(/fineTuneEpochs 2 needs labelled training rows/);
    await expect(
      neuronPruningPass({ fraction: 0.5, importance: 'activations' }).apply(WIDE, context()),
    ).rejects.toThrow(/importance "activations" needs training or calibration rows/);
  });

  it('refuses a model with no hidden dense layer (logistic regression) with FAILED_PRECONDITION', async () => {
    const breast = fixture('models/breast_cancer.onnx');
    const error = await neuronPruningPass({ fraction: 0.5 })
      .apply(breast, context({ signature: readOnnxModel(breast).signature }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('FAILED_PRECONDITION');
    expect((error as SlipwayError).message).toBe(
      'prune-neurons needs an MLP: found no MatMul/Gemm -> activation -> MatMul/Gemm chain',
    );
  });
});
