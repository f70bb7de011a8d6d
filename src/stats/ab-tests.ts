/**
 * Fixed-horizon tests for one look at a champion/challenger experiment: per-arm summaries, the
 * two-proportion z-test, Welch's t-test and the delta-method interval of the relative lift, with
 * the formulas GrowthBook's frequentist engine uses (its gbstats frequentist tests), checked
 * against fixtures/stats/experiment_reference.json.
 *
 * "Control" is the champion, "treatment" the challenger; every difference is treatment − control.
 */
import { invalid } from '../core/errors.js';
import { normalCriticalValue, normalTwoSidedPValue, studentTQuantile, studentTSf } from './student-t.js';

/**
 * A metric's per-arm summary. For 0/1 metrics (accuracy, conversion) mean = successes/n and
 * variance = p(1 − p), as GrowthBook does; otherwise the sample variance (ddof 1).
 */
export interface ArmSummary {
  readonly n: number;
  readonly mean: number;
  readonly variance: number;
}

/** A two-sided interval [low, high]. */
export type Interval = readonly [number, number];

/** 'proportion' for 0/1 metrics (two-proportion z-test), 'mean' for continuous ones (Welch). */
export type MetricKind = 'proportion' | 'mean';

/** Which way is better: 'higher' for accuracy or conversion, 'lower' for error rate or MAE. */
export type Direction = 'higher' | 'lower';

/** Result of a fixed-horizon test of treatment − control. */
export interface FixedTestResult {
  /** Treatment mean − control mean. */
  readonly difference: number;
  /** Standard error of the difference used for the interval (unpooled). */
  readonly standardError: number;
  /** z (two-proportion test) or t (Welch). */
  readonly statistic: number;
  /** Two-sided p-value. */
  readonly pValue: number;
  /** Two-sided 1 − α interval for the difference. */
  readonly ci: Interval;
}

export interface WelchResult extends FixedTestResult {
  /** Welch–Satterthwaite degrees of freedom. */
  readonly df: number;
}

export interface RelativeLift {
  /** (treatment − control) / control. */
  readonly lift: number;
  /** Delta-method standard error of the lift. */
  readonly standardError: number;
  readonly ci: Interval;
}

function assertCount(value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0)
    throw invalid(`${what} must be a finite non-negative number (got ${value})`);
}

function assertAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha < 1)) throw invalid(`alpha must lie strictly between 0 and 1 (got ${alpha})`);
}

/**
 * The summary of a 0/1 metric: mean = successes/n, variance = mean(1 − mean).
 *
 * @example
 * summarizeProportion(30, 100); // { n: 100, mean: 0.3, variance: 0.21 }
 */
export function summarizeProportion(successes: number, n: number): ArmSummary {
  assertCount(successes, 'successes');
  assertCount(n, 'n');
  if (n === 0) throw invalid('a proportion needs at least one observation (n is 0)');
  if (successes > n) throw invalid(`successes (${successes}) exceed n (${n})`);
  const mean = successes / n;
  return { n, mean, variance: mean * (1 - mean) };
}

/**
 * The summary of a continuous metric from its running sums: mean = sum/n and the sample variance
 * (ddof 1) = (Σx² − n·mean²)/(n − 1), clamped at 0 against rounding. With n = 0 the mean is NaN,
 * with n < 2 the variance is NaN (the tests then refuse the arm, so summaries can be built early).
 *
 * For metrics with a large mean relative to their spread, Σx² − n·mean² cancels: keep the sums
 * of values centred on a rough guess of the mean (the variance does not change, add it back to the mean).
 *
 * @example
 * summarizeMoments(3, 6, 14); // { n: 3, mean: 2, variance: 1 }
 */
export function summarizeMoments(n: number, sum: number, sumOfSquares: number): ArmSummary {
  assertCount(n, 'n');
  if (!Number.isFinite(sum) || !Number.isFinite(sumOfSquares)) throw invalid('sum and sumOfSquares must be finite');
  const mean = n > 0 ? sum / n : Number.NaN;
  const variance = n > 1 ? Math.max(0, (sumOfSquares - sum * mean) / (n - 1)) : Number.NaN;
  return { n, mean, variance };
}

/** Statistic, p-value and interval when the standard error is 0 (every observation alike). */
function degenerate(difference: number): Pick<FixedTestResult, 'statistic' | 'pValue' | 'ci'> {
  if (difference === 0) return { statistic: 0, pValue: 1, ci: [0, 0] };
  return {
    statistic: difference > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY,
    pValue: 0,
    ci: [difference, difference],
  };
}

