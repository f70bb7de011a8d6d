import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobService } from '../../batch/job-service.js';
import type { BatchRunner } from '../../batch/job-service.js';
import type { BatchJobRecord } from '../../batch/job-store.js';
import { SqlJobStore } from '../../batch/job-store.js';
import type { BatchProgress, BatchSummary } from '../../batch/types.js';
import { openDatabase } from '../../store/database.js';
import type { Database } from '../../store/database.js';
import { installErrorHandling } from './errors.js';
import { registerJobRoutes } from './job-routes.js';

const progress: BatchProgress = {
  rowsDone: 200,
  rowsTotal: 1000,
  rejected: 1,
  chunksDone: 2,
  chunksTotal: 10,
  rowsPerSecond: 100,
  etaSeconds: 8,
};

describe('job routes /api/v1/jobs', () => {
  let folder: string;
  let jobs: JobService;
  let database: Database;
  let app: FastifyInstance;
  let signals: AbortSignal[];
  let release: (() => void) | undefined;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-job-routes-'));
    signals = [];
    // Reports progress, then waits for the test or for its signal.
    const run: BatchRunner = (spec, { signal, onProgress }) =>
      new Promise<BatchSummary>((resolve) => {
        signals.push(signal);
        onProgress(progress);
        const summary = (status: BatchSummary['status']): BatchSummary => ({
          jobId: spec.jobId,
          status,
          model: 'fraud',
          version: '1.0.0',
          rows: 1000,
          scored: status === 'succeeded' ? 999 : 200,
          rejected: 1,
          resumedChunks: 0,
          seconds: 2,
          rowsPerSecond: 100,
          output: spec.output,
          rejects: null,
          ...(status === 'cancelled' ? { error: 'cancelled after 2 chunks' } : {}),
        });
        signal.addEventListener('abort', () => resolve(summary('cancelled')), { once: true });
        release = () => resolve(summary('succeeded'));
      });
    database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
    jobs = new JobService({ store: new SqlJobStore(database), run, pollMs: 20 });
    app = Fastify({ ajv: { customOptions: { coerceTypes: true, removeAdditional: false } } });
    installErrorHandling(app, 1024 * 1024);
    registerJobRoutes(app, jobs);
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await jobs.stop();
    await database.close();
    await rm(folder, { recursive: true, force: true });
  });

  const submit = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/api/v1/jobs', payload: payload as Record<string, unknown> });
  const get = (id: string) => app.inject({ method: 'GET', url: `/api/v1/jobs/${id}` });
  async function until(id: string, check: (job: BatchJobRecord) => boolean): Promise<BatchJobRecord> {
    for (let i = 0; i < 500; i += 1) {
      const job = (await get(id)).json<BatchJobRecord>();
      if (check(job)) return job;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`job ${id} never reached the expected state`);
  }

  it('submits (201, queued), shows progress while running, and the summary once done', async () => {
    const created = await submit({
      jobId: 'nightly',
      model: 'fraud@champion',
      input: '/data/in.parquet',
      output: '/data/out.parquet',
      keep: ['id'],
      maxRejectRate: 0.05,
    });
    expect(created.statusCode, created.body).toBe(201);
    const record = created.json<BatchJobRecord>();
    expect(record).toEqual({
      id: 'nightly',
      status: 'queued',
      spec: {
        jobId: 'nightly',
        model: 'fraud@champion',
        input: '/data/in.parquet',
        output: '/data/out.parquet',
        keep: ['id'],
        maxRejectRate: 0.05,
      },
      progress: null,
      summary: null,
      error: null,
      cancelRequested: false,
      attempts: 0,
      owner: null,
      heartbeatAt: null,
      createdAt: record.createdAt,
      startedAt: null,
      finishedAt: null,
      updatedAt: record.createdAt,
    });

    jobs.start();
    const running = await until('nightly', (job) => job.status === 'running');
    expect(running).toMatchObject({ status: 'running', progress, attempts: 1, owner: jobs.owner });
    release?.();
    const done = await until('nightly', (job) => job.status === 'succeeded');
    expect(done.summary).toMatchObject({
      jobId: 'nightly',
      status: 'succeeded',
      rows: 1000,
      scored: 999,
      output: '/data/out.parquet',
    });
    expect(done.finishedAt).not.toBeNull();
  });

  it('makes up an id when none is given, and lists newest first with a status filter', async () => {
    const first = (await submit({ model: 'm', input: 'a.csv', output: 'a.parquet' })).json<BatchJobRecord>();
    expect(first.id).toMatch(/^job-\d{8}-\d{6}-[0-9a-f]{6}$/);
    await submit({ jobId: 'second', model: 'm', input: 'b.csv', output: 'b.parquet' });
    await app.inject({ method: 'POST', url: '/api/v1/jobs/second/cancel' });
    const all = await app.inject({ method: 'GET', url: '/api/v1/jobs' });
    expect(all.statusCode).toBe(200);
    expect(all.json<{ jobs: BatchJobRecord[] }>().jobs.map((job) => [job.id, job.status])).toEqual([
      ['second', 'cancelled'],
      [first.id, 'queued'],
    ]);
    const queued = await app.inject({ method: 'GET', url: '/api/v1/jobs?status=queued' });
    expect(queued.json<{ jobs: BatchJobRecord[] }>().jobs.map((job) => job.id)).toEqual([first.id]);
    const wrong = await app.inject({ method: 'GET', url: '/api/v1/jobs?status=done' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('cancels a running job through the API (202): the runner sees the signal and the job ends cancelled', async () => {
    await submit({ jobId: 'c', model: 'm', input: 'in.csv', output: 'out.csv' });
    jobs.start();
    await until('c', (job) => job.status === 'running');
    const cancelled = await app.inject({ method: 'POST', url: '/api/v1/jobs/c/cancel' });
    expect(cancelled.statusCode).toBe(202);
    expect(cancelled.json()).toMatchObject({ id: 'c', status: 'running', cancelRequested: true });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);
    const done = await until('c', (job) => job.status !== 'running');
    expect(done).toMatchObject({
      status: 'cancelled',
      error: 'cancelled after 2 chunks',
      summary: { status: 'cancelled', scored: 200 },
    });

    const again = await app.inject({ method: 'POST', url: '/api/v1/jobs/c/cancel' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({
      error: 'batch job "c" already cancelled',
      code: 'FAILED_PRECONDITION',
      details: { status: 'cancelled' },
    });
  });

  it('answers 400 naming the missing or wrong field, 404 for an unknown job, 409 for a taken id', async () => {
    for (const [body, field, message] of [
      [{ input: 'in.csv', output: 'out.csv' }, 'model', 'job field "model" is required'],
      [{ model: 'm', output: 'out.csv' }, 'input', 'job field "input" is required'],
      [{ model: 'm', input: 'in.csv' }, 'output', 'job field "output" is required'],
      [{ model: 'm', input: 'in.csv', output: 7 }, 'output', 'job field "output" must be a non-empty string'],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', jobId: '../etc' },
        'jobId',
        'job field "jobId" must be 1-128 letters, digits, ".", "_" or "-", not starting with "." "_" or "-"',
      ],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', max_reject_rate: 0.1 },
        'max_reject_rate',
        'job field "max_reject_rate" is not a job field (fields: jobId, model, input, output, idColumn, keep, map, maxRejectRate, chunkRows, workers, features, overwrite)',
      ],
    ] as const) {
      const response = await submit(body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json()).toEqual({ error: message, code: 'INVALID_ARGUMENT', details: { field } });
    }
    // Settings out of range name the field and its range (issue 13, item 12).
    for (const [body, field, message, min, max] of [
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', maxRejectRate: 2 },
        'maxRejectRate',
        'job field "maxRejectRate" must be a number from 0 to 1, got 2',
        0,
        1,
      ],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', chunkRows: 0 },
        'chunkRows',
        'job field "chunkRows" must be an integer from 1 to 10,000,000, got 0',
        1,
        10_000_000,
      ],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', chunkRows: 1e12 },
        'chunkRows',
        'job field "chunkRows" must be an integer from 1 to 10,000,000, got 1000000000000',
        1,
        10_000_000,
      ],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', workers: 10_000 },
        'workers',
        'job field "workers" must be an integer from 1 to 256, got 10000',
        1,
        256,
      ],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', workers: 2.5 },
        'workers',
        'job field "workers" must be an integer from 1 to 256, got 2.5',
        1,
        256,
      ],
      [
        { model: 'm', input: 'in.csv', output: 'o.csv', workers: '4' },
        'workers',
        'job field "workers" must be a number: an integer from 1 to 256',
        undefined,
        undefined,
      ],
    ] as const) {
      const response = await submit(body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json()).toEqual({
        error: message,
        code: 'INVALID_ARGUMENT',
        details: min === undefined ? { field } : { field, min, max },
      });
    }
    expect((await submit({ model: 'm', input: 'in.csv', output: 'o.csv', chunkRows: 1e12 })).statusCode).toBe(400);
    expect((await jobs.list()).length).toBe(0); // nothing refused was stored
    const notObject = await app.inject({
      method: 'POST',
      url: '/api/v1/jobs',
      payload: '[1]',
      headers: { 'content-type': 'application/json' },
    });
    expect(notObject.statusCode).toBe(400);

    const unknown = await get('nope');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'batch job "nope" does not exist', code: 'NOT_FOUND' });
    expect((await app.inject({ method: 'POST', url: '/api/v1/jobs/nope/cancel' })).statusCode).toBe(404);

    expect((await submit({ jobId: 'taken', model: 'm', input: 'in.csv', output: 'o.csv' })).statusCode).toBe(201);
    const taken = await submit({ jobId: 'taken', model: 'm', input: 'in.csv', output: 'o.csv' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'ALREADY_EXISTS', error: 'batch job "taken" already exists' });
  });
});
