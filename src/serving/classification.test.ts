import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';
import { encodeFp16 } from '../tensor/fp16.js';
import { classify, formatFloat, parseClassification } from './classification.js';

const signature: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [
    { name: 'label', datatype: 'BYTES', shape: [-1] },
    { name: 'flag', datatype: 'BOOL', shape: [-1, 1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
    { name: 'logits', datatype: 'FP64', shape: [-1, 3] },
  ],
};

function refusal(fn: () => unknown): SlipwayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseClassification', () => {
  it('maps each output that asks for classification to its k, and nothing else', () => {
    const wanted = parseClassification(
      [
        { name: 'probabilities', parameters: { classification: 2, binary_data: true } },
        { name: 'logits', parameters: { classification: 1 } },
        { name: 'label' },
        { name: 'flag', parameters: { binary_data: false } },
      ],
      signature,
    );
    expect([...wanted]).toEqual([
      ['probabilities', 2],
      ['logits', 1],
    ]);
    expect(parseClassification(undefined, signature).size).toBe(0);
    expect(parseClassification([{ name: 'label', parameters: undefined }], signature).size).toBe(0);
  });

  it.each([
    [
      0,
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got 0',
    ],
    [
      -1,
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got -1',
    ],
    [
      1.5,
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got 1.5',
    ],
    [
      '2',
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got "2"',
    ],
    [
      true,
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got true',
    ],
    [
      null,
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got null',
    ],
    [
      2 ** 53,
      'output "probabilities": "parameters.classification" must be a positive integer (how many classes to return), got 9007199254740992',
    ],
  ])('refuses k = %j naming the output', (k, message) => {
    const error = refusal(() =>
      parseClassification([{ name: 'probabilities', parameters: { classification: k } }], signature),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(message);
  });

  it.each([
    ['label', 'output "label": "parameters.classification" needs a numeric output, and "label" is BYTES'],
    ['flag', 'output "flag": "parameters.classification" needs a numeric output, and "flag" is BOOL'],
    ['nope', 'output "nope": "parameters.classification" names an output the model does not have'],
  ])('refuses classification of %s', (name, message) => {
    const error = refusal(() => parseClassification([{ name, parameters: { classification: 1 } }], signature));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(message);
  });
});

const fp32 = (shape: number[], values: number[]): Tensor => ({
  name: 'probabilities',
  datatype: 'FP32',
  shape,
  data: Float32Array.from(values),
});

