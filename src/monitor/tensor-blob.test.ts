import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { DATATYPES } from '../tensor/datatypes.js';
import type { Datatype, Tensor } from '../tensor/datatypes.js';
import { DATATYPE_SAMPLES } from '../tensor/datatype-samples.test-support.js';
import { BinaryWriter } from './prediction-binary.js';
import { TensorHeaderCache, datatypeCode, decodeTensors, encodeTensors, writeTensors } from './tensor-blob.js';

const samples = DATATYPE_SAMPLES;

function plain(tensors: readonly Tensor[]): unknown[] {
  return tensors.map((t) => ({
    name: t.name,
    datatype: t.datatype,
    shape: [...t.shape],
    type: t.data.constructor.name,
    data: Array.from(t.data as ArrayLike<unknown>),
  }));
}

describe('tensor blobs', () => {
  it.each(samples)('%s round-trips with its name, shape, array type and values', (datatype, data) => {
    const tensor = { name: `t_${datatype}`, datatype, shape: [2, 2], data } as Tensor;
    expect(plain(decodeTensors(encodeTensors([tensor])))).toEqual(plain([tensor]));
  });

  it('round-trips all 13 datatypes in one blob, plus empty and scalar tensors and a non-ASCII name', () => {
    const tensors: Tensor[] = [
      ...samples.map(([datatype, data], i) => ({ name: `in${i}`, datatype, shape: [4], data })),
      { name: 'empty', datatype: 'FP32', shape: [0, 3], data: new Float32Array(0) },
      { name: 'scalar', datatype: 'INT64', shape: [], data: new BigInt64Array([42n]) },
      { name: 'größe', datatype: 'UINT8', shape: [1], data: new Uint8Array([7]) },
    ];
    const blob = encodeTensors(tensors);
    expect(plain(decodeTensors(blob))).toEqual(plain(tensors));
    expect(decodeTensors(encodeTensors([]))).toEqual([]);
  });

  it('encodes views into a larger buffer, and Buffers, by their own bytes only', () => {
    const batch = new Float32Array([9, 1, 2, 3, 9]);
    const bytes = Buffer.from([5, 6, 7]);
    const tensors: Tensor[] = [
      { name: 'row', datatype: 'FP32', shape: [1, 3], data: batch.subarray(1, 4) },
      { name: 'raw', datatype: 'UINT8', shape: [2], data: bytes.subarray(1) },
    ];
    const [row, raw] = decodeTensors(encodeTensors(tensors));
    expect(Array.from(row!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(Array.from(raw!.data as Uint8Array)).toEqual([6, 7]);
  });

  it('numbers datatypes by their index in DATATYPES', () => {
    DATATYPES.forEach((datatype, index) => expect(datatypeCode(datatype)).toBe(index));
    expect(datatypeCode('FP8' as Datatype)).toBe(-1);
  });

  it('is compact: header, dims, name, padding to 8, then the raw bytes', () => {
    const blob = encodeTensors([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) }]);
    // 4 blob header + 8 tensor header + 8 dims + 1 name = 21, padded to 24, + 8 data.
    expect(blob.byteLength).toBe(32);
    expect(Array.from(blob.subarray(0, 4))).toEqual([1, 0, 1, 0]);
  });

  it('decodes from an unaligned copy (as a database driver may hand it back)', () => {
    const blob = encodeTensors([{ name: 'x', datatype: 'FP64', shape: [2], data: new Float64Array([1.5, -2]) }]);
    const shifted = new Uint8Array(blob.byteLength + 3);
    shifted.set(blob, 3);
    expect(Array.from(decodeTensors(shifted.subarray(3))[0]!.data as Float64Array)).toEqual([1.5, -2]);
  });

  it('appends to a writer that grows, keeping what was written before', () => {
    const writer = new BinaryWriter(64);
    writer.u32(0xdeadbeef);
    writer.align(8);
    const big = new Float64Array(1000).map((_, i) => i);
    const length = writeTensors(writer, [{ name: 'big', datatype: 'FP64', shape: [1000], data: big }]);
    expect(new DataView(writer.buffer).getUint32(0, true)).toBe(0xdeadbeef);
    const [back] = decodeTensors(new Uint8Array(writer.buffer, 8, length));
    expect(Array.from(back!.data as Float64Array)).toEqual(Array.from(big));
  });

  it('with a header cache writes exactly the bytes it writes without one, whatever changes between blobs', () => {
    const f32 = (name: string, shape: number[]): Tensor => ({
      name,
      datatype: 'FP32',
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map(Math.random),
    });
    const sequence: Tensor[][] = [
      [f32('x', [1, 3]), f32('y', [1])],
      [f32('x', [1, 3]), f32('y', [1])], // same layout: copied headers
      [f32('x', [1, 5]), f32('y', [1])], // first changes: the second sits at another offset
      [f32('x', [5, 1]), f32('y', [1])], // same count, other shape
      [f32('z', [5, 1]), f32('y', [1])], // other name
      [{ name: 'z', datatype: 'INT32', shape: [5, 1], data: new Int32Array(5) }, f32('y', [1])], // other datatype
      [{ name: 't', datatype: 'BYTES', shape: [2], data: ['a', 'bc'] }, f32('y', [1])], // BYTES: never cached
      [{ name: 't', datatype: 'BYTES', shape: [2], data: ['abc', ''] }, f32('y', [1])],
      [f32('x', [1, 3])], // fewer tensors
      [f32('x', [1, 3]), f32('y', [1]), f32('w', [2])],
    ];
    const cache = new TensorHeaderCache();
    const writer = new BinaryWriter(64);
    for (const tensors of sequence) {
      writer.offset = 0;
      const length = writeTensors(writer, tensors, cache);
      const blob = new Uint8Array(writer.buffer, 0, length);
      expect(Buffer.from(blob).equals(encodeTensors(tensors))).toBe(true);
      expect(plain(decodeTensors(blob))).toEqual(plain(tensors));
    }
  });

  it('rejects data that does not match the shape, and damaged blobs', () => {
    expect(() => encodeTensors([{ name: 'x', datatype: 'FP32', shape: [3], data: new Float32Array(2) }])).toThrow(
      SlipwayError,
    );
    expect(() => encodeTensors([{ name: 'x', datatype: 'FP32', shape: [-1], data: new Float32Array(0) }])).toThrow(
      /elements|dimension/,
    );
    const blob = encodeTensors([{ name: 'x', datatype: 'INT32', shape: [2], data: new Int32Array([1, 2]) }]);
    expect(() => decodeTensors(blob.subarray(0, blob.byteLength - 1))).toThrow(SlipwayError);
    expect(() => decodeTensors(Buffer.concat([blob, Buffer.from([0])]))).toThrow(/after its last tensor/);
    const future = Buffer.from(blob);
    future[0] = 2;
    expect(() => decodeTensors(future)).toThrow(/version 2/);
  });
});
