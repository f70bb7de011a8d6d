/**
 * Bayesian summaries of a champion/challenger difference: the chance that the
 * challenger wins and the expected loss (risk) of either choice, from GrowthBook's Gaussian model
 * with its default improper flat prior, and Evan Miller's closed form for two Beta-Binomial arms.
 */
import type { Direction } from './ab-tests.js';
import { invalid } from '../core/errors.js';
import { logBeta } from './incomplete-beta.js';
import { normalCdf } from './special.js';

const INVERSE_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TINY = 1e-300;

export interface ChanceToWin {
  /** P(the challenger is better), better in the metric's direction. */
  readonly chanceToWin: number;
  /** Expected loss of shipping the challenger, E[max(−gain, 0)], in the metric's units. */
  readonly riskOfChoosingTreatment: number;
  /** Expected loss of keeping the champion, E[max(gain, 0)], in the metric's units. */
  readonly riskOfChoosingControl: number;
}

export interface GaussianChanceOptions {
  /** Treatment − control point estimate. */
  readonly difference: number;
  /** Its standard error. */
  readonly standardError: number;
  /** Which way is better (default 'higher'). */
  readonly direction?: Direction;
}

/**
 * K(a) = 1/(a + 2/(a + 3/(a + …))) by the modified Lentz method: the tail of the continued
 * fraction of Mills' ratio, Φ(−a)/φ(a) = 1/(a + K(a)). Used for a >= 3.
 */
function millsTail(a: number): number {
  let f = TINY;
  let c = f;
  let d = 0;
  for (let j = 1; j < 10_000; j++) {
    const numerator = j === 1 ? 1 : j;
    d = a + numerator * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = a + numerator / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < Number.EPSILON) break;
  }
  return f;
}

/**
 * ψ(x) = E[max(Z + x, 0)] = φ(x) + xΦ(x) for a standard normal Z. Below x = −3 the two terms
 * cancel, so it is written φ(a)·K/(a + K) with a = −x and K from Mills' ratio, all positive.
 */
export function normalPartialExpectation(x: number): number {
  if (x >= -3) return INVERSE_SQRT_2PI * Math.exp(-0.5 * x * x) + x * normalCdf(x);
  const a = -x;
  const k = millsTail(a);
  return (INVERSE_SQRT_2PI * Math.exp(-0.5 * a * a) * k) / (a + k);
}

/**
 * Chance to win and risks for a difference with a normal posterior N(Δ̂, SE²) (GrowthBook's
 * Bayesian engine with the improper flat prior). "Gain" is Δ for 'higher' and −Δ for 'lower';
 * chance to win = P(gain > 0) = Φ(gain/SE), risk of choosing the treatment = E[max(−gain, 0)]
 * = SE·ψ(−gain/SE), risk of choosing the control = E[max(gain, 0)] = SE·ψ(gain/SE).
 *
 * @example
 * gaussianChanceToWin({ difference: 0.01, standardError: 0.01 }).chanceToWin; // ≈ 0.841
 */
export function gaussianChanceToWin(options: GaussianChanceOptions): ChanceToWin {
  const { difference, standardError } = options;
  if (!(standardError >= 0) || !Number.isFinite(difference))
    throw invalid(`need a finite difference and a non-negative standard error (got ${difference}, ${standardError})`);
  const gain = options.direction === 'lower' ? -difference : difference;
  if (standardError === 0) {
    return {
      chanceToWin: gain > 0 ? 1 : gain < 0 ? 0 : 0.5,
      riskOfChoosingTreatment: Math.max(-gain, 0),
      riskOfChoosingControl: Math.max(gain, 0),
    };
  }
  const z = gain / standardError;
  return {
    chanceToWin: normalCdf(z),
    riskOfChoosingTreatment: standardError * normalPartialExpectation(-z),
    riskOfChoosingControl: standardError * normalPartialExpectation(z),
  };
}

function assertCounts(successes: number, n: number, arm: string): void {
  if (!Number.isInteger(successes) || !Number.isInteger(n) || successes < 0 || successes > n) {
    throw invalid(`arm ${arm}: successes and n must be integers with 0 <= successes <= n (got ${successes} of ${n})`);
  }
}

/**
 * P(p_B > p_A) for two Beta-Binomial arms with uniform Beta(1, 1) priors, exactly, by Evan
 * Miller's closed form with α = successes + 1 and β = failures + 1:
 * Σ_{i=0}^{α_B−1} B(α_A+i, β_A+β_B) / ((β_B+i) B(1+i, β_B) B(α_A, β_A)).
 * The terms are all positive and summed in log space, so thousands of successes are fine; the
 * cost is one term per success of B.
 *
 * @example
 * betaBinomialChanceToWin(30, 100, 45, 100); // ≈ 0.985
 */
export function betaBinomialChanceToWin(successesA: number, nA: number, successesB: number, nB: number): number {
  assertCounts(successesA, nA, 'A');
  assertCounts(successesB, nB, 'B');
  const alphaA = successesA + 1;
  const betaA = nA - successesA + 1;
  const alphaB = successesB + 1;
  const betaB = nB - successesB + 1;
  const constant = logBeta(alphaA, betaA);
  let largest = Number.NEGATIVE_INFINITY;
  let scaled = 0; // Σ exp(term − largest)
  for (let i = 0; i < alphaB; i++) {
    const term = logBeta(alphaA + i, betaA + betaB) - Math.log(betaB + i) - logBeta(1 + i, betaB) - constant;
    if (term > largest) {
      scaled = scaled * Math.exp(largest - term) + 1;
      largest = term;
    } else {
      scaled += Math.exp(term - largest);
    }
  }
  return Math.min(1, Math.exp(largest) * scaled);
}
