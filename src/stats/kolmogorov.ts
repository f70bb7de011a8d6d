/**
 * Kolmogorov–Smirnov distributions:
 *  - `kolmogorovSf`: the limiting distribution of √n·D_n (scipy.special.kolmogorov);
 *  - `smirnovSf`: the exact one-sided D_n^+ (scipy.special.smirnov);
 *  - `kstwoSf`: the exact two-sided D_n for finite n (scipy.stats.kstwo.sf), which is what
 *    scipy 1.10's `ks_2samp` uses for its asymptotic p-value, with n = round(n1·n2 / (n1 + n2)).
 *
 * `kstwoSf` follows scipy's `scipy/stats/_ksstats.py` (Simard & L'Ecuyer 2011 choose between the
 * Durbin matrix of Marsaglia–Tsang–Wang, Pomeranz's recursion, the Pelz–Good expansion and
 * 2·smirnov); `smirnovSf` sums the Birnbaum–Tingey series as cephes `kolmogorov.c` does, in
 * log space with doubles where cephes uses double-double (agreement ~1e-12 relative).
 */
import { clipProbability, ldexp } from './numeric.js';
import { STIRLING_COEFFICIENTS } from './special.js';

const SCALE_EXPONENT = 128;
const SCALE_UP = 2 ** SCALE_EXPONENT;
const SCALE_DOWN = 2 ** -SCALE_EXPONENT;
const SQRT_2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const PI_SQUARED = Math.PI ** 2;
const PI_FOUR = Math.PI ** 4;
const PI_SIX = Math.PI ** 6;
/** cephes MINLOG: log of the smallest normal double. */
const MIN_LOG = -708.3964185322641;

/**
 * Survival function of the Kolmogorov distribution, P(√n·D_n > x) as n → ∞
 * (scipy.special.kolmogorov; the two theta-function series of cephes `kolmogorov.c`, switching
 * at x = 0.82).
 */
export function kolmogorovSf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x <= Math.PI / Math.sqrt(746 * 8)) return 1;
  if (x <= 0.82) {
    // CDF = √(2π)/x · Σ_k exp(-(2k-1)² π² / (8x²)), three terms suffice here.
    const logU8 = -PI_SQUARED / (x * x);
    const u = Math.exp(logU8 / 8);
    const u8 = Math.exp(logU8);
    let p = 1;
    p = 1 + u8 ** 3 * p;
    p = 1 + u8 * u8 * p;
    p = 1 + u8 * p;
    return clipProbability(1 - (SQRT_2PI / x) * u * p);
  }
  // SF = 2 Σ_k (-1)^(k-1) exp(-2k²x²) = 2v(1 - v³(1 - v⁵(1 - v⁷(...)))), v = exp(-2x²).
  const v = Math.exp(-2 * x * x);
  let p = 1;
  for (const power of [7, 5, 3]) p = 1 - v ** power * p;
  return clipProbability(2 * v * p);
}

