import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTable, writeTable } from '../io/index.js';
import { buildApp } from '../server/app.js';
import { startServer } from '../server/serve.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { JobService } from './job-service.js';
import type { BatchRunner } from './job-service.js';
import type { BatchJobRecord } from './job-store.js';
import { SqlJobStore } from './job-store.js';
import { batchDepsOf, runBatchJob } from './run-batch-job.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

const expected = expectedOutputs('breast_cancer');
const X = expected.inputs[0]?.data as number[];
const N = expected.inputs[0]?.shape[0] as number;
const ROWS = 5000;

async function writeInput(file: string): Promise<string> {
  const columns = [
    { name: 'id', type: 'string' as const },
    ...Array.from({ length: 30 }, (_, j) => ({ name: `f${j}`, type: 'number' as const })),
  ];
  const rows = Array.from({ length: ROWS }, (_, i) => [`id-${i}`, ...X.slice((i % N) * 30, (i % N) * 30 + 30)]);
  await writeTable(file, columns, [rows]);
  return file;
}

async function idsOf(file: string): Promise<unknown[]> {
  const ids: unknown[] = [];
  for await (const chunk of readTable(file)) {
    const column = chunk.columns.get('id');
    for (let r = 0; r < chunk.rows; r++) ids.push(column?.values[r]);
  }
  return ids;
}

