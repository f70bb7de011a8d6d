/**
 * The peeking problem, simulated: A/A experiments looked at 100 times. A naive
 * fixed-horizon test that stops at the first p < α rejects far more often than α; the always-valid
 * tests (GrowthBook's sequence as `compareArms` reports it, carried with `nextSequentialState`, and
 * the mSPRT) stay at or below α. Seeded, so the figures are the same on every run.
 */
import { describe, expect, it } from 'vitest';
import { summarizeMoments, summarizeProportion, type ArmSummary, type MetricKind } from './ab-tests.js';
import { compareArms } from './compare-arms.js';
import { mulberry32 } from './random.js';
import { msprtMixingVariance, msprtNormal, nextSequentialState, type SequentialState } from './sequential.js';

const ALPHA = 0.05;
const PEEKS = 100;

interface Rates {
  naive: number;
  sequential: number;
  msprt: number;
}

/** Running sums of one arm. */
class Arm {
  n = 0;
  sum = 0;
  squares = 0;
  add(value: number): void {
    this.n += 1;
    this.sum += value;
    this.squares += value * value;
  }
  summary(kind: MetricKind): ArmSummary {
    return kind === 'proportion'
      ? summarizeProportion(this.sum, this.n)
      : summarizeMoments(this.n, this.sum, this.squares);
  }
}

/** Standard normal draws by Box–Muller (two uniforms, two normals). */
function normalSource(random: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

interface Scenario {
  kind: MetricKind;
  experiments: number;
  perArm: number;
  /** One draw for each arm. */
  control: (random: () => number, normal: () => number) => number;
  treatment: (random: () => number, normal: () => number) => number;
  /** The per-pair variance the mSPRT's mixing variance is planned with. */
  plannedVariance: number;
  seed: number;
}

/** Share of experiments in which each test rejects at some peek. */
function simulate(scenario: Scenario): Rates {
  const random = mulberry32(scenario.seed);
  const normal = normalSource(random);
  const step = scenario.perArm / PEEKS;
  const mixingVariance = msprtMixingVariance({
    alpha: ALPHA,
    variance: scenario.plannedVariance,
    truncation: scenario.perArm,
  });
  const rejections = { naive: 0, sequential: 0, msprt: 0 };
  for (let experiment = 0; experiment < scenario.experiments; experiment++) {
    const control = new Arm();
    const treatment = new Arm();
    let state: SequentialState | null = null;
    const rejected = { naive: false, sequential: false, msprt: false };
    for (let peek = 0; peek < PEEKS; peek++) {
      for (let i = 0; i < step; i++) {
        control.add(scenario.control(random, normal));
        treatment.add(scenario.treatment(random, normal));
      }
      const c = control.summary(scenario.kind);
      const t = treatment.summary(scenario.kind);
      const comparison = compareArms(c, t, { kind: scenario.kind, alpha: ALPHA });
      state = nextSequentialState(state, comparison);
      if (comparison.fixed.pValue < ALPHA) rejected.naive = true;
      if (state.ci[0] > 0 || state.ci[1] < 0) rejected.sequential = true;
      const variance = c.variance + t.variance;
      if (
        variance > 0 &&
        msprtNormal({ n: c.n, meanDifference: t.mean - c.mean, variance, mixingVariance, alpha: ALPHA }).reject
      )
        rejected.msprt = true;
    }
    for (const test of ['naive', 'sequential', 'msprt'] as const) if (rejected[test]) rejections[test] += 1;
  }
  return {
    naive: rejections.naive / scenario.experiments,
    sequential: rejections.sequential / scenario.experiments,
    msprt: rejections.msprt / scenario.experiments,
  };
}

const bernoulli = (p: number) => (random: () => number) => (random() < p ? 1 : 0);
const gaussian = (mean: number) => (_: () => number, normal: () => number) => mean + normal();

describe('A/A simulation: 100 peeks, alpha 0.05', () => {
  it('Bernoulli(0.3) arms, 1,000 experiments of 20,000 per arm: sequential tests stay <= alpha, naive peeking does not', () => {
    const rates = simulate({
      kind: 'proportion',
      experiments: 1000,
      perArm: 20_000,
      control: bernoulli(0.3),
      treatment: bernoulli(0.3),
      plannedVariance: 0.42,
      seed: 7,
    });
    // Seed 7: naive 36.2%, GrowthBook's sequence 1.6%, mSPRT 0.9% (the reference's own run: 39.2%, 2.5%, 2.6%).
    expect(rates.sequential).toBeLessThanOrEqual(ALPHA);
    expect(rates.msprt).toBeLessThanOrEqual(ALPHA);
    expect(rates.naive).toBeGreaterThan(0.2);
  });

  it('N(0, 1) arms, 300 experiments of 5,000 per arm (Welch): the same', () => {
    const rates = simulate({
      kind: 'mean',
      experiments: 300,
      perArm: 5000,
      control: gaussian(0),
      treatment: gaussian(0),
      plannedVariance: 2,
      seed: 11,
    });
    // Seed 11: naive 40.3%, GrowthBook's sequence 1.7%, mSPRT 1.0%.
    expect(rates.sequential).toBeLessThanOrEqual(ALPHA);
    expect(rates.msprt).toBeLessThanOrEqual(ALPHA);
    expect(rates.naive).toBeGreaterThan(0.2);
  });
});

describe('power: with a real effect the sequential tests reject most of the time', () => {
  it('Bernoulli 0.30 vs 0.32, 200 experiments of 20,000 per arm', () => {
    const rates = simulate({
      kind: 'proportion',
      experiments: 200,
      perArm: 20_000,
      control: bernoulli(0.3),
      treatment: bernoulli(0.32),
      plannedVariance: 0.42,
      seed: 13,
    });
    // Seed 13: GrowthBook's sequence 90.5%, mSPRT 80%, the (invalid) naive peeking 99%.
    expect(rates.sequential).toBeGreaterThan(0.85);
    expect(rates.msprt).toBeGreaterThan(0.7);
  });
});