/**
 * Survival function P(D_n^+ >= x) of the one-sided Kolmogorov–Smirnov statistic
 * (scipy.special.smirnov): x · Σ_v C(n,v) (1 − x − v/n)^(n−v) (x + v/n)^(v−1), the lower sum over
 * v <= n(1−x) (all terms positive), or the short alternating upper sum for small x, as cephes.
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const nx = n * x;
  let nxFloor = Math.floor(nx);
  let alpha = nx - nxFloor;
  if (alpha >= 1) {
    nxFloor += 1;
    alpha = 0;
  }
  if (nxFloor === 0 || (nxFloor === 1 && alpha === 0)) return clipProbability(1 - x * (1 + x) ** (n - 1));
  if (-2 * n * x * x < MIN_LOG) return 0;
  if (nxFloor >= n - 1) return clipProbability((1 - x) ** n);
  if (n > 1_000_000) return Math.exp(-((6 * n * x + 1) ** 2) / 18 / n);
  let lastLower = n - nxFloor - (alpha === 0 ? 0 : 1);
  let firstUpper = n - nxFloor;
  if (alpha === 0) {
    lastLower -= 1;
    firstUpper += 1;
  }
  const upperTerms = n - firstUpper + 1;
  const useUpper = (upperTerms <= 1 && x < 0.5) || (n >= 10 && upperTerms <= 3 && x <= 0.5 / Math.sqrt(n));
  if (useUpper) return clipProbability(1 - x * smirnovUpperSum(n, x, nxFloor, alpha, firstUpper));
  return clipProbability(x * smirnovLowerSum(n, x, nxFloor, alpha, lastLower));
}

/**
 * Σ_{v=0}^{last} A_v with A_v = C(n,v)(1−x−v/n)^(n−v)(x+v/n)^(v−1). Each term is evaluated in log
 * space, but the binomial is carried as mantissa × 2^exponent (as cephes does) because a running
 * sum of logs would accumulate rounding over thousands of terms; log1p keeps (n−v)·log(1−x−v/n)
 * accurate when n is large.
 */
function smirnovLowerSum(n: number, x: number, nxFloor: number, alpha: number, last: number): number {
  let total = Math.exp(n * Math.log1p(-x)) / x;
  let binomialMantissa = n; // C(n, 1)
  let binomialExponent = 0;
  const terms = last + 1;
  for (let v = 1; v < terms; v++) {
    // x + v/n and 1 − x − v/n from exact integers and the fractional part of n·x.
    const above = (nxFloor + v + alpha) / n;
    const below = (n - nxFloor - v - alpha) / n;
    const logBelow = above < 0.5 ? Math.log1p(-above) : Math.log(below);
    const logBinomial = Math.log(binomialMantissa) + binomialExponent * Math.LN2;
    const term = below > 0 ? Math.exp(logBinomial + (n - v) * logBelow + (v - 1) * Math.log(above)) : 0;
    total += term;
    if (term !== 0) {
      if (4 * (terms - v) * term < Number.EPSILON * total && v !== terms - 1) break;
    } else if (v > n / 2) {
      break;
    }
    binomialMantissa *= (n - v) / (v + 1);
    if (binomialMantissa > 2 ** 512) {
      binomialMantissa *= 2 ** -512;
      binomialExponent += 512;
    } else if (binomialMantissa < 2 ** -512) {
      binomialMantissa *= 2 ** 512;
      binomialExponent -= 512;
    }
  }
  return total;
}

/** Σ_{v=first}^{n} A_v (alternating signs: 1 − x − v/n < 0 there), used when it has <= 3 terms. */
function smirnovUpperSum(n: number, x: number, nxFloor: number, alpha: number, first: number): number {
  let total = 0;
  let binomial = 1; // C(n, n)
  for (let v = n; v >= first; v--) {
    const below = (n - nxFloor - v - alpha) / n;
    const above = (nxFloor + v + alpha) / n;
    total += binomial * below ** (n - v) * above ** (v - 1);
    binomial = (binomial * v) / (n - v + 1);
  }
  return total;
}

/** log(n! / n^n) by Stirling's series (scipy `_log_nfactorial_div_n_pow_n`). */
function logFactorialOverPower(n: number): number {
  const reciprocal = 1 / n;
  let polynomial = 0;
  for (const coefficient of STIRLING_COEFFICIENTS) polynomial = polynomial * (reciprocal / n) + coefficient;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + reciprocal * polynomial;
}

/** C = A·B for m×m row-major matrices. */
function multiply(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j]! += aik * b[k * m + j]!;
    }
  }
  return out;
}

/**
 * P(D_n <= d) by Durbin's matrix algorithm in the Marsaglia–Tsang–Wang form (scipy
 * `_kolmogn_DMTW`): the k-th diagonal entry of H^n scaled by n!/n^n, with explicit exponents.
 */
function durbinMatrixCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let factorial = 1;
  for (let j = 1; j <= m; j++) {
    v[j - 1] = 1 - h ** j;
    w[j - 1] = factorial;
    factorial /= j;
    v[j - 1]! *= factorial;
  }
  v[m - 1] = (1 + (Math.max(2 * h - 1, 0) ** m - 2 * h ** m)) * factorial;
  let matrix: Float64Array = new Float64Array(m * m);
  for (let column = 1; column < m; column++) {
    for (let row = column - 1; row < m; row++) matrix[row * m + column] = w[row - column + 1]!;
  }
  for (let row = 0; row < m; row++) matrix[row * m] = v[row]!;
  for (let column = 0; column < m; column++) matrix[(m - 1) * m + column] = v[m - 1 - column]!;

  let power: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let exponent = 0;
  let matrixExponent = 0;
  for (let remaining = n; remaining > 0; remaining = Math.floor(remaining / 2)) {
    if (remaining % 2 === 1) {
      power = multiply(power, matrix, m);
      exponent += matrixExponent;
    }
    matrix = multiply(matrix, matrix, m);
    matrixExponent *= 2;
    if (Math.abs(matrix[(k - 1) * m + (k - 1)]!) > SCALE_UP) {
      for (let i = 0; i < matrix.length; i++) matrix[i]! /= SCALE_UP;
      matrixExponent += SCALE_EXPONENT;
    }
  }
  let p = power[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < SCALE_DOWN) {
      p *= SCALE_UP;
      exponent -= SCALE_EXPONENT;
    }
  }
  return clipProbability(exponent === 0 ? p : ldexp(p, exponent));
}

/** Row bounds of Pomeranz's recursion (scipy `_pomeranz_compute_j1j2`). */
function pomeranzBounds(i: number, n: number, ll: number, ceilF: number, roundF: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilF - 1;
    j2 = ll + ceilF - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilF - 1;
        j2 = n + ll + ceilF - 1;
      } else {
        j1 = half - 1 - ll - roundF - 1;
        j2 = half + ll - 1 + ceilF - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundF - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** P(D_n <= x) by Pomeranz's recursion (ACM Algorithm 487; scipy `_kolmogn_Pomeranz`). */
function pomeranzCdf(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilF = f > 0 ? 1 : 0;
  const roundF = f > 0.5 ? 1 : 0;
  const size = 2 * (ll + 1);
  const gPower = new Float64Array(size);
  const twoGPower = new Float64Array(size);
  const oneMinusTwoGPower = new Float64Array(size);
  gPower[0] = twoGPower[0] = oneMinusTwoGPower[0] = 1;
  for (let m = 1; m < size; m++) {
    gPower[m] = (gPower[m - 1]! * (g / n)) / m;
    twoGPower[m] = (twoGPower[m - 1]! * ((2 * g) / n)) / m;
    oneMinusTwoGPower[m] = (oneMinusTwoGPower[m - 1]! * ((1 - 2 * g) / n)) / m;
  }
  let previous = new Float64Array(size);
  let current = new Float64Array(size);
  current[0] = 1;
  let previousStart = 0;
  let currentStart = 0;
  let exponent = 0;
  let [j1, j2] = pomeranzBounds(0, n, ll, ceilF, roundF);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [previous, current] = [current, previous];
    [previousStart, currentStart] = [currentStart, previousStart];
    current.fill(0);
    [j1, j2] = pomeranzBounds(i, n, ll, ceilF, roundF);
    const powers = i === 1 || i === 2 * n + 1 ? gPower : i % 2 === 1 ? twoGPower : oneMinusTwoGPower;
    const length = j2 - k1 + 1;
    if (length <= 0) continue;
    const offset = k1 - previousStart;
    const aLength = Math.min(length, size - offset);
    const bLength = Math.min(length, size);
    const convStart = j1 - k1;
    let largest = 0;
    for (let out = 0; out < j2 - j1 + 1; out++) {
      const index = convStart + out;
      let value = 0;
      for (let s = Math.max(0, index - bLength + 1); s <= Math.min(index, aLength - 1); s++) {
        value += previous[offset + s]! * powers[index - s]!;
      }
      current[out] = value;
      if (value > largest) largest = value;
    }
    if (largest > 0 && largest < SCALE_DOWN) {
      for (let m = 0; m < size; m++) current[m]! *= SCALE_UP;
      exponent -= SCALE_EXPONENT;
    }
    currentStart = previousStart + j1 - k1;
  }
  let answer = current[n - currentStart]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(answer) > SCALE_UP) {
      answer *= SCALE_DOWN;
      exponent += SCALE_EXPONENT;
    }
    answer *= m;
  }
  return clipProbability(exponent === 0 ? answer : ldexp(answer, exponent));
}

