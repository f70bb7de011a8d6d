import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import { decodeModel, ElementType, type OnnxModel } from '../onnx/model-proto.js';
import { findInitializer, producerOf } from '../onnx/graph-edit.js';
import { readFloats } from '../onnx/tensor-proto.js';
import type { PassContext } from '../types.js';
import { calibrate } from './calibrate.js';
import { imageRows } from './image-rows.test-support.js';
import { modelBytes } from './passes.test-support.js';
import { quantizeWeightsSymmetric, staticQuantizationPass } from './quantize-static.js';

const parentBytes = modelBytes('digits_cnn.onnx');
const heldOut = imageRows('digits_images_test.csv');
const calibration = imageRows('digits_images_calibration.csv');
const context: PassContext = {
  signature: readOnnxModel(parentBytes).signature,
  workDir: '/tmp',
  calibration,
  progress: () => {},
};

interface Outcome {
  labels: number[];
  probabilities: Float32Array;
}

async function runHeldOut(bytes: Uint8Array): Promise<Outcome> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const feed = heldOut.inputs.image!;
  const out = await session.run({ image: new ort.Tensor('float32', feed.data as Float32Array, [...feed.dims]) });
  await session.release();
  return {
    labels: Array.from(out.label!.data as BigInt64Array, Number),
    probabilities: out.probabilities!.data as Float32Array,
  };
}

const accuracy = (o: Outcome): number => o.labels.filter((l, i) => l === heldOut.labels![i]).length / o.labels.length;
const agreement = (a: Outcome, b: Outcome): number =>
  a.labels.filter((l, i) => l === b.labels[i]).length / a.labels.length;
const maxAbsDiff = (a: Outcome, b: Outcome): number =>
  a.probabilities.reduce((m, v, i) => Math.max(m, Math.abs(v - b.probabilities[i]!)), 0);

/** Every Conv reads INT8 weights and INT32 biases through DequantizeLinear, and its input through a Q -> DQ pair. */
function expectQuantizedConvs(model: OnnxModel, weightScales: number): void {
  const graph = model.graph;
  const convs = graph.node.filter((n) => n.opType === 'Conv');
  expect(convs.map((n) => n.name)).toEqual(['conv1', 'conv2']);
  for (const conv of convs) {
    const [x, w, b] = conv.input.map((name) => producerOf(graph, name));
    expect(x?.opType).toBe('DequantizeLinear');
    expect(producerOf(graph, x!.input[0]!)?.opType).toBe('QuantizeLinear');
    expect(w?.opType).toBe('DequantizeLinear');
    expect(findInitializer(graph, w!.input[0]!)?.dataType).toBe(ElementType.INT8);
    expect(findInitializer(graph, w!.input[1]!)?.dims ?? []).toEqual(weightScales === 1 ? [] : [expect.any(Number)]);
    expect(b?.opType).toBe('DequantizeLinear');
    expect(findInitializer(graph, b!.input[0]!)?.dataType).toBe(ElementType.INT32);
    // the Conv's output is quantized (its Relu folded into the uint8 clamp)
    const readers = graph.node.filter((n) => n.input.includes(conv.output[0]!));
    expect(readers.map((n) => n.opType)).toEqual(['QuantizeLinear']);
  }
  expect(graph.node.some((n) => n.opType === 'Relu')).toBe(false);
  // no FLOAT weight is left for a Conv or the Gemm head
  for (const name of ['conv1_w', 'conv2_w', 'head_w']) expect(findInitializer(graph, name)).toBeUndefined();
}

