import { describe, expect, it } from 'vitest';
import { chiSquareSf } from '../stats/index.js';
import { ActiveDeployment } from './router.js';
import { parseDeploymentSpec } from './spec.js';

const deployment = (routes: string[], revision = 1) =>
  new ActiveDeployment('fraud', revision, parseDeploymentSpec({ model: 'fraud', routes }));

/** Pearson's chi-square p-value of observed counts against expected shares. */
function chiSquareP(observed: readonly number[], shares: readonly number[]): number {
  const n = observed.reduce((a, b) => a + b, 0);
  const statistic = observed.reduce(
    (sum, o, i) => sum + (o - n * (shares[i] as number)) ** 2 / (n * (shares[i] as number)),
    0,
  );
  return chiSquareSf(statistic, observed.length - 1);
}

function counts(d: ActiveDeployment, n: number, key: (i: number) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const v = d.pick(key(i));
    out.set(v, (out.get(v) ?? 0) + 1);
  }
  return out;
}

describe('router', () => {
  it('splits 10k random requests by weight within chi-square tolerance (p > 0.001)', () => {
    const d = deployment(['1.2.0=70', '1.3.0=20', '1.4.0=10']);
    const c = counts(d, 10_000, () => undefined);
    const observed = ['1.2.0', '1.3.0', '1.4.0'].map((v) => c.get(v) ?? 0);
    expect(chiSquareP(observed, [0.7, 0.2, 0.1])).toBeGreaterThan(0.001);
    // The test can fail: the same counts are far from a 50/30/20 split.
    expect(chiSquareP(observed, [0.5, 0.3, 0.2])).toBeLessThan(1e-12);
  });

  it('gives each version its weight in sticky keys too (10k distinct keys)', () => {
    const d = deployment(['1.2.0=90', '1.3.0=10']);
    const c = counts(d, 10_000, (i) => `user-${i}`);
    expect(chiSquareP([c.get('1.2.0') ?? 0, c.get('1.3.0') ?? 0], [0.9, 0.1])).toBeGreaterThan(0.001);
  });

  it('keeps every sticky key on its version as the canary grows, moving keys only to the canary', () => {
    const steps = [5, 25, 50, 90];
    const keys = Array.from({ length: 5000 }, (_, i) => `customer:${i * 7919}`);
    let previous = keys.map((k) => deployment([`1.2.0=${100 - 1}`, '1.3.0=1']).pick(k));
    let onCanary = previous.filter((v) => v === '1.3.0').length;
    for (const step of steps) {
      const d = deployment([`1.2.0=${100 - step}`, `1.3.0=${step}`]);
      const now = keys.map((k) => d.pick(k));
      now.forEach((v, i) => {
        // A key on the canary stays there; only baseline keys move.
        if (previous[i] === '1.3.0') expect(v).toBe('1.3.0');
      });
      const moved = now.filter((v, i) => v !== previous[i]).length;
      const canary = now.filter((v) => v === '1.3.0').length;
      expect(moved).toBe(canary - onCanary);
      expect(Math.abs(canary / keys.length - step / 100)).toBeLessThan(0.03);
      previous = now;
      onCanary = canary;
    }
    // And the same key always gets the same answer.
    const d = deployment(['1.2.0=50', '1.3.0=50']);
    expect(keys.slice(0, 100).map((k) => d.pick(k))).toEqual(keys.slice(0, 100).map((k) => d.pick(k)));
  });

  it('never sends traffic to a 0-weight route', () => {
    const d = deployment(['1.2.0=100', '1.3.0=0']);
    expect(counts(d, 1000, (i) => (i % 2 === 0 ? undefined : `k${i}`)).get('1.3.0')).toBeUndefined();
  });
});