/** Pelz–Good asymptotic expansion of P(D_n <= x) (scipy `_kolmogn_PelzGood`). */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const qLog = -PI_SQUARED / 8 / z2;
  if (qLog < -708) return 0;
  let q = Math.exp(qLog);
  const k1a = -z2;
  const k1b = PI_SQUARED / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI_SQUARED) / 4;
  const k2c = (PI_FOUR * (1 - 2 * z2)) / 16;
  const k3d = (PI_SIX * (5 - 30 * z2)) / 64;
  const k3c = (PI_FOUR * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI_SQUARED * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const sums = [0, 0, 0, 0];
  const maxK = Math.ceil((16 * z) / Math.PI);
  for (let k = maxK; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qPower = q ** (8 * k);
    const coefficients = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) sums[i] = sums[i]! * qPower + coefficients[i]!;
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) sums[i] = (sums[i]! * q * SQRT_2PI) / divisors[i]!;
  q = Math.exp(-PI_SQUARED / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2extra = 0;
  let k3extra = 0;
  for (let k = maxK; k > 0; k--) {
    const k2 = k * k;
    const qPower = q ** k2;
    const kPi = Math.PI * k;
    k2extra += k2 * qPower;
    k3extra += (sqrt3z + kPi) * (sqrt3z - kPi) * k2 * qPower;
  }
  sums[2]! += k2extra * ((PI_SQUARED * SQRT_2PI) / (-36 * z3));
  sums[3]! += k3extra * ((PI_SQUARED * SQRT_2PI) / (216 * z6));
  let cdf = 0;
  for (let i = 0; i < 4; i++) cdf += sums[i]! / n ** (i / 2);
  return cdf;
}

/**
 * Survival function P(D_n >= x) of the two-sided one-sample Kolmogorov–Smirnov statistic for
 * sample size n (scipy.stats.kstwo.sf(x, n), scipy `_kolmogn(n, x, cdf=False)`).
 *
 * @example
 * kstwoSf(100, 0.1); // ≈ 0.2527
 */
export function kstwoSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n < 1 || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0.5 / n) return 1; // outside the support (scipy's rv_continuous check)
  const t = n * x;
  if (t <= 1) {
    // Ruben–Gambino: 1/(2n) < x <= 1/n.
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= i * (1 / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clipProbability(1 - cdf);
  }
  if (t >= n - 1) return clipProbability(2 * (1 - x) ** n);
  if (x >= 0.5) return clipProbability(2 * smirnovSf(n, x));
  const nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 0.754693) return clipProbability(1 - durbinMatrixCdf(n, x));
    if (nx2 <= 4) return clipProbability(1 - pomeranzCdf(n, x));
    return clipProbability(2 * smirnovSf(n, x));
  }
  if (nx2 >= 370) return 0;
  if (nx2 >= 2.2) return clipProbability(2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * x ** 1.5 <= 1.4 ? durbinMatrixCdf(n, x) : pelzGoodCdf(n, x);
  return clipProbability(1 - clipProbability(cdf));
}
