import { describe, expect, it } from 'vitest';
import type { Interval } from './ab-tests.js';
import { decideExperiment, type ExperimentDecisionInput } from './experiment-decision.js';
import type { SrmResult } from './srm.js';

const balanced: SrmResult = { chiSquare: 0.4, df: 1, pValue: 0.53, mismatch: false };
const mismatched: SrmResult = { chiSquare: 36, df: 1, pValue: 2e-9, mismatch: true };

function input(ci: Interval, overrides: Partial<ExperimentDecisionInput> = {}): ExperimentDecisionInput {
  return {
    comparison: { sequential: { ci, pValue: 0.5, eValue: 2 } },
    srm: balanced,
    direction: 'higher',
    controlN: 5000,
    treatmentN: 5000,
    minSamplePerArm: 1000,
    maxSamplePerArm: 50_000,
    guardrailsPassed: true,
    ...overrides,
  };
}

describe('decideExperiment', () => {
  it('promotes when the interval excludes zero on the good side, guardrails pass and both arms have the minimum', () => {
    expect(decideExperiment(input([0.002, 0.03])).action).toBe('promote');
    expect(decideExperiment(input([-0.03, -0.002], { direction: 'lower' })).action).toBe('promote');
  });

  it('aborts on sample ratio mismatch before anything else, even a winning challenger', () => {
    const decision = decideExperiment(input([0.002, 0.03], { srm: mismatched }));
    expect(decision.action).toBe('abort-srm');
    expect(decision.reason).toMatch(/sample ratio mismatch.*p = 2e-9/);
  });

  it('stops for futility as soon as the interval lies on the bad side', () => {
    expect(decideExperiment(input([-0.03, -0.002], { controlN: 50, treatmentN: 50 })).action).toBe('stop-futility');
    expect(decideExperiment(input([0.002, 0.03], { direction: 'lower' })).reason).toMatch(/worse/);
  });

  it('continues until both arms reach the minimum sample', () => {
    const decision = decideExperiment(input([0.002, 0.03], { treatmentN: 400 }));
    expect(decision).toEqual({
      action: 'continue',
      reason: expect.stringMatching(/minimum sample \(400 of 1000/) as string,
    });
  });

  it('does not promote past a failed guardrail, and quotes why', () => {
    const decision = decideExperiment(
      input([0.002, 0.03], { guardrailsPassed: false, guardrailReason: 'error rate +0.8 points' }),
    );
    expect(decision.action).toBe('continue');
    expect(decision.reason).toMatch(/guardrails: error rate \+0\.8 points/);
    expect(
      decideExperiment(input([0.002, 0.03], { guardrailsPassed: false, controlN: 50_000, treatmentN: 50_000 })).action,
    ).toBe('stop-futility');
  });

  it('continues while the interval includes zero, and stops at the maximum sample', () => {
    expect(decideExperiment(input([-0.01, 0.02])).action).toBe('continue');
    expect(decideExperiment(input([-0.01, 0.02], { controlN: 50_000, treatmentN: 49_999 })).action).toBe('continue');
    expect(decideExperiment(input([-0.01, 0.02], { controlN: 50_000, treatmentN: 50_000 })).action).toBe(
      'stop-futility',
    );
  });

  it('uses the running interval over this look’s when given', () => {
    const decision = decideExperiment(input([-0.01, 0.02], { runningCi: [0.001, 0.02] }));
    expect(decision.action).toBe('promote');
    expect(decision.reason).toContain('[0.001, 0.02]');
  });

  it('refuses a minimum above the maximum', () => {
    expect(() => decideExperiment(input([0, 1], { minSamplePerArm: 10, maxSamplePerArm: 5 }))).toThrow(
      /minSamplePerArm/,
    );
  });
});
