import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fixtureBytes } from '../../testing/fixtures.js';
import { checkGraph, verifyCandidate } from './check-model.js';
import { makeNode, nameAllocator, sortTopologically } from './graph-edit.js';
import { decodeModel, encodeModel } from './model-proto.js';
import { floatTensor, readFloats } from './tensor-proto.js';

const MODELS = [
  'breast_cancer.onnx',
  'digits_mlp_wide.onnx',
  'wine_forest.onnx',
  'iris_mixed.onnx',
  'digits_image.onnx',
];

describe('ONNX model protobuf round trip', () => {
  it.each(MODELS)('%s decodes, passes the graph rules and encodes to the same bytes', (file) => {
    const bytes = fixtureBytes(file);
    const model = decodeModel(bytes);
    expect(checkGraph(model)).toEqual([]);
    expect(Buffer.from(encodeModel(model)).equals(bytes)).toBe(true);
  });

  it('reads initializer floats and rewrites them so ONNX Runtime computes with the new values', async () => {
    const model = decodeModel(fixtureBytes('diabetes_ridge.onnx'));
    const weights = model.graph.initializer.find((t) => (t.dims ?? []).length === 2)!;
    const values = readFloats(weights);
    expect(values.length).toBe(10);
    const zeroed = floatTensor(weights.name!, weights.dims!, new Float32Array(values.length));
    model.graph.initializer[model.graph.initializer.indexOf(weights)] = zeroed;
    const bytes = encodeModel(model);
    await verifyCandidate(
      'test',
      bytes,
      model,
      (await import('../../registry/onnx/read-onnx.js')).readOnnxModel(bytes).signature,
    );
    const session = await ort.InferenceSession.create(bytes);
    const input = new ort.Tensor('float32', new Float32Array(10).fill(0.05), [1, 10]);
    const out = await session.run({ [session.inputNames[0]!]: input });
    const bias = out[session.outputNames[0]!]!.data as Float32Array;
    // With zero weights the output is the intercept whatever the input.
    const again = await session.run({
      [session.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(10), [1, 10]),
    });
    expect((again[session.outputNames[0]!]!.data as Float32Array)[0]).toBeCloseTo(bias[0]!, 5);
  });

  it('finds reads of missing tensors, duplicate outputs and unimported domains', () => {
    const model = decodeModel(fixtureBytes('breast_cancer.onnx'));
    const fresh = nameAllocator(model.graph);
    const name = fresh('extra');
    expect(name).toBe('extra');
    expect(fresh('extra')).toBe('extra_1');
    model.graph.node.unshift(makeNode('Relu', ['nowhere'], [model.graph.node[0]!.output[0]!]));
    model.graph.node.push(makeNode('Foo', [], ['foo_out'], { domain: 'com.example' }));
    const problems = checkGraph(model);
    expect(problems.join('\n')).toMatch(/reads "nowhere"/);
    expect(problems.join('\n')).toMatch(/already exists/);
    expect(problems.join('\n')).toMatch(/domain "com.example"/);
    expect(() => sortTopologically(model.graph)).toThrow(/nowhere/);
  });
});
