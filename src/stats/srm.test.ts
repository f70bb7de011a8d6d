import { describe, expect, it } from 'vitest';
import { loadExperimentReference } from './experiment-reference.test-support.js';
import { expectClose } from './reference.test-support.js';
import { sampleRatioMismatch } from './srm.js';

interface Reference {
  srm: { observed: number[]; weights: number[]; chiSquare: number; df: number; pValue: number }[];
}

const reference = loadExperimentReference<Reference>();

describe('sample ratio mismatch equals scipy.stats.chisquare', () => {
  it.each(reference.srm)('$observed against weights $weights', ({ observed, weights, chiSquare, df, pValue }) => {
    const result = sampleRatioMismatch(observed, weights);
    expectClose(result.chiSquare, chiSquare, 1e-12, 1e-15);
    expect(result.df).toBe(df);
    expectClose(result.pValue, pValue, 1e-11, 1e-300);
    expect(result.mismatch).toBe(pValue < 0.001);
  });

  it('flags at p < 0.001 by default, or at the threshold given', () => {
    expect(sampleRatioMismatch([5300, 4700], [50, 50]).mismatch).toBe(true);
    expect(sampleRatioMismatch([5100, 4900], [50, 50]).mismatch).toBe(false);
    expect(sampleRatioMismatch([5100, 4900], [50, 50], 0.05).mismatch).toBe(true);
  });

  it('reports nothing without observations and refuses bad input', () => {
    expect(sampleRatioMismatch([0, 0], [1, 1])).toEqual({ chiSquare: 0, df: 1, pValue: 1, mismatch: false });
    expect(() => sampleRatioMismatch([1, 2], [1])).toThrow(/weights/);
    expect(() => sampleRatioMismatch([1, 2], [1, 0])).toThrow(/positive/);
    expect(() => sampleRatioMismatch([5], [1])).toThrow(/two arms/);
  });
});
