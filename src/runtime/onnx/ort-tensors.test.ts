import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { DATATYPES } from '../../tensor/datatypes.js';
import type { Datatype, Tensor } from '../../tensor/datatypes.js';
import { datatypeOfOrtType, fromOrtTensor, ORT_TYPE_OF, toOrtTensor } from './ort-tensors.js';
import { sampleTensor } from './tiny-onnx.test-support.js';

describe('toOrtTensor / fromOrtTensor', () => {
  it.each(DATATYPES)('round-trips %s with its values, shape and storage', (datatype) => {
    const original = sampleTensor(datatype);
    const ortTensor = toOrtTensor(original);
    expect(ortTensor.type).toBe(ORT_TYPE_OF[datatype]);
    expect(ortTensor.dims).toEqual([3, 2]);
    const back = fromOrtTensor('y', ortTensor);
    expect(back.name).toBe('y');
    expect(back.datatype).toBe(datatype);
    expect(back.shape).toEqual([3, 2]);
    expect(back.data.constructor).toBe(original.data.constructor);
    expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(original.data as ArrayLike<unknown>));
  });

  it('maps every ORT type string the runtime reports', () => {
    const expected: Record<string, Datatype> = {
      float32: 'FP32',
      float64: 'FP64',
      float16: 'FP16',
      int8: 'INT8',
      int16: 'INT16',
      int32: 'INT32',
      int64: 'INT64',
      uint8: 'UINT8',
      uint16: 'UINT16',
      uint32: 'UINT32',
      uint64: 'UINT64',
      bool: 'BOOL',
      string: 'BYTES',
    };
    for (const [ortType, datatype] of Object.entries(expected)) expect(datatypeOfOrtType(ortType)).toBe(datatype);
    expect(datatypeOfOrtType('int4')).toBeUndefined();
    expect(datatypeOfOrtType('bfloat16')).toBeUndefined();
  });

  it('does not copy numeric input data', () => {
    const data = Float32Array.from([1, 2]);
    expect(toOrtTensor({ name: 'x', datatype: 'FP32', shape: [1, 2], data }).data).toBe(data);
  });

  it('handles empty and scalar tensors', () => {
    expect(
      fromOrtTensor('e', toOrtTensor({ name: 'e', datatype: 'FP32', shape: [0, 4], data: new Float32Array(0) })).shape,
    ).toEqual([0, 4]);
    const scalar = fromOrtTensor(
      's',
      toOrtTensor({ name: 's', datatype: 'INT64', shape: [], data: BigInt64Array.of(7n) }),
    );
    expect(scalar.shape).toEqual([]);
    expect(scalar.data).toEqual(BigInt64Array.of(7n));
  });

  it('rejects data whose length does not match the shape', () => {
    const bad: Tensor = { name: 'x', datatype: 'FP32', shape: [2, 2], data: new Float32Array(3) };
    expect(() => toOrtTensor(bad)).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('needs 4 elements, got 3'),
      }),
    );
  });

  it('rejects data stored in the wrong typed array', () => {
    const cases: Tensor[] = [
      { name: 'x', datatype: 'INT64', shape: [2], data: new Int32Array(2) },
      { name: 'x', datatype: 'FP16', shape: [2], data: new Float32Array(2) },
      { name: 'x', datatype: 'BOOL', shape: [2], data: new Int8Array(2) },
      { name: 'x', datatype: 'BYTES', shape: [2], data: new Uint8Array(2) },
      { name: 'x', datatype: 'FP32', shape: [2], data: ['a', 'b'] },
    ];
    for (const tensor of cases) {
      expect(() => toOrtTensor(tensor), tensor.datatype).toThrow(SlipwayError);
      expect(() => toOrtTensor(tensor)).toThrow(new RegExp(`${tensor.datatype} data must be a`));
    }
  });

  it('rejects negative or fractional dimensions', () => {
    expect(() => toOrtTensor({ name: 'x', datatype: 'FP32', shape: [-1, 2], data: new Float32Array(0) })).toThrow(
      /invalid shape/,
    );
  });

  it('reports an ORT element type Slipway does not serve as INTERNAL', () => {
    const int4 = new ort.Tensor('int4', new Uint8Array(1) as unknown as Int8Array, [2]); // typed Int8Array, wants Uint8Array
    expect(() => fromOrtTensor('q', int4)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});
