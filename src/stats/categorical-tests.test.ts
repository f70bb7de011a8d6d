import { describe, expect, it } from 'vitest';
import { chiSquareTest, proportionZTest } from './categorical-tests.js';
import { expectClose, loadReference } from './reference.test-support.js';

type Counts = Record<string, number>;

interface Reference {
  chisquare: {
    name: string;
    reference: Counts;
    current: Counts;
    statistic: number;
    pValue: number;
    unseen: string[];
  }[];
  ztest: { name: string; reference: Counts; current: Counts; statistic: number; pValue: number }[];
}

const reference = loadReference<Reference>();

describe("chiSquareTest equals Evidently's chi-square test (scipy.stats.chisquare)", () => {
  it.each(reference.chisquare)('$name', ({ reference: ref, current, statistic, pValue, unseen }) => {
    const result = chiSquareTest(ref, current);
    expectClose(result.statistic, statistic, 1e-11, 1e-13);
    expectClose(result.pValue, pValue, 1e-9, 1e-15);
    expect([...result.unseenCategories].sort()).toEqual(unseen);
    expect(Number.isFinite(result.statistic)).toBe(true);
  });

  it('accepts Maps and ignores zero counts', () => {
    const fromMap = chiSquareTest(
      new Map([
        ['a', 10],
        ['b', 20],
        ['c', 0],
      ]),
      new Map([
        ['a', 15],
        ['b', 15],
      ]),
    );
    const fromRecord = chiSquareTest({ a: 10, b: 20 }, { a: 15, b: 15 });
    expect(fromMap.statistic).toBe(fromRecord.statistic);
    expect(fromMap.degreesOfFreedom).toBe(1);
  });

  it('gives p = 1 for a single category', () => {
    expect(chiSquareTest({ a: 3 }, { a: 9 })).toMatchObject({ statistic: 0, pValue: 1 });
  });

  it('rejects empty and negative counts', () => {
    expect(() => chiSquareTest({}, { a: 1 })).toThrow(/reference counts are empty/);
    expect(() => chiSquareTest({ a: -1 }, { a: 1 })).toThrow(/non-negative/);
  });
});

describe("proportionZTest equals Evidently's z-test", () => {
  it.each(reference.ztest)('$name', ({ reference: ref, current, statistic, pValue }) => {
    const result = proportionZTest(ref, current);
    expectClose(Math.abs(result.statistic), Math.abs(statistic), 1e-12, 1e-15);
    expectClose(result.pValue, pValue, 1e-9, 1e-15);
  });

  it('does not depend on which category is coded 0', () => {
    const forward = proportionZTest({ x: 30, y: 70 }, { x: 45, y: 55 });
    const renamed = proportionZTest({ b: 30, a: 70 }, { b: 45, a: 55 });
    expect(renamed.statistic).toBeCloseTo(-forward.statistic, 12);
    expect(renamed.pValue).toBeCloseTo(forward.pValue, 14);
  });
});
