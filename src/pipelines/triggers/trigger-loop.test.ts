import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import type { StoredPipeline, TriggerEvaluation, TriggerFiring } from '../types.js';
import { pipelineWith, quietDeps } from './testing.js';
import { TriggerLoop } from './trigger-loop.js';

const HOUR = 3_600_000;
const PARIS_3AM = { kind: 'schedule', cron: '0 3 * * *', timezone: 'Europe/Paris' } as const;

/** A loop over fake pipelines whose runs start at the fake clock's time. */
function harness(pipelines: StoredPipeline[], startRun?: (p: StoredPipeline, f: TriggerFiring) => Promise<unknown>) {
  let clock = new Date(0);
  const lastRun = new Map<string, Date>();
  const started: { pipeline: string; at: string; firing: TriggerFiring }[] = [];
  const recorded: TriggerEvaluation[][] = [];
  const logged: string[] = [];
  const loop = new TriggerLoop({
    pipelines: () => Promise.resolve(pipelines),
    deps: quietDeps({ lastRunStartedAt: (name) => Promise.resolve(lastRun.get(name)) }),
    startRun:
      startRun ??
      ((pipeline, firing) => {
        lastRun.set(pipeline.name, clock);
        started.push({ pipeline: pipeline.name, at: clock.toISOString(), firing });

        return Promise.resolve();
      }),
    record: (evaluations) => {
      recorded.push([...evaluations]);
      return Promise.resolve();
    },
    now: () => clock,
    log: (line) => logged.push(line),
  });
  const tickAt = (iso: string) => {
    clock = new Date(iso);
    return Promise.resolve(loop.tick());
  };
  return { loop, tickAt, started, recorded, logged };
}

