/**
 * Student's t distribution (CDF, survival function, density, quantile) and the standard normal
 * quantile, for Welch's test and confidence intervals.
 *
 * Written on the incomplete beta function rather than taken from `@stdlib/stats-base-dists-t-*`:
 * the core stays free of runtime dependencies, as for the rest of src/stats, and the pieces are
 * checked against scipy 1.10 in `fixtures/stats/experiment_reference.json` (df from 1 to 1e6,
 * probabilities down to 1e-12).
 */
import { incompleteBetaPair, logBeta } from './incomplete-beta.js';
import { erf, normalCdf, normalSf } from './special.js';

const SQRT_2PI = Math.sqrt(2 * Math.PI);
const MAX_NEWTON_STEPS = 100;

function assertDegreesOfFreedom(df: number): void {
  if (!(df > 0)) throw new RangeError(`degrees of freedom must be positive (got ${df})`);
}

/** P(T > |t|), computed as ½ I_x(ν/2, ½) with x = ν/(ν + t²) and 1 − x formed without subtraction. */
function tailBeyond(t: number, df: number): number {
  const square = t * t;
  const total = df + square;
  const x = df / total;
  const y = square / total;
  const small = square < df;
  const logX = small ? -Math.log1p(square / df) : Math.log(x);
  const logY = small ? Math.log(y) : -Math.log1p(df / square);
  return 0.5 * incompleteBetaPair({ x, y, logX, logY }, df / 2, 0.5).lower;
}

/**
 * Student t CDF P(T <= t) with `df` > 0 degrees of freedom, fractional allowed (scipy.stats.t.cdf).
 * `df = Infinity` gives the standard normal.
 *
 * @example
 * studentTCdf(2.228, 10); // ≈ 0.975
 */
export function studentTCdf(t: number, df: number): number {
  assertDegreesOfFreedom(df);
  if (Number.isNaN(t)) return Number.NaN;
  if (df === Number.POSITIVE_INFINITY) return normalCdf(t);
  if (t === 0) return 0.5;
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0;
  const tail = tailBeyond(t, df);
  return t < 0 ? tail : 1 - tail;
}

/** Student t survival function P(T > t), accurate far into the upper tail (scipy.stats.t.sf). */
export function studentTSf(t: number, df: number): number {
  return studentTCdf(-t, df);
}

/** Student t density (scipy.stats.t.pdf). */
export function studentTPdf(t: number, df: number): number {
  assertDegreesOfFreedom(df);
  if (df === Number.POSITIVE_INFINITY) return Math.exp(-0.5 * t * t) / SQRT_2PI;
  return Math.exp(-((df + 1) / 2) * Math.log1p((t * t) / df) - 0.5 * Math.log(df) - logBeta(df / 2, 0.5));
}

/**
 * Acklam's rational approximation of the normal quantile for 0 < p <= 0.5 (relative error
 * ~1e-9), the starting point of the refinement in `normalQuantile`.
 */
function acklamLowerHalf(p: number): number {
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((-7.784894002430293e-3 * q - 3.223964580411365e-1) * q - 2.400758277161838) * q - 2.549732539343734) * q +
        4.374664141464968) *
        q +
        2.938163982698783) /
      ((((7.784695709041462e-3 * q + 3.224671290700398e-1) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((-3.969683028665376e1 * r + 2.209460984245205e2) * r - 2.759285104469687e2) * r + 1.38357751867269e2) * r -
      3.066479806614716e1) *
      r +
      2.506628277459239) *
      q) /
    (((((-5.447609879822406e1 * r + 1.615858368580409e2) * r - 1.556989798598866e2) * r + 6.680131188771972e1) * r -
      1.328068155288572e1) *
      r +
      1)
  );
}

