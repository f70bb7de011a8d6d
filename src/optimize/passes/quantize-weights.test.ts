import { describe, expect, it } from 'vitest';
import { dequantizeWeights, quantizeWeights, transpose2d } from './quantize-weights.js';

describe('quantizeWeights', () => {
  it('symmetric per-tensor: scale max|w|/127, zero point 0, error within half a step', () => {
    const values = Float32Array.from([0.5, -1.27, 0.0, 0.01, 1.0, -0.3]);
    const q = quantizeWeights(values, [2, 3], { perChannel: false, axis: 1, symmetric: true });
    expect(q.scales[0]).toBeCloseTo(1.27 / 127, 7);
    expect(Array.from(q.zeroPoints)).toEqual([0]);
    expect(q.paramDims).toEqual([]);
    expect(Array.from(q.data)).toEqual([50, -127, 0, 1, 100, -30]);
    const back = dequantizeWeights(q, [2, 3], 1);
    for (let i = 0; i < values.length; i++)
      expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(q.scales[0]! / 2 + 1e-7);
  });

  it('symmetric per-channel along axis 1 of [K, N]: one scale per column', () => {
    // columns: [1, -2], [0.1, 0.2], [0, 0]
    const values = Float32Array.from([1, 0.1, 0, -2, 0.2, 0]);
    const q = quantizeWeights(values, [2, 3], { perChannel: true, axis: 1, symmetric: true });
    expect(q.paramDims).toEqual([3]);
    expect(Array.from(q.scales)).toEqual([Math.fround(2 / 127), Math.fround(0.2 / 127), 1]);
    expect(Array.from(q.data)).toEqual([64, 64, 0, -127, 127, 0]);
  });

  it('per-channel along axis 0 of [N, K] (transposed weights)', () => {
    const values = Float32Array.from([1, -1, 4, 2]);
    const q = quantizeWeights(values, [2, 2], { perChannel: true, axis: 0, symmetric: true });
    expect(Array.from(q.scales)).toEqual([Math.fround(1 / 127), Math.fround(4 / 127)]);
    expect(Array.from(q.data)).toEqual([127, -127, 127, 64]);
  });

  it('asymmetric: 0.0 exactly representable, range [min(0,w), max(0,w)] onto [-128, 127]', () => {
    const values = Float32Array.from([0.2, 0.4, 1.0, 0.0]);
    const q = quantizeWeights(values, [4], { perChannel: false, axis: 0, symmetric: false });
    expect(q.scales[0]).toBeCloseTo(1 / 255, 7);
    expect(q.zeroPoints[0]).toBe(-128);
    expect(Array.from(q.data)).toEqual([-77, -26, 127, -128]);
    const back = dequantizeWeights(q, [4], 0);
    expect(back[3]).toBe(0);
  });

  it('refuses a value count that does not fill dims, and an axis outside them', () => {
    expect(() => quantizeWeights(new Float32Array(5), [2, 3], { perChannel: false, axis: 0, symmetric: true })).toThrow(
      /5 values do not fill dims \[2, 3\]/,
    );
    expect(() => quantizeWeights(new Float32Array(6), [2, 3], { perChannel: true, axis: 2, symmetric: true })).toThrow(
      /axis 2/,
    );
  });

  it('transpose2d', () => {
    expect(Array.from(transpose2d(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
  });
});