describe('staticQuantizationPass on digits_cnn', () => {
  let parent: Outcome;
  beforeAll(async () => {
    parent = await runHeldOut(parentBytes);
  });

  it('refuses to run without calibration rows', async () => {
    const without: PassContext = { ...context, calibration: undefined };
    await expect(staticQuantizationPass().apply(parentBytes, without)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: 'static quantization needs --calibration rows',
    });
  });

  it('minmax, per tensor: INT8 Convs, accuracy within 1 point of the parent, agreement >= 0.97', async () => {
    const pass = staticQuantizationPass();
    expect(pass.settings).toEqual({
      method: 'minmax',
      perChannel: false,
      opTypes: ['Conv', 'MatMul', 'Gemm'],
      includeNodes: undefined,
      excludeNodes: [],
      activationType: 'uint8',
    });
    const bytes = await pass.apply(parentBytes, context);
    const model = decodeModel(bytes);
    expectQuantizedConvs(model, 1);
    const candidate = await runHeldOut(bytes);
    expect(accuracy(parent)).toBeGreaterThanOrEqual(0.98);
    expect(Math.abs(accuracy(candidate) - accuracy(parent))).toBeLessThanOrEqual(0.01);
    expect(agreement(candidate, parent)).toBeGreaterThanOrEqual(0.97);
    expect(maxAbsDiff(candidate, parent)).toBeLessThanOrEqual(0.25);
    expect(bytes.byteLength).toBeLessThan(parentBytes.byteLength / 3);
  });

  it('per channel: one weight scale per output channel; biases at x_scale * w_scale', async () => {
    const bytes = await staticQuantizationPass({ perChannel: true }).apply(parentBytes, context);
    const model = decodeModel(bytes);
    expectQuantizedConvs(model, 2);
    const graph = model.graph;
    const conv2 = graph.node.find((n) => n.name === 'conv2')!;
    const w = producerOf(graph, conv2.input[1]!)!;
    const wScales = readFloats(findInitializer(graph, w.input[1]!)!);
    expect(wScales.length).toBe(128);
    const x = producerOf(graph, conv2.input[0]!)!;
    const xScale = readFloats(findInitializer(graph, x.input[1]!)!)[0]!;
    const b = producerOf(graph, conv2.input[2]!)!;
    const bScales = readFloats(findInitializer(graph, b.input[1]!)!);
    bScales.forEach((s, c) => expect(s).toBe(Math.fround(wScales[c]! * xScale)));
    const candidate = await runHeldOut(bytes);
    expect(Math.abs(accuracy(candidate) - accuracy(parent))).toBeLessThanOrEqual(0.01);
    expect(agreement(candidate, parent)).toBeGreaterThanOrEqual(0.97);
  });

  it('percentile and entropy calibration each give a valid model with the parent accuracy within 1 point', async () => {
    for (const method of ['percentile:99.99', 'entropy']) {
      const pass = staticQuantizationPass({ method });
      expect(pass.settings.method).toBe(method);
      const bytes = await pass.apply(parentBytes, context); // verifyCandidate ran: signature, graph rules, ORT load
      expectQuantizedConvs(decodeModel(bytes), 1);
      const candidate = await runHeldOut(bytes);
      expect(Math.abs(accuracy(candidate) - accuracy(parent)), method).toBeLessThanOrEqual(0.01);
      expect(agreement(candidate, parent), method).toBeGreaterThanOrEqual(0.97);
    }
  });

  it('activation scales come from the calibrated ranges (uint8, zero point 0 for non-negative tensors)', async () => {
    const ranges = await calibrate(parentBytes, ['image', 'relu2'], calibration, 'minmax');
    const model = decodeModel(await staticQuantizationPass().apply(parentBytes, context));
    const graph = model.graph;
    for (const tensor of ['image', 'relu2']) {
      const q = graph.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === tensor)!;
      const scale = readFloats(findInitializer(graph, q.input[1]!)!)[0]!;
      expect(scale).toBe(Math.fround(ranges.get(tensor)!.max / 255));
      const zeroPoint = findInitializer(graph, q.input[2]!)!;
      expect(zeroPoint.dataType).toBe(ElementType.UINT8);
      expect(Array.from(zeroPoint.rawData!)).toEqual([0]);
    }
  });

  it('int8 activations: zero point -128 on Relu outputs (the Relu folded), accuracy within 1 point', async () => {
    const pass = staticQuantizationPass({ activationType: 'int8' });
    const bytes = await pass.apply(parentBytes, context);
    const graph = decodeModel(bytes).graph;
    expectQuantizedConvs(decodeModel(bytes), 1);
    const q = graph.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === 'relu2')!;
    const zeroPoint = findInitializer(graph, q.input[2]!)!;
    expect(zeroPoint.dataType).toBe(ElementType.INT8);
    expect(Array.from(new Int8Array(zeroPoint.rawData!.buffer, zeroPoint.rawData!.byteOffset, 1))).toEqual([-128]);
    const candidate = await runHeldOut(bytes);
    expect(Math.abs(accuracy(candidate) - accuracy(parent))).toBeLessThanOrEqual(0.01);
    expect(agreement(candidate, parent)).toBeGreaterThanOrEqual(0.97);
  });

  it('excludeNodes keeps a Conv in float; unknown settings, nodes and op types are refused by name', async () => {
    const bytes = await staticQuantizationPass({ excludeNodes: ['conv1'] }).apply(parentBytes, context);
    const graph = decodeModel(bytes).graph;
    const conv1 = graph.node.find((n) => n.name === 'conv1')!;
    expect(conv1.input[1]).toBe('conv1_w');
    expect(findInitializer(graph, 'conv1_w')?.dataType).toBe(ElementType.FLOAT);
    expect(graph.node.filter((n) => n.opType === 'Relu').map((n) => n.name)).toEqual(['relu1']);
    expect(() => staticQuantizationPass({ symmetric: true } as never)).toThrow(/no setting "symmetric"/);
    expect(() => staticQuantizationPass({ opTypes: ['Add'] })).toThrow(/op type "Add"/);
    expect(() => staticQuantizationPass({ method: 'kl' })).toThrow(/calibration method "kl"/);
    expect(() => staticQuantizationPass({ activationType: 'int4' as never })).toThrow(/"activationType" must be uint8/);
    await expect(staticQuantizationPass({ includeNodes: ['conv9'] }).apply(parentBytes, context)).rejects.toThrow(
      /includeNodes names "conv9"/,
    );
  });
});

