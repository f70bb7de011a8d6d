/**
 * Distances between two distributions: 1-D Wasserstein (earth mover's) distance between samples,
 * Evidently's normed variant, and the Jensen–Shannon distance between share vectors.
 */
import { invalid } from '../core/errors.js';
import { assertFiniteSample, populationStd, sortedCopy } from './numeric.js';

/** Evidently's floor for the reference standard deviation in `normedWasserstein`. */
export const WASSERSTEIN_MIN_STD = 0.001;

/**
 * First Wasserstein distance between two 1-D samples, equal to
 * `scipy.stats.wasserstein_distance(u, v)` (unweighted): ∫ |F_u − F_v| over the pooled values.
 * O(n log n). Throws INVALID_ARGUMENT for an empty sample or non-finite values.
 *
 * @example
 * wassersteinDistance([0, 1, 3], [5, 6, 8]); // 5
 */
export function wassersteinDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  assertFiniteSample(u, 'wassersteinDistance: first sample');
  assertFiniteSample(v, 'wassersteinDistance: second sample');
  const a = sortedCopy(u);
  const b = sortedCopy(v);
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let total = 0;
  let compensation = 0;
  let previous = Math.min(a[0]!, b[0]!);
  // Walk the pooled sorted values; between consecutive ones both CDFs are constant.
  while (i < n1 || j < n2) {
    const value = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    const term = Math.abs(i / n1 - j / n2) * (value - previous);
    const next = total + term;
    compensation += total >= term ? total - next + term : term - next + total;
    total = next;
    while (i < n1 && a[i] === value) i++;
    while (j < n2 && b[j] === value) j++;
    previous = value;
  }
  return total + compensation;
}

/**
 * Evidently's normed Wasserstein distance: `wassersteinDistance(reference, current)` divided by
 * max(std(reference), 0.001) (numpy std, ddof=0). Drift when >= 0.1 by Evidently's default.
 */
export function normedWasserstein(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  const distance = wassersteinDistance(reference, current);
  return distance / Math.max(populationStd(reference), WASSERSTEIN_MIN_STD);
}

/** x · log(x / y) with scipy.special.rel_entr's conventions for zeros. */
function relativeEntropyTerm(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Number.POSITIVE_INFINITY;
}

/**
 * Jensen–Shannon distance between two discrete distributions, equal to
 * `scipy.spatial.distance.jensenshannon(p, q, base)` (default base 2, as Evidently passes).
 * Inputs are non-negative weights of equal length; each is normalised to sum 1 first.
 * Unlike scipy (which returns NaN when rounding makes the divergence a hair below 0), the
 * divergence is clamped at 0.
 *
 * @example
 * jensenShannonDistance([1, 0], [0, 1]); // 1
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>, base = 2): number {
  if (p.length !== q.length || p.length === 0)
    throw invalid(
      `jensenShannonDistance: need two non-empty vectors of equal length (got ${p.length} and ${q.length})`,
    );
  let sumP = 0;
  let sumQ = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]!;
    const qi = q[i]!;
    if (!(pi >= 0 && qi >= 0 && Number.isFinite(pi) && Number.isFinite(qi)))
      throw invalid(`jensenShannonDistance: weights must be finite and non-negative (index ${i})`);
    sumP += pi;
    sumQ += qi;
  }
  if (sumP === 0 || sumQ === 0) throw invalid('jensenShannonDistance: a distribution has zero total weight');
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sumP;
    const qi = q[i]! / sumQ;
    const mi = (pi + qi) / 2;
    left += relativeEntropyTerm(pi, mi);
    right += relativeEntropyTerm(qi, mi);
  }
  const divergence = (left + right) / Math.log(base);
  return Math.sqrt(Math.max(divergence, 0) / 2);
}
