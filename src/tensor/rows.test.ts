import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { Signature, Tensor } from './datatypes.js';
import { decodeColumns, decodeInstances, encodeColumns, encodePredictBody, encodePredictions } from './rows.js';

const OUTPUTS: Signature['outputs'] = [
  { name: 'label', datatype: 'INT64', shape: [-1] },
  { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
];

/** One FP32[-1,30] input, like a fraud model. */
const single: Signature = { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30] }], outputs: OUTPUTS };

/** Iris with four [-1,1] columns, one of them BYTES. */
const iris: Signature = {
  inputs: [
    { name: 'sepal_length', datatype: 'FP32', shape: [-1, 1] },
    { name: 'sepal_width', datatype: 'FP32', shape: [-1, 1] },
    { name: 'petal_length', datatype: 'FP32', shape: [-1, 1] },
    { name: 'petal_width_band', datatype: 'BYTES', shape: [-1, 1] },
  ],
  outputs: OUTPUTS,
};

const row30 = (start: number) => Array.from({ length: 30 }, (_, i) => start + i);
const flower = (sl: unknown, band: unknown = 'narrow') => ({
  sepal_length: sl,
  sepal_width: 3.5,
  petal_length: 1.4,
  petal_width_band: band,
});

describe('decodeInstances: one input', () => {
  it('stacks bare rows into [n, 30]', () => {
    const [t] = decodeInstances([row30(0), row30(100)], single);
    expect(t!.shape).toEqual([2, 30]);
    expect(t!.data).toEqual(new Float32Array([...row30(0), ...row30(100)]));
    expect(t!.name).toBe('input');
  });

  it('also takes the object form', () => {
    expect(decodeInstances([{ input: row30(0) }], single)[0]!.shape).toEqual([1, 30]);
  });

  it('takes a scalar per instance for [-1] and [-1,1]', () => {
    const vector: Signature = { inputs: [{ name: 'x', datatype: 'INT32', shape: [-1] }], outputs: [] };
    expect(decodeInstances([1, 2, 3], vector)).toEqual([
      { name: 'x', datatype: 'INT32', shape: [3], data: new Int32Array([1, 2, 3]) },
    ]);
    const column: Signature = { inputs: [{ name: 'x', datatype: 'BOOL', shape: [-1, 1] }], outputs: [] };
    expect(decodeInstances([true, [false]], column)).toEqual([
      { name: 'x', datatype: 'BOOL', shape: [2, 1], data: new Uint8Array([1, 0]) },
    ]);
    expect(() => decodeInstances([[1]], vector)).toThrow(
      'instances[0]: input "x" must be a single value (shape [-1]), got an array',
    );
  });

  it('names the instance and input on errors', () => {
    expect(() => decodeInstances([row30(0), row30(0).slice(1)], single)).toThrow(
      'instances[1]: input "input" has 29 values, expected 30 (shape [-1,30])',
    );
    expect(() => decodeInstances([5.1], single)).toThrow(
      'instances[0]: input "input" must be an array of 30 values (shape [-1,30]), got 5.1 (number)',
    );
    const bad = row30(0);
    (bad as unknown[])[4] = 'abc';
    expect(() => decodeInstances([row30(0), bad], single)).toThrow(
      'instances[1]: input "input" element 4 is "abc" (string), expected a number for FP32',
    );
    expect(() => decodeInstances([], single)).toThrow(
      '"instances" must be a non-empty array with one entry per example, got []',
    );
    expect(() => decodeInstances({ input: [] }, single)).toThrow(
      '"instances" must be a non-empty array with one entry per example, got {"input":[]}',
    );
  });

  it('fixes inner variable dimensions from the first example', () => {
    const tokens: Signature = { inputs: [{ name: 'ids', datatype: 'INT64', shape: [-1, -1] }], outputs: [] };
    expect(
      decodeInstances(
        [
          [1, 2],
          ['3', 4],
        ],
        tokens,
      ),
    ).toEqual([{ name: 'ids', datatype: 'INT64', shape: [2, 2], data: new BigInt64Array([1n, 2n, 3n, 4n]) }]);
    expect(() => decodeInstances([[1, 2], [3]], tokens)).toThrow(
      'instances[1]: input "ids" has 1 values, expected 2 like the first example',
    );
    expect(decodeInstances([[], []], tokens)[0]!.shape).toEqual([2, 0]);
  });

  it('walks deeper row shapes and names the position', () => {
    const image: Signature = { inputs: [{ name: 'img', datatype: 'UINT8', shape: [-1, 2, 2] }], outputs: [] };
    expect(
      decodeInstances(
        [
          [
            [1, 2],
            [3, 4],
          ],
        ],
        image,
      )[0],
    ).toEqual({ name: 'img', datatype: 'UINT8', shape: [1, 2, 2], data: new Uint8Array([1, 2, 3, 4]) });
    expect(() => decodeInstances([[[1, 2], [3]]], image)).toThrow(
      'instances[0]: input "img" at [1] has 1 values, expected 2 (shape [-1,2,2])',
    );
    expect(() =>
      decodeInstances(
        [
          [
            [1, 2],
            [3, 400],
          ],
        ],
        image,
      ),
    ).toThrow('instances[0]: input "img" element 3 is 400, out of range for UINT8 (0..255)');
  });

  it('requires a variable leading dimension', () => {
    const fixed: Signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3] }], outputs: [] };
    expect(() => decodeInstances([[1, 2, 3]], fixed)).toThrow(
      'input "x" has shape [1,3]; examples need a variable leading (batch) dimension (-1), use the v2 infer endpoint instead',
    );
  });
});

