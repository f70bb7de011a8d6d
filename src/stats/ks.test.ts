import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { ksTwoSample, type KsMethod } from './ks.js';
import { expectClose, generate, loadReference, normalSample, type DataSpec } from './reference.test-support.js';

interface KsCase {
  name: string;
  a: DataSpec;
  b: DataSpec;
  method: KsMethod;
  used: 'exact' | 'asymp';
  statistic: number;
  pValue: number;
}

const { ks } = loadReference<{ ks: KsCase[] }>();

describe('ksTwoSample equals scipy.stats.ks_2samp', () => {
  it('covers both the exact and the asymptotic path', () => {
    expect(ks.filter((c) => c.method === 'auto' && c.used === 'exact').length).toBeGreaterThanOrEqual(10);
    expect(ks.filter((c) => c.method === 'auto' && c.used === 'asymp').length).toBeGreaterThanOrEqual(6);
  });

  it.each(ks)('$name ($used)', ({ a, b, method, used, statistic, pValue }) => {
    const result = ksTwoSample(generate(a), generate(b), { method });
    expect(result.method).toBe(used);
    expectClose(result.statistic, statistic, 1e-12, 1e-15);
    expectClose(result.pValue, pValue, 1e-9, 1e-15);
  });

  it('is symmetric in its arguments and accepts typed arrays', () => {
    const a = normalSample(101, 300);
    const b = normalSample(102, 200, 0.2);
    const forward = ksTwoSample(Float64Array.from(a), b);
    const backward = ksTwoSample(b, Float64Array.from(a));
    expect(backward.statistic).toBe(forward.statistic);
    expectClose(backward.pValue, forward.pValue, 1e-12);
  });

  it('does not modify its inputs', () => {
    const a = [3, 1, 2];
    ksTwoSample(a, [0, 5]);
    expect(a).toEqual([3, 1, 2]);
  });

  it('rejects empty samples and NaN', () => {
    expect(() => ksTwoSample([], [1])).toThrow(SlipwayError);
    expect(() => ksTwoSample([1, Number.NaN], [1])).toThrow(/finite/);
  });

  it('stays fast on the largest exact case (10000 vs 9999)', () => {
    const started = performance.now();
    const result = ksTwoSample(normalSample(103, 10_000), normalSample(104, 9_999, 0.1));
    expect(result.method).toBe('exact');
    expect(result.pValue).toBeGreaterThan(0);
    expect(result.pValue).toBeLessThan(0.001);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
