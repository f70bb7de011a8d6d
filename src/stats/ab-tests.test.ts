import { describe, expect, it } from 'vitest';
import { relativeLift, summarizeMoments, summarizeProportion, twoProportionZTest, welchTTest } from './ab-tests.js';
import { loadExperimentReference, type ArmCase, type IntervalCase } from './experiment-reference.test-support.js';
import { expectClose } from './reference.test-support.js';

interface FixedCase {
  difference: number;
  statistic: number;
  pValue: number;
  standardError: number;
  ci: IntervalCase;
}

interface Reference {
  twoProportion: (FixedCase & {
    name: string;
    control: { successes: number; n: number };
    treatment: { successes: number; n: number };
    alpha: number;
  })[];
  welch: (FixedCase & { name: string; control: ArmCase; treatment: ArmCase; alpha: number; df: number })[];
  relativeLift: {
    control: ArmCase;
    treatment: ArmCase;
    critical: number;
    lift: number;
    standardError: number;
    ci: IntervalCase;
  }[];
}

const reference = loadExperimentReference<Reference>();

function expectInterval(actual: readonly [number, number], expected: IntervalCase, relative = 1e-9): void {
  expectClose(actual[0], expected[0], relative, 1e-15);
  expectClose(actual[1], expected[1], relative, 1e-15);
}

describe('two-proportion z-test equals numpy/scipy.stats.norm', () => {
  it.each(reference.twoProportion)(
    '$name',
    ({ control, treatment, alpha, difference, statistic, pValue, standardError, ci }) => {
      const result = twoProportionZTest(
        summarizeProportion(control.successes, control.n),
        summarizeProportion(treatment.successes, treatment.n),
        alpha,
      );
      expectClose(result.difference, difference, 1e-12, 1e-15);
      expectClose(result.statistic, statistic, 1e-12, 1e-15);
      expectClose(result.pValue, pValue, 1e-10, 1e-300);
      expectClose(result.standardError, standardError, 1e-12);
      expectInterval(result.ci, ci);
    },
  );

  it('is degenerate but finite when both arms are all 0 or all 1', () => {
    const result = twoProportionZTest(summarizeProportion(0, 50), summarizeProportion(0, 70));
    expect(result).toMatchObject({ statistic: 0, pValue: 1, ci: [0, 0] });
  });
});

describe("Welch's t-test equals scipy.stats.ttest_ind_from_stats(equal_var=False)", () => {
  it.each(reference.welch)(
    '$name',
    ({ control, treatment, alpha, difference, statistic, df, pValue, standardError, ci }) => {
      const result = welchTTest(control, treatment, alpha);
      expectClose(result.difference, difference, 1e-12, 1e-15);
      expectClose(result.statistic, statistic, 1e-12, 1e-15);
      expectClose(result.df, df, 1e-12);
      expectClose(result.pValue, pValue, 1e-9, 1e-300);
      expectClose(result.standardError, standardError, 1e-12);
      // scipy's CI uses t.ppf, itself good to ~1e-10.
      expectInterval(result.ci, ci);
    },
  );

  it('needs two observations per arm and survives zero variance', () => {
    expect(() => welchTTest({ n: 1, mean: 1, variance: 0 }, { n: 5, mean: 1, variance: 1 })).toThrow(
      /two observations/,
    );
    expect(welchTTest({ n: 5, mean: 1, variance: 0 }, { n: 5, mean: 1, variance: 0 })).toMatchObject({
      pValue: 1,
      ci: [0, 0],
      df: 8,
    });
    expect(welchTTest({ n: 5, mean: 1, variance: 0 }, { n: 5, mean: 2, variance: 0 })).toMatchObject({
      pValue: 0,
      statistic: Number.POSITIVE_INFINITY,
    });
  });
});

describe('relative lift (delta method) equals the numpy formula', () => {
  it.each(reference.relativeLift)(
    'control $control.mean vs treatment $treatment.mean',
    ({ control, treatment, critical, lift, standardError, ci }) => {
      const result = relativeLift(control, treatment, critical);
      expectClose(result?.lift, lift, 1e-12, 1e-15);
      expectClose(result?.standardError, standardError, 1e-12);
      expectInterval(result!.ci, ci, 1e-12);
    },
  );

  it('is null when the control mean is 0', () => {
    expect(relativeLift({ n: 10, mean: 0, variance: 0 }, { n: 10, mean: 0.1, variance: 0.09 }, 1.96)).toBeNull();
  });
});

describe('arm summaries', () => {
  it('summarize proportions with p(1 - p)', () => {
    expect(summarizeProportion(30, 100)).toEqual({ n: 100, mean: 0.3, variance: 0.3 * 0.7 });
    expect(() => summarizeProportion(3, 2)).toThrow(/exceed/);
    expect(() => summarizeProportion(0, 0)).toThrow(/at least one/);
  });

  it('summarize moments with the ddof-1 variance', () => {
    const values = [0.3, 1.7, 2.2, 5.9, 4.4];
    const sum = values.reduce((a, b) => a + b, 0);
    const squares = values.reduce((a, b) => a + b * b, 0);
    const summary = summarizeMoments(values.length, sum, squares);
    const mean = sum / values.length;
    expectClose(summary.mean, mean, 1e-15);
    expectClose(summary.variance, values.reduce((a, b) => a + (b - mean) ** 2, 0) / 4, 1e-13);
    expect(summarizeMoments(3, 6, 14)).toEqual({ n: 3, mean: 2, variance: 1 });
  });

  it('leave the mean and variance undefined for tiny arms rather than throwing', () => {
    expect(summarizeMoments(0, 0, 0).mean).toBeNaN();
    expect(summarizeMoments(1, 2, 4)).toMatchObject({ n: 1, mean: 2 });
    expect(summarizeMoments(1, 2, 4).variance).toBeNaN();
  });
});
