import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { DATATYPES } from '../tensor/datatypes.js';
import type { Signature } from '../tensor/datatypes.js';
import type { LoadedModel } from './backend.js';
import { fixturePath, tempFolder } from './fixtures.test-support.js';
import { createOrtBackend } from './onnx/ort-backend.js';
import { failsOnZerosModel } from './onnx/tiny-onnx.test-support.js';
import { syntheticRequest, warmUp, zeros } from './warmup.js';

const backend = createOrtBackend();
let temp: Awaited<ReturnType<typeof tempFolder>>;
beforeAll(async () => {
  temp = await tempFolder();
});
afterAll(() => temp.dispose());

describe('syntheticRequest', () => {
  it('makes a batch-1 request: variable dims -> 1, zeros / false / ""; optional inputs left out', () => {
    const signature: Signature = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1, 3] },
        { name: 'flag', datatype: 'BOOL', shape: [-1] },
        { name: 'text', datatype: 'BYTES', shape: [-1, -1, 2] },
        { name: 'id', datatype: 'INT64', shape: [2] },
        { name: 'scalar', datatype: 'FP64', shape: [] },
        { name: 'threshold', datatype: 'FP32', shape: [1], optional: true },
      ],
      outputs: [],
    };
    expect(syntheticRequest(signature)).toEqual([
      { name: 'x', datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) },
      { name: 'flag', datatype: 'BOOL', shape: [1], data: new Uint8Array(1) },
      { name: 'text', datatype: 'BYTES', shape: [1, 1, 2], data: ['', ''] },
      { name: 'id', datatype: 'INT64', shape: [2], data: new BigInt64Array(2) },
      { name: 'scalar', datatype: 'FP64', shape: [], data: new Float64Array(1) },
    ]);
  });

  it.each(DATATYPES)("zeros(%s) uses the datatype's storage", (datatype) => {
    const data = zeros(datatype, 2);
    expect(data.length).toBe(2);
    if (datatype === 'BYTES') expect(data).toEqual(['', '']);
    else expect(Array.from(data as ArrayLike<number | bigint>).every((v) => Number(v) === 0)).toBe(true);
  });
});

describe('warmUp', () => {
  it.each(['breast_cancer', 'digits_mlp', 'diabetes_ridge_fp64', 'iris_mixed', 'wine_forest'])(
    'runs %s once on synthetic input',
    async (name) => {
      const model = await backend.load({ path: fixturePath(`${name}.onnx`) });
      try {
        await expect(warmUp(model)).resolves.toBeUndefined();
      } finally {
        await model.release();
      }
    },
  );

  it('rejects a model that cannot run on its synthetic input with INVALID_ARGUMENT', async () => {
    const model = await backend.load({ path: await temp.write('reshape.onnx', failsOnZerosModel()) });
    try {
      const error: unknown = await warmUp(model).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlipwayError);
      expect(error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(
          /^the model failed its warm-up run: inputs "x", "shape": the model refused them: Reshape node: /,
        ),
      });
    } finally {
      await model.release();
    }
  });

  it('rejects a model whose outputs do not match its signature', async () => {
    const real = await backend.load({ path: fixturePath('breast_cancer.onnx') });
    const lying: LoadedModel = {
      signature: { ...real.signature, outputs: [{ name: 'label', datatype: 'INT32', shape: [-1] }] },
      run: (inputs, names, options) => real.run(inputs, names, options),
      release: () => real.release(),
    };
    try {
      await expect(warmUp(lying)).rejects.toThrow(/returned INT64 rank 1 for output "label", which declares INT32/);
    } finally {
      await lying.release();
    }
  });
});
