import { describe, expect, it } from 'vitest';
import type { SlipwayError } from '../../core/errors.js';
import type { OptimizationReport } from '../../optimize/types.js';
import { checkPipelineGates, parsePipelineGate } from './pipeline-gates.js';

/** A binary report: champion (parent) accuracy 0.95, candidate 0.96; p99 at batch 1: 0.4 vs 0.3 ms. */
const REPORT: OptimizationReport = {
  rows: 100,
  source: 'test.csv',
  task: 'binary',
  agreement: 0.97,
  maxAbsDiff: 0.2,
  meanAbsDiff: 0.01,
  metrics: {
    parent: { accuracy: 0.95, f1: 0.9, auc: 0.99 },
    candidate: { accuracy: 0.96, f1: 0.92, auc: 0.985 },
    delta: { accuracy: 0.01, f1: 0.02, auc: -0.005 },
  },
  size: { parentBytes: 1000, candidateBytes: 1000, ratio: 1 },
  loadMs: { parent: 1, candidate: 1 },
  latency: [
    {
      batchSize: 1,
      parent: { p50Ms: 0.2, p99Ms: 0.4, meanMs: 0.25, rowsPerSecond: 4000 },
      candidate: { p50Ms: 0.15, p99Ms: 0.3, meanMs: 0.2, rowsPerSecond: 5000 },
      speedup: 1.25,
    },
  ],
};

describe('pipeline gates', () => {
  it('parses absolute and relative gates', () => {
    expect(parsePipelineGate('auc >= 0.8')).toEqual({
      metric: 'auc',
      op: '>=',
      kind: 'absolute',
      value: 0.8,
      offset: 0,
      text: 'auc >= 0.8',
    });
    expect(parsePipelineGate('accuracy >= champion - 0.005')).toMatchObject({
      metric: 'accuracy',
      kind: 'relative',
      offset: -0.005,
    });
    expect(parsePipelineGate('rmse<=champion+0.5')).toMatchObject({ metric: 'rmse', op: '<=', offset: 0.5 });
    expect(parsePipelineGate('f1 > champion')).toMatchObject({ kind: 'relative', offset: 0 });
    expect(parsePipelineGate('P99_MS <= 1e1')).toMatchObject({ metric: 'p99_ms', value: 10 });
  });

  it('refuses unknown metrics, malformed text and relative comparison figures by name', () => {
    expect(() => parsePipelineGate('precision >= 0.9')).toThrow(/unknown metric "precision"/);
    expect(() => parsePipelineGate('accuracy = 0.9')).toThrow(/is not 'metric op value'/);
    expect(() => parsePipelineGate('accuracy >= champion * 2')).toThrow(/is not 'metric op value'/);
    expect(() => parsePipelineGate('agreement >= champion - 0.1')).toThrow(/agreement already compares/);
    try {
      parsePipelineGate('speedup >= 2');
      expect.unreachable();
    } catch (error) {
      expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    }
  });

  it('checks relative gates against the champion figure plus the offset', () => {
    const results = checkPipelineGates(REPORT, [
      'accuracy >= champion - 0.005',
      'auc >= champion',
      'p99_ms <= 0.35',
      'p99_ms <= champion - 0.2',
      'agreement >= 0.98',
      'max_abs_diff <= 0.25',
    ]);
    expect(results.map((r) => [r.text, r.actual, r.passed])).toEqual([
      ['accuracy >= champion - 0.005', 0.96, true],
      ['auc >= champion', 0.985, false],
      ['p99_ms <= 0.35', 0.3, true],
      ['p99_ms <= champion - 0.2', 0.3, false],
      ['agreement >= 0.98', 0.97, false],
      ['max_abs_diff <= 0.25', 0.2, true],
    ]);
    expect(results[0]!.value).toBeCloseTo(0.945, 12);
    expect(results[1]!.value).toBe(0.99);
    expect(results[3]!.value).toBeCloseTo(0.2, 12);
  });

  it('refuses gates the report cannot answer', () => {
    expect(() => checkPipelineGates(REPORT, ['rmse <= 3'])).toThrow(/rmse is not a metric of a binary model/);
    const unlabelled: OptimizationReport = { ...REPORT, metrics: undefined };
    expect(() => checkPipelineGates(unlabelled, ['accuracy >= 0.9'])).toThrow(/needs labels/);
    expect(() =>
      checkPipelineGates(REPORT, ['accuracy >= champion - 0.01'], { hasChampion: false, why: 'first version' }),
    ).toThrow(/there is none to compare with \(first version\)/);
    expect(() => checkPipelineGates(REPORT, ['agreement >= 0.9'], { hasChampion: false })).toThrow(
      /compares with the champion/,
    );
    expect(checkPipelineGates(REPORT, ['accuracy >= 0.955'], { hasChampion: false })[0]).toMatchObject({
      actual: 0.96,
      passed: true,
    });
  });
});
