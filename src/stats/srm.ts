/**
 * Sample ratio mismatch: are the arms' sizes consistent with the configured traffic split?
 * A mismatch means assignment or logging is broken and no comparison of the arms can be trusted
 * (chi-square goodness of fit, flagged at p < 0.001 as GrowthBook and Statsig do).
 */
import { invalid } from '../core/errors.js';
import { chiSquareSf } from './special.js';

/** GrowthBook's SRM threshold: about 2% of alerts false if 5% of experiments truly have SRM. */
export const DEFAULT_SRM_THRESHOLD = 0.001;

export interface SrmResult {
  /** Pearson's Σ (observed − expected)²/expected with expected = N·weight/Σweights. */
  readonly chiSquare: number;
  /** Number of arms − 1. */
  readonly df: number;
  readonly pValue: number;
  /** pValue < threshold. */
  readonly mismatch: boolean;
}

/**
 * Chi-square goodness-of-fit test of the arms' counts against their configured weights
 * (scipy.stats.chisquare(observed, N·w/Σw)). Weights need not sum to 1 (50/50 or 0.9/0.1 alike).
 * No observations at all: statistic 0, p-value 1.
 *
 * @example
 * sampleRatioMismatch([5_100, 4_900], [50, 50]); // { chiSquare: 4, df: 1, pValue: ≈0.0455, mismatch: false }
 */
export function sampleRatioMismatch(
  observed: readonly number[],
  weights: readonly number[],
  threshold = DEFAULT_SRM_THRESHOLD,
): SrmResult {
  if (observed.length !== weights.length)
    throw invalid(`SRM: ${observed.length} observed counts for ${weights.length} weights`);
  if (observed.length < 2) throw invalid('SRM: need at least two arms');
  if (!(threshold > 0 && threshold < 1))
    throw invalid(`SRM: the threshold must lie strictly between 0 and 1 (got ${threshold})`);
  let total = 0;
  let weightTotal = 0;
  for (let i = 0; i < observed.length; i++) {
    const count = observed[i]!;
    const weight = weights[i]!;
    if (!(Number.isFinite(count) && count >= 0))
      throw invalid(`SRM: observed counts must be finite and non-negative (arm ${i} is ${count})`);
    if (!(Number.isFinite(weight) && weight > 0))
      throw invalid(`SRM: weights must be finite and positive (arm ${i} is ${weight})`);
    total += count;
    weightTotal += weight;
  }
  const df = observed.length - 1;
  if (total === 0) return { chiSquare: 0, df, pValue: 1, mismatch: false };
  let chiSquare = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = (total * weights[i]!) / weightTotal;
    chiSquare += (observed[i]! - expected) ** 2 / expected;
  }
  const pValue = chiSquareSf(chiSquare, df);
  return { chiSquare, df, pValue, mismatch: pValue < threshold };
}
