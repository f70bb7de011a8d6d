/**
 * One look at a champion/challenger experiment: every statistic the results page shows, from the
 * two arms' summaries. Fixed-horizon test (valid for one final look only), GrowthBook's always-
 * valid confidence sequence (valid at every look once intersected with `nextSequentialState`),
 * relative lift and Bayesian chance to win.
 */
import {
  relativeLift,
  twoProportionZTest,
  welchTTest,
  type ArmSummary,
  type Direction,
  type FixedTestResult,
  type Interval,
  type MetricKind,
} from './ab-tests.js';
import { gaussianChanceToWin, type ChanceToWin } from './bayesian.js';
import { invalid } from '../core/errors.js';
import { DEFAULT_SEQUENTIAL_TUNING, growthbookConfidenceSequence, type SequentialLook } from './sequential.js';
import { normalCriticalValue, studentTQuantile } from './student-t.js';

export interface ComparisonOptions {
  /** Default 0.05, for every interval and test. */
  readonly alpha?: number;
  readonly kind: MetricKind;
  /** Which way is better (default 'higher'); only the Bayesian part depends on it. */
  readonly direction?: Direction;
  /** GrowthBook's S (default 5000): the total sample size near which the sequential interval is tightest. Keep it fixed for the experiment. */
  readonly sequentialTuning?: number;
}

export interface ArmComparison {
  /** treatment.mean − control.mean. */
  readonly difference: number;
  /** Unpooled standard error of the difference (used by the interval, the sequence and the posterior). */
  readonly standardError: number;
  /** difference / control.mean (null when control.mean is 0). */
  readonly relativeLift: number | null;
  /** Delta-method interval of the relative lift (null when control.mean is 0). */
  readonly relativeCi: Interval | null;
  readonly fixed: {
    readonly test: 'two-proportion-z' | 'welch-t';
    readonly statistic: number;
    /** Welch's degrees of freedom; null for the z-test. */
    readonly df: number | null;
    readonly pValue: number;
    readonly ci: Interval;
  };
  /** GrowthBook's asymptotic confidence sequence at this look (the caller intersects CIs and keeps the minimum p-value over looks). */
  readonly sequential: SequentialLook;
  /** Improper flat prior; "win" respects the direction. */
  readonly bayesian: ChanceToWin;
}

/**
 * Compare a challenger (treatment) with the champion (control) on one metric at one look.
 * Proportions need n >= 1 per arm and a mean in [0, 1]; means need n >= 2.
 *
 * @example
 * const comparison = compareArms(summarizeProportion(300, 1000), summarizeProportion(345, 1000), { kind: 'proportion' });
 * comparison.fixed.pValue; // ≈ 0.031
 * comparison.sequential.ci; // ≈ [-0.020, 0.110]: wider than fixed.ci ≈ [0.004, 0.086], but valid at every look
 */
export function compareArms(control: ArmSummary, treatment: ArmSummary, options: ComparisonOptions): ArmComparison {
  const alpha = options.alpha ?? 0.05;
  let fixedResult: FixedTestResult;
  let df: number | null = null;
  let critical: number;
  let forLift = { control, treatment };
  if (options.kind === 'proportion') {
    for (const arm of [control, treatment]) {
      if (!(arm.mean >= 0 && arm.mean <= 1)) throw invalid(`a proportion's mean must lie in [0, 1] (got ${arm.mean})`);
    }
    fixedResult = twoProportionZTest(control, treatment, alpha);
    critical = normalCriticalValue(alpha);
    const bernoulli = (arm: ArmSummary): ArmSummary => ({
      n: arm.n,
      mean: arm.mean,
      variance: arm.mean * (1 - arm.mean),
    });
    forLift = { control: bernoulli(control), treatment: bernoulli(treatment) };
  } else {
    const welch = welchTTest(control, treatment, alpha);
    fixedResult = welch;
    df = welch.df;
    critical = studentTQuantile(1 - alpha / 2, welch.df);
  }
  const { difference, standardError } = fixedResult;
  const lift = relativeLift(forLift.control, forLift.treatment, critical);
  const sequence = growthbookConfidenceSequence({
    estimate: difference,
    standardError,
    totalN: control.n + treatment.n,
    alpha,
    tuning: options.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING,
  });
  return {
    difference,
    standardError,
    relativeLift: lift?.lift ?? null,
    relativeCi: lift?.ci ?? null,
    fixed: {
      test: options.kind === 'proportion' ? 'two-proportion-z' : 'welch-t',
      statistic: fixedResult.statistic,
      df,
      pValue: fixedResult.pValue,
      ci: fixedResult.ci,
    },
    sequential: { ci: sequence.ci, pValue: sequence.pValue, eValue: sequence.eValue },
    bayesian: gaussianChanceToWin({ difference, standardError, direction: options.direction ?? 'higher' }),
  };
}
