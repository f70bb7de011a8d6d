import { describe, expect, it } from 'vitest';
import { DATATYPES } from './datatypes.js';
import type { Datatype, Tensor } from './datatypes.js';
import { canWiden, convertTensor } from './widening.js';

const ALLOWED: Record<string, readonly Datatype[]> = {
  INT8: ['INT16', 'INT32', 'INT64', 'FP32', 'FP64'],
  UINT8: ['UINT16', 'UINT32', 'UINT64', 'INT16', 'INT32', 'INT64', 'FP32', 'FP64'],
  INT16: ['INT32', 'INT64', 'FP32', 'FP64'],
  UINT16: ['UINT32', 'UINT64', 'INT32', 'INT64', 'FP32', 'FP64'],
  INT32: ['INT64', 'FP64'],
  UINT32: ['UINT64', 'INT64', 'FP64'],
  FP16: ['FP32', 'FP64'],
  FP32: ['FP64'],
};

describe('canWiden', () => {
  it('allows exactly the lossless pairs (all 169 pairs checked)', () => {
    const allowed: string[] = [];
    for (const from of DATATYPES) for (const to of DATATYPES) if (canWiden(from, to)) allowed.push(`${from}->${to}`);
    const expected = Object.entries(ALLOWED).flatMap(([from, tos]) => tos.map((to) => `${from}->${to}`));
    expect(allowed.sort()).toEqual(expected.sort());
  });

  it('rejects the lossy and unrelated pairs people expect to work', () => {
    expect(canWiden('INT64', 'FP64')).toBe(false);
    expect(canWiden('INT32', 'FP32')).toBe(false);
    expect(canWiden('FP32', 'FP32')).toBe(false);
    expect(canWiden('BOOL', 'UINT8')).toBe(false);
    expect(canWiden('UINT8', 'BOOL')).toBe(false);
    expect(canWiden('INT8', 'UINT16')).toBe(false);
  });
});

const tensor = (datatype: Datatype, data: Tensor['data']): Tensor => ({
  name: 'x',
  datatype,
  shape: [data.length],
  data,
});

describe('convertTensor', () => {
  it('widens integers to integers exactly', () => {
    const t = convertTensor(tensor('INT32', new Int32Array([-2147483648, 0, 2147483647])), 'INT64');
    expect(t).toEqual({
      name: 'x',
      datatype: 'INT64',
      shape: [3],
      data: new BigInt64Array([-2147483648n, 0n, 2147483647n]),
    });
    expect(convertTensor(tensor('UINT32', new Uint32Array([4294967295])), 'UINT64').data).toEqual(
      new BigUint64Array([4294967295n]),
    );
    expect(convertTensor(tensor('UINT32', new Uint32Array([4294967295])), 'INT64').data).toEqual(
      new BigInt64Array([4294967295n]),
    );
    expect(convertTensor(tensor('INT8', new Int8Array([-128, 127])), 'INT16').data).toEqual(
      new Int16Array([-128, 127]),
    );
    expect(convertTensor(tensor('UINT8', new Uint8Array([255])), 'INT16').data).toEqual(new Int16Array([255]));
    expect(convertTensor(tensor('UINT16', new Uint16Array([65535])), 'INT32').data).toEqual(new Int32Array([65535]));
    expect(convertTensor(tensor('UINT16', new Uint16Array([65535])), 'UINT32').data).toEqual(new Uint32Array([65535]));
  });

  it('widens integers and floats to floats exactly', () => {
    expect(convertTensor(tensor('INT16', new Int16Array([-32768, 32767])), 'FP32').data).toEqual(
      new Float32Array([-32768, 32767]),
    );
    expect(convertTensor(tensor('INT32', new Int32Array([2147483647])), 'FP64').data).toEqual(
      new Float64Array([2147483647]),
    );
    expect(convertTensor(tensor('FP32', new Float32Array([0.1])), 'FP64').data).toEqual(
      new Float64Array([Math.fround(0.1)]),
    );
  });

  it('decodes FP16 bits rather than copying them', () => {
    const t = convertTensor(tensor('FP16', new Uint16Array([0x3c00, 0xc000, 0x7c00])), 'FP32');
    expect(t.data).toEqual(new Float32Array([1, -2, Infinity]));
  });

  it('returns the same tensor for the same datatype and refuses lossy pairs', () => {
    const t = tensor('INT64', new BigInt64Array([1n]));
    expect(convertTensor(t, 'INT64')).toBe(t);
    expect(() => convertTensor(t, 'FP64')).toThrow('input "x": cannot convert INT64 to FP64 without loss');
  });
});
