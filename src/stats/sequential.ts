/**
 * Always-valid (sequential) inference for champion/challenger experiments: results may be looked
 * at after every batch of traffic without inflating the false-positive rate above α.
 *
 * - GrowthBook's asymptotic confidence sequence (Waudby-Smith et al. 2023), the one `compareArms`
 *   reports.
 * - Johari, Pekelis & Walsh's mixture SPRT for normal data (Λ_n, the always-valid p-value and
 *   interval, and the mixing variance that is optimal for a planned sample size).
 *   GrowthBook's sequence is this test with mixing variance τ² = ρ²σ².
 * - `nextSequentialState`, which carries the running interval and p-value across looks.
 *
 * Every result here is for one look; validity over many looks needs the running intersection of
 * intervals and running minimum of p-values, which `nextSequentialState` keeps.
 */
import { invalid } from '../core/errors.js';
import type { Interval } from './ab-tests.js';
import { normalSf } from './special.js';

/** GrowthBook's default tuning: the total sample size near which intervals are tightest. */
export const DEFAULT_SEQUENTIAL_TUNING = 5000;

/** One look of a sequential test. */
export interface SequentialLook {
  /** The always-valid interval at this look (intersect over looks for the running one). */
  readonly ci: Interval;
  /** min(1, 1/E) at this look (keep the running minimum). */
  readonly pValue: number;
  /** The e-value (mixture likelihood ratio) at this look; ≥ 1/α rejects. */
  readonly eValue: number;
}

export interface ConfidenceSequenceOptions {
  /** The point estimate Δ̂ (absolute or relative difference). */
  readonly estimate: number;
  /** Its standard error. */
  readonly standardError: number;
  /** Total sample size so far, N = n_control + n_treatment. */
  readonly totalN: number;
  /** Default 0.05. */
  readonly alpha?: number;
  /** GrowthBook's S (default 5000); must stay fixed for the whole experiment. */
  readonly tuning?: number;
}

function assertAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw invalid(`alpha must lie strictly between 0 and 1 (got ${alpha})`);
}

/**
 * GrowthBook's ρ = √((−2 ln α + ln(−2 ln α + 1)) / S), which makes the sequence tightest at N ≈ S.
 */
export function growthbookRho(alpha: number, tuning: number): number {
  const minusTwoLogAlpha = -2 * Math.log(alpha);
  return Math.sqrt((minusTwoLogAlpha + Math.log(minusTwoLogAlpha + 1)) / tuning);
}

/**
 * GrowthBook's two-sided asymptotic confidence sequence for one look (gbstats `sequential_rho`):
 * with s² = SE²·N, half-width = s·√(2(Nρ² + 1)·ln(√(Nρ² + 1)/α) / (Nρ)²), and the e-value
 * E = exp(ρ²·NΔ̂²/SE² / (2(Nρ² + 1))) / √(Nρ² + 1), p = min(1, 1/E).
 *
 * @example
 * growthbookConfidenceSequence({ estimate: 0.02, standardError: 0.005, totalN: 20_000 }).ci; // ≈ [0.0044, 0.0356]
 */
export function growthbookConfidenceSequence(
  options: ConfidenceSequenceOptions,
): SequentialLook & { readonly rho: number } {
  const { estimate, standardError, totalN } = options;
  const alpha = options.alpha ?? 0.05;
  const tuning = options.tuning ?? DEFAULT_SEQUENTIAL_TUNING;
  assertAlpha(alpha);
  if (!(tuning > 0)) throw invalid(`the sequential tuning S must be positive (got ${tuning})`);
  if (!(totalN > 0)) throw invalid(`the total sample size must be positive (got ${totalN})`);
  if (!(standardError >= 0)) throw invalid(`the standard error must be non-negative (got ${standardError})`);
  const rho = growthbookRho(alpha, tuning);
  const spread = totalN * rho * rho + 1;
  const perObservationSd = standardError * Math.sqrt(totalN);
  const halfWidth =
    perObservationSd * Math.sqrt((2 * spread * Math.log(Math.sqrt(spread) / alpha)) / (totalN * rho) ** 2);
  const standardised =
    standardError > 0
      ? (totalN * estimate * estimate) / (standardError * standardError)
      : estimate === 0
        ? 0
        : Number.POSITIVE_INFINITY;
  const logE = (rho * rho * standardised) / (2 * spread) - 0.5 * Math.log(spread);
  return {
    ci: [estimate - halfWidth, estimate + halfWidth],
    eValue: Math.exp(logE),
    pValue: Math.min(1, Math.exp(-logE)),
    rho,
  };
}

export interface MsprtOptions {
  /** Number of observations of the difference stream so far (pairs, for two arms). */
  readonly n: number;
  /** z̄_n, the mean of the differences z_i = y_i − x_i (treatment − control). */
  readonly meanDifference: number;
  /**
   * V, the variance of one z_i: 2σ² for two normal streams of variance σ², or
   * p̂_x(1 − p̂_x) + p̂_y(1 − p̂_y) for two Bernoulli streams (Johari et al.).
   */
  readonly variance: number;
  /** τ², the variance of the normal mixing distribution (see `msprtMixingVariance`). */
  readonly mixingVariance: number;
  /** The null difference θ₀ (default 0). */
  readonly theta0?: number;
  /** Default 0.05. */
  readonly alpha?: number;
}

export interface MsprtResult extends SequentialLook {
  /** ln Λ_n (finite where Λ_n itself would overflow). */
  readonly logLikelihoodRatio: number;
  /** Λ_n ≥ 1/α: reject H0 at this look. */
  readonly reject: boolean;
}

