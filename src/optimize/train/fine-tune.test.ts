import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { makeAttribute, makeNode } from '../onnx/graph-edit.js';
import { decodeModel, encodeModel, type OnnxModel } from '../onnx/model-proto.js';
import { floatTensor, readFloats } from '../onnx/tensor-proto.js';
import type { EvalSet } from '../types.js';
import { findDenseChain } from './dense-chain.js';
import { chainHead, classIndices, fineTuneChain, intermediateValues } from './fine-tune.js';

// Read directly (not through src/testing/fixtures.ts, which opens the whole platform).
const fixture = (file: string) => readFileSync(new URL(`../../../fixtures/${file}`, import.meta.url));
const model = (file: string) => decodeModel(fixture(`models/${file}`));

/** The first `limit` rows of a fixtures/optimize table: input_* into `input` FP32, `label` as labels. */
function table(file: string, limit: number): EvalSet {
  const [header, ...all] = fixture(`optimize/${file}`).toString('utf8').trim().split('\n');
  const lines = all.slice(0, limit);
  const labelAt = header!.split(',').indexOf('label');
  const width = header!.split(',').length - 1;
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
    source: file,
  };
}

async function probabilities(m: OnnxModel, rows: EvalSet): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeModel(m), { logSeverityLevel: 3 });
  const input = rows.inputs.input!;
  const out = await session.run({ input: new ort.Tensor('float32', input.data as Float32Array, [...input.dims]) });
  await session.release();
  return out.probabilities!.data as Float32Array;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

/** digits_mlp rewritten as Gemm(transB=1, alpha=0.5) -> Relu -> Gemm(beta=2): the same function. */
function gemmDigits(): OnnxModel {
  const m = model('digits_mlp.onnx');
  const g = m.graph;
  const get = (name: string) => readFloats(g.initializer.find((t) => t.name === name)!);
  const w1 = get('W1');
  const wt = new Float32Array(32 * 64);
  for (let i = 0; i < 64; i++) for (let j = 0; j < 32; j++) wt[j * 64 + i] = w1[i * 32 + j]! / 0.5;
  const b2 = get('b2').map((v) => v / 2);
  g.initializer = g.initializer.filter((t) => t.name !== 'W1' && t.name !== 'b2');
  g.initializer.push(floatTensor('Wt', [32, 64], wt), floatTensor('b2', [10], b2));
  const head = g.node.filter((n) => n.opType === 'Softmax' || n.opType === 'ArgMax');
  const first = makeNode('Gemm', ['scaled', 'Wt', 'b1'], ['h_pre'], { attributes: { transB: 1 } });
  first.attribute!.push(makeAttribute('alpha', 0.5));
  const second = makeNode('Gemm', ['h', 'W2', 'b2'], ['logits']);
  second.attribute = [makeAttribute('beta', 2, true)];
  g.node = [g.node[0]!, first, makeNode('Relu', ['h_pre'], ['h']), second, ...head];
  return m;
}

describe('fine-tune helpers', () => {
  it('reads the chain input from inside the graph: the Div by 16 stays in the model', async () => {
    const rows = table('digits_test.csv', 20);
    const [scaled] = await intermediateValues(model('digits_mlp.onnx'), ['scaled'], rows, 7);
    expect(scaled!.width).toBe(64);
    const raw = rows.inputs.input!.data as Float32Array;
    expect(
      maxAbsDiff(
        scaled!.values,
        raw.map((v) => v / 16),
      ),
    ).toBe(0);
  });

  it('tells the loss from the head', () => {
    const head = (file: string) => {
      const m = model(file);
      return chainHead(m, findDenseChain(m)!);
    };
    expect(head('digits_mlp_wide.onnx')).toEqual({ kind: 'multiclass', classes: 10 });
    expect(head('breast_cancer.onnx')).toEqual({ kind: 'binary' });
    expect(head('diabetes_ridge.onnx')).toEqual({ kind: 'regression' });
  });

  it('maps labels to class indices through class labels, the graph table, or as indices', () => {
    expect([...classIndices(['cat', 'dog', 'cat'], 2, ['dog', 'cat'], undefined)]).toEqual([1, 0, 1]);
    expect([...classIndices([7, 3], 2, undefined, ['3', '7'])]).toEqual([1, 0]);
    expect([...classIndices([0, 9, '4'], 10, undefined, undefined)]).toEqual([0, 9, 4]);
    expect(() => classIndices([10], 10, undefined, undefined)).toThrow(
      /label "10" \(row 0\) is not a class index 0..9/,
    );
    expect(() => classIndices(['bird'], 2, ['dog', 'cat'], undefined)).toThrow(
      /"bird" \(row 0\) is not one of the class labels/,
    );
  });

  it('writes weights back through transB, alpha and beta: a near-zero learning rate leaves outputs equal', async () => {
    const m = gemmDigits();
    const rows = table('digits_test.csv', 100);
    const before = await probabilities(model('digits_mlp.onnx'), rows);
    expect(maxAbsDiff(await probabilities(m, rows), before)).toBeLessThan(1e-5);
    const lines: string[] = [];
    const loss = await fineTuneChain(m, findDenseChain(m)!, rows, {
      epochs: 1,
      learningRate: 1e-12,
      batchSize: 32,
      seed: 0,
      progress: (l) => lines.push(l),
    });
    expect(lines).toEqual([`fine-tune epoch 1/1 loss ${loss.toFixed(3)}`]);
    expect(maxAbsDiff(await probabilities(m, rows), before)).toBeLessThan(1e-5);
  });

  it('lowers the training loss of a damaged small MLP (cross-entropy on the labels)', async () => {
    const m = model('digits_mlp.onnx');
    const w2 = m.graph.initializer.findIndex((t) => t.name === 'W2');
    m.graph.initializer[w2] = floatTensor(
      'W2',
      [32, 10],
      readFloats(m.graph.initializer[w2]!).map((v) => v * 0.2),
    );
    const rows = table('digits_train.csv', 400);
    const run = (learningRate: number, epochs: number) =>
      fineTuneChain(m, findDenseChain(m)!, rows, {
        epochs,
        learningRate,
        batchSize: 32,
        seed: 1,
        progress: () => undefined,
      });
    const before = await run(1e-12, 1);
    await run(3e-3, 3);
    const after = await run(1e-12, 1);
    // Measured: 0.589 -> 0.234.
    expect(before).toBeGreaterThan(0.5);
    expect(after).toBeLessThan(before / 2);
  });

  it('refuses rows without labels by name', async () => {
    const m = model('digits_mlp.onnx');
    const rows = table('digits_test.csv', 5);
    const unlabelled: EvalSet = { rowCount: rows.rowCount, inputs: rows.inputs, source: rows.source };
    await expect(
      fineTuneChain(m, findDenseChain(m)!, unlabelled, {
        epochs: 1,
        learningRate: 1e-3,
        batchSize: 4,
        seed: 0,
        progress: () => undefined,
      }),
    ).rejects.toThrow(/fine-tune needs labelled training rows: digits_test.csv has no label column/);
  });
});
