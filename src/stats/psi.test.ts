import { describe, expect, it } from 'vitest';
import { psi, quantileCuts } from './psi.js';
import { expectClose, generate, loadReference, type DataSpec } from './reference.test-support.js';
import { floorEmptyShares } from './shares.js';

interface Reference {
  psiNumeric: {
    name: string;
    reference: DataSpec;
    current: DataSpec;
    bins: number;
    cuts: number[];
    referenceShares: number[];
    currentShares: number[];
    value: number;
  }[];
  psiCategorical: { name: string; reference: Record<string, number>; current: Record<string, number>; value: number }[];
}

const reference = loadReference<Reference>();

describe('numeric PSI over reference-quantile bins (numpy reference)', () => {
  it.each(reference.psiNumeric)(
    '$name',
    ({ reference: ref, current, bins, cuts, referenceShares, currentShares, value }) => {
      const result = psi(generate(ref), generate(current), { bins });
      expect(result.cuts).toEqual(cuts);
      result.referenceShares.forEach((share, i) => expectClose(share, referenceShares[i]!, 1e-15, 1e-17));
      result.currentShares.forEach((share, i) => expectClose(share, currentShares[i]!, 1e-15, 1e-17));
      expectClose(result.value, value, 1e-12, 1e-15);
    },
  );

  it('gives a heavily tied column one bin for the tie instead of empty or duplicate bins', () => {
    const tied = [...new Array<number>(900).fill(0), ...Array.from({ length: 100 }, (_, i) => i + 1)];
    const result = psi(tied, tied, { bins: 10 });
    expect(result.cuts).toEqual([0]);
    expect(result.referenceShares).toEqual([0.9, 0.1]);
    expect(result.referenceShares.every((share) => share > 0)).toBe(true);
    expect(result.value).toBe(0);
  });

  it('keeps every reference bin non-empty on rounded data', () => {
    const data = generate({ gen: 'rounded', seed: 5, n: 3000, steps: 7 });
    const result = psi(data, data, { bins: 10 });
    expect(new Set(result.cuts).size).toBe(result.cuts.length);
    expect(result.referenceShares.every((share) => share > 0)).toBe(true);
    expect(result.referenceShares.length).toBe(result.cuts.length + 1);
  });

  it('uses ten bins by default and is zero for identical samples', () => {
    const data = generate({ gen: 'normal', seed: 3, n: 1000 });
    const result = psi(data, data);
    expect(result.cuts).toHaveLength(9);
    expect(result.value).toBe(0);
  });

  it('splits a constant reference into below / at / above', () => {
    const cuts = quantileCuts([2, 2, 2], 10);
    expect(cuts).toHaveLength(2);
    expect(cuts[0]).toBeLessThan(2);
    expect(cuts[1]).toBe(2);
  });
});

describe('categorical PSI', () => {
  it.each(reference.psiCategorical)('$name', ({ reference: ref, current, value }) => {
    const result = psi(ref, current);
    expectClose(result.value, value, 1e-12, 1e-15);
    expect(Number.isFinite(result.value)).toBe(true);
  });

  it('floors empty shares with Evidently’s rule', () => {
    expect(floorEmptyShares([0.5, 0, 0.5])).toEqual([0.5, 0.0001, 0.5]);
    expect(floorEmptyShares([0.99995, 0, 0.00005])).toEqual([0.99995, 0.00005 / 1e6, 0.00005]);
  });

  it('rejects mixing a sample with a count table', () => {
    expect(() => psi([1, 2] as unknown as Record<string, number>, { a: 1 })).toThrow(/two numeric samples/);
  });
});
