import { describe, expect, it } from 'vitest';
import type { Tensor } from './datatypes.js';
import { DATATYPE_SAMPLES } from './datatype-samples.test-support.js';
import { rawByteLength, tensorFromBytes, tensorToBytes } from './raw-bytes.js';

const samples = DATATYPE_SAMPLES;

describe('raw tensor bytes', () => {
  it.each(samples)('%s round-trips exactly', (datatype, data) => {
    const tensor = { name: 'x', datatype, shape: [2, 2], data } as Tensor;
    const bytes = tensorToBytes(tensor);
    expect(bytes.byteLength).toBe(rawByteLength(tensor));
    const back = tensorFromBytes('input "x"', datatype, [2, 2], bytes);
    expect(Array.from(back as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
    expect(back.constructor).toBe(data.constructor);
  });

  it('lays out fixed types little-endian and BYTES with 4-byte length prefixes', () => {
    expect(Array.from(tensorToBytes({ datatype: 'INT32', data: new Int32Array([1, 256]) }))).toEqual([
      1, 0, 0, 0, 0, 1, 0, 0,
    ]);
    expect(Array.from(tensorToBytes({ datatype: 'BYTES', data: ['ab', ''] }))).toEqual([
      2, 0, 0, 0, 97, 98, 0, 0, 0, 0,
    ]);
  });

  it('decodes from an unaligned slice', () => {
    const body = new Uint8Array(9);
    body.set(new Uint8Array(new Float64Array([2.5]).buffer), 1);
    expect(Array.from(tensorFromBytes('x', 'FP64', [1], body.subarray(1)) as Float64Array)).toEqual([2.5]);
  });

  it.each([
    ['FP32', [2, 2], new Uint8Array(15), /15 bytes of raw data, but FP32 shape \[2,2\] needs 16/],
    ['BYTES', [2], new Uint8Array([1, 0, 0, 0, 97]), /ends inside the length of element 1/],
    ['BYTES', [1], new Uint8Array([9, 0, 0, 0, 97]), /element 0 says 9 bytes but only 1 remain/],
    ['BYTES', [1], new Uint8Array([1, 0, 0, 0, 97, 98]), /1 bytes left over/],
  ] as const)('refuses a wrong byte count for %s %j', (datatype, shape, bytes, message) => {
    expect(() => tensorFromBytes('input "x"', datatype, shape, bytes)).toThrow(message);
  });
});