describe('decodeInstances: several inputs', () => {
  it('builds one [n,1] tensor per column, with scalars or one-element arrays', () => {
    const tensors = decodeInstances([flower(5.1), flower([4.9], ['wide'])], iris);
    expect(tensors.map((t) => [t.name, t.datatype, t.shape])).toEqual([
      ['sepal_length', 'FP32', [2, 1]],
      ['sepal_width', 'FP32', [2, 1]],
      ['petal_length', 'FP32', [2, 1]],
      ['petal_width_band', 'BYTES', [2, 1]],
    ]);
    expect(tensors[0]!.data).toEqual(new Float32Array([5.1, 4.9]));
    expect(tensors[3]!.data).toEqual(['narrow', 'wide']);
  });

  it('checks datatypes from the signature', () => {
    expect(() => decodeInstances([flower(5.1), flower(5, 2)], iris)).toThrow(
      'instances[1]: input "petal_width_band" is 2 (number), expected a string for BYTES',
    );
    expect(() => decodeInstances([flower('5.1')], iris)).toThrow(
      'instances[0]: input "sepal_length" is "5.1" (string), expected a number for FP32',
    );
  });

  it('rejects bare, incomplete and unknown instances', () => {
    expect(() => decodeInstances([[5.1, 3.5, 1.4, 'narrow']], iris)).toThrow(
      'instances[0] must be an object {"input name": value, ...} since the model takes several inputs: "sepal_length" (FP32[-1,1]), "sepal_width" (FP32[-1,1]), "petal_length" (FP32[-1,1]), "petal_width_band" (BYTES[-1,1])',
    );
    const partial: Record<string, unknown> = flower(5.1);
    delete partial.petal_width_band;
    expect(() => decodeInstances([flower(5.1), partial], iris)).toThrow(
      'instances[1]: missing input "petal_width_band" (BYTES[-1,1])',
    );
    expect(() => decodeInstances([{ ...flower(5.1), colour: 'blue' }], iris)).toThrow(
      'instances[0]: unknown input "colour"; the model takes "sepal_length" (FP32[-1,1]),',
    );
  });

  it('takes an optional input in every instance or in none, and a bare value for the one required input', () => {
    const withMask: Signature = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [-1, 2] },
        { name: 'temperature', datatype: 'FP32', shape: [-1], optional: true },
      ],
      outputs: [],
    };
    expect(decodeInstances([[1, 2]], withMask).map((t) => t.name)).toEqual(['x']);
    expect(decodeInstances([{ x: [1, 2], temperature: 0.5 }], withMask).map((t) => t.shape)).toEqual([[1, 2], [1]]);
    expect(() => decodeInstances([{ x: [1, 2], temperature: 0.5 }, [3, 4]], withMask)).toThrow(
      'instances[1]: optional input "temperature" is missing but instances[0] has it; send it in every instance or in none',
    );
    expect(() => decodeInstances([[3, 4], { x: [1, 2], temperature: 0.5 }], withMask)).toThrow(
      'instances[1]: optional input "temperature" is sent but instances[0] does not have it; send it in every instance or in none',
    );
  });
});

