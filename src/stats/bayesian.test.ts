import { describe, expect, it } from 'vitest';
import { betaBinomialChanceToWin, gaussianChanceToWin, normalPartialExpectation } from './bayesian.js';
import { loadExperimentReference } from './experiment-reference.test-support.js';
import { expectClose } from './reference.test-support.js';

interface Reference {
  gaussianBayes: {
    difference: number;
    standardError: number;
    direction: 'higher' | 'lower';
    chanceToWin: number;
    riskOfChoosingTreatment: number;
    riskOfChoosingControl: number;
  }[];
  partialExpectation: { x: number; value: number }[];
  betaBinomial: {
    successesA: number;
    nA: number;
    successesB: number;
    nB: number;
    exact: number;
    monteCarlo: number;
    monteCarloSe: number;
  }[];
}

const reference = loadExperimentReference<Reference>();

describe('Gaussian chance to win equals scipy.stats.norm (risks in 50-digit mpmath)', () => {
  it.each(reference.gaussianBayes)('difference $difference, SE $standardError, $direction is better', (c) => {
    const result = gaussianChanceToWin({
      difference: c.difference,
      standardError: c.standardError,
      direction: c.direction,
    });
    expectClose(result.chanceToWin, c.chanceToWin, 1e-12, 1e-300);
    expectClose(result.riskOfChoosingTreatment, c.riskOfChoosingTreatment, 1e-12, 1e-300);
    expectClose(result.riskOfChoosingControl, c.riskOfChoosingControl, 1e-12, 1e-300);
  });

  it.each(reference.partialExpectation)('ψ($x) = φ(x) + xΦ(x)', ({ x, value }) => {
    expectClose(normalPartialExpectation(x), value, 1e-13, 1e-300);
  });

  it('flips with the direction and degenerates cleanly', () => {
    const higher = gaussianChanceToWin({ difference: 0.02, standardError: 0.01 });
    const lower = gaussianChanceToWin({ difference: 0.02, standardError: 0.01, direction: 'lower' });
    expectClose(higher.chanceToWin + lower.chanceToWin, 1, 1e-15);
    expect(higher.riskOfChoosingTreatment).toBe(lower.riskOfChoosingControl);
    expect(gaussianChanceToWin({ difference: 0, standardError: 0 })).toEqual({
      chanceToWin: 0.5,
      riskOfChoosingTreatment: 0,
      riskOfChoosingControl: 0,
    });
  });
});

describe('beta-binomial chance to win', () => {
  it.each(reference.betaBinomial)('equals the scipy.special.betaln sum: $successesA/$nA vs $successesB/$nB', (c) => {
    expectClose(betaBinomialChanceToWin(c.successesA, c.nA, c.successesB, c.nB), c.exact, 1e-10, 1e-300);
  });

  it.each(reference.betaBinomial)(
    'lies within 5 standard errors of 2M numpy Monte Carlo draws: $successesA/$nA vs $successesB/$nB',
    (c) => {
      const value = betaBinomialChanceToWin(c.successesA, c.nA, c.successesB, c.nB);
      expect(Math.abs(value - c.monteCarlo)).toBeLessThanOrEqual(5 * c.monteCarloSe);
    },
  );

  it('is symmetric: P(B > A) + P(A > B) = 1', () => {
    expectClose(
      betaBinomialChanceToWin(1200, 4000, 1250, 4000) + betaBinomialChanceToWin(1250, 4000, 1200, 4000),
      1,
      1e-12,
    );
  });

  it('stays finite and fast with tens of thousands of successes', () => {
    const started = performance.now();
    const value = betaBinomialChanceToWin(30_000, 100_000, 30_500, 100_000);
    expect(value).toBeGreaterThan(0.99);
    expect(value).toBeLessThan(1);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses impossible counts', () => {
    expect(() => betaBinomialChanceToWin(5, 4, 1, 2)).toThrow(/successes/);
    expect(() => betaBinomialChanceToWin(1.5, 4, 1, 2)).toThrow(/integers/);
  });
});
