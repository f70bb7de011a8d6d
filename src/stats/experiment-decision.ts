/**
 * The decision rule of a champion/challenger experiment, as a pure function of one look's
 * statistics: abort on sample ratio mismatch,
 * promote when the always-valid interval excludes zero on the good side, stop for futility when
 * it lies on the bad side or the maximum sample is reached, and otherwise keep going.
 */
import type { Direction, Interval } from './ab-tests.js';
import type { ArmComparison } from './compare-arms.js';
import { invalid } from '../core/errors.js';
import type { SrmResult } from './srm.js';

export type ExperimentDecision =
  | { readonly action: 'promote'; readonly reason: string }
  | { readonly action: 'stop-futility'; readonly reason: string }
  | { readonly action: 'abort-srm'; readonly reason: string }
  | { readonly action: 'continue'; readonly reason: string };

export interface ExperimentDecisionInput {
  /** This look's comparison of the primary metric. */
  readonly comparison: Pick<ArmComparison, 'sequential'>;
  /**
   * The sequential interval intersected over every look so far (`nextSequentialState(...).ci`).
   * Defaults to `comparison.sequential.ci`, which is only right if the caller intersected it already.
   */
  readonly runningCi?: Interval;
  readonly srm: SrmResult;
  /** Which way is better for the primary metric. */
  readonly direction: Direction;
  readonly controlN: number;
  readonly treatmentN: number;
  /** Do not promote before both arms have this many observations (novelty effects, weekly cycles). */
  readonly minSamplePerArm: number;
  /** Stop for futility once both arms have this many without a decision. */
  readonly maxSamplePerArm: number;
  /** Guardrail metrics (error rate, latency) show no harm. */
  readonly guardrailsPassed: boolean;
  /** Why a guardrail failed, quoted in the reason. */
  readonly guardrailReason?: string;
}

function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(4))) : String(value);
}

function formatInterval(ci: Interval): string {
  return `[${formatNumber(ci[0])}, ${formatNumber(ci[1])}]`;
}

/**
 * Decide what to do after one look, in this order:
 * 1. `abort-srm` when the split is mismatched: no comparison can be trusted.
 * 2. `stop-futility` when the always-valid interval lies entirely on the bad side (the challenger
 *    is worse; stopping early is always allowed).
 * 3. `promote` when it lies entirely on the good side, guardrails pass and both arms have the
 *    minimum sample.
 * 4. `stop-futility` when both arms reached the maximum sample without a promotion.
 * 5. `continue` otherwise, with what is missing in the reason.
 *
 * @example
 * decideExperiment({ comparison, runningCi: state.ci, srm, direction: 'higher', controlN: 5000,
 *   treatmentN: 5000, minSamplePerArm: 1000, maxSamplePerArm: 50_000, guardrailsPassed: true });
 * // { action: 'promote', reason: 'the challenger is better: the always-valid interval of the difference [0.0012, 0.021] excludes 0 ...' }
 */
export function decideExperiment(input: ExperimentDecisionInput): ExperimentDecision {
  const { srm, direction, controlN, treatmentN, minSamplePerArm, maxSamplePerArm } = input;
  if (!(minSamplePerArm >= 0 && maxSamplePerArm >= minSamplePerArm)) {
    throw invalid(`need 0 <= minSamplePerArm <= maxSamplePerArm (got ${minSamplePerArm} and ${maxSamplePerArm})`);
  }
  if (srm.mismatch) {
    return {
      action: 'abort-srm',
      reason: `sample ratio mismatch: chi-square ${formatNumber(srm.chiSquare)} on ${srm.df} df, p = ${formatNumber(srm.pValue)}; the arms' traffic does not match the configured split, so no comparison can be trusted`,
    };
  }
  const ci = input.runningCi ?? input.comparison.sequential.ci;
  const interval = formatInterval(ci);
  const [low, high] = ci;
  const better = direction === 'higher' ? low > 0 : high < 0;
  const worse = direction === 'higher' ? high < 0 : low > 0;
  if (worse)
    return {
      action: 'stop-futility',
      reason: `the challenger is worse: the always-valid interval of the difference ${interval} lies entirely on the bad side of 0`,
    };
  const smaller = Math.min(controlN, treatmentN);
  if (better) {
    const enough = smaller >= minSamplePerArm;
    if (enough && input.guardrailsPassed) {
      return {
        action: 'promote',
        reason: `the challenger is better: the always-valid interval of the difference ${interval} excludes 0 on the good side and guardrails pass`,
      };
    }
    const held = !enough
      ? `waiting for the minimum sample (${smaller} of ${minSamplePerArm} per arm)`
      : `held back by guardrails${input.guardrailReason ? `: ${input.guardrailReason}` : ''}`;
    if (smaller >= maxSamplePerArm)
      return {
        action: 'stop-futility',
        reason: `reached the maximum sample (${maxSamplePerArm} per arm); the challenger is better on the primary metric ${interval} but ${held}`,
      };
    return { action: 'continue', reason: `the challenger looks better ${interval}, ${held}` };
  }
  if (smaller >= maxSamplePerArm) {
    return {
      action: 'stop-futility',
      reason: `reached the maximum sample (${maxSamplePerArm} per arm) and the always-valid interval ${interval} still includes 0`,
    };
  }
  return {
    action: 'continue',
    reason: `the always-valid interval of the difference ${interval} includes 0 (${smaller} of at most ${maxSamplePerArm} per arm)`,
  };
}
