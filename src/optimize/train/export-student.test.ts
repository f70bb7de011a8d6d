import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../registry/onnx/read-onnx.js';
import type { Signature } from '../../tensor/datatypes.js';
import { checkGraph } from '../onnx/check-model.js';
import { decodeModel, ElementType, type OnnxModel, type OnnxValueInfo } from '../onnx/model-proto.js';
import { buildFeatureModel, exportStudent } from './export-student.js';
import type { TrainedStudent } from './student.js';

function info(name: string, elemType: number, dims: Array<number | string>): OnnxValueInfo {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** A teacher declaring x FP64 [batch, 2] -> species BYTES [batch, 1], scores FP32 [batch, 2] (its nodes are never copied). */
const teacher: OnnxModel = {
  irVersion: 8,
  opsetImport: [{ domain: '', version: 13 }],
  graph: {
    name: 'teacher',
    node: [],
    initializer: [],
    input: [info('x', ElementType.DOUBLE, ['N', 2])],
    output: [info('species', ElementType.STRING, ['N', 1]), info('scores', ElementType.FLOAT, ['N', 2])],
    valueInfo: [],
  },
};
const signature: Signature = {
  inputs: [{ name: 'x', datatype: 'FP64', shape: [-1, 2] }],
  outputs: [
    { name: 'species', datatype: 'BYTES', shape: [-1, 1] },
    { name: 'scores', datatype: 'FP32', shape: [-1, 2] },
  ],
};

/** logits = standardised x, one layer with identity weights. */
const student: TrainedStudent = {
  mean: Float32Array.from([1, 2]),
  std: Float32Array.from([2, 4]),
  layers: [{ inputs: 2, outputs: 2, weights: Float32Array.from([1, 0, 0, 1]), bias: Float32Array.from([0, 0]) }],
  losses: [],
  trainMs: 0,
};

describe('exportStudent', () => {
  it("keeps the teacher's signature and answers with its BYTES class labels through Gather", async () => {
    const bytes = exportStudent(
      teacher,
      signature,
      { kind: 'classification', label: 'species', probabilities: 'scores', classLabels: ['cat', 'dog'] },
      student,
    );
    const model = decodeModel(bytes);
    expect(checkGraph(model)).toEqual([]);
    expect(readOnnxModel(bytes).signature).toEqual(signature);
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(model.graph.node.map((n) => n.opType)).toEqual([
      'Cast',
      'Sub',
      'Div',
      'MatMul',
      'Add',
      'Softmax',
      'ArgMax',
      'Gather',
    ]);

    const session = await ort.InferenceSession.create(bytes);
    // standardised: row 0 -> (2, -0.5): cat; row 1 -> (-1, 1): dog
    const out = await session.run({ x: new ort.Tensor('float64', Float64Array.from([5, 0, -1, 6]), [2, 2]) });
    expect(Array.from(out['species']!.data as string[])).toEqual(['cat', 'dog']);
    expect(out['species']!.dims).toEqual([2, 1]);
    const p = out['scores']!.data as Float32Array;
    const e = Math.exp(2.5);
    expect(p[0]).toBeCloseTo(e / (e + 1), 6);
    expect(p[2]! + p[3]!).toBeCloseTo(1, 6);
    await session.release();
  });

  it('writes 0..k-1 INT64 labels with ArgMax alone, and a [batch] regression output through Squeeze', async () => {
    const classifier: OnnxModel = {
      ...teacher,
      graph: {
        ...teacher.graph,
        output: [info('label', ElementType.INT64, ['N']), info('probabilities', ElementType.FLOAT, ['N', 2])],
      },
    };
    const classSignature: Signature = {
      inputs: signature.inputs,
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    };
    const head = {
      kind: 'classification',
      label: 'label',
      probabilities: 'probabilities',
      classLabels: [0, 1],
    } as const;
    const ops = decodeModel(exportStudent(classifier, classSignature, head, student)).graph.node.map((n) => n.opType);
    expect(ops.slice(-2)).toEqual(['Softmax', 'ArgMax']);

    const regressor: OnnxModel = {
      ...teacher,
      graph: { ...teacher.graph, output: [info('y', ElementType.FLOAT, ['N'])] },
    };
    const regSignature: Signature = {
      inputs: signature.inputs,
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
    };
    const oneOut: TrainedStudent = {
      ...student,
      layers: [{ inputs: 2, outputs: 1, weights: Float32Array.from([1, 1]), bias: Float32Array.from([10]) }],
    };
    const bytes = exportStudent(regressor, regSignature, { kind: 'regression', output: 'y' }, oneOut);
    expect(readOnnxModel(bytes).signature).toEqual(regSignature);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float64', Float64Array.from([5, 0, -1, 6]), [2, 2]) });
    expect(out['y']!.dims).toEqual([2]);
    expect(Array.from(out['y']!.data as Float32Array)).toEqual([11.5, 10]);
    await session.release();
  });

  it("copies the teacher's OneHotEncoder for a string input into the feature front end", async () => {
    const { readFileSync } = await import('node:fs');
    const iris = readFileSync(new URL('../../../fixtures/models/iris_mixed.onnx', import.meta.url));
    const model = decodeModel(iris);
    const features = buildFeatureModel(model, readOnnxModel(iris).signature);
    const session = await ort.InferenceSession.create(features);
    const f = (v: number) => new ort.Tensor('float32', Float32Array.from([v, v + 1]), [2, 1]);
    const out = await session.run({
      sepal_length: f(1),
      sepal_width: f(3),
      petal_length: f(5),
      petal_width_band: new ort.Tensor('string', ['wide', 'narrow'], [2, 1]),
    });
    expect(out['student_features']!.dims).toEqual([2, 6]);
    expect(Array.from(out['student_features']!.data as Float32Array)).toEqual([1, 3, 5, 0, 0, 1, 2, 4, 6, 1, 0, 0]);
    await session.release();
  });
});
