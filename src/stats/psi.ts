/**
 * Population Stability Index, PSI = Σ (current − reference) · ln(current / reference) over bins
 * (numeric columns: quantile bins of the reference) or categories, with Evidently's floor for
 * empty bins. Rule of thumb: < 0.1 stable, 0.1–0.25 moderate shift, >= 0.25 major shift.
 */
import { invalid } from '../core/errors.js';
import { assertFiniteSample, sortedCopy } from './numeric.js';
import { alignCounts, floorEmptyShares, toShares, type CategoryCounts } from './shares.js';

/** Default number of reference-quantile bins. */
export const DEFAULT_PSI_BINS = 10;

export interface NumericPsiResult {
  readonly value: number;
  /**
   * Cut points c1 < … < ck; bins are (−∞, c1], (c1, c2], …, (ck, +∞), so bins = cuts + 1.
   * Every bin holds at least one reference value, except around a constant reference.
   */
  readonly cuts: number[];
  /** Share of each sample per bin, before flooring. */
  readonly referenceShares: number[];
  readonly currentShares: number[];
}

export interface CategoricalPsiResult {
  readonly value: number;
  /** The union of categories (see `alignCounts` for the order). */
  readonly categories: string[];
  readonly referenceShares: number[];
  readonly currentShares: number[];
}

/** The largest double below x. */
function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  const view = new Float64Array([x]);
  const bits = new BigInt64Array(view.buffer);
  bits[0] = bits[0]! + (x > 0 ? -1n : 1n);
  return view[0]!;
}

/**
 * Cut points of `bins` reference-quantile bins: the inverted-CDF quantiles (actual reference
 * values, index ⌈n·j/bins⌉ − 1 of the sorted sample, j = 1…bins−1), duplicates dropped, and a cut
 * equal to the maximum dropped (it would leave the last bin empty). A heavily tied value therefore
 * takes one bin instead of several empty or duplicate ones. A constant reference c gets the cuts
 * [c⁻, c] (the double below c, then c): bins below, at and above c.
 */
export function quantileCuts(sortedReference: ArrayLike<number>, bins = DEFAULT_PSI_BINS): number[] {
  if (!Number.isInteger(bins) || bins < 1) throw invalid(`PSI bins must be a positive integer (got ${bins})`);
  const n = sortedReference.length;
  if (n === 0) throw invalid('quantileCuts: empty reference');
  const min = sortedReference[0]!;
  const max = sortedReference[n - 1]!;
  if (min === max) return [nextDown(min), min];
  const cuts: number[] = [];
  for (let j = 1; j < bins; j++) {
    const cut = sortedReference[Math.ceil((n * j) / bins) - 1]!;
    if (cut < max && (cuts.length === 0 || cut > cuts[cuts.length - 1]!)) cuts.push(cut);
  }
  return cuts;
}

/** Number of cuts strictly below `value`: its bin under right-closed bins. */
function binIndex(cuts: readonly number[], value: number): number {
  let low = 0;
  let high = cuts.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (cuts[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Counts of `values` in the bins defined by `cuts` (see `NumericPsiResult.cuts`). */
export function binCounts(values: ArrayLike<number>, cuts: readonly number[]): number[] {
  const counts = new Array<number>(cuts.length + 1).fill(0);
  for (let i = 0; i < values.length; i++) counts[binIndex(cuts, values[i]!)]!++;
  return counts;
}

/** PSI of two share vectors: each floored with Evidently's rule, then Σ (cur − ref) · ln(cur / ref). */
export function psiFromShares(referenceShares: readonly number[], currentShares: readonly number[]): number {
  if (referenceShares.length !== currentShares.length) throw invalid('psiFromShares: share vectors differ in length');
  const ref = floorEmptyShares(referenceShares);
  const cur = floorEmptyShares(currentShares);
  let value = 0;
  for (let i = 0; i < ref.length; i++) value += (cur[i]! - ref[i]!) * Math.log(cur[i]! / ref[i]!);
  return value;
}

function numericPsi(reference: ArrayLike<number>, current: ArrayLike<number>, bins: number): NumericPsiResult {
  assertFiniteSample(reference, 'psi: reference');
  assertFiniteSample(current, 'psi: current');
  const cuts = quantileCuts(sortedCopy(reference), bins);
  const referenceShares = toShares(binCounts(reference, cuts), reference.length);
  const currentShares = toShares(binCounts(current, cuts), current.length);
  return { value: psiFromShares(referenceShares, currentShares), cuts, referenceShares, currentShares };
}

function categoricalPsi(reference: CategoryCounts, current: CategoryCounts): CategoricalPsiResult {
  const aligned = alignCounts(reference, current);
  const referenceShares = toShares(aligned.reference, aligned.referenceTotal);
  const currentShares = toShares(aligned.current, aligned.currentTotal);
  return {
    value: psiFromShares(referenceShares, currentShares),
    categories: aligned.categories,
    referenceShares,
    currentShares,
  };
}

function isNumeric(values: ArrayLike<number> | CategoryCounts): values is ArrayLike<number> {
  return Array.isArray(values) || ArrayBuffer.isView(values);
}

/**
 * Population Stability Index.
 * - Numeric samples: bins from the reference quantiles (`quantileCuts`, default 10 bins).
 * - Category counts: one bin per category in either window.
 * Empty bins are floored with Evidently's rule (`floorEmptyShares`), so unseen categories give a
 * large but finite value.
 *
 * @example
 * psi([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]).value; // ≈ 4.35
 * psi({ a: 50, b: 50 }, { a: 70, b: 30 }).value;                                       // ≈ 0.1695
 */
export function psi(
  reference: ArrayLike<number>,
  current: ArrayLike<number>,
  options?: { bins?: number },
): NumericPsiResult;
export function psi(reference: CategoryCounts, current: CategoryCounts): CategoricalPsiResult;
export function psi(
  reference: ArrayLike<number> | CategoryCounts,
  current: ArrayLike<number> | CategoryCounts,
  options: { bins?: number } = {},
): NumericPsiResult | CategoricalPsiResult {
  if (isNumeric(reference) && isNumeric(current))
    return numericPsi(reference, current, options.bins ?? DEFAULT_PSI_BINS);
  if (!isNumeric(reference) && !isNumeric(current)) return categoricalPsi(reference, current);
  throw invalid('psi: pass two numeric samples or two category count tables');
}
