import { describe, expect, it } from 'vitest';
import { summarizeProportion } from './ab-tests.js';
import { compareArms, type ArmComparison } from './compare-arms.js';
import { loadExperimentReference, type ArmCase } from './experiment-reference.test-support.js';
import { expectClose } from './reference.test-support.js';

interface Reference {
  compareArms: {
    name: string;
    kind: 'proportion' | 'mean';
    control: ArmCase;
    treatment: ArmCase;
    alpha: number;
    direction: 'higher' | 'lower';
    tuning: number;
    expected: ArmComparison;
  }[];
}

const reference = loadExperimentReference<Reference>();

function expectPair(actual: readonly [number, number] | null, expected: readonly [number, number] | null): void {
  expect(actual === null).toBe(expected === null);
  if (actual === null || expected === null) return;
  expectClose(actual[0], expected[0], 1e-9, 1e-15);
  expectClose(actual[1], expected[1], 1e-9, 1e-15);
}

describe('compareArms equals the same statistics composed in numpy/scipy', () => {
  it.each(reference.compareArms)('$name', ({ kind, control, treatment, alpha, direction, tuning, expected }) => {
    const result = compareArms(control, treatment, { kind, alpha, direction, sequentialTuning: tuning });
    expectClose(result.difference, expected.difference, 1e-12, 1e-15);
    expectClose(result.standardError, expected.standardError, 1e-12);
    expectClose(result.relativeLift, expected.relativeLift, 1e-12, 1e-15);
    expectPair(result.relativeCi, expected.relativeCi);
    expect(result.fixed.test).toBe(expected.fixed.test);
    expectClose(result.fixed.statistic, expected.fixed.statistic, 1e-12, 1e-15);
    expectClose(result.fixed.df, expected.fixed.df, 1e-12);
    expectClose(result.fixed.pValue, expected.fixed.pValue, 1e-9, 1e-300);
    expectPair(result.fixed.ci, expected.fixed.ci);
    expectPair(result.sequential.ci, expected.sequential.ci);
    expectClose(result.sequential.pValue, expected.sequential.pValue, 1e-10);
    expectClose(result.sequential.eValue, expected.sequential.eValue, 1e-10);
    expectClose(result.bayesian.chanceToWin, expected.bayesian.chanceToWin, 1e-10, 1e-300);
    expectClose(result.bayesian.riskOfChoosingTreatment, expected.bayesian.riskOfChoosingTreatment, 1e-10, 1e-300);
    expectClose(result.bayesian.riskOfChoosingControl, expected.bayesian.riskOfChoosingControl, 1e-10, 1e-300);
  });

  it('reports no relative lift when the control mean is 0, and refuses tiny or impossible arms', () => {
    const result = compareArms(summarizeProportion(0, 100), summarizeProportion(3, 100), { kind: 'proportion' });
    expect(result.relativeLift).toBeNull();
    expect(result.relativeCi).toBeNull();
    expect(() =>
      compareArms({ n: 1, mean: 1, variance: Number.NaN }, { n: 5, mean: 1, variance: 1 }, { kind: 'mean' }),
    ).toThrow(/two observations/);
    expect(() =>
      compareArms({ n: 10, mean: 1.5, variance: 0 }, { n: 10, mean: 0.5, variance: 0 }, { kind: 'proportion' }),
    ).toThrow(/\[0, 1\]/);
  });
});
