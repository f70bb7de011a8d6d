import { describe, expect, it } from 'vitest';
import { tensorFromBytes } from './raw-bytes.js';

/** tensorFromBytes shares the source's memory when it can (no second copy of a large request body). */
describe('tensorFromBytes views aligned bytes instead of copying', () => {
  it('is a view of the same buffer at the same offset when the offset is a multiple of the element size', () => {
    const body = new Uint8Array(24);
    body.set(new Uint8Array(new Float32Array([1.5, -2]).buffer), 12);
    const data = tensorFromBytes('x', 'FP32', [2], body.subarray(12, 20)) as Float32Array;
    expect(data).toBeInstanceOf(Float32Array);
    expect(data.buffer).toBe(body.buffer);
    expect(data.byteOffset).toBe(12);
    expect(Array.from(data)).toEqual([1.5, -2]);
  });

  it('views 8-byte types at an offset that is a multiple of 8', () => {
    const body = new Uint8Array(24);
    body.set(new Uint8Array(new BigInt64Array([7n, -1n]).buffer), 8);
    const data = tensorFromBytes('x', 'INT64', [2], body.subarray(8)) as BigInt64Array;
    expect(data.buffer).toBe(body.buffer);
    expect(data.byteOffset).toBe(8);
    expect(Array.from(data)).toEqual([7n, -1n]);
  });

  it('copies when the offset is not a multiple of the element size', () => {
    const body = new Uint8Array(20);
    body.set(new Uint8Array(new Float64Array([2.5]).buffer), 4);
    const data = tensorFromBytes('x', 'FP64', [1], body.subarray(4, 12)) as Float64Array;
    expect(data.buffer).not.toBe(body.buffer);
    expect(data.byteOffset).toBe(0);
    expect(Array.from(data)).toEqual([2.5]);
  });

  it('views one-byte types at any offset', () => {
    const body = Uint8Array.from([9, 1, 0, 1]);
    const data = tensorFromBytes('x', 'BOOL', [3], body.subarray(1)) as Uint8Array;
    expect(data.buffer).toBe(body.buffer);
    expect(data.byteOffset).toBe(1);
    expect(Array.from(data)).toEqual([1, 0, 1]);
  });
});
