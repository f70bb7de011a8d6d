import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { SqlJobStore } from './job-store.js';
import type { BatchJobSpec, BatchProgress, BatchSummary } from './types.js';
import { rejection } from '../testing/rejection.js';

const spec = (jobId: string, extra: Partial<BatchJobSpec> = {}): BatchJobSpec => ({
  jobId,
  model: 'fraud@champion',
  input: '/data/in.parquet',
  output: '/data/out.parquet',
  ...extra,
});

const progress = (rowsDone: number): BatchProgress => ({
  rowsDone,
  rowsTotal: 1000,
  rejected: 2,
  chunksDone: rowsDone / 100,
  chunksTotal: 10,
  rowsPerSecond: 250.5,
  etaSeconds: 3.25,
});

const summary = (jobId: string): BatchSummary => ({
  jobId,
  status: 'succeeded',
  model: 'fraud',
  version: '1.2.0',
  rows: 1000,
  scored: 998,
  rejected: 2,
  resumedChunks: 0,
  seconds: 4,
  rowsPerSecond: 250,
  output: '/data/out.parquet',
  rejects: '/data/out.rejects.jsonl',
});

describeEachDialect('JobStore', (fixture) => {
  const openStore = async (): Promise<SqlJobStore> => new SqlJobStore(await fixture.open());

  it('inserts a queued job with every spec field, reads it back equal, and refuses a taken id', async () => {
    const store = await openStore();
    const full = spec('nightly', {
      idColumn: 'id',
      keep: ['id', 'region'],
      map: { x: 'features' },
      maxRejectRate: 0.01,
      chunkRows: 5000,
      workers: 2,
      features: { service: 'fraud', timestampColumn: 'ts' },
    });
    const inserted = await store.insert(full);
    expect(inserted).toEqual({
      id: 'nightly',
      status: 'queued',
      spec: full,
      progress: null,
      summary: null,
      error: null,
      cancelRequested: false,
      attempts: 0,
      owner: null,
      heartbeatAt: null,
      createdAt: inserted.createdAt,
      startedAt: null,
      finishedAt: null,
      updatedAt: inserted.createdAt,
    });
    expect(new Date(inserted.createdAt).toISOString()).toBe(inserted.createdAt);
    expect(await store.get('nightly')).toEqual(inserted);
    expect(await store.get('missing')).toBeUndefined();
    const error = await rejection(store.insert(spec('nightly')), 'ALREADY_EXISTS');
    expect(error.message).toBe('batch job "nightly" already exists');
  });

  it('lists newest first and filters by status', async () => {
    const store = await openStore();
    for (const id of ['a', 'b', 'c']) await store.insert(spec(id));
    await store.claim('host/1/x');
    expect((await store.list()).map((job) => job.id)).toEqual(['c', 'b', 'a']);
    expect((await store.list({ status: 'queued' })).map((job) => job.id)).toEqual(['c', 'b']);
    expect((await store.list({ status: 'running' })).map((job) => job.id)).toEqual(['a']);
    expect(await store.list({ status: 'failed' })).toEqual([]);
    expect((await store.list({ limit: 2 })).map((job) => job.id)).toEqual(['c', 'b']);
  });

  it('claims the oldest queued job once, even with two stores racing', async () => {
    const first = await openStore();
    const second = await openStore();
    await first.insert(spec('one'));
    await first.insert(spec('two'));
    const claims = await Promise.all([first.claim('host/1/a'), second.claim('host/2/b'), first.claim('host/1/a')]);
    const claimed = claims.filter((job) => job !== undefined);
    expect(claimed.map((job) => job.id).sort()).toEqual(['one', 'two']);
    expect(claims.filter((job) => job === undefined)).toHaveLength(1);
    const one = await first.get('one');
    expect(one).toMatchObject({ status: 'running', attempts: 1 });
    expect(one?.owner).toMatch(/^host\/[12]\/[ab]$/);
    expect(one?.startedAt).toBe(one?.heartbeatAt);
    expect(await first.claim('host/1/a')).toBeUndefined();
  });

  it('writes heartbeats with progress only for the owner, and reports a cancel request', async () => {
    const store = await openStore();
    await store.insert(spec('j'));
    await store.claim('me');
    expect(await store.heartbeat('j', 'someone-else', progress(100))).toBeUndefined();
    expect(await store.heartbeat('j', 'me', progress(300))).toEqual({ cancelRequested: false });
    expect((await store.get('j'))?.progress).toEqual(progress(300));
    expect(await store.heartbeat('j', 'me', null)).toEqual({ cancelRequested: false });
    expect((await store.get('j'))?.progress).toEqual(progress(300));

    const cancelling = await store.requestCancel('j');
    expect(cancelling).toMatchObject({ status: 'running', cancelRequested: true });
    expect(await store.heartbeat('j', 'me', progress(400))).toEqual({ cancelRequested: true });
  });

  it('finishes with the outcome, summary and progress; only the owner may', async () => {
    const store = await openStore();
    await store.insert(spec('j'));
    await store.claim('me');
    expect(await store.finish('j', 'other', { status: 'failed', summary: null, error: 'x' }, null)).toBe(false);
    expect(
      await store.finish('j', 'me', { status: 'succeeded', summary: summary('j'), error: null }, progress(1000)),
    ).toBe(true);
    const done = await store.get('j');
    expect(done).toMatchObject({
      status: 'succeeded',
      summary: summary('j'),
      progress: progress(1000),
      error: null,
      owner: null,
    });
    expect(done?.finishedAt).not.toBeNull();
    expect(await store.finish('j', 'me', { status: 'failed', summary: null, error: 'late' }, null)).toBe(false);
    expect((await store.get('j'))?.status).toBe('succeeded');
  });

  it('cancels a queued job at once, flags a running one, and refuses unknown and finished jobs', async () => {
    const store = await openStore();
    await store.insert(spec('queued'));
    const cancelled = await store.requestCancel('queued');
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      cancelRequested: true,
      error: 'cancelled before it started',
    });
    expect(await store.claim('me')).toBeUndefined();

    expect((await rejection(store.requestCancel('nope'), 'NOT_FOUND')).message).toBe('batch job "nope" does not exist');
    const finished = await rejection(store.requestCancel('queued'), 'FAILED_PRECONDITION');
    expect(finished.message).toBe('batch job "queued" already cancelled');
    expect(finished.httpStatus).toBe(409);
  });

  it('releases a running job back to the queue with its progress, and the next claim counts a second attempt', async () => {
    const store = await openStore();
    await store.insert(spec('j'));
    await store.claim('me');
    expect(await store.release('j', 'other', null)).toBe(false);
    expect(await store.release('j', 'me', progress(500))).toBe(true);
    expect(await store.get('j')).toMatchObject({
      status: 'queued',
      owner: null,
      heartbeatAt: null,
      progress: progress(500),
      attempts: 1,
    });
    expect(await store.claim('you')).toMatchObject({
      id: 'j',
      status: 'running',
      owner: 'you',
      attempts: 2,
      progress: progress(500),
    });
  });

  it('requeues running jobs with a stale heartbeat or a dead owner, and no others', async () => {
    const store = await openStore();
    for (const id of ['stale', 'dead', 'alive']) await store.insert(spec(id));
    await store.claim('host/10/a');
    await store.claim('host/20/b');
    await store.claim('host/30/c');
    const database = await fixture.open();
    await database.db
      .updateTable('batch_jobs')
      .set({ heartbeat_at: '2020-01-01T00:00:00.000Z' })
      .where('id', '=', 'stale')
      .execute();
    const staleBefore = new Date(Date.now() - 60_000).toISOString();
    const requeued = await store.requeueAbandoned({ staleBefore, isDeadOwner: (owner) => owner === 'host/20/b' });
    expect(requeued.sort()).toEqual(['dead', 'stale']);
    expect((await store.list({ status: 'queued' })).map((job) => job.id).sort()).toEqual(['dead', 'stale']);
    expect(await store.get('alive')).toMatchObject({ status: 'running', owner: 'host/30/c' });
    // The old owner lost them: its late heartbeat and end are not written.
    expect(await store.heartbeat('stale', 'host/10/a', progress(100))).toBeUndefined();
    expect(await store.finish('dead', 'host/20/b', { status: 'failed', summary: null, error: 'x' }, null)).toBe(false);
  });

  it('starts a foreground run as a new record, takes over a finished or abandoned one, and refuses a live one', async () => {
    const store = await openStore();
    const started = await store.startHere(spec('fg'), 'cli/1/a', () => false);
    expect(started).toMatchObject({
      id: 'fg',
      status: 'running',
      owner: 'cli/1/a',
      attempts: 1,
      cancelRequested: false,
    });
    expect(started.startedAt).toBe(started.heartbeatAt);

    const live = await rejection(
      store.startHere(spec('fg'), 'cli/2/b', () => false),
      'FAILED_PRECONDITION',
    );
    expect(live.message).toBe(
      'batch job "fg" is running in another process (cli/1/a); cancel it first (slipway batch cancel fg)',
    );
    const abandoned = await store.startHere(
      spec('fg', { chunkRows: 10 }),
      'cli/2/b',
      (record) => record.owner === 'cli/1/a',
    );
    expect(abandoned).toMatchObject({
      status: 'running',
      owner: 'cli/2/b',
      attempts: 2,
      spec: spec('fg', { chunkRows: 10 }),
    });
    expect(await store.heartbeat('fg', 'cli/1/a', null)).toBeUndefined();

    await store.requestCancel('fg');
    await store.finish('fg', 'cli/2/b', { status: 'cancelled', summary: null, error: 'cancelled' }, null);
    const rerun = await store.startHere(spec('fg'), 'cli/3/c', () => false);
    expect(rerun).toMatchObject({
      status: 'running',
      owner: 'cli/3/c',
      attempts: 3,
      cancelRequested: false,
      error: null,
      summary: null,
      finishedAt: null,
    });
  });

  it('refuses use after close', async () => {
    const store = await openStore();
    await store.close();
    await rejection(store.get('j'), 'UNAVAILABLE');
  });
});
