import { describe, expect, it } from 'vitest';
import { loadExperimentReference, type IntervalCase } from './experiment-reference.test-support.js';
import { expectClose } from './reference.test-support.js';
import { growthbookConfidenceSequence, msprtMixingVariance, msprtNormal, nextSequentialState } from './sequential.js';

interface Reference {
  growthbook: {
    estimate: number;
    standardError: number;
    totalN: number;
    alpha: number;
    tuning: number;
    rho: number;
    ci: IntervalCase;
    eValue: number;
    pValue: number;
  }[];
  msprt: {
    n: number;
    meanDifference: number;
    variance: number;
    mixingVariance: number;
    theta0: number;
    alpha: number;
    logLikelihoodRatio: number;
    pValue: number;
    reject: boolean;
    ci: IntervalCase;
  }[];
  mixingVariance: { alpha: number; variance: number; truncation: number; tau2: number }[];
}

const reference = loadExperimentReference<Reference>();

describe("GrowthBook's confidence sequence equals an independent numpy implementation", () => {
  it.each(reference.growthbook)('estimate $estimate, SE $standardError, N $totalN, S $tuning', (c) => {
    const look = growthbookConfidenceSequence({
      estimate: c.estimate,
      standardError: c.standardError,
      totalN: c.totalN,
      alpha: c.alpha,
      tuning: c.tuning,
    });
    expectClose(look.rho, c.rho, 1e-14);
    expectClose(look.ci[0], c.ci[0], 1e-12, 1e-15);
    expectClose(look.ci[1], c.ci[1], 1e-12, 1e-15);
    expectClose(look.eValue, c.eValue, 1e-11);
    expectClose(look.pValue, c.pValue, 1e-11);
  });

  it('is wider than the fixed-horizon interval and contains the estimate', () => {
    const look = growthbookConfidenceSequence({ estimate: 0.02, standardError: 0.005, totalN: 20_000 });
    expect(look.ci[0]).toBeLessThan(0.02 - 1.96 * 0.005);
    expect(look.ci[1]).toBeGreaterThan(0.02 + 1.96 * 0.005);
  });

  it('handles a zero standard error', () => {
    expect(growthbookConfidenceSequence({ estimate: 0, standardError: 0, totalN: 100 })).toMatchObject({
      ci: [0, 0],
      pValue: 1,
    });
    expect(growthbookConfidenceSequence({ estimate: 0.1, standardError: 0, totalN: 100 })).toMatchObject({
      ci: [0.1, 0.1],
      pValue: 0,
    });
  });
});

describe('the normal mSPRT equals an independent numpy implementation of mixtureSPRT', () => {
  it.each(reference.msprt)('n $n, mean difference $meanDifference, V $variance, tau2 $mixingVariance', (c) => {
    const look = msprtNormal({
      n: c.n,
      meanDifference: c.meanDifference,
      variance: c.variance,
      mixingVariance: c.mixingVariance,
      theta0: c.theta0,
      alpha: c.alpha,
    });
    expectClose(look.logLikelihoodRatio, c.logLikelihoodRatio, 1e-12, 1e-14);
    expectClose(look.pValue, c.pValue, 1e-11);
    expect(look.reject).toBe(c.reject);
    expectClose(look.ci[0], c.ci[0], 1e-12, 1e-15);
    expectClose(look.ci[1], c.ci[1], 1e-12, 1e-15);
  });

  it.each(reference.mixingVariance)(
    'optimal tau2 for alpha $alpha, variance $variance, truncation $truncation',
    (c) => {
      expectClose(
        msprtMixingVariance({ alpha: c.alpha, variance: c.variance, truncation: c.truncation }),
        c.tau2,
        1e-12,
      );
    },
  );

  it("is GrowthBook's sequence with tau2 = rho2 * sigma2 (the reference's equivalence)", () => {
    const estimate = 0.013;
    const standardError = 0.006;
    const totalN = 12_345;
    const gb = growthbookConfidenceSequence({ estimate, standardError, totalN });
    const variance = standardError * standardError * totalN;
    const mixture = msprtNormal({
      n: totalN,
      meanDifference: estimate,
      variance,
      mixingVariance: gb.rho * gb.rho * variance,
    });
    expectClose(mixture.eValue, gb.eValue, 1e-12);
    expectClose(mixture.ci[0], gb.ci[0], 1e-12);
    expectClose(mixture.ci[1], gb.ci[1], 1e-12);
  });

  it('keeps ln Λ finite where Λ overflows', () => {
    const look = msprtNormal({ n: 1e6, meanDifference: 1, variance: 1, mixingVariance: 1 });
    expect(look.eValue).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isFinite(look.logLikelihoodRatio)).toBe(true);
    expect(look.pValue).toBe(0);
  });
});

describe('nextSequentialState', () => {
  it('intersects intervals and keeps the smallest p-value', () => {
    let state = nextSequentialState(null, { ci: [-1, 3], pValue: 0.4 });
    state = nextSequentialState(state, { ci: [-2, 2], pValue: 0.6 });
    expect(state).toEqual({ ci: [-1, 2], pValue: 0.4, looks: 2, disjointLooks: 0 });
    state = nextSequentialState(state, { sequential: { ci: [0.5, 4], pValue: 0.01 } });
    expect(state).toEqual({ ci: [0.5, 2], pValue: 0.01, looks: 3, disjointLooks: 0 });
  });

  it('restarts from the new look when the intervals no longer meet, and counts it', () => {
    const state = nextSequentialState({ ci: [1, 2], pValue: 0.01 }, { ci: [2.5, 3], pValue: 0.001 });
    expect(state).toEqual({ ci: [2.5, 3], pValue: 0.001, looks: 2, disjointLooks: 1 });
  });
});