/** The jobs service and API over the real engine (`runBatchJob`), on a platform with the breast-cancer model. */
describe('batch jobs with the real engine', () => {
  let platform: TestPlatform;
  let dir: string;
  let input: string;
  const services: JobService[] = [];

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'bc', bytes: fixtureBytes('breast_cancer.onnx') });
    dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-jobs-engine-'));
    input = await writeInput(path.join(dir, 'in.csv'));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await platform?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const engine: BatchRunner = (spec, options) => runBatchJob(spec, batchDepsOf(platform), options);
  /** A service on the platform's database with a fast poll, running `run`. */
  const service = (run: BatchRunner): JobService => {
    const created = new JobService({ store: new SqlJobStore(platform.database), run, pollMs: 50 });
    services.push(created);
    return created;
  };
  const spec = (jobId: string) => ({
    jobId,
    model: 'bc@1.0.0',
    input,
    output: path.join(dir, `${jobId}.parquet`),
    idColumn: 'id',
    chunkRows: 100,
    workers: 1,
  });
  async function until(
    read: () => Promise<BatchJobRecord>,
    check: (job: BatchJobRecord) => boolean,
  ): Promise<BatchJobRecord> {
    for (let i = 0; i < 1500; i += 1) {
      const job = await read();
      if (check(job)) return job;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the job never reached the expected state');
  }

  it('runs a job submitted through the API to the end: every row once, summary and progress stored', async () => {
    const jobs = service(engine);
    const app: FastifyInstance = await buildApp({
      config: { maxBodyBytes: 1 << 20, logLevel: 'silent' },
      registry: platform.registry,
      serving: platform.serving,
      jobs,
    });
    try {
      const created = await app.inject({ method: 'POST', url: '/api/v1/jobs', payload: spec('api-run') });
      expect(created.statusCode, created.body).toBe(201);
      jobs.start();
      const done = await until(
        async () => (await app.inject({ method: 'GET', url: '/api/v1/jobs/api-run' })).json<BatchJobRecord>(),
        (job) => job.status !== 'queued' && job.status !== 'running',
      );
      expect(done).toMatchObject({
        status: 'succeeded',
        error: null,
        summary: {
          jobId: 'api-run',
          status: 'succeeded',
          model: 'bc',
          version: '1.0.0',
          rows: ROWS,
          scored: ROWS,
          rejected: 0,
        },
      });
      expect(done.progress).toMatchObject({ rowsDone: ROWS, chunksDone: ROWS / 100, rejected: 0 });
      expect(await idsOf(path.join(dir, 'api-run.parquet'))).toEqual(Array.from({ length: ROWS }, (_, i) => `id-${i}`));
    } finally {
      await app.close();
      // A service left polling would claim the next test's requeued job (it did once chunks finished faster).
      await jobs.stop();
    }
  }, 120_000);

  it('cancels a running job through the API: the engine stops and the job ends cancelled', async () => {
    let cancel: Promise<unknown> | undefined;
    const jobs = service((jobSpec, options) =>
      engine(jobSpec, {
        ...options,
        onProgress: (progress) => {
          options.onProgress(progress);
          if (progress.chunksDone >= 2)
            cancel ??= app.inject({ method: 'POST', url: `/api/v1/jobs/${jobSpec.jobId}/cancel` });
        },
      }),
    );
    const app = await buildApp({
      config: { maxBodyBytes: 1 << 20, logLevel: 'silent' },
      registry: platform.registry,
      serving: platform.serving,
      jobs,
    });
    try {
      await jobs.submit(spec('api-cancel'));
      jobs.start();
      const done = await until(
        () => jobs.status('api-cancel'),
        (job) => job.status !== 'queued' && job.status !== 'running',
      );
      expect(((await cancel) as { statusCode: number }).statusCode).toBe(202);
      expect(done).toMatchObject({ status: 'cancelled', cancelRequested: true, summary: { status: 'cancelled' } });
      expect(done.summary!.rows).toBeLessThan(ROWS);
    } finally {
      await app.close();
      // A service left polling would claim the next test's requeued job (it did once chunks finished faster).
      await jobs.stop();
    }
  }, 120_000);

  it('resumes a job interrupted by a shutdown at the next start, from its finished chunks', async () => {
    let stopping: Promise<void> | undefined;
    const first: JobService = service((jobSpec, options) =>
      engine(jobSpec, {
        ...options,
        onProgress: (progress) => {
          options.onProgress(progress);
          if (progress.chunksDone >= 3) stopping ??= first.stop();
        },
      }),
    );
    await first.submit(spec('resumed'));
    first.start();
    await until(
      () => first.status('resumed'),
      () => stopping !== undefined,
    );
    await stopping;
    const interrupted = await first.status('resumed');
    expect(interrupted).toMatchObject({ status: 'queued', attempts: 1, owner: null });
    expect(interrupted.progress!.chunksDone).toBeGreaterThanOrEqual(3);

    const second = service(engine);
    second.start();
    const done = await until(
      () => second.status('resumed'),
      (job) => job.status !== 'queued' && job.status !== 'running',
    );
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2, summary: { rows: ROWS, scored: ROWS } });
    expect(done.summary!.resumedChunks).toBeGreaterThanOrEqual(3);
    expect(await idsOf(path.join(dir, 'resumed.parquet'))).toEqual(Array.from({ length: ROWS }, (_, i) => `id-${i}`));
  }, 120_000);

  it('resumes from its parts a job whose owner on another host stopped heartbeating (issue 13, item 9)', async () => {
    // Three chunks scored by "another process", which then vanished without a word.
    const controller = new AbortController();
    const partial = await runBatchJob(spec('orphan'), batchDepsOf(platform), {
      signal: controller.signal,
      onProgress: (p) => p.chunksDone >= 3 && controller.abort(),
    });
    expect(partial.status).toBe('cancelled');
    const store = new SqlJobStore(platform.database);
    const owner = 'another-host/4242/deadbeef';
    await store.startHere(spec('orphan'), owner, () => true);
    // The other process beats, until it "dies".
    const beating = setInterval(() => void store.heartbeat('orphan', owner, null), 100);
    const claimer = new JobService({ store, run: engine, pollMs: 50, staleMs: 5000 });
    services.push(claimer);
    try {
      claimer.start();
      // A live heartbeat from another host is respected (its pid cannot be checked from here): the
      // claimer runs a job submitted after it, polling all the while, and leaves this one alone.
      await claimer.submit(spec('probe'));
      expect(
        await until(
          () => claimer.status('probe'),
          (job) => job.status === 'succeeded',
        ),
      ).toMatchObject({ status: 'succeeded' });
      expect(await claimer.status('orphan')).toMatchObject({ status: 'running', owner });
    } finally {
      clearInterval(beating);
    }
    // Its lease (staleMs) runs out: a round requeues it and this process resumes it from its parts.
    const done = await until(
      () => claimer.status('orphan'),
      (job) => job.status !== 'queued' && job.status !== 'running',
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      summary: { rows: ROWS, scored: ROWS, resumedChunks: partial.rows / 100 },
    });
    expect(await idsOf(path.join(dir, 'orphan.parquet'))).toEqual(Array.from({ length: ROWS }, (_, i) => `id-${i}`));
  }, 120_000);

  it('serve runs jobs submitted to /api/v1/jobs in the background', async () => {
    // The job's files are in the test's folder: a data root for API submissions (core/data-roots.ts).
    const served = await openTestPlatform({ dataRoots: [dir] });
    await served.registry.push({ name: 'bc', bytes: fixtureBytes('breast_cancer.onnx') });
    const server = await startServer(served, { host: '127.0.0.1', port: 0 });
    try {
      const created = await fetch(`${server.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(spec('served')),
      });
      expect(created.status).toBe(201);
      const done = await until(
        async () => (await (await fetch(`${server.url}/api/v1/jobs/served`)).json()) as BatchJobRecord,
        (job) => job.status !== 'queued' && job.status !== 'running',
      );
      expect(done).toMatchObject({ status: 'succeeded', summary: { rows: ROWS, scored: ROWS } });
    } finally {
      await server.stop();
      await rm(served.home, { recursive: true, force: true });
    }
  }, 120_000);
});