describe('classify', () => {
  it("answers Triton's documented example: top 2 of [1.1, 3.3, 0.5, 2.4], shape [batch, k]", () => {
    expect(classify(fp32([1, 4], [1.1, 3.3, 0.5, 2.4]), 2)).toEqual({
      name: 'probabilities',
      datatype: 'BYTES',
      shape: [1, 2],
      data: ['3.300000:1', '2.400000:3'],
    });
  });

  it('classifies each row of a batch and adds labels when their count equals the classes', () => {
    const tensor = fp32([3, 3], [0.1, 0.7, 0.2, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6]);
    expect(classify(tensor, 2, ['setosa', 'versicolor', 'virginica'])).toEqual({
      name: 'probabilities',
      datatype: 'BYTES',
      shape: [3, 2],
      data: [
        '0.700000:1:versicolor',
        '0.200000:2:virginica',
        '0.600000:0:setosa',
        '0.300000:1:versicolor',
        '0.600000:2:virginica',
        '0.200000:0:setosa',
      ],
    });
    // Labels of another length belong to another output: none here.
    expect(classify(tensor, 1, ['a', 'b']).data).toEqual(['0.700000:1', '0.600000:0', '0.600000:2']);
  });

  it('returns every class, no more, when k is larger than the classes', () => {
    const result = classify(fp32([2, 3], [1, 2, 3, 6, 5, 4]), 10, ['a', 'b', 'c']);
    expect(result.shape).toEqual([2, 3]);
    expect(result.data).toEqual([
      '3.000000:2:c',
      '2.000000:1:b',
      '1.000000:0:a',
      '6.000000:0:a',
      '5.000000:1:b',
      '4.000000:2:c',
    ]);
  });

  it('orders equal scores by index, lowest first, on both the insertion and the sort path', () => {
    expect(classify(fp32([1, 5], [0.25, 0.5, 0.25, 0.5, 0.25]), 4).data).toEqual([
      '0.500000:1',
      '0.500000:3',
      '0.250000:0',
      '0.250000:2',
    ]);
    // 40 classes, k = 40 (sorted): scores 0..3 repeating, so each score holds 10 indices.
    const many = fp32(
      [1, 40],
      Array.from({ length: 40 }, (_, i) => i % 4),
    );
    const sorted = classify(many, 40).data as string[];
    expect(sorted.slice(0, 11)).toEqual([
      ...[3, 7, 11, 15, 19, 23, 27, 31, 35, 39].map((i) => `3.000000:${i}`),
      '2.000000:2',
    ]);
    expect(sorted.at(-1)).toBe('0.000000:36');
    expect(classify(many, 12).data).toEqual(sorted.slice(0, 12));
  });

  it('gives the same top-k by insertion (small k) and by sorting (large k) on random scores', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const tensor = fp32(
      [4, 100],
      Array.from({ length: 400 }, () => Math.round(random() * 50) / 50),
    );
    const all = classify(tensor, 100).data as string[];
    const top5 = classify(tensor, 5).data as string[];
    for (let row = 0; row < 4; row++)
      expect(top5.slice(row * 5, row * 5 + 5)).toEqual(all.slice(row * 100, row * 100 + 5));
  });

  it('compares integers in their own type (INT64 beyond 2^53 exact) and prints them in decimal', () => {
    const int64: Tensor = {
      name: 'v',
      datatype: 'INT64',
      shape: [1, 4],
      data: BigInt64Array.from([9007199254740993n, -3n, 9007199254740992n, 5n]),
    };
    expect(classify(int64, 3).data).toEqual(['9007199254740993:0', '9007199254740992:2', '5:3']);
    const uint8: Tensor = {
      name: 'v',
      datatype: 'UINT8',
      shape: [2, 3],
      data: Uint8Array.from([255, 0, 128, 1, 2, 2]),
    };
    expect(classify(uint8, 2).data).toEqual(['255:0', '128:2', '2:1', '2:2']);
  });

  it('treats a rank-1 output as one row (shape [k]) and a scalar as one class', () => {
    const int32: Tensor = { name: 'v', datatype: 'INT32', shape: [4], data: Int32Array.from([1, 5, 10, 4]) };
    expect(classify(int32, 2)).toEqual({ name: 'v', datatype: 'BYTES', shape: [2], data: ['10:2', '5:1'] });
    const scalar: Tensor = { name: 's', datatype: 'FP64', shape: [], data: Float64Array.from([0.25]) };
    expect(classify(scalar, 3)).toEqual({ name: 's', datatype: 'BYTES', shape: [1], data: ['0.250000:0'] });
    expect(classify(fp32([0, 3], []), 2)).toEqual({
      name: 'probabilities',
      datatype: 'BYTES',
      shape: [0, 2],
      data: [],
    });
  });

  it('flattens the dimensions after the batch into the classes', () => {
    expect(classify(fp32([1, 2, 2], [0.1, 0.4, 0.3, 0.2]), 2).data).toEqual(['0.400000:1', '0.300000:2']);
  });

  it('ranks NaN last and prints nan, inf, -inf and negative zero as C does', () => {
    const fp64: Tensor = {
      name: 'v',
      datatype: 'FP64',
      shape: [1, 5],
      data: Float64Array.from([Number.NaN, -Infinity, 1 / 128, -0, Infinity]),
    };
    expect(classify(fp64, 5).data).toEqual(['inf:4', '0.007812:2', '-0.000000:3', '-inf:1', 'nan:0']);
  });

  it('reads FP16 scores as numbers', () => {
    const fp16: Tensor = { name: 'h', datatype: 'FP16', shape: [1, 3], data: encodeFp16([0.5, 2, -1.5]) };
    expect(classify(fp16, 2).data).toEqual(['2.000000:1', '0.500000:0']);
  });

  it('refuses non-numeric tensors and a bad k, naming the output', () => {
    const bytes: Tensor = { name: 'label', datatype: 'BYTES', shape: [1], data: ['a'] };
    expect(refusal(() => classify(bytes, 1)).message).toBe(
      'output "label": classification needs a numeric output, not BYTES',
    );
    expect(refusal(() => classify(fp32([1, 2], [1, 2]), 0)).message).toBe(
      'output "probabilities": classification count must be a positive integer, got 0',
    );
  });
});

describe('formatFloat (C printf %f)', () => {
  it.each([
    [0.8, '0.800000'],
    [Math.fround(0.8), '0.800000'],
    // The double nearest 1234.5678905 is 1234.56789049999...: down, as printf.
    [1234.5678905, '1234.567890'],
    [1234.5678915, '1234.567892'],
    [1e-7, '0.000000'],
    [-1e-9, '-0.000000'],
    [-2.5, '-2.500000'],
    // Ties at the sixth decimal go to even (toFixed would round 0.0078125 up).
    [1 / 128, '0.007812'],
    [3 / 128, '0.023438'],
    [-5 / 128, '-0.039062'],
    [2 ** 60, '1152921504606846976.000000'],
    [1e22, '10000000000000000000000.000000'],
  ])('%s -> %s', (value, text) => {
    expect(formatFloat(value)).toBe(text);
  });
});
