import { describe, expect, it } from 'vitest';
import type { Tensor } from './datatypes.js';
import { decodeRequestInput, encodeResponseOutput } from './json-codec.js';

const input = (fields: Record<string, unknown>): unknown => ({
  name: 'input',
  datatype: 'FP32',
  shape: [1, 3],
  data: [1, 2, 3],
  ...fields,
});

describe('decodeRequestInput', () => {
  it('decodes flat FP32 data into a Float32Array', () => {
    const t = decodeRequestInput(input({}), 0);
    expect(t).toEqual({ name: 'input', datatype: 'FP32', shape: [1, 3], data: new Float32Array([1, 2, 3]) });
    expect(t.data).toBeInstanceOf(Float32Array);
  });

  it('flattens nested data row-major', () => {
    const t = decodeRequestInput(
      {
        name: 'x',
        datatype: 'UINT32',
        shape: [2, 2],
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      0,
    );
    expect(t.data).toEqual(new Uint32Array([1, 2, 3, 4]));
  });

  it('decodes the spec example and every datatype family', () => {
    expect(
      decodeRequestInput({ name: 'input1', datatype: 'BOOL', shape: [3], data: [true, false, true] }, 1).data,
    ).toEqual(new Uint8Array([1, 0, 1]));
    expect(
      decodeRequestInput({ name: 'id', datatype: 'INT64', shape: [2], data: [5, '9007199254740993'] }, 0).data,
    ).toEqual(new BigInt64Array([5n, 9007199254740993n]));
    expect(decodeRequestInput({ name: 's', datatype: 'BYTES', shape: [1, 1], data: [['hi']] }, 0).data).toEqual(['hi']);
    expect(decodeRequestInput({ name: 'h', datatype: 'FP16', shape: [2], data: [1, 'NaN'] }, 0).data).toEqual(
      new Uint16Array([0x3c00, 0x7e00]),
    );
    expect(decodeRequestInput({ name: 'z', datatype: 'FP32', shape: [0, 30], data: [] }, 0).data).toEqual(
      new Float32Array(0),
    );
    expect(decodeRequestInput({ name: 'k', datatype: 'INT32', shape: [], data: [7] }, 0).data).toEqual(
      new Int32Array([7]),
    );
  });

  it('checks the fields of the input object', () => {
    expect(() => decodeRequestInput(null, 2)).toThrow(
      'inputs[2] must be an object with "name", "datatype", "shape" and "data", got null',
    );
    expect(() => decodeRequestInput([1], 0)).toThrow(
      'inputs[0] must be an object with "name", "datatype", "shape" and "data", got [1]',
    );
    expect(() => decodeRequestInput(input({ name: '' }), 1)).toThrow(
      'inputs[1]: "name" must be a non-empty string, got ""',
    );
    expect(() => decodeRequestInput(input({ name: undefined }), 1)).toThrow(
      'inputs[1]: "name" must be a non-empty string, got nothing',
    );
    expect(() => decodeRequestInput(input({ datatype: 'FLOAT' }), 2)).toThrow(
      'inputs[2]: "datatype" must be one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES, got "FLOAT"',
    );
    expect(() => decodeRequestInput(input({ shape: [1, -2] }), 0)).toThrow(
      'input "input": shape must be an array of non-negative integers, got [1,-2]',
    );
    expect(() => decodeRequestInput(input({ shape: [1.5] }), 0)).toThrow(
      'input "input": shape must be an array of non-negative integers, got [1.5]',
    );
    expect(() => decodeRequestInput(input({ shape: '1,3' }), 0)).toThrow(
      'input "input": shape must be an array of non-negative integers, got "1,3"',
    );
    expect(() => decodeRequestInput(input({ data: undefined }), 0)).toThrow(
      'input "input": "data" must be an array, got nothing',
    );
    expect(() => decodeRequestInput(input({ data: 5 }), 0)).toThrow('input "input": "data" must be an array, got 5');
  });

  it('requires the element count to match the shape', () => {
    const data = Array.from({ length: 29 }, (_, i) => i);
    expect(() => decodeRequestInput(input({ shape: [1, 30], data }), 0)).toThrow(
      'input "input": data has 29 elements but shape [1,30] needs 30',
    );
    expect(() => decodeRequestInput(input({ shape: [2, 2], data: [[1, 2, 3]] }), 0)).toThrow(
      'input "input": data has 3 elements but shape [2,2] needs 4',
    );
  });

  it('names the offending element by its flat position', () => {
    expect(() => decodeRequestInput(input({ shape: [4], data: [1, 2, 3, 'abc'] }), 0)).toThrow(
      'input "input": element 3 is "abc" (string), expected a number for FP32',
    );
    expect(() =>
      decodeRequestInput(
        {
          name: 'x',
          datatype: 'UINT8',
          shape: [2, 2],
          data: [
            [1, 2],
            [300, 4],
          ],
        },
        0,
      ),
    ).toThrow('input "x": element 2 is 300, out of range for UINT8 (0..255)');
  });

  it('refuses ragged and overly deep nesting', () => {
    expect(() => decodeRequestInput(input({ shape: [2, 2], data: [[1, 2], [3]] }), 0)).toThrow(
      'input "input": data is ragged: data[1] has 1 items but data[0] has 2',
    );
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => decodeRequestInput(input({ shape: [1], data: deep }), 0)).toThrow(
      'input "input": data is nested more than 32 levels deep',
    );
  });

  it('quotes names safely in messages', () => {
    expect(() => decodeRequestInput(input({ name: 'a"b', data: [1, 2] }), 0)).toThrow(
      'input "a\\"b": data has 2 elements but shape [1,3] needs 3',
    );
  });
});

describe('encodeResponseOutput', () => {
  const encode = (datatype: Tensor['datatype'], data: Tensor['data'], shape = [data.length]) =>
    encodeResponseOutput({ name: 'out', datatype, shape, data });

  it('writes flat JSON data with the shape', () => {
    expect(encode('FP32', new Float32Array([1.5, 2]), [2, 1])).toEqual({
      name: 'out',
      datatype: 'FP32',
      shape: [2, 1],
      data: [1.5, 2],
    });
  });

  it('converts each datatype to JSON values', () => {
    expect(encode('INT64', new BigInt64Array([-3n, 2n ** 40n])).data).toEqual([-3, 2 ** 40]);
    expect(encode('UINT64', new BigUint64Array([7n])).data).toEqual([7]);
    expect(encode('FP16', new Uint16Array([0x3c00, 0x3555])).data).toEqual([1, 0.333251953125]);
    expect(encode('BOOL', new Uint8Array([1, 0])).data).toEqual([true, false]);
    expect(encode('BYTES', ['a', 'b']).data).toEqual(['a', 'b']);
    expect(encode('INT8', new Int8Array([-1])).data).toEqual([-1]);
  });

  it('leaves NaN and Infinity as numbers, which JSON.stringify writes as null', () => {
    const out = encode('FP64', new Float64Array([NaN, Infinity]));
    expect(out.data).toEqual([NaN, Infinity]);
    expect(JSON.stringify(out.data)).toBe('[null,null]');
  });

  it('round-trips with decodeRequestInput', () => {
    const raw = { name: 'x', datatype: 'INT16', shape: [2, 2], data: [1, -2, 3, -4] };
    expect(encodeResponseOutput(decodeRequestInput(raw, 0))).toEqual(raw);
  });
});
