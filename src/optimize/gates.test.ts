import { describe, expect, it } from 'vitest';
import { assertGatesApplicable, checkGates, parseGate, reportMetrics } from './gates.js';
import { REPORT } from './report.test-support.js';
import type { OptimizationReport } from './types.js';

describe('parseGate', () => {
  it('reads metric, operator and number, with spaces and exponent notation', () => {
    expect(parseGate('accuracy>=-0.005')).toEqual({
      metric: 'accuracy',
      op: '>=',
      value: -0.005,
      text: 'accuracy>=-0.005',
    });
    expect(parseGate(' max_abs_diff <= 1e-3 ')).toMatchObject({ metric: 'max_abs_diff', op: '<=', value: 0.001 });
    expect(parseGate('speedup>1.2')).toMatchObject({ op: '>', value: 1.2 });
    expect(parseGate('size_ratio < .3')).toMatchObject({ op: '<', value: 0.3 });
    expect(parseGate('speedup_b64>=2E0')).toMatchObject({ metric: 'speedup_b64', value: 2 });
  });

  it('refuses malformed text and unknown metrics by name', () => {
    expect(() => parseGate('accuracy=>0')).toThrow(`gate "accuracy=>0" is not 'metric op value'`);
    expect(() => parseGate('accuracy >= high')).toThrow("is not 'metric op value'");
    expect(() => parseGate('agreement == 1')).toThrow("is not 'metric op value'");
    expect(() => parseGate('precision>=0')).toThrow(
      'gate "precision>=0": unknown metric "precision"; gates know accuracy, f1',
    );
    expect(() => parseGate('speedup_b0>1')).toThrow('unknown metric "speedup_b0"');
    expect(() => parseGate('max_abs_diff<=1e999')).toThrow('is not a finite number');
  });
});

describe('checkGates', () => {
  it('compares task metrics as deltas and the rest as reported', () => {
    const texts = [
      'accuracy>=-0.005',
      'accuracy>=-0.001',
      'agreement>=0.99',
      'max_abs_diff<=1e-3',
      'mean_abs_diff<1e-3',
      'speedup>=1.2',
      'speedup_b1>=1',
      'size_ratio<=0.3',
      'load_ratio<1',
      'auc>-0.002',
    ];
    const results = checkGates(REPORT, texts.map(parseGate));
    expect(results.map((r) => [r.text, r.actual, r.passed])).toEqual([
      ['accuracy>=-0.005', -0.004, true],
      ['accuracy>=-0.001', -0.004, false],
      ['agreement>=0.99', 0.993, true],
      ['max_abs_diff<=1e-3', 0.0021, false],
      ['mean_abs_diff<1e-3', 0.0004, true],
      ['speedup>=1.2', 1.5, true],
      ['speedup_b1>=1', 0.8, false],
      ['size_ratio<=0.3', 0.25, true],
      ['load_ratio<1', 0.8, true],
      ['auc>-0.002', -0.001, true],
    ]);
  });

  it('fails a gate whose figure could not be computed', () => {
    const noAuc = { ...REPORT, metrics: { ...REPORT.metrics!, delta: { accuracy: -0.004, f1: -0.0036 } } };
    expect(checkGates(noAuc, [parseGate('auc>=-1')])).toEqual([
      { metric: 'auc', op: '>=', value: -1, text: 'auc>=-1', actual: null, passed: false },
    ]);
  });

  it('refuses gates the report cannot answer: no labels, another task, an unmeasured batch size', () => {
    const unlabelled: OptimizationReport = { ...REPORT, metrics: undefined };
    expect(() => checkGates(unlabelled, [parseGate('accuracy>=-0.005')])).toThrow(
      'gate "accuracy>=-0.005" needs labels, but the eval set has no label column',
    );
    expect(() => checkGates(REPORT, [parseGate('rmse<=1')])).toThrow(
      'gate "rmse<=1": rmse is not a metric of a binary model (regression only)',
    );
    expect(() => checkGates(REPORT, [parseGate('speedup_b8>1')])).toThrow(
      'gate "speedup_b8>1": batch size 8 is not measured (measured: 1, 64)',
    );
    expect(() =>
      assertGatesApplicable([parseGate('auc>=0')], { task: 'multiclass', labelled: true, batchSizes: [1] }),
    ).toThrow('auc is not a metric of a multiclass model');
  });
});

describe('reportMetrics', () => {
  it('flattens the report: optimize.* figures, the candidate’s own task metrics, finite numbers only', () => {
    const metrics = reportMetrics({ ...REPORT, maxAbsDiff: Infinity });
    expect(metrics).toMatchObject({
      'optimize.agreement': 0.993,
      'optimize.mean_abs_diff': 0.0004,
      'optimize.size_ratio': 0.25,
      'optimize.load_ratio': 0.8,
      'optimize.speedup': 1.5,
      'optimize.speedup_b1': 0.8,
      'optimize.speedup_b64': 1.5,
      'optimize.p50_ms_b64': 1.8,
      'optimize.rows_per_second_b64': 32000,
      'optimize.accuracy_delta': -0.004,
      accuracy: 0.954,
      f1: 0.9631,
      auc: 0.994,
    });
    expect(metrics['optimize.max_abs_diff']).toBeUndefined();
    expect(Object.values(metrics).every(Number.isFinite)).toBe(true);
  });
});
