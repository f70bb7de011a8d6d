import { describe, expect, it } from 'vitest';
import type { TriggerSpec } from '../types.js';
import { evaluateTriggers, type DriftSummary, type TriggerDeps } from './evaluate-triggers.js';
import { pipelineWith } from './testing.js';

const HOUR = 3_600_000;
const NOW = new Date('2026-12-08T12:00:00.000Z');
const CREATED = '2026-12-01T00:00:00.000Z';

function drift(share: number, datasetDrift: boolean, drifted: string[] = []): DriftSummary {
  return {
    datasetDrift,
    share,
    threshold: 0.5,
    rows: 240,
    features: ['input[0]', 'input[3]', 'input[7]'].map((name) => ({
      name,
      drifted: drifted.includes(name),
      statistic: drifted.includes(name) ? 0.4 : 0.05,
    })),
  };
}

/** Plain-function sources; each test overrides what it measures. */
function deps(overrides: Partial<TriggerDeps> = {}): TriggerDeps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    lastRunStartedAt: () => Promise.resolve(undefined),
    servingVersion: () => Promise.resolve('1.2.0'),
    drift: (model, version, windowMs) => {
      calls.push(`drift ${model}@${version} ${windowMs}`);
      return Promise.resolve(drift(0.2, false));
    },
    performance: (model, metric, windowMs, version) => {
      calls.push(`performance ${model}@${version} ${metric} ${windowMs}`);
      return Promise.resolve({ value: 0.95, rows: 100 });
    },
    feedbackSince: (model, since) => {
      calls.push(`feedback ${model} since ${since.toISOString()}`);
      return Promise.resolve(0);
    },
    ...overrides,
  };
}

const DRIFT: TriggerSpec = { kind: 'drift', windowMs: HOUR };
const ACCURACY: TriggerSpec = {
  kind: 'performance',
  metric: 'accuracy',
  op: '<',
  threshold: 0.9,
  windowMs: 24 * HOUR,
  minRows: 30,
};
const LABELS: TriggerSpec = { kind: 'labels', count: 100 };

