import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { pipelineSpec } from './definitions/spec.test-support.js';
import { SqlPipelineStore } from './pipeline-store.js';
import { SqlRunStore } from './run-store.js';
import type { StoredPipeline, TriggerFiring } from './types.js';

const MANUAL: TriggerFiring = { kind: 'manual', reason: 'started by hand' };
const LONG_AGO = '2000-01-01T00:00:00.000Z';

describeEachDialect('SqlRunStore', (fixture) => {
  async function setUp(): Promise<{ runs: SqlRunStore; pipeline: StoredPipeline; open: () => Promise<SqlRunStore> }> {
    const database = await fixture.open();
    const pipelines = new SqlPipelineStore(database);
    await pipelines.apply([pipelineSpec('retrain')]);
    return {
      runs: new SqlRunStore(database),
      pipeline: await pipelines.get('retrain'),
      open: async () => new SqlRunStore(await fixture.open()),
    };
  }

  it('creates a running, pending, unowned run and refuses a second one while it runs', async () => {
    const { runs, pipeline } = await setUp();
    const run = await runs.create(pipeline, { kind: 'drift', reason: '0.62 of features drifted', value: 0.62 });
    expect(run).toMatchObject({
      pipeline: 'retrain',
      pipelineVersion: 1,
      status: 'running',
      step: 'pending',
      owner: null,
      cancelRequested: false,
      trigger: { kind: 'drift', value: 0.62 },
      finishedAt: null,
    });
    expect(run.id).toMatch(/^run-\d{8}-\d{6}-[0-9a-f]{6}$/);
    await expect(runs.create(pipeline, MANUAL)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: `pipeline "retrain" already has a running run ${run.id}`,
    });
    expect(await runs.list({ pipeline: 'retrain' })).toHaveLength(1);
  });

  it('lets exactly one of two concurrent creates (two connections) win', async () => {
    const { pipeline, open } = await setUp();
    const [a, b] = [await open(), await open()];
    const outcomes = await Promise.allSettled([a.create(pipeline, MANUAL), b.create(pipeline, MANUAL)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o) => o.status === 'rejected');
    expect(lost?.reason).toMatchObject({ code: 'CONFLICT' });
    expect((await a.list()).filter((r) => r.status === 'running')).toHaveLength(1);
  });

  it('claims exclusively, lets a stale owner be replaced, and refuses writes from the owner that lost it', async () => {
    const { runs, pipeline, open } = await setUp();
    const run = await runs.create(pipeline, MANUAL);
    expect(await runs.claimable(LONG_AGO)).toEqual([run.id]);
    const other = await open();
    const claims = await Promise.all([
      runs.claim(run.id, 'host/1/a', LONG_AGO),
      other.claim(run.id, 'host/2/b', LONG_AGO),
    ]);
    const winners = claims.filter((c) => c !== undefined);
    expect(winners).toHaveLength(1);
    const owner = winners[0]!.owner as string;
    expect(await runs.claimable(LONG_AGO)).toEqual([]);

    const updated = await runs.update(run.id, owner, { step: 'training', trainingPid: 4242, championVersion: '1.0.0' });
    expect(updated).toMatchObject({ step: 'training', championVersion: '1.0.0', owner });
    expect(await runs.trainingPid(run.id)).toBe(4242);

    // The owner's heartbeat is older than "now + 1 s": another process takes it over.
    const future = new Date(Date.now() + 1000).toISOString();
    expect(await runs.claimable(future)).toEqual([run.id]);
    const taken = await other.claim(run.id, 'host/3/c', future);
    expect(taken).toMatchObject({ owner: 'host/3/c', step: 'training' });
    await expect(runs.heartbeat(run.id, owner)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('lost the run'),
    });
    await expect(runs.update(run.id, owner, { step: 'evaluating' })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await runs.get(run.id)).step).toBe('training');
  });

  it('finishes a run, allows a new one afterwards, and lists newest first', async () => {
    const { runs, pipeline } = await setUp();
    const first = await runs.create(pipeline, MANUAL);
    await runs.claim(first.id, 'me', LONG_AGO);
    await runs.update(first.id, 'me', { trainingPid: 77 });
    const done = await runs.finish(first.id, 'me', { status: 'stopped', reason: 'evaluating: accuracy gate failed' });
    expect(done).toMatchObject({
      status: 'stopped',
      reason: 'evaluating: accuracy gate failed',
    });
    expect(done.finishedAt).not.toBeNull();
    expect(await runs.trainingPid(first.id)).toBeNull();
    await expect(runs.finish(first.id, 'me', { status: 'failed', reason: 'again' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await runs.create(pipeline, { kind: 'labels', reason: '120 new labels', value: 120 });
    expect((await runs.list({ pipeline: 'retrain' })).map((r) => r.id)).toEqual([second.id, first.id]);
    expect((await runs.lastStarted('retrain'))?.id).toBe(second.id);
    expect(await runs.lastStarted('nothing')).toBeUndefined();
    expect(await runs.list({ pipeline: 'retrain', limit: 1 })).toHaveLength(1);
  });

  it('cancels: requested on a running run, finished unowned, refused once finished', async () => {
    const { runs, pipeline } = await setUp();
    const run = await runs.create(pipeline, MANUAL);
    expect((await runs.requestCancel(run.id)).cancelRequested).toBe(true);
    const cancelled = await runs.finish(run.id, null, { status: 'cancelled', reason: 'cancelled by request' });
    expect(cancelled).toMatchObject({ status: 'cancelled', owner: null });
    await expect(runs.requestCancel(run.id)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: `run ${run.id} already finished (cancelled); nothing to cancel`,
    });
    await expect(runs.requestCancel('run-missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(runs.get('run-missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses an unowned finish of a run someone owns', async () => {
    const { runs, pipeline } = await setUp();
    const run = await runs.create(pipeline, MANUAL);
    await runs.claim(run.id, 'host/1/a', LONG_AGO);
    await expect(runs.finish(run.id, null, { status: 'cancelled', reason: 'x' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('owned by host/1/a'),
    });
  });
});