/**
 * Two-proportion z-test of treatment vs control: z uses the pooled rate
 * p̂ = (x_C + x_T)/(n_C + n_T), the interval the unpooled standard error
 * √(p̂_C(1 − p̂_C)/n_C + p̂_T(1 − p̂_T)/n_T). Only each arm's n and mean are read.
 *
 * @example
 * twoProportionZTest(summarizeProportion(300, 1000), summarizeProportion(345, 1000)).pValue; // ≈ 0.031
 */
export function twoProportionZTest(control: ArmSummary, treatment: ArmSummary, alpha = 0.05): FixedTestResult {
  assertAlpha(alpha);
  if (!(control.n >= 1 && treatment.n >= 1))
    throw invalid(`the z-test needs at least one observation per arm (got ${control.n} and ${treatment.n})`);
  const pc = control.mean;
  const pt = treatment.mean;
  const difference = pt - pc;
  const standardError = Math.sqrt((pc * (1 - pc)) / control.n + (pt * (1 - pt)) / treatment.n);
  const pooled = (pc * control.n + pt * treatment.n) / (control.n + treatment.n);
  const pooledError = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n));
  const statistic = pooledError > 0 ? difference / pooledError : degenerate(difference).statistic;
  const pValue = normalTwoSidedPValue(statistic);
  if (standardError === 0) return { difference, standardError, statistic, pValue, ci: [difference, difference] };
  const half = normalCriticalValue(alpha) * standardError;
  return { difference, standardError, statistic, pValue, ci: [difference - half, difference + half] };
}

/**
 * Welch–Satterthwaite degrees of freedom of treatment − control. When both variances are 0 it is
 * undefined; n_C + n_T − 2 (Student's) is returned, any value giving the same degenerate result.
 */
export function welchDegreesOfFreedom(control: ArmSummary, treatment: ArmSummary): number {
  const vc = control.variance / control.n;
  const vt = treatment.variance / treatment.n;
  if (vc + vt === 0) return control.n + treatment.n - 2;
  return (vc + vt) ** 2 / ((vc * vc) / (control.n - 1) + (vt * vt) / (treatment.n - 1));
}

/**
 * Welch's unequal-variance t-test of treatment − control (scipy.stats.ttest_ind_from_stats with
 * equal_var=False), with the interval difference ± t_{1−α/2, ν}·SE. Needs n >= 2 in each arm.
 *
 * @example
 * welchTTest({ n: 50, mean: 10, variance: 4 }, { n: 60, mean: 11, variance: 9 }).pValue; // ≈ 0.040
 */
export function welchTTest(control: ArmSummary, treatment: ArmSummary, alpha = 0.05): WelchResult {
  assertAlpha(alpha);
  if (control.n < 2 || treatment.n < 2)
    throw invalid(`Welch's t-test needs at least two observations per arm (got ${control.n} and ${treatment.n})`);
  const difference = treatment.mean - control.mean;
  const standardError = Math.sqrt(control.variance / control.n + treatment.variance / treatment.n);
  const df = welchDegreesOfFreedom(control, treatment);
  if (standardError === 0) return { difference, standardError, df, ...degenerate(difference) };
  const statistic = difference / standardError;
  const pValue = Math.min(1, 2 * studentTSf(Math.abs(statistic), df));
  const half = studentTQuantile(1 - alpha / 2, df) * standardError;
  return { difference, standardError, statistic, df, pValue, ci: [difference - half, difference + half] };
}

/**
 * The relative lift (treatment − control)/control with its delta-method standard error
 * √(σ²_C μ²_T/(μ⁴_C n_C) + σ²_T/(μ²_C n_T)) and the interval lift ± critical·SE. `critical` is the
 * two-sided quantile to use (z for proportions, Welch's t for means). Null when the control mean is 0.
 *
 * @example
 * relativeLift(summarizeProportion(300, 1000), summarizeProportion(345, 1000), 1.96)?.lift; // ≈ 0.15
 */
export function relativeLift(control: ArmSummary, treatment: ArmSummary, critical: number): RelativeLift | null {
  const mc = control.mean;
  const mt = treatment.mean;
  if (mc === 0) return null;
  const lift = (mt - mc) / mc;
  const variance = (control.variance * mt * mt) / (mc ** 4 * control.n) + treatment.variance / (mc * mc * treatment.n);
  const standardError = Math.sqrt(variance);
  return { lift, standardError, ci: [lift - critical * standardError, lift + critical * standardError] };
}