describe('the digits_cnn fixture', () => {
  it('matches the expected rows make_cnn.py computed with numpy and scikit-learn, and reaches 0.98 held-out', async () => {
    const expected = JSON.parse(
      readFileSync(
        fileURLToPath(new URL('../../../fixtures/models/digits_cnn.expected.json', import.meta.url)),
        'utf8',
      ),
    ) as {
      tolerance: number;
      inputs: Array<{ shape: number[]; data: number[] }>;
      outputs: Array<{ name: string; data: number[] }>;
    };
    const session = await ort.InferenceSession.create(parentBytes, { logSeverityLevel: 3 });
    const input = expected.inputs[0]!;
    const out = await session.run({ image: new ort.Tensor('float32', Float32Array.from(input.data), input.shape) });
    await session.release();
    expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(expected.outputs[0]!.data);
    const probabilities = out.probabilities!.data as Float32Array;
    expected.outputs[1]!.data.forEach((p, i) =>
      expect(Math.abs(probabilities[i]! - p)).toBeLessThanOrEqual(expected.tolerance),
    );
    expect(accuracy(await runHeldOut(parentBytes))).toBeGreaterThanOrEqual(0.98);
  });
});

describe('quantizeWeightsSymmetric', () => {
  it('maps the largest |w| of each channel to ±127 with zero point 0', () => {
    const values = Float32Array.from([0.5, -1, 0.25, 0.1, 0.2, -0.05]);
    const perTensor = quantizeWeightsSymmetric(values, [2, 3], undefined);
    expect(perTensor.scales).toEqual([Math.fround(1 / 127)]);
    expect(Array.from(perTensor.data)).toEqual([64, -127, 32, 13, 25, -6]);
    const perChannel = quantizeWeightsSymmetric(values, [2, 3], 0);
    expect(perChannel.scales).toEqual([Math.fround(1 / 127), Math.fround(0.2 / 127)]);
    expect(Array.from(perChannel.data)).toEqual([64, -127, 32, 64, 127, -32]);
  });
});