/**
 * The standard normal quantile Φ⁻¹(p) (scipy.stats.norm.ppf / scipy.special.ndtri), to ~1e-15
 * relative down to p = 1e-300: Acklam's approximation, then Halley steps on Φ in the lower tail
 * (p > ½ is reflected; 1 − p is exact there). Inherits special.ts's erfc, which is ~1e-15 relative
 * for 1 < |z| < 2.8, so a few ulps off scipy's ndtri there.
 *
 * @example
 * normalQuantile(0.975); // ≈ 1.959964
 */
export function normalQuantile(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p > 0.5) return -normalQuantile(1 - p);
  // Near the centre Φ(x) − p cancels; ½·erf(x/√2) − (p − ½) does not (p − ½ is exact there).
  const central = p > 0.25;
  let x = acklamLowerHalf(p);
  for (let step = 0; step < 3; step++) {
    const density = Math.exp(-0.5 * x * x) / SQRT_2PI;
    if (density === 0) break;
    const error = central ? 0.5 * erf(x * Math.SQRT1_2) - (p - 0.5) : normalCdf(x) - p;
    const u = error / density;
    x -= u / (1 + 0.5 * x * u);
  }
  return x;
}

/** An upper bound on the t with P(T > t) = q: the tail of the density is below ν^(ν/2) t^-(ν+1) / B(ν/2, ½). */
function tailUpperBound(q: number, df: number): number {
  const logBound = 0.5 * Math.log(df) - (Math.log(q) + Math.log(df) + logBeta(df / 2, 0.5)) / df;
  return Math.exp(logBound) * (1 + 1e-6);
}

/** The Cornish–Fisher expansion of t around the normal quantile z (good unless df is small and q tiny). */
function cornishFisher(z: number, df: number): number {
  const z2 = z * z;
  return z + (z * (z2 + 1)) / (4 * df) + (z * ((5 * z2 + 16) * z2 + 3)) / (96 * df * df);
}

/**
 * The t > 0 with P(T > t) = q, for 0 < q < ½. Closed forms for df 1 and 2; otherwise Newton's
 * method on ln P(T > t) (nearly linear in ln t in the tail, so few steps), kept inside a bracket
 * and bisecting when a step would leave it.
 */
function upperQuantile(q: number, df: number): number {
  if (df === 1) return 1 / Math.tan(Math.PI * q);
  if (df === 2) return (1 - 2 * q) / Math.sqrt(2 * q * (1 - q));
  let low = 0;
  let high = tailUpperBound(q, df);
  let t = Math.min(Math.max(cornishFisher(-normalQuantile(q), df), 0), high);
  const logTarget = Math.log(q);
  for (let step = 0; step < MAX_NEWTON_STEPS; step++) {
    const tail = tailBeyond(t, df);
    if (tail === q) return t;
    if (tail > q) low = t;
    else high = t;
    let next = t + ((Math.log(tail) - logTarget) * tail) / studentTPdf(t, df);
    if (!(next > low && next < high)) next = 0.5 * (low + high);
    if (Math.abs(next - t) <= 2 * Number.EPSILON * t) return next;
    t = next;
  }
  return t;
}

/**
 * The Student t quantile (inverse CDF) for 0 <= p <= 1 and `df` > 0 (scipy.stats.t.ppf, but
 * solved to full double precision: scipy's cdflib search stops at ~1e-10 relative).
 *
 * @example
 * studentTQuantile(0.975, 10); // 2.228138851986272
 */
export function studentTQuantile(p: number, df: number): number {
  assertDegreesOfFreedom(df);
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (df === Number.POSITIVE_INFINITY) return normalQuantile(p);
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  if (p === 0.5) return 0;
  return p < 0.5 ? -upperQuantile(p, df) : upperQuantile(1 - p, df);
}

/** The two-sided critical value z_{1−α/2}. */
export function normalCriticalValue(alpha: number): number {
  return -normalQuantile(alpha / 2);
}

/** Two-sided p-value 2·P(Z > |z|) of a standard normal statistic (1 for z = 0, 0 for ±∞). */
export function normalTwoSidedPValue(z: number): number {
  return Math.min(1, 2 * normalSf(Math.abs(z)));
}
