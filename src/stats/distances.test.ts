import { describe, expect, it } from 'vitest';
import { jensenShannonDistance, normedWasserstein, wassersteinDistance } from './distances.js';
import { expectClose, generate, loadReference, type DataSpec } from './reference.test-support.js';

interface Reference {
  wasserstein: { name: string; u: DataSpec; v: DataSpec; distance: number; normed: number }[];
  jensenshannon: { p: number[]; q: number[]; base2: number; baseE: number }[];
}

const reference = loadReference<Reference>();

describe('wassersteinDistance equals scipy.stats.wasserstein_distance', () => {
  it.each(reference.wasserstein)('$name', ({ u, v, distance, normed }) => {
    const a = generate(u);
    const b = generate(v);
    expectClose(wassersteinDistance(a, b), distance, 1e-11, 1e-15);
    expectClose(normedWasserstein(a, b), normed, 1e-11, 1e-15);
  });

  it('is zero between a sample and itself, shuffled', () => {
    expect(wassersteinDistance([3, 1, 2, 2], [2, 3, 2, 1])).toBe(0);
  });

  it('moves mass by the shift', () => {
    expect(wassersteinDistance(Float64Array.of(0, 1, 2), [10, 11, 12])).toBeCloseTo(10, 12);
  });

  it('floors the reference deviation at 0.001 (constant reference)', () => {
    expect(normedWasserstein([5, 5, 5], [5, 5, 5.002])).toBeCloseTo(0.002 / 3 / 0.001, 9);
  });

  it('rejects non-finite values', () => {
    expect(() => wassersteinDistance([1, Number.POSITIVE_INFINITY], [1])).toThrow(/finite/);
  });
});

describe('jensenShannonDistance equals scipy.spatial.distance.jensenshannon', () => {
  it.each(reference.jensenshannon)('$p vs $q', ({ p, q, base2, baseE }) => {
    expectClose(jensenShannonDistance(p, q), base2, 1e-12, 1e-15);
    expectClose(jensenShannonDistance(p, q, Math.E), baseE, 1e-12, 1e-15);
  });

  it('rejects mismatched or empty vectors', () => {
    expect(() => jensenShannonDistance([1], [0.5, 0.5])).toThrow(/equal length/);
    expect(() => jensenShannonDistance([0, 0], [1, 1])).toThrow(/zero total/);
    expect(() => jensenShannonDistance([-1, 2], [1, 1])).toThrow(/non-negative/);
  });
});