describe('TriggerLoop', () => {
  it('fires "0 3 * * *" Europe/Paris once per occurrence under a fake clock (02:00Z in December)', async () => {
    const pipeline = pipelineWith([PARIS_3AM], {}, '2026-12-08T00:00:00.000Z');
    const { tickAt, started, recorded } = harness([pipeline]);
    const outcomes: string[] = [];
    for (const at of [
      '2026-12-08T01:59:00.000Z',
      '2026-12-08T02:00:00.000Z',
      '2026-12-08T02:01:00.000Z',
      '2026-12-08T12:00:00.000Z',
      '2026-12-09T01:59:00.000Z',
      '2026-12-09T02:00:00.000Z',
      '2026-12-09T02:00:30.000Z',
    ])
      outcomes.push(`${at.slice(5, 16)} ${(await tickAt(at))[0]?.outcome}`);
    expect(outcomes).toEqual([
      '12-08T01:59 idle',
      '12-08T02:00 started',
      '12-08T02:01 idle',
      '12-08T12:00 idle',
      '12-09T01:59 idle',
      '12-09T02:00 started',
      '12-09T02:00 idle',
    ]);
    expect(started.map((s) => s.at)).toEqual(['2026-12-08T02:00:00.000Z', '2026-12-09T02:00:00.000Z']);
    expect(started[0]?.firing).toEqual({
      kind: 'schedule',
      reason: 'schedule "0 3 * * *" (Europe/Paris) was due at 2026-12-08T02:00:00.000Z',
    });
    expect(recorded.map((r) => r[0]?.reason)).toEqual([
      'schedule "0 3 * * *" (Europe/Paris): last due at 2026-12-07T02:00:00.000Z, not after pipeline version 3 was applied (2026-12-08T00:00:00.000Z)',
      'schedule "0 3 * * *" (Europe/Paris) was due at 2026-12-08T02:00:00.000Z',
      'min interval 1h: last run started 1m ago',
      'schedule "0 3 * * *" (Europe/Paris): last due at 2026-12-08T02:00:00.000Z, not after the last run started (2026-12-08T02:00:00.000Z)',
      'schedule "0 3 * * *" (Europe/Paris): last due at 2026-12-08T02:00:00.000Z, not after the last run started (2026-12-08T02:00:00.000Z)',
      'schedule "0 3 * * *" (Europe/Paris) was due at 2026-12-09T02:00:00.000Z',
      'min interval 1h: last run started 30s ago',
    ]);
  });

  it('with no min interval the occurrence itself stops a second run at 02:01Z', async () => {
    const pipeline = pipelineWith([PARIS_3AM], { minIntervalMs: 1 }, '2026-12-08T00:00:00.000Z');
    const { tickAt, started } = harness([pipeline]);
    await tickAt('2026-12-08T02:00:00.000Z');
    const after = await tickAt('2026-12-08T02:01:00.000Z');
    expect(after[0]?.outcome).toBe('idle');
    expect(after[0]?.evaluations[0]?.fired).toBe(false);
    expect(started).toHaveLength(1);
  });

  it('a run already running (CONFLICT) is recorded as not started, not logged as an error', async () => {
    const pipeline = pipelineWith([PARIS_3AM], {}, '2026-12-08T00:00:00.000Z');
    const { tickAt, recorded, logged } = harness([pipeline], () => {
      return Promise.reject(
        new SlipwayError('CONFLICT', 'pipeline cancer-retrain has a run in progress', {
          details: { runId: 'run-7' },
        }),
      );
    });
    const [result] = await tickAt('2026-12-08T02:00:00.000Z');
    expect(result?.outcome).toBe('conflict');
    expect(result?.firing?.kind).toBe('schedule');
    expect(recorded[0]?.[0]).toMatchObject({
      fired: true,
      reason: 'schedule "0 3 * * *" (Europe/Paris) was due at 2026-12-08T02:00:00.000Z; not started: run run-7 running',
    });
    expect(logged).toEqual([]);
    // No run started, so the occurrence is still due at the next tick.
    const [again] = await tickAt('2026-12-08T02:01:00.000Z');
    expect(again?.outcome).toBe('conflict');
  });

  it('skips inactive pipelines; one failing startRun does not stop the next pipeline', async () => {
    const broken = { ...pipelineWith([PARIS_3AM], {}, '2026-12-08T00:00:00.000Z'), name: 'broken' };
    const fine = { ...broken, name: 'fine' };
    const gone = { ...broken, name: 'gone', active: false };
    const started: string[] = [];
    const { tickAt, recorded, logged } = harness([broken, gone, fine], (p) => {
      if (p.name === 'broken') return Promise.reject(new Error('disk full'));
      started.push(p.name);
      return Promise.resolve();
    });
    const results = await tickAt('2026-12-08T02:00:00.000Z');
    expect(results.map((r) => [r.pipeline, r.outcome, r.error])).toEqual([
      ['broken', 'failed', 'disk full'],
      ['fine', 'started', undefined],
    ]);
    expect(started).toEqual(['fine']);
    expect(recorded).toHaveLength(2);
    expect(recorded[0]?.[0]?.reason).toMatch(/; run failed to start: disk full$/);
    expect(logged).toEqual([
      'trigger loop: pipeline broken: run failed to start: disk full',
      'trigger loop: pipeline fine: run started: schedule "0 3 * * *" (Europe/Paris) was due at 2026-12-08T02:00:00.000Z',
    ]);
  });

  it('start ticks on its interval and stop waits for the tick in progress', async () => {
    let ticks = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loop = new TriggerLoop({
      pipelines: async () => {
        ticks += 1;
        if (ticks === 2) await gate;
        return [];
      },
      deps: quietDeps(),
      startRun: () => Promise.resolve(undefined),
      record: () => Promise.resolve(undefined),
    });
    loop.start(5);
    while (ticks < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stopped).toBe(false);
    expect(ticks).toBe(2);
    release();
    await stopping;
    expect(stopped).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ticks).toBe(2);
    expect(() => loop.start(0)).toThrow('trigger loop interval 0 ms: expected a positive number');
  });
});

describe('TriggerLoop with drift and labels', () => {
  it('starts one run per firing and records the evaluations of every trigger', async () => {
    const pipeline = pipelineWith([
      { kind: 'drift', windowMs: HOUR },
      { kind: 'labels', count: 10 },
      { kind: 'manual' },
    ]);
    const firings: TriggerFiring[] = [];
    const recorded: TriggerEvaluation[][] = [];
    const loop = new TriggerLoop({
      pipelines: () => Promise.resolve([pipeline]),
      deps: quietDeps({
        drift: () => Promise.resolve({ datasetDrift: true, share: 0.6, threshold: 0.5, rows: 300, features: [] }),
        feedbackSince: () => Promise.resolve(3),
      }),
      startRun: (_p, firing) => {
        firings.push(firing);
        return Promise.resolve();
      },
      record: (e) => {
        recorded.push([...e]);
        return Promise.resolve();
      },
      now: () => new Date('2026-12-08T12:00:00Z'),
    });
    await loop.tick();
    expect(firings).toEqual([
      {
        kind: 'drift',
        value: 0.6,
        reason: 'dataset drift: 0.6 of features drifted (threshold 0.5) on breast_cancer@1.2.0 over 1h, 300 rows',
      },
    ]);
    expect(recorded[0]?.map((e) => [e.trigger, e.fired, e.value])).toEqual([
      ['drift', true, 0.6],
      ['labels', false, 3],
    ]);
  });
});
