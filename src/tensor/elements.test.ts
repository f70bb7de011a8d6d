import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { decodeElements } from './elements.js';

const at = (i: number): string => `input "x": element ${i}`;
const decode = (datatype: Parameters<typeof decodeElements>[0], values: unknown[]) =>
  decodeElements(datatype, values, at);

describe('decodeElements: floats', () => {
  it('writes numbers straight into typed storage', () => {
    expect(decode('FP32', [1.5, -2, 0.1])).toEqual(new Float32Array([1.5, -2, 0.1]));
    expect(decode('FP64', [0.1, 1e300])).toEqual(new Float64Array([0.1, 1e300]));
    expect(decode('FP16', [1, 65504, -0])).toEqual(new Uint16Array([0x3c00, 0x7bff, 0x8000]));
  });

  it('accepts the special strings', () => {
    const out = decode('FP32', ['NaN', 'Infinity', '-Infinity']);
    expect([...out]).toEqual([NaN, Infinity, -Infinity]);
    expect(decode('FP16', ['NaN', 'Infinity', '-Infinity'])).toEqual(new Uint16Array([0x7e00, 0x7c00, 0xfc00]));
  });

  it('names the element, what came and what was expected', () => {
    expect(() => decode('FP32', [1, 2, 3, 'abc'])).toThrow(
      'input "x": element 3 is "abc" (string), expected a number for FP32',
    );
    expect(() => decode('FP64', [null])).toThrow('input "x": element 0 is null, expected a number for FP64');
    expect(() => decode('FP32', [[1]])).toThrow('input "x": element 0 is an array, expected a number for FP32');
    expect(() => decode('FP16', [true])).toThrow('input "x": element 0 is true (boolean), expected a number for FP16');
    expect(() => decode('FP32', ['nan'])).toThrow('input "x": element 0 is "nan" (string), expected a number for FP32');
  });

  it('rejects values that would silently become infinite', () => {
    expect(decode('FP32', [3.4028235e38])).toEqual(new Float32Array([3.4028234663852886e38])); // FLT_MAX as usually printed
    expect(() => decode('FP32', [1e39])).toThrow(
      'input "x": element 0 is 1e+39, out of range for FP32 (±3.4028234663852886e+38; send "Infinity", "-Infinity" or "NaN" as strings)',
    );
    expect(() => decode('FP16', [1, 70000])).toThrow('input "x": element 1 is 70000, out of range for FP16 (±65504;');
    expect(() => decode('FP64', [Infinity])).toThrow(
      'input "x": element 0 is Infinity, out of range for FP64 (finite;',
    );
    expect(() => decode('FP64', [NaN])).toThrow('input "x": element 0 is NaN (number), expected a number for FP64');
  });

  it('throws INVALID_ARGUMENT', () => {
    try {
      decode('FP32', ['x']);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SlipwayError);
      expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('decodeElements: integers', () => {
  it('checks integers and ranges per type', () => {
    expect(decode('INT8', [-128, 127])).toEqual(new Int8Array([-128, 127]));
    expect(decode('UINT32', [0, 4294967295])).toEqual(new Uint32Array([0, 4294967295]));
    expect(() => decode('UINT8', [300])).toThrow('input "x": element 0 is 300, out of range for UINT8 (0..255)');
    expect(() => decode('INT16', [0, -32769])).toThrow(
      'input "x": element 1 is -32769, out of range for INT16 (-32768..32767)',
    );
    expect(() => decode('INT32', [1.5])).toThrow('input "x": element 0 is 1.5 (number), expected an integer for INT32');
    expect(() => decode('INT32', ['5'])).toThrow('input "x": element 0 is "5" (string), expected an integer for INT32');
  });

  it('takes INT64/UINT64 as safe numbers or decimal strings', () => {
    expect(decode('INT64', [1, -2, '9223372036854775807', '-9223372036854775808'])).toEqual(
      new BigInt64Array([1n, -2n, 9223372036854775807n, -9223372036854775808n]),
    );
    expect(decode('UINT64', ['18446744073709551615', 7])).toEqual(new BigUint64Array([18446744073709551615n, 7n]));
  });

  it('rejects 64-bit values it cannot represent exactly', () => {
    expect(() => decode('INT64', ['9223372036854775808'])).toThrow(
      'input "x": element 0 is "9223372036854775808", out of range for INT64 (-9223372036854775808..9223372036854775807)',
    );
    expect(() => decode('UINT64', [-1])).toThrow(
      'input "x": element 0 is -1, out of range for UINT64 (0..18446744073709551615)',
    );
    expect(() => decode('INT64', [2 ** 60])).toThrow(
      'input "x": element 0 is 1152921504606847000, too large to be exact as a JSON number; send INT64 values beyond ±9007199254740991 as decimal strings',
    );
    expect(() => decode('INT64', ['1.5'])).toThrow(
      'input "x": element 0 is "1.5" (string), expected an integer (or a decimal string) for INT64',
    );
    expect(() => decode('UINT64', [0.5])).toThrow(
      'input "x": element 0 is 0.5 (number), expected an integer (or a decimal string) for UINT64',
    );
  });
});

describe('decodeElements: BOOL and BYTES', () => {
  it('takes booleans as 0/1 bytes', () => {
    expect(decode('BOOL', [true, false, true])).toEqual(new Uint8Array([1, 0, 1]));
    expect(() => decode('BOOL', [1])).toThrow('input "x": element 0 is 1 (number), expected true or false for BOOL');
  });

  it('takes strings as they are', () => {
    expect(decode('BYTES', ['a', ''])).toEqual(['a', '']);
    expect(() => decode('BYTES', ['a', 5])).toThrow('input "x": element 1 is 5 (number), expected a string for BYTES');
  });
});