/**
 * The normal mixture SPRT at one look (Johari, Pekelis & Walsh; the mixtureSPRT R package):
 * Λ_n = √(V/(V + nτ²)) · exp(n²τ²(z̄_n − θ₀)² / (2V(V + nτ²))), the look's p-value min(1, 1/Λ_n)
 * and the always-valid interval z̄_n ± √(2V(V + nτ²)/(n²τ²) · ln(√((V + nτ²)/V)/α)) — the θ₀
 * with Λ_n(θ₀) < 1/α. `eValue` is Λ_n.
 *
 * @example
 * msprtNormal({ n: 10_000, meanDifference: 0.1, variance: 2, mixingVariance: 0.01 }).reject; // true (ln Λ ≈ 22.5)
 */
export function msprtNormal(options: MsprtOptions): MsprtResult {
  const { n, meanDifference, variance, mixingVariance } = options;
  const theta0 = options.theta0 ?? 0;
  const alpha = options.alpha ?? 0.05;
  assertAlpha(alpha);
  if (!(n > 0)) throw invalid(`the mSPRT needs at least one observation (n is ${n})`);
  if (!(variance > 0)) throw invalid(`the mSPRT variance must be positive (got ${variance})`);
  if (!(mixingVariance > 0)) throw invalid(`the mSPRT mixing variance must be positive (got ${mixingVariance})`);
  const spread = variance + n * mixingVariance;
  const shift = meanDifference - theta0;
  const logLikelihoodRatio =
    0.5 * Math.log(variance / spread) + (n * n * mixingVariance * shift * shift) / (2 * variance * spread);
  const halfWidth = Math.sqrt(
    ((2 * variance * spread) / (n * n * mixingVariance)) * Math.log(Math.sqrt(spread / variance) / alpha),
  );
  return {
    logLikelihoodRatio,
    eValue: Math.exp(logLikelihoodRatio),
    pValue: Math.min(1, Math.exp(-logLikelihoodRatio)),
    reject: logLikelihoodRatio >= -Math.log(alpha),
    ci: [meanDifference - halfWidth, meanDifference + halfWidth],
  };
}

export interface MixingVarianceOptions {
  /** Default 0.05. */
  readonly alpha?: number;
  /** σ², the variance of one observation of the tested stream (V for a difference stream). */
  readonly variance: number;
  /** M, the sample size at which the experiment will be stopped at the latest. */
  readonly truncation: number;
}

/**
 * The mixing variance τ² that is optimal for a planned truncation M (Johari et al.; mixtureSPRT's
 * `calcTau`, without its rounding to two decimals): with b = 2 ln(1/α)/√(Mσ²),
 * τ² = σ²·Φ(−b)/(φ(b)/b − Φ(−b)).
 *
 * @example
 * msprtMixingVariance({ variance: 2, truncation: 10_000 }); // ≈ 0.108
 */
export function msprtMixingVariance(options: MixingVarianceOptions): number {
  const alpha = options.alpha ?? 0.05;
  assertAlpha(alpha);
  const { variance, truncation } = options;
  if (!(variance > 0) || !(truncation > 0))
    throw invalid(`variance and truncation must be positive (got ${variance} and ${truncation})`);
  const b = (2 * Math.log(1 / alpha)) / Math.sqrt(truncation * variance);
  const tail = normalSf(b);
  const density = Math.exp(-0.5 * b * b) / Math.sqrt(2 * Math.PI);
  return (variance * tail) / (density / b - tail);
}

/** The running state of a sequential test across looks. */
export interface SequentialState {
  /** Intersection of every look's interval so far: it only shrinks. */
  readonly ci: Interval;
  /** Running minimum of the looks' p-values: it never goes back up. */
  readonly pValue: number;
  /** Number of looks folded in. */
  readonly looks: number;
  /**
   * Looks whose interval did not meet the running one; the state then restarted from that look's
   * interval. Under a constant effect this happens with probability <= α over the whole run, so
   * a non-zero count hints that the effect drifts over time.
   */
  readonly disjointLooks: number;
}

type LookLike = Pick<SequentialLook, 'ci' | 'pValue'>;

/** A stored state; the counters may be missing (a state kept as just its interval and p-value). */
export type SequentialCarry = LookLike & Partial<Pick<SequentialState, 'looks' | 'disjointLooks'>>;

/**
 * Fold one look into the running state: intersect the interval, keep the smallest p-value.
 * Accepts a look (`growthbookConfidenceSequence`, `msprtNormal`) or an `ArmComparison`, whose
 * `sequential` part is used. Pass `null` for the first look. A previous state without its
 * counters counts as one look.
 *
 * @example
 * let state = nextSequentialState(null, compareArms(control, treatment, { kind: 'proportion' }));
 * state = nextSequentialState(state, compareArms(control2, treatment2, { kind: 'proportion' }));
 */
export function nextSequentialState(
  previous: SequentialCarry | null,
  look: LookLike | { readonly sequential: LookLike },
): SequentialState {
  const current = 'sequential' in look ? look.sequential : look;
  if (previous === null) return { ci: current.ci, pValue: current.pValue, looks: 1, disjointLooks: 0 };
  const low = Math.max(previous.ci[0], current.ci[0]);
  const high = Math.min(previous.ci[1], current.ci[1]);
  const disjoint = low > high;
  return {
    ci: disjoint ? current.ci : [low, high],
    pValue: Math.min(previous.pValue, current.pValue),
    looks: (previous.looks ?? 1) + 1,
    disjointLooks: (previous.disjointLooks ?? 0) + (disjoint ? 1 : 0),
  };
}