describe('evaluateTriggers', () => {
  it('drift fires on dataset drift and not below the share threshold, with share as value', async () => {
    const pipeline = pipelineWith([DRIFT]);
    const quiet = await evaluateTriggers(pipeline, deps({ drift: () => Promise.resolve(drift(0.4, false)) }), NOW);
    expect(quiet.firing).toBeUndefined();
    expect(quiet.evaluations).toEqual([
      {
        pipeline: 'cancer-retrain',
        trigger: 'drift',
        at: NOW.toISOString(),
        fired: false,
        value: 0.4,
        reason: 'no dataset drift: 0.4 of features drifted (threshold 0.5) on breast_cancer@1.2.0 over 1h, 240 rows',
      },
    ]);
    const source = deps({ drift: () => Promise.resolve(drift(0.5, true)) });
    const loud = await evaluateTriggers(pipeline, source, NOW);
    expect(loud.firing).toEqual({
      kind: 'drift',
      value: 0.5,
      reason: 'dataset drift: 0.5 of features drifted (threshold 0.5) on breast_cancer@1.2.0 over 1h, 240 rows',
    });
  });

  it('drift with named features fires only when one of them drifted, whatever the dataset verdict', async () => {
    const pipeline = pipelineWith([{ kind: 'drift', windowMs: HOUR, features: ['input[3]', 'input[9]'] }]);
    const other = await evaluateTriggers(
      pipeline,
      deps({ drift: () => Promise.resolve(drift(0.67, true, ['input[0]'])) }),
      NOW,
    );
    expect(other.firing).toBeUndefined();
    expect(other.evaluations[0]?.reason).toBe(
      'no drift in input[3] on breast_cancer@1.2.0 over 1h; not evaluated: input[9]',
    );
    const named = await evaluateTriggers(
      pipeline,
      deps({ drift: () => Promise.resolve(drift(0.33, false, ['input[3]'])) }),
      NOW,
    );
    expect(named.firing?.kind).toBe('drift');
    expect(named.firing?.value).toBe(0.33);
    expect(named.firing?.reason).toBe(
      'feature drift: input[3] (statistic 0.4) drifted on breast_cancer@1.2.0 over 1h; not evaluated: input[9]',
    );
  });

  it('drift without a serving version or a verdict does not fire and says why', async () => {
    const pipeline = pipelineWith([DRIFT]);
    const none = await evaluateTriggers(pipeline, deps({ servingVersion: () => Promise.resolve(undefined) }), NOW);
    expect(none.evaluations[0]).toMatchObject({ fired: false, value: null });
    expect(none.evaluations[0]?.reason).toBe('breast_cancer has no serving version to watch');
    const noReference = await evaluateTriggers(pipeline, deps({ drift: () => Promise.resolve(undefined) }), NOW);
    expect(noReference.evaluations[0]?.reason).toBe(
      'no drift verdict on breast_cancer@1.2.0 over 1h: no reference profile or too few rows',
    );
  });

  it('performance fires strictly below the threshold, on the serving version, from minRows rows', async () => {
    const pipeline = pipelineWith([ACCURACY]);
    const at = (value: number, rows: number) =>
      evaluateTriggers(pipeline, deps({ performance: () => Promise.resolve({ value, rows }) }), NOW);
    const equal = await at(0.9, 100);
    expect(equal.firing).toBeUndefined();
    expect(equal.evaluations[0]).toMatchObject({ fired: false, value: 0.9 });
    expect(equal.evaluations[0]?.reason).toBe(
      'accuracy 0.9 not < 0.9 on breast_cancer@1.2.0 over 1d (100 feedback rows)',
    );
    const below = await at(0.8875, 30);
    expect(below.firing).toEqual({
      kind: 'performance',
      value: 0.8875,
      reason: 'accuracy 0.8875 < 0.9 on breast_cancer@1.2.0 over 1d (30 feedback rows)',
    });
    const few = await at(0.5, 29);
    expect(few.firing).toBeUndefined();
    expect(few.evaluations[0]).toMatchObject({ fired: false, value: null });
    expect(few.evaluations[0]?.reason).toBe(
      'accuracy not evaluated: 29 feedback rows on breast_cancer@1.2.0 over 1d, needs 30',
    );
    const source = deps();
    await evaluateTriggers(pipeline, source, NOW);
    expect(source.calls).toEqual([`performance breast_cancer@1.2.0 accuracy ${24 * HOUR}`]);
  });

  it('performance with `above` (an error metric) fires above the threshold', async () => {
    const pipeline = pipelineWith([
      { kind: 'performance', metric: 'rmse', op: '>', threshold: 50, windowMs: HOUR, minRows: 10 },
    ]);
    const high = await evaluateTriggers(
      pipeline,
      deps({ performance: () => Promise.resolve({ value: 50.5, rows: 10 }) }),
      NOW,
    );
    expect(high.firing?.value).toBe(50.5);
    const same = await evaluateTriggers(
      pipeline,
      deps({ performance: () => Promise.resolve({ value: 50, rows: 10 }) }),
      NOW,
    );
    expect(same.firing).toBeUndefined();
  });

  it('labels counts feedback since the last run start (else since the pipeline version was applied)', async () => {
    const pipeline = pipelineWith([LABELS]);
    const lastRun = new Date('2026-12-08T09:00:00.000Z');
    const counted: string[] = [];
    const source = (count: number, last: Date | undefined) =>
      deps({
        lastRunStartedAt: () => Promise.resolve(last),
        feedbackSince: (_model, since) => {
          counted.push(since.toISOString());
          return Promise.resolve(count);
        },
      });
    const short = await evaluateTriggers(pipeline, source(99, lastRun), NOW);
    expect(short.firing).toBeUndefined();
    expect(short.evaluations[0]).toMatchObject({ fired: false, value: 99 });
    expect(short.evaluations[0]?.reason).toBe(
      '99 new labels since the last run started (2026-12-08T09:00:00.000Z), needs 100',
    );
    const enough = await evaluateTriggers(pipeline, source(100, undefined), NOW);
    expect(enough.firing).toEqual({
      kind: 'labels',
      value: 100,
      reason: '100 or more new labels since pipeline version 3 was applied, needs 100',
    });
    expect(counted).toEqual(['2026-12-08T09:00:00.000Z', CREATED]);
  });

  it('within the min interval nothing fires, no source is read, and every evaluation says so', async () => {
    const pipeline = pipelineWith([DRIFT, LABELS, { kind: 'manual' }]);
    const loud = (lastRun: Date) =>
      deps({
        lastRunStartedAt: () => Promise.resolve(lastRun),
        drift: () => Promise.resolve(drift(0.9, true)),
        feedbackSince: () => Promise.resolve(500),
      });
    const recent = loud(new Date(NOW.getTime() - HOUR + 1));
    const held = await evaluateTriggers(pipeline, recent, NOW);
    expect(held.firing).toBeUndefined();
    expect(held.evaluations.map((e) => [e.trigger, e.fired, e.reason])).toEqual([
      ['drift', false, 'min interval 1h: last run started 59m59s999ms ago'],
      ['labels', false, 'min interval 1h: last run started 59m59s999ms ago'],
    ]);
    expect(recent.calls).toEqual([]);
    const free = await evaluateTriggers(pipeline, loud(new Date(NOW.getTime() - HOUR)), NOW);
    expect(free.firing?.kind).toBe('drift');
    expect(free.evaluations.map((e) => [e.trigger, e.fired])).toEqual([
      ['drift', true],
      ['labels', true],
    ]);
  });

  it('a broken source is reported on its trigger and the others still run; the first that fires wins', async () => {
    const pipeline = pipelineWith([DRIFT, ACCURACY, LABELS]);
    const source = deps({
      drift: () => {
        return Promise.reject(new Error('drift store unreachable'));
      },
      performance: () => Promise.resolve({ value: 0.7, rows: 80 }),
      feedbackSince: () => Promise.resolve(250),
    });
    const outcome = await evaluateTriggers(pipeline, source, NOW);
    expect(outcome.evaluations.map((e) => [e.trigger, e.fired, e.value])).toEqual([
      ['drift', false, null],
      ['performance', true, 0.7],
      ['labels', true, 250],
    ]);
    expect(outcome.evaluations[0]?.reason).toBe('error: drift store unreachable');
    expect(outcome.firing?.kind).toBe('performance');
  });

  it('a failing serving-version look-up fails drift and performance, not labels', async () => {
    const pipeline = pipelineWith([DRIFT, ACCURACY, LABELS]);
    const source = deps({
      servingVersion: () => {
        return Promise.reject(new Error('deployment "cancer-live" does not exist'));
      },
      feedbackSince: () => Promise.resolve(100),
    });
    const outcome = await evaluateTriggers(pipeline, source, NOW);
    expect(outcome.evaluations.map((e) => e.reason)).toEqual([
      'error: deployment "cancer-live" does not exist',
      'error: deployment "cancer-live" does not exist',
      '100 or more new labels since pipeline version 3 was applied, needs 100',
    ]);
    expect(outcome.firing?.kind).toBe('labels');
  });

  it('an unreadable last run start fires nothing and says so on every trigger', async () => {
    const pipeline = pipelineWith([DRIFT, LABELS]);
    const source = deps({
      lastRunStartedAt: () => {
        return Promise.reject(new Error('database is locked'));
      },
      feedbackSince: () => Promise.resolve(1000),
    });
    const outcome = await evaluateTriggers(pipeline, source, NOW);
    expect(outcome.firing).toBeUndefined();
    expect(outcome.evaluations.map((e) => e.reason)).toEqual([
      "error: the last run's start could not be read: database is locked",
      "error: the last run's start could not be read: database is locked",
    ]);
  });

  it('a schedule with a bad time zone is an error on that trigger only', async () => {
    const pipeline = pipelineWith([{ kind: 'schedule', cron: '0 3 * * *', timezone: 'Mars/Olympus' }, LABELS]);
    const outcome = await evaluateTriggers(pipeline, deps({ feedbackSince: () => Promise.resolve(100) }), NOW);
    expect(outcome.evaluations[0]?.reason).toBe(
      'error: schedule timezone "Mars/Olympus" is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)',
    );
    expect(outcome.firing?.kind).toBe('labels');
  });
});
