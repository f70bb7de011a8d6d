import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { DATATYPES } from '../../tensor/datatypes.js';
import type { Tensor } from '../../tensor/datatypes.js';
import type { LoadedModel } from '../backend.js';
import { fixturePath, readExpected, tempFolder } from '../fixtures.test-support.js';
import { createOrtBackend } from './ort-backend.js';
import {
  failsOnZerosModel,
  identityModel,
  sampleTensor,
  sequenceOutputModel,
  sharedBatchModel,
} from './tiny-onnx.test-support.js';

const backend = createOrtBackend();
let temp: Awaited<ReturnType<typeof tempFolder>>;
beforeAll(async () => {
  temp = await tempFolder();
});
afterAll(() => temp.dispose());

async function withModel<T>(path: string, use: (model: LoadedModel) => Promise<T>): Promise<T> {
  const model = await backend.load({ path });
  try {
    return await use(model);
  } finally {
    await model.release();
  }
}

function rejection(promise: Promise<unknown>): Promise<SlipwayError> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(SlipwayError);
      return error as SlipwayError;
    },
  );
}

describe('OrtBackend', () => {
  it('declares what ONNX Runtime can do', () => {
    expect(backend.name).toBe('onnxruntime');
    expect(backend.capabilities).toEqual({
      supportsBatching: true,
      supportsConcurrentRuns: false,
      datatypes: DATATYPES,
    });
  });

  it('reads the signature from the session metadata, symbolic dims as -1', async () => {
    await withModel(fixturePath('breast_cancer.onnx'), (model) => {
      expect(model.signature).toEqual({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30] }],
        outputs: [
          { name: 'label', datatype: 'INT64', shape: [-1] },
          { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
        ],
      });
      return Promise.resolve();
    });
  });

  it('reads a mixed FP32 + BYTES signature', async () => {
    await withModel(fixturePath('iris_mixed.onnx'), (model) => {
      expect(model.signature.inputs.map((s) => `${s.name}:${s.datatype}[${s.shape.join(',')}]`)).toEqual([
        'sepal_length:FP32[-1,1]',
        'sepal_width:FP32[-1,1]',
        'petal_length:FP32[-1,1]',
        'petal_width_band:BYTES[-1,1]',
      ]);
      return Promise.resolve();
    });
  });

  describe.each(['breast_cancer', 'digits_mlp', 'diabetes_ridge', 'diabetes_ridge_fp64', 'iris_mixed', 'wine_forest'])(
    '%s',
    (name) => {
      it('predicts what scikit-learn predicted, within tolerance', async () => {
        const expected = await readExpected(name);
        await withModel(fixturePath(`${name}.onnx`), async (model) => {
          const outputs = await model.run(
            expected.inputs,
            expected.outputs.map((o) => o.name),
          );
          expect(outputs.map((o) => o.name)).toEqual(expected.outputs.map((o) => o.name));
          outputs.forEach((actual, i) => {
            const want = expected.outputs[i]!;
            expect(actual.datatype).toBe(want.datatype);
            expect(actual.shape).toEqual(want.shape);
            if (want.datatype === 'INT64') {
              expect(Array.from(actual.data as BigInt64Array)).toEqual(want.data.map((v) => BigInt(v)));
              return;
            }
            const got = Array.from(actual.data as Float32Array | Float64Array);
            const bad = got.findIndex((a, j) => {
              const b = Number(want.data[j]);
              return !(Math.abs(a - b) <= expected.tolerance * Math.max(1, Math.abs(b)));
            });
            expect(bad, `${want.name}[${bad}] = ${got[bad]}, expected ${String(want.data[bad])}`).toBe(-1);
          });
        });
      });
    },
  );

  it('returns the requested outputs in the requested order, or all of them for an empty list', async () => {
    const { inputs } = await readExpected('breast_cancer');
    await withModel(fixturePath('breast_cancer.onnx'), async (model) => {
      expect((await model.run(inputs, ['probabilities', 'label'])).map((t) => t.name)).toEqual([
        'probabilities',
        'label',
      ]);
      expect((await model.run(inputs, ['label'])).map((t) => t.name)).toEqual(['label']);
      expect((await model.run(inputs, [])).map((t) => t.name)).toEqual(['label', 'probabilities']);
    });
  });

  it('loads with more intra-op threads and gives the same answer', async () => {
    const { inputs } = await readExpected('digits_mlp');
    const one = await withModel(fixturePath('digits_mlp.onnx'), (m) => m.run(inputs, ['probabilities']));
    const model = await backend.load({ path: fixturePath('digits_mlp.onnx'), intraOpThreads: 2, interOpThreads: 2 });
    const two = await model.run(inputs, ['probabilities']);
    await model.release();
    expect(Array.from(two[0]!.data as Float32Array)).toEqual(Array.from(one[0]!.data as Float32Array));
  });

  it.each(DATATYPES)('passes %s through a real ORT Identity node unchanged', async (datatype) => {
    const path = await temp.write(`identity-${datatype}.onnx`, identityModel(datatype));
    await withModel(path, async (model) => {
      expect(model.signature.inputs).toEqual([{ name: 'x', datatype, shape: [-1, 2] }]);
      const input = sampleTensor(datatype);
      const [output] = await model.run([input], ['y']);
      expect(output!.datatype).toBe(datatype);
      expect(output!.shape).toEqual([3, 2]);
      expect(output!.data.constructor).toBe(input.data.constructor);
      expect(Array.from(output!.data as ArrayLike<unknown>)).toEqual(Array.from(input.data as ArrayLike<unknown>));
    });
  });

  describe('load failures', () => {
    it.each([
      ['plain text (fixture)', 'not_onnx.onnx'],
      ['half a model (fixture)', 'truncated.onnx'],
    ])('%s -> INVALID_ARGUMENT with the ORT message', async (_label, file) => {
      const error = await rejection(backend.load({ path: fixturePath(file) }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toMatch(/^cannot load model: .*[Pp]rotobuf parsing failed/);
    });

    it('garbage bytes and a truncated copy written at test time -> INVALID_ARGUMENT', async () => {
      const garbage = await temp.write(
        'garbage.onnx',
        Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251),
      );
      const whole = identityModel('FP32');
      const truncated = await temp.write('cut.onnx', whole.subarray(0, Math.floor(whole.length / 2)));
      const empty = await temp.write('empty.onnx', new Uint8Array(0));
      for (const path of [garbage, truncated, empty]) {
        const error = await rejection(backend.load({ path }));
        expect(error.code, path).toBe('INVALID_ARGUMENT');
        expect(error.message).toMatch(/^cannot load model: /);
      }
    });

    it('a missing file -> NOT_FOUND, a folder -> INVALID_ARGUMENT', async () => {
      expect((await rejection(backend.load({ path: fixturePath('nope.onnx') }))).code).toBe('NOT_FOUND');
      expect((await rejection(backend.load({ path: temp.path }))).code).toBe('INVALID_ARGUMENT');
    });

    it('a non-tensor output (sequence/map, e.g. ZipMap) -> INVALID_ARGUMENT explaining the export', async () => {
      const path = await temp.write('sequence.onnx', sequenceOutputModel());
      const error = await rejection(backend.load({ path }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain('output "s" is not a tensor');
      expect(error.message).toContain('ZipMap');
    });

    it('an aborted signal -> CANCELLED before any work', async () => {
      const error = await rejection(
        backend.load({ path: fixturePath('breast_cancer.onnx'), signal: AbortSignal.abort() }),
      );
      expect(error.code).toBe('CANCELLED');
    });
  });

  describe('run failures', () => {
    const row = (): Tensor => ({ name: 'input', datatype: 'FP32', shape: [1, 30], data: new Float32Array(30) });

    it.each<[string, () => Tensor[], string[], RegExp]>([
      ['unknown input', () => [row(), { ...row(), name: 'extra' }], ['label'], /unknown input "extra"/],
      ['missing input', () => [], ['label'], /missing inputs? "input"/],
      ['duplicate input', () => [row(), row()], ['label'], /sent more than once/],
      [
        'wrong datatype',
        () => [{ ...row(), datatype: 'FP64', data: new Float64Array(30) }],
        ['label'],
        /expected datatype FP32, got FP64/,
      ],
      [
        'wrong width',
        () => [{ ...row(), shape: [1, 29], data: new Float32Array(29) }],
        ['label'],
        /expected shape \[-1,30\], got \[1,29\]/,
      ],
      [
        'wrong rank',
        () => [{ ...row(), shape: [30], data: new Float32Array(30) }],
        ['label'],
        /expected shape \[-1,30\], got \[30\]/,
      ],
      ['unknown output', () => [row()], ['logit'], /unknown output "logit"/],
      ['data/shape mismatch', () => [{ ...row(), shape: [2, 30] }], ['label'], /needs 60 elements, got 30/],
    ])('%s -> INVALID_ARGUMENT', async (_label, inputs, outputs, message) => {
      await withModel(fixturePath('breast_cancer.onnx'), async (model) => {
        const error = await rejection(model.run(inputs(), outputs));
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.message).toMatch(message);
      });
    });

    it('a run ORT refuses because of the request -> INVALID_ARGUMENT naming the inputs, with a short ORT text', async () => {
      const path = await temp.write('reshape.onnx', failsOnZerosModel());
      await withModel(path, async (model) => {
        const x: Tensor = { name: 'x', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(1, 2) };
        const ok = await model.run(
          [x, { name: 'shape', datatype: 'INT64', shape: [1], data: BigInt64Array.of(2n) }],
          ['y'],
        );
        expect(ok[0]!.shape).toEqual([2]);
        const error = await rejection(
          model.run([x, { name: 'shape', datatype: 'INT64', shape: [1], data: BigInt64Array.of(3n) }], ['y']),
        );
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.message).toBe(
          'inputs "x", "shape": the model refused them: Reshape node: The input tensor cannot be reshaped to the requested shape. Input shape:{1,2}, requested shape:{3}',
        );
      });
    });

    it("a model that fails on valid values (an index past its table) -> INTERNAL: the model's error, counted against it", async () => {
      await withModel(fixturePath('breast_cancer_faulty.onnx'), async (model) => {
        // The fixture's real patients (mean radius 6.98-28.1) index past the model's 10-entry table.
        const { inputs } = await readExpected('breast_cancer');
        const error = await rejection(model.run(inputs, []));
        expect(error.code).toBe('INTERNAL');
        expect(error.message).toMatch(/^inference failed: .*out of (data )?bounds/s);
      });
    });

    it('inputs that disagree on a shared symbolic dimension -> INVALID_ARGUMENT naming both', async () => {
      const path = await temp.write('pair.onnx', sharedBatchModel());
      await withModel(path, async (model) => {
        const a = (n: number): Tensor => ({
          name: 'a',
          datatype: 'FP32',
          shape: [n, 3],
          data: new Float32Array(n * 3).fill(1),
        });
        const b = (n: number): Tensor => ({
          name: 'b',
          datatype: 'FP32',
          shape: [n, 2],
          data: new Float32Array(n * 2).fill(2),
        });
        const ok = await model.run([a(2), b(2)], ['ya', 'yb']);
        expect(ok.map((t) => t.shape)).toEqual([
          [2, 3],
          [2, 2],
        ]);
        const error = await rejection(model.run([a(2), b(3)], ['ya', 'yb']));
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.message).toBe(
          'input "b": dimension 0 ("N") is 3, but input "a" has 2 there; inputs sharing "N" must agree',
        );
      });
    });

    it('an aborted signal -> CANCELLED; a timed-out one -> DEADLINE_EXCEEDED', async () => {
      await withModel(fixturePath('breast_cancer.onnx'), async (model) => {
        expect((await rejection(model.run([row()], ['label'], { signal: AbortSignal.abort() }))).code).toBe(
          'CANCELLED',
        );
        const timedOut = AbortSignal.timeout(0);
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect((await rejection(model.run([row()], ['label'], { signal: timedOut }))).code).toBe('DEADLINE_EXCEEDED');
      });
    });

    it('after release -> UNAVAILABLE; release is idempotent', async () => {
      const model = await backend.load({ path: fixturePath('breast_cancer.onnx') });
      await model.release();
      await model.release();
      expect((await rejection(model.run([row()], ['label']))).code).toBe('UNAVAILABLE');
    });
  });
});
