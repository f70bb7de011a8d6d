/**
 * Small numeric helpers shared by the statistics: input checks, one sort, compensated sums.
 */
import { invalid } from '../core/errors.js';

/** A sorted Float64Array copy of `values` (numeric order, O(n log n)). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** Throw INVALID_ARGUMENT unless `values` is non-empty and every value is finite. */
export function assertFiniteSample(values: ArrayLike<number>, what: string): void {
  if (values.length === 0) throw invalid(`${what} must not be empty`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]))
      throw invalid(`${what} must contain finite numbers only (index ${i} is ${values[i]})`);
  }
}

/** Throw INVALID_ARGUMENT unless both arrays have the same non-zero length. */
export function assertSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw invalid(`${what}: lengths differ (${a.length} vs ${b.length})`);
  if (a.length === 0) throw invalid(`${what}: no values`);
}

/**
 * Neumaier-compensated sum. numpy sums pairwise; both are within a few ulps of the exact sum,
 * far below the 1e-9 agreement the tests ask for.
 */
export function sum(values: ArrayLike<number>): number {
  let total = 0;
  let compensation = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    const next = total + value;
    compensation += Math.abs(total) >= Math.abs(value) ? total - next + value : value - next + total;
    total = next;
  }
  return total + compensation;
}

/** Arithmetic mean (NaN for an empty array). */
export function mean(values: ArrayLike<number>): number {
  return sum(values) / values.length;
}

/** Population standard deviation, numpy's `np.std(x)` (ddof=0), two-pass. */
export function populationStd(values: ArrayLike<number>): number {
  const center = mean(values);
  const squares = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) squares[i] = (values[i]! - center) ** 2;
  return Math.sqrt(mean(squares));
}

/** Round half to even, as numpy's `np.round` does. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** x * 2^exponent without intermediate overflow/underflow of the power (C's ldexp). */
export function ldexp(x: number, exponent: number): number {
  let result = x;
  let remaining = exponent;
  while (remaining > 1000) {
    result *= 2 ** 1000;
    remaining -= 1000;
  }
  while (remaining < -1000) {
    result *= 2 ** -1000;
    remaining += 1000;
  }
  return result * 2 ** remaining;
}

/** Clip to [0, 1] (NaN stays NaN), as scipy's `_clip_prob`. */
export function clipProbability(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}
