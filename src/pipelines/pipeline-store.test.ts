import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { MAX_EVALUATIONS_PER_PIPELINE, SqlPipelineStore } from './pipeline-store.js';
import { SqlRunStore } from './run-store.js';
import { pipelineSpec } from './definitions/spec.test-support.js';
import type { TriggerEvaluation } from './types.js';

describeEachDialect('SqlPipelineStore', (fixture) => {
  it('applies: adds at version 1, bumps a changed spec, keeps an unchanged one, deactivates a removed one', async () => {
    const store = new SqlPipelineStore(await fixture.open());
    const first = await store.apply([pipelineSpec('a'), pipelineSpec('b')]);
    expect(first.plan).toEqual({ added: ['a', 'b'], changed: [], removed: [], unchanged: [] });
    expect(first.applied.map((p) => [p.name, p.version, p.active])).toEqual([
      ['a', 1, true],
      ['b', 1, true],
    ]);

    const dry = await store.apply([pipelineSpec('a', { minIntervalMs: 60_000 })], { dryRun: true });
    expect(dry.plan.changed).toEqual([{ name: 'a', details: ['minInterval: 1h -> 1m'] }]);
    expect(dry.plan.removed).toEqual(['b']);
    expect((await store.get('a')).version).toBe(1);

    const second = await store.apply([pipelineSpec('a', { minIntervalMs: 60_000 })]);
    expect(second.applied.map((p) => [p.name, p.version])).toEqual([['a', 2]]);
    expect((await store.get('a')).spec.minIntervalMs).toBe(60_000);
    expect((await store.version('a', 1)).spec.minIntervalMs).toBe(3_600_000);
    expect((await store.version('a', 1)).active).toBe(false);
    await expect(store.get('b')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('"b"') });
    await expect(store.version('a', 9)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await store.list()).map((p) => `${p.name}@${p.version}`)).toEqual(['a@2']);

    const third = await store.apply([pipelineSpec('a', { minIntervalMs: 60_000 }), pipelineSpec('b')]);
    expect(third.plan).toEqual({ added: ['b'], changed: [], removed: [], unchanged: ['a'] });
    expect((await store.list()).map((p) => `${p.name}@${p.version}`)).toEqual(['a@2', 'b@2']);
  });

  it('refuses to remove a pipeline with a running run, naming it and the run', async () => {
    const database = await fixture.open();
    const store = new SqlPipelineStore(database);
    await store.apply([pipelineSpec('busy'), pipelineSpec('idle')]);
    const run = await new SqlRunStore(database).create(await store.get('busy'), { kind: 'manual', reason: 'by hand' });
    await expect(store.apply([pipelineSpec('idle')])).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining(`pipeline "busy" (run ${run.id} is running)`),
    });
    expect((await store.get('busy')).active).toBe(true);
  });

  it('keeps the last 1000 trigger evaluations per pipeline, newest first', async () => {
    const store = new SqlPipelineStore(await fixture.open());
    const evaluation = (pipeline: string, i: number): TriggerEvaluation => ({
      pipeline,
      trigger: 'labels',
      at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      fired: i % 2 === 0,
      value: i + 0.25,
      reason: `${i} new labels, needs 100`,
    });
    const batch = Array.from({ length: 600 }, (_, i) => evaluation('a', i));
    await store.recordEvaluations(batch);
    await store.recordEvaluations(Array.from({ length: 600 }, (_, i) => evaluation('a', 600 + i)));
    await store.recordEvaluations([evaluation('b', 0)]);
    const kept = await store.evaluations('a', 5000);
    expect(kept.length).toBe(MAX_EVALUATIONS_PER_PIPELINE);
    expect(kept[0]).toEqual(evaluation('a', 1199));
    expect(kept.at(-1)).toEqual(evaluation('a', 200));
    expect(await store.evaluations('b', 10)).toEqual([evaluation('b', 0)]);
  });
});
