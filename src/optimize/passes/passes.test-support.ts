/**
 * Test support for the rewrite passes: the held-out tables of fixtures/optimize read directly, ONNX
 * Runtime runs of parent and candidate, and tiny hand-built models for ops the fixtures lack (Gemm, Conv).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { encodeModel, ElementType, type OnnxModel, type OnnxNode, type OnnxTensor } from '../onnx/model-proto.js';
import type { PassContext } from '../types.js';

const TABLES = fileURLToPath(new URL('../../../fixtures/optimize/', import.meta.url));
const MODELS = fileURLToPath(new URL('../../../fixtures/models/', import.meta.url));

/**
 * A fixtures/models file (as src/testing/fixtures.ts's fixtureBytes, without importing the platform,
 * which these unit tests do not need).
 */
export function modelBytes(file: string): Uint8Array {
  return new Uint8Array(readFileSync(`${MODELS}${file}`));
}

export interface Table {
  rows: number;
  width: number;
  features: Float32Array;
  labels: number[];
}

/** A fixtures/optimize CSV (input_0..input_{k-1}, label) as a [rows, k] float matrix and its labels. */
export function readTable(file: string): Table {
  const lines = readFileSync(`${TABLES}${file}`, 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const width = header.length - 1;
  const values = lines.slice(1).map((l) => l.split(',').map(Number));
  return {
    rows: values.length,
    width,
    features: Float32Array.from(values.flatMap((r) => r.slice(0, width))),
    labels: values.map((r) => r[width]!),
  };
}

/** A pass context for `bytes` (its own signature as the parent's). */
export function contextFor(bytes: Uint8Array): PassContext {
  return { signature: readOnnxModel(bytes).signature, workDir: os.tmpdir(), progress: () => {} };
}

/** Every output of one run on `features` fed to the model's only input, as plain arrays. */
export async function runModel(
  bytes: Uint8Array,
  features: Float32Array,
  dims: number[],
): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    const results = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', features, dims) });
    return Object.fromEntries(
      Object.entries(results).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]),
    );
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Share of equal elements. */
export function agreement(a: readonly number[], b: readonly number[]): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** The held-out digits table and the wide MLP, with the parent's outputs on it. */
export async function digitsWide(): Promise<{ bytes: Uint8Array; table: Table; parent: Record<string, number[]> }> {
  const bytes = modelBytes('digits_mlp_wide.onnx');
  const table = readTable('digits_test.csv');
  return { bytes, table, parent: await runModel(bytes, table.features, [table.rows, table.width]) };
}

export function floatInit(name: string, dims: number[], seed: number): OnnxTensor {
  const count = dims.reduce((n, d) => n * d, 1);
  const values = new Float32Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    values[i] = s / 2147483648 - 0.5;
  }
  return { name, dims, dataType: ElementType.FLOAT, rawData: new Uint8Array(values.buffer) };
}

function valueInfo(name: string, dims: Array<number | string>) {
  return {
    name,
    type: {
      tensorType: {
        elemType: ElementType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * A small float model: input [batch, 8] -> Gemm(transB=1, alpha 0.5, beta 2, bias C [4]) "gemm" ->
 * Relu -> MatMul(W [4, 3]) "matmul" -> output [batch, 3]. Deterministic weights.
 */
export function gemmModel(): Uint8Array {
  const nodes: OnnxNode[] = [
    {
      opType: 'Gemm',
      name: 'gemm',
      input: ['input', 'G', 'C'],
      output: ['g'],
      attribute: [
        { name: 'transB', type: 2, i: 1 },
        { name: 'alpha', type: 1, f: 0.5 },
        { name: 'beta', type: 1, f: 2 },
      ],
    },
    { opType: 'Relu', name: 'relu', input: ['g'], output: ['h'] },
    { opType: 'MatMul', name: 'matmul', input: ['h', 'W'], output: ['output'] },
  ];
  return encodeModel(
    smallModel(nodes, [floatInit('G', [4, 8], 7), floatInit('C', [4], 11), floatInit('W', [4, 3], 13)], [8], [3]),
  );
}

/** input [batch, 2, 6, 6] -> Conv(W [3, 2, 3, 3], bias [3], pads 1) "conv" -> Relu -> output [batch, 3, 6, 6]. */
export function convModel(): Uint8Array {
  const nodes: OnnxNode[] = [
    {
      opType: 'Conv',
      name: 'conv',
      input: ['input', 'K', 'B'],
      output: ['c'],
      attribute: [
        { name: 'kernel_shape', type: 7, ints: [3, 3] },
        { name: 'pads', type: 7, ints: [1, 1, 1, 1] },
      ],
    },
    { opType: 'Relu', name: 'relu', input: ['c'], output: ['output'] },
  ];
  return encodeModel(
    smallModel(nodes, [floatInit('K', [3, 2, 3, 3], 5), floatInit('B', [3], 3)], [2, 6, 6], [3, 6, 6]),
  );
}

export function smallModel(
  node: OnnxNode[],
  initializer: OnnxTensor[],
  inputDims: number[],
  outputDims: number[],
): OnnxModel {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'slipway-test',
    graph: {
      name: 'small',
      node,
      initializer,
      input: [valueInfo('input', ['batch', ...inputDims])],
      output: [valueInfo('output', ['batch', ...outputDims])],
      valueInfo: [],
    },
  };
}

/** Deterministic inputs in [-1, 1). */
export function sampleInputs(count: number, seed = 1): Float32Array {
  const out = new Float32Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (2 * s) / 2147483648 - 1;
  }
  return out;
}
