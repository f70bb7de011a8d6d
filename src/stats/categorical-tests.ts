/**
 * Evidently's tests for categorical columns: Pearson's chi-square goodness of fit of the current
 * counts to the reference mix, and the two-proportion z-test for two-valued columns.
 */
import { alignCounts, floorEmptyShares, type CategoryCounts } from './shares.js';
import { chiSquareSf, normalCdf } from './special.js';

export interface ChiSquareResult {
  /** Pearson's statistic Σ (observed − expected)² / expected. */
  readonly statistic: number;
  readonly pValue: number;
  /** Number of categories − 1. */
  readonly degreesOfFreedom: number;
  /** Categories present in the current window but absent from the reference (their expected counts were floored). */
  readonly unseenCategories: string[];
}

export interface ZTestResult {
  /** The z statistic (sign depends on which category is coded 0; the p-value does not). */
  readonly statistic: number;
  /** Two-sided p-value, 2·(1 − Φ(|z|)) exactly as Evidently computes it. */
  readonly pValue: number;
}

/**
 * Evidently's chi-square drift test: over the union of categories, expected = reference count ×
 * (current total / reference total), then `scipy.stats.chisquare(observed, expected)`.
 *
 * Categories unseen in the reference would get expected 0 and an infinite statistic (Evidently
 * then reports p = 0). Here their reference share is floored instead, with the same rule Evidently
 * applies before PSI (`floorEmptyShares`: 0.0001, or min share / 10^6), the shares renormalised to
 * sum 1 and expected = share × current total. The result stays finite, and any sizeable new
 * category still gives a tiny p-value. Without unseen categories the result is exactly Evidently's.
 * Fewer than two categories: statistic 0, p-value 1.
 *
 * @example
 * chiSquareTest({ a: 50, b: 30, c: 20 }, { a: 20, b: 30, c: 50 }).pValue; // ≈ 2.09e-14
 */
export function chiSquareTest(reference: CategoryCounts, current: CategoryCounts): ChiSquareResult {
  const aligned = alignCounts(reference, current);
  const k = aligned.categories.length;
  const unseenCategories = aligned.categories.filter((_, i) => aligned.reference[i] === 0);
  let expected: number[];
  if (unseenCategories.length === 0) {
    const scale = aligned.currentTotal / aligned.referenceTotal;
    expected = aligned.reference.map((count) => count * scale);
  } else {
    const floored = floorEmptyShares(aligned.reference.map((count) => count / aligned.referenceTotal));
    const total = floored.reduce((acc, share) => acc + share, 0);
    expected = floored.map((share) => (share / total) * aligned.currentTotal);
  }
  if (k < 2) return { statistic: 0, pValue: 1, degreesOfFreedom: 0, unseenCategories };
  let statistic = 0;
  for (let i = 0; i < k; i++) statistic += (aligned.current[i]! - expected[i]!) ** 2 / expected[i]!;
  return { statistic, pValue: chiSquareSf(statistic, k - 1), degreesOfFreedom: k - 1, unseenCategories };
}

/**
 * Evidently's z-test for two proportions: one category (the first in sorted order) is coded 0 and
 * every other 1; z = (p1 − p2) / √(P(1 − P)(1/n1 + 1/n2)) with the pooled proportion P, and
 * p = 2·(1 − Φ(|z|)). When both windows hold the same single category, z = 0 and p = 1.
 * Meant for columns with at most two values (more are lumped into "not the first").
 *
 * @example
 * proportionZTest({ yes: 40, no: 60 }, { yes: 60, no: 40 }).pValue; // ≈ 0.0047
 */
export function proportionZTest(reference: CategoryCounts, current: CategoryCounts): ZTestResult {
  const aligned = alignCounts(reference, current);
  const referenceKeys = aligned.reference.filter((count) => count > 0).length;
  const currentKeys = aligned.current.filter((count) => count > 0).length;
  if (aligned.categories.length === 1 && referenceKeys === 1 && currentKeys === 1) return { statistic: 0, pValue: 1 };
  let zeroIndex = 0;
  aligned.categories.forEach((key, i) => {
    if (key < aligned.categories[zeroIndex]!) zeroIndex = i;
  });
  const n1 = aligned.referenceTotal;
  const n2 = aligned.currentTotal;
  const p1 = (n1 - aligned.reference[zeroIndex]!) / n1;
  const p2 = (n2 - aligned.current[zeroIndex]!) / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const statistic = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return { statistic, pValue: 2 * (1 - normalCdf(Math.abs(statistic))) };
}
