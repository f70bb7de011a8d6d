/**
 * Two-sample Kolmogorov–Smirnov test, a port of scipy 1.10 `scipy.stats.ks_2samp` (two-sided),
 * including its tie handling (empirical CDFs evaluated with `searchsorted(side='right')` at every
 * pooled value) and its choice of p-value method.
 */
import { invalid } from '../core/errors.js';
import { kstwoSf } from './kolmogorov.js';
import { assertFiniteSample, clipProbability, roundHalfEven, sortedCopy } from './numeric.js';

/** How the p-value is computed; `auto` is scipy's default. */
export type KsMethod = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  /** The KS statistic D = sup |F_a − F_b| (in exact mode rounded to a multiple of 1/lcm(n1, n2), as scipy). */
  readonly statistic: number;
  /** Two-sided p-value. */
  readonly pValue: number;
  /** The method that produced the p-value (`auto` resolves to one of these). */
  readonly method: 'exact' | 'asymp';
}

/** scipy's MAX_AUTO_N: `auto` tries the exact distribution when both samples are at most this big. */
const MAX_AUTO_N = 10_000;
const INT32_MAX = 2 ** 31 - 1;

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

/** sup of F_a − F_b and of F_b − F_a over the pooled values (both ECDFs right-continuous). */
function ecdfExtremes(a: Float64Array, b: Float64Array): { maxS: number; minS: number } {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let max = Number.NEGATIVE_INFINITY;
  let min = Number.POSITIVE_INFINITY;
  while (i < n1 || j < n2) {
    const value = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    while (i < n1 && a[i] === value) i++;
    while (j < n2 && b[j] === value) j++;
    const difference = i / n1 - j / n2;
    if (difference > max) max = difference;
    if (difference < min) min = difference;
  }
  return { maxS: max, minS: clipProbability(-min) };
}

/**
 * P(D_{n,n} >= h/n) for equal sample sizes: the alternating sum of binomial ratios evaluated in
 * Horner form (scipy `_compute_prob_outside_square`).
 */
function probOutsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let term = 1;
    for (let j = 0; j < h; j++) term = ((n - k * h - j) * term) / (n + k * h + j + 1);
    p = term * (1 - p);
  }
  return 2 * p;
}

/**
 * Proportion of lattice paths from (0,0) to (m,n) that leave the band |x/m − y/n| < h/lcm(m,n):
 * Hodges' inside method with Viehmann's recursion for 1 − p (scipy `_compute_outer_prob_inside_method`).
 */
function probOutsideInsideMethod(m0: number, n0: number, g: number, h: number): number {
  const m = Math.max(m0, n0);
  const n = Math.min(m0, n0);
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let currentLength = maxj - minj;
  const column = new Float64Array(Math.min(2 * maxj + 2, n + 1)).fill(1);
  column.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastMinj = minj;
    const lastLength = currentLength;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let value = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      value = (column[jj + minj - lastMinj]! * i + value * j) / (i + j);
      column[jj] = value;
    }
    currentLength = maxj - minj;
    if (lastLength > currentLength) column.fill(1, maxj - minj, maxj - minj + (lastLength - currentLength));
  }
  return column[maxj - minj - 1]!;
}

/** scipy `_attempt_exact_2kssamp` (two-sided): the rounded statistic and the exact p-value, if representable. */
function attemptExact(n1: number, n2: number, g: number, d: number): { d: number; p: number | undefined } {
  const lcm = (n1 / g) * n2;
  const h = roundHalfEven(d * lcm);
  const rounded = h / lcm;
  if (h === 0) return { d: rounded, p: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideInsideMethod(n1, n2, g, h);
  return { d: rounded, p: p >= 0 && p <= 1 ? p : undefined };
}

/**
 * Two-sample two-sided Kolmogorov–Smirnov test, equal to `scipy.stats.ks_2samp(a, b)` (scipy 1.10).
 *
 * `method: 'auto'` (the default) computes the exact p-value when max(n1, n2) <= 10000 and it is
 * representable in doubles, else the asymptotic one, `kstwo.sf(D, round(n1·n2/(n1+n2)))`.
 * Samples are sorted once (O(n log n)); the exact path costs O(max(n1,n2) · D · min(n1,n2)).
 * Throws INVALID_ARGUMENT for an empty sample or non-finite values.
 *
 * @example
 * ksTwoSample([1, 2, 3, 4], [3, 4, 5, 6, 7]); // { statistic: 0.6, pValue: 0.2857…, method: 'exact' }
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>, options: { method?: KsMethod } = {}): KsResult {
  assertFiniteSample(a, 'ksTwoSample: first sample');
  assertFiniteSample(b, 'ksTwoSample: second sample');
  const requested = options.method ?? 'auto';
  if (requested !== 'auto' && requested !== 'exact' && requested !== 'asymp')
    throw invalid(`ksTwoSample: unknown method "${String(requested)}"`);
  const sortedA = sortedCopy(a);
  const sortedB = sortedCopy(b);
  const n1 = sortedA.length;
  const n2 = sortedB.length;
  const { maxS, minS } = ecdfExtremes(sortedA, sortedB);
  let d = minS > maxS ? minS : maxS;
  const g = gcd(n1, n2);
  let method: 'exact' | 'asymp';
  if (requested === 'auto') method = Math.max(n1, n2) <= MAX_AUTO_N ? 'exact' : 'asymp';
  else if (requested === 'exact') method = n1 / g >= INT32_MAX / (n2 / g) ? 'asymp' : 'exact';
  else method = 'asymp';

  let pValue = Number.NaN;
  if (method === 'exact') {
    const exact = attemptExact(n1, n2, g, d);
    d = exact.d;
    if (exact.p === undefined) method = 'asymp';
    else pValue = exact.p;
  }
  if (method === 'asymp') {
    const en = (n1 * n2) / (n1 + n2);
    pValue = kstwoSf(roundHalfEven(en), d);
  }
  return { statistic: d, pValue: clipProbability(pValue), method };
}