describe('decodeColumns', () => {
  it('decodes one array per input', () => {
    const tensors = decodeColumns(
      {
        sepal_length: [5.1, [4.9]],
        sepal_width: [3.5, 3],
        petal_length: [1.4, 1.4],
        petal_width_band: ['narrow', 'wide'],
      },
      iris,
    );
    expect(tensors.map((t) => t.shape)).toEqual([
      [2, 1],
      [2, 1],
      [2, 1],
      [2, 1],
    ]);
    expect(tensors[3]!.data).toEqual(['narrow', 'wide']);
  });

  it('takes a bare array for a single-input model', () => {
    expect(decodeColumns([row30(0)], single)[0]!.shape).toEqual([1, 30]);
  });

  it('names the input and example on errors', () => {
    const cols = {
      sepal_length: [5.1, 'x'],
      sepal_width: [3.5, 3],
      petal_length: [1.4, 1.4],
      petal_width_band: ['a', 'b'],
    };
    expect(() => decodeColumns(cols, iris)).toThrow(
      'input "sepal_length": example 1 is "x" (string), expected a number for FP32',
    );
    expect(() => decodeColumns({ ...cols, sepal_length: [] }, iris)).toThrow(
      'input "sepal_length" must be a non-empty array with one value per example, got []',
    );
    expect(() => decodeColumns({ sepal_length: [1] }, iris)).toThrow(
      'missing inputs "sepal_width" (FP32[-1,1]), "petal_length" (FP32[-1,1]), "petal_width_band" (BYTES[-1,1])',
    );
    expect(() => decodeColumns({ ...cols, x: [1] }, iris)).toThrow('unknown input "x"; the model takes');
    expect(() => decodeColumns([[1]], iris)).toThrow(
      '"inputs" must be an object {"input name": [one value per example], ...} since the model takes several inputs',
    );
    expect(() => decodeColumns('abc', iris)).toThrow(
      '"inputs" must be an object {"input name": [one value per example], ...}, got "abc"',
    );
  });
});

const label: Tensor = { name: 'label', datatype: 'INT64', shape: [2], data: new BigInt64Array([0n, 2n]) };
const probabilities: Tensor = {
  name: 'probabilities',
  datatype: 'FP32',
  shape: [2, 3],
  data: new Float32Array([0.5, 0.25, 0.25, 0, 0.125, 0.875]),
};

describe('encodePredictions', () => {
  it('returns slices along dimension 0 of a single output', () => {
    expect(encodePredictions([label])).toEqual([0, 2]);
    expect(encodePredictions([probabilities])).toEqual([
      [0.5, 0.25, 0.25],
      [0, 0.125, 0.875],
    ]);
  });

  it('returns an object per example for several outputs', () => {
    expect(encodePredictions([label, probabilities])).toEqual([
      { label: 0, probabilities: [0.5, 0.25, 0.25] },
      { label: 2, probabilities: [0, 0.125, 0.875] },
    ]);
  });

  it('encodes BOOL, FP16 and nested slices', () => {
    const flags: Tensor = { name: 'f', datatype: 'BOOL', shape: [2, 1, 1], data: new Uint8Array([1, 0]) };
    expect(encodePredictions([flags])).toEqual([[[true]], [[false]]]);
    const half: Tensor = { name: 'h', datatype: 'FP16', shape: [1], data: new Uint16Array([0x3c00]) };
    expect(encodePredictions([half])).toEqual([1]);
    expect(encodePredictions([])).toEqual([]);
  });

  it('refuses outputs without a common leading dimension', () => {
    const other: Tensor = { name: 'embedding', datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) };
    let error: unknown;
    try {
      encodePredictions([label, other]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('FAILED_PRECONDITION');
    expect((error as SlipwayError).message).toBe(
      'the outputs "label" [2], "embedding" [1,2] do not share a leading dimension, so they cannot be returned as rows',
    );
  });
});

describe('encodeColumns / encodePredictBody', () => {
  it('returns whole nested tensors', () => {
    expect(encodeColumns([probabilities])).toEqual([
      [0.5, 0.25, 0.25],
      [0, 0.125, 0.875],
    ]);
    expect(encodeColumns([label, probabilities])).toEqual({
      label: [0, 2],
      probabilities: [
        [0.5, 0.25, 0.25],
        [0, 0.125, 0.875],
      ],
    });
  });

  it('uses rows when it can and falls back to columns', () => {
    expect(encodePredictBody([label])).toEqual({ predictions: [0, 2] });
    const scalar: Tensor = { name: 'loss', datatype: 'FP32', shape: [], data: new Float32Array([0.5]) };
    expect(encodePredictBody([label, scalar])).toEqual({ outputs: { label: [0, 2], loss: 0.5 } });
  });
});
