import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { evaluateGates, formatGate, parseGate } from './rollout-gates.js';
import { noTraffic, type VersionTraffic } from './traffic-stats.js';

const traffic = (version: string, requests: number, errors: number, p99Ms: number): VersionTraffic => ({
  ...noTraffic(version),
  requests,
  success: requests - errors,
  errors,
  errorRate: requests === 0 ? null : errors / requests,
  p50Ms: p99Ms / 3,
  p99Ms,
});
const noMetric = () => Promise.resolve(undefined);

describe('rollout gates', () => {
  it('parses the three gate forms and names what is wrong with others', () => {
    expect(parseGate('error_rate<0.01')).toEqual({ metric: 'error_rate', op: '<', threshold: 0.01 });
    expect(parseGate(' p99_ms <= 50 ')).toEqual({ metric: 'p99_ms', op: '<=', threshold: 50 });
    expect(parseGate('metric:accuracy>=-0.01')).toEqual({ metric: 'metric:accuracy', op: '>=', threshold: -0.01 });
    expect(formatGate(parseGate('metric:accuracy>=-0.01'))).toBe('metric:accuracy>=-0.01');
    for (const [text, message] of [
      ['latency<5', 'unknown metric "latency"'],
      ['p99_ms<fast', '"fast" is not a number'],
      ['p99_ms=5', 'must look like'],
    ] as const) {
      expect(() => parseGate(text)).toThrow(SlipwayError);
      expect(() => parseGate(text)).toThrow(message);
    }
  });

  it('passes, fails or waits on live figures, judging the candidate', async () => {
    const gates = ['error_rate<0.01', 'p99_ms<50'].map(parseGate);
    const ok = await evaluateGates(gates, {
      candidate: traffic('1.3.0', 100, 0, 20),
      baseline: traffic('1.2.0', 900, 1, 18),
      candidatePercent: 10,
      minRequests: 20,
      metric: noMetric,
    });
    expect(ok.map((c) => [c.gate, c.verdict])).toEqual([
      ['error_rate<0.01', 'pass'],
      ['p99_ms<50', 'pass'],
      ['sample_ratio', 'pass'],
    ]);
    const slow = await evaluateGates(gates, {
      candidate: traffic('1.3.0', 100, 2, 80),
      baseline: traffic('1.2.0', 900, 0, 18),
      candidatePercent: 10,
      minRequests: 20,
      metric: noMetric,
    });
    expect(slow.map((c) => c.verdict)).toEqual(['fail', 'fail', 'pass']);
    expect(slow[1]!.detail).toBe('candidate p99_ms 80 (baseline 18) breaks p99_ms<50');
    const few = await evaluateGates(gates, {
      candidate: traffic('1.3.0', 5, 5, 80),
      baseline: traffic('1.2.0', 45, 0, 18),
      candidatePercent: 10,
      minRequests: 20,
      metric: noMetric,
    });
    expect(few.slice(0, 2).map((c) => [c.verdict, c.detail])).toEqual([
      ['wait', 'waiting for traffic: the candidate has 5 of 20 requests'],
      ['wait', 'waiting for traffic: the candidate has 5 of 20 requests'],
    ]);
  });

  it('fails a split that is not what was set (chi-square p < 0.001) and passes one that is', async () => {
    // 10% set, 13% observed over 2,000 requests: scipy.stats.chisquare gives 20.0, p = 7.744e-6.
    const skewed = await evaluateGates([], {
      candidate: traffic('1.3.0', 260, 0, 1),
      baseline: traffic('1.2.0', 1740, 0, 1),
      candidatePercent: 10,
      minRequests: 20,
      metric: noMetric,
    });
    expect(skewed).toHaveLength(1);
    expect(skewed[0]).toMatchObject({ gate: 'sample_ratio', verdict: 'fail' });
    expect(skewed[0]!.detail).toBe(
      '260 of 2000 requests on the candidate (expected 10%): chi-square 20, p 0.00000774 < 0.001: the split is not what was set',
    );
    const fine = await evaluateGates([], {
      candidate: traffic('1.3.0', 210, 0, 1),
      baseline: traffic('1.2.0', 1790, 0, 1),
      candidatePercent: 10,
      minRequests: 20,
      metric: noMetric,
    });
    expect(fine[0]!.verdict).toBe('pass');
  });

  it('waits with the sample ratio check until the candidate has minRequests, like the live gates', async () => {
    // 2 of 30 at 50% (chi-square 22.5, p 2e-6) would fail; judged on so few requests at every tick
    // while traffic trickles in, each look is one more chance of a false mismatch (src/deploy/rollout.test.ts).
    const few = await evaluateGates([], {
      candidate: traffic('1.3.0', 2, 0, 1),
      baseline: traffic('1.2.0', 28, 0, 1),
      candidatePercent: 50,
      minRequests: 20,
      metric: noMetric,
    });
    expect(few).toEqual([
      {
        gate: 'sample_ratio',
        verdict: 'wait',
        candidate: 2 / 30,
        baseline: 28 / 30,
        detail: 'waiting for traffic: the candidate has 2 of 20 requests',
      },
    ]);
    const enough = await evaluateGates([], {
      candidate: traffic('1.3.0', 20, 0, 1),
      baseline: traffic('1.2.0', 180, 0, 1),
      candidatePercent: 50,
      minRequests: 20,
      metric: noMetric,
    });
    expect(enough[0]).toMatchObject({ gate: 'sample_ratio', verdict: 'fail' });
  });

  it('judges a metric gate on the candidate minus the baseline, and not before both have feedback', async () => {
    const gates = [parseGate('metric:accuracy>=-0.01')];
    const metric = (values: Record<string, number | undefined>) => (name: string, which: 'candidate' | 'baseline') =>
      Promise.resolve(name === 'accuracy' ? values[which] : undefined);
    const base = {
      candidate: traffic('1.3.0', 100, 0, 1),
      baseline: traffic('1.2.0', 100, 0, 1),
      candidatePercent: 50,
      minRequests: 20,
    };
    const worse = await evaluateGates(gates, { ...base, metric: metric({ candidate: 0.9, baseline: 0.95 }) });
    expect(worse[0]).toMatchObject({ verdict: 'fail', candidate: 0.9, baseline: 0.95 });
    expect(worse[0]!.detail).toBe('accuracy 0.9 vs 0.95: difference -0.05 >= -0.01 is false');
    expect(
      (await evaluateGates(gates, { ...base, metric: metric({ candidate: 0.945, baseline: 0.95 }) }))[0]!.verdict,
    ).toBe('pass');
    const none = await evaluateGates(gates, { ...base, metric: metric({ candidate: undefined, baseline: 0.95 }) });
    expect(none[0]).toMatchObject({ verdict: 'pass', detail: 'no feedback yet for the candidate; not judged' });
  });
});
