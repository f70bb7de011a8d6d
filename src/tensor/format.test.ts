import { describe, expect, it } from 'vitest';
import { describeValue, formatShape, formatSpecs, preview, quote } from './format.js';

describe('format', () => {
  it('describes values with their JSON type', () => {
    expect(describeValue('abc')).toBe('"abc" (string)');
    expect(describeValue(1.5)).toBe('1.5 (number)');
    expect(describeValue(false)).toBe('false (boolean)');
    expect(describeValue(null)).toBe('null');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({})).toBe('an object');
    expect(describeValue(undefined)).toBe('nothing');
  });

  it('cuts long values short', () => {
    expect(quote('x'.repeat(100))).toBe(`"${'x'.repeat(60)}…"`);
    expect(preview(Array.from({ length: 100 }, () => 1))).toBe(`[${'1,'.repeat(29)}1…`);
    expect(preview([1, -2])).toBe('[1,-2]');
    expect(preview(undefined)).toBe('nothing');
  });

  it('formats shapes and specs as in metadata', () => {
    expect(formatShape([-1, 30])).toBe('[-1,30]');
    expect(formatShape([])).toBe('[]');
    expect(
      formatSpecs([
        { name: 'a', datatype: 'FP32', shape: [-1, 1] },
        { name: 'b', datatype: 'BYTES', shape: [-1] },
      ]),
    ).toBe('"a" (FP32[-1,1]), "b" (BYTES[-1])');
    expect(formatSpecs([])).toBe('nothing');
  });
});
