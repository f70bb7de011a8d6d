import { describe, expect, it } from 'vitest';
import type { Signature, Tensor } from './datatypes.js';
import { selectOutputs, validateInputs } from './validate.js';

const single: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30] }],
  outputs: [
    { name: 'label', datatype: 'INT64', shape: [-1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
  ],
};

const multi: Signature = {
  inputs: [
    { name: 'a', datatype: 'FP32', shape: [-1, 1] },
    { name: 'b', datatype: 'INT64', shape: [-1, 2] },
    { name: 'mask', datatype: 'BOOL', shape: [-1], optional: true },
  ],
  outputs: single.outputs,
};

const fp32 = (name: string, shape: number[]): Tensor => ({
  name,
  datatype: 'FP32',
  shape,
  data: new Float32Array(shape.reduce((x, y) => x * y, 1)),
});

describe('validateInputs', () => {
  it('accepts matching inputs, any size in -1 dimensions', () => {
    const t = fp32('input', [4, 30]);
    expect(validateInputs([t], single)).toEqual([t]);
    expect(validateInputs([t], single)[0]).toBe(t);
    expect(validateInputs([fp32('input', [0, 30])], single)).toHaveLength(1);
  });

  it('returns inputs in signature order and leaves out unsent optional inputs', () => {
    const b: Tensor = { name: 'b', datatype: 'INT64', shape: [1, 2], data: new BigInt64Array(2) };
    const a = fp32('a', [1, 1]);
    expect(validateInputs([b, a], multi).map((t) => t.name)).toEqual(['a', 'b']);
    const mask: Tensor = { name: 'mask', datatype: 'BOOL', shape: [1], data: new Uint8Array(1) };
    expect(validateInputs([mask, b, a], multi).map((t) => t.name)).toEqual(['a', 'b', 'mask']);
  });

  it('does not require inputs to agree on the batch dimension', () => {
    const b: Tensor = { name: 'b', datatype: 'INT64', shape: [5, 2], data: new BigInt64Array(10) };
    expect(validateInputs([fp32('a', [2, 1]), b], multi)).toHaveLength(2);
  });

  it('rejects duplicate, unknown and missing inputs', () => {
    expect(() => validateInputs([fp32('input', [1, 30]), fp32('input', [1, 30])], single)).toThrow(
      'input "input" was sent more than once',
    );
    expect(() => validateInputs([fp32('foo', [1, 30])], single)).toThrow(
      'unknown input "foo"; the model takes "input" (FP32[-1,30])',
    );
    expect(() => validateInputs([], single)).toThrow('missing input "input" (FP32[-1,30])');
    expect(() => validateInputs([], multi)).toThrow('missing inputs "a" (FP32[-1,1]), "b" (INT64[-1,2])');
  });

  it('widens datatypes losslessly and refuses the rest', () => {
    const ints: Tensor = { name: 'b', datatype: 'INT32', shape: [1, 2], data: new Int32Array([7, -8]) };
    const [, b] = validateInputs([fp32('a', [1, 1]), ints], multi);
    expect(b).toEqual({ name: 'b', datatype: 'INT64', shape: [1, 2], data: new BigInt64Array([7n, -8n]) });
    const wide: Tensor = { name: 'input', datatype: 'INT64', shape: [1, 30], data: new BigInt64Array(30) };
    expect(() => validateInputs([wide], single)).toThrow('input "input": expected datatype FP32, got INT64');
  });

  it('checks rank and fixed dimensions', () => {
    expect(() => validateInputs([fp32('input', [1, 29])], single)).toThrow(
      'input "input": expected shape [-1,30], got [1,29] (dimension 1 must be 30)',
    );
    expect(() => validateInputs([fp32('input', [30])], single)).toThrow(
      'input "input": expected shape [-1,30], got [30] (rank must be 2)',
    );
  });
});

describe('selectOutputs', () => {
  it('returns every output in signature order when none are requested', () => {
    expect(selectOutputs(undefined, single)).toEqual(['label', 'probabilities']);
    expect(selectOutputs([], single)).toEqual(['label', 'probabilities']);
  });

  it('keeps the requested order', () => {
    expect(selectOutputs(['probabilities', 'label'], single)).toEqual(['probabilities', 'label']);
  });

  it('rejects unknown and duplicate names, listing the outputs', () => {
    expect(() => selectOutputs(['proba'], single)).toThrow(
      'unknown output "proba"; the model gives "label" (INT64[-1]), "probabilities" (FP32[-1,3])',
    );
    expect(() => selectOutputs(['label', 'label'], single)).toThrow(
      'output "label" was requested more than once; the model gives "label" (INT64[-1]), "probabilities" (FP32[-1,3])',
    );
  });
});

describe('validateInputs with symbolic dimension names', () => {
  const pair: Signature = {
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [-1, 3] },
      { name: 'b', datatype: 'FP32', shape: [-1, 2] },
    ],
    outputs: [],
  };
  const names = new Map([
    ['a', ['N', '']],
    ['b', ['N', '']],
  ]);

  it('refuses inputs that disagree on a shared symbolic dimension, naming both inputs and their sizes', () => {
    expect(() => validateInputs([fp32('a', [2, 3]), fp32('b', [3, 2])], pair, names)).toThrow(
      'input "b": dimension 0 ("N") is 3, but input "a" has 2 there; inputs sharing "N" must agree',
    );
    expect(() => validateInputs([fp32('a', [2, 3]), fp32('b', [3, 2])], pair, names)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('accepts inputs that agree, and does not check without names', () => {
    expect(validateInputs([fp32('a', [3, 3]), fp32('b', [3, 2])], pair, names)).toHaveLength(2);
    expect(validateInputs([fp32('a', [2, 3]), fp32('b', [3, 2])], pair)).toHaveLength(2);
    // An unnamed free dimension ('') is not shared.
    expect(
      validateInputs(
        [fp32('a', [2, 3]), fp32('b', [3, 2])],
        pair,
        new Map([
          ['a', ['', '']],
          ['b', ['', '']],
        ]),
      ),
    ).toHaveLength(2);
  });
});
