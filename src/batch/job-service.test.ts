import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { openDatabase } from '../store/database.js';
import type { Database } from '../store/database.js';
import { JobService } from './job-service.js';
import type { BatchRunner, JobServiceOptions } from './job-service.js';
import { SqlJobStore } from './job-store.js';
import type { BatchJobSpec, BatchProgress, BatchSummary } from './types.js';

/** One call of the fake runner: what it was given, and handles to end it. */
interface FakeRun {
  readonly spec: BatchJobSpec;
  readonly signal: AbortSignal;
  progress(rowsDone: number): void;
  finish(status?: BatchSummary['status']): void;
  fail(error: Error): void;
}

/** A runner that waits until the test ends each run, or until its signal fires (then it reports `cancelled`). */
function fakeRunner() {
  const runs: FakeRun[] = [];
  let active = 0;
  let maxActive = 0;
  const run: BatchRunner = (spec, { signal, onProgress }) => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    return new Promise<BatchSummary>((resolve, reject) => {
      const end = (summary: BatchSummary | Error) => {
        active -= 1;
        if (summary instanceof Error) reject(summary);
        else resolve(summary);
      };
      const summaryOf = (status: BatchSummary['status'], error?: string): BatchSummary => ({
        jobId: spec.jobId,
        status,
        model: spec.model,
        version: '1.0.0',
        rows: 10,
        scored: 10,
        rejected: 0,
        resumedChunks: 0,
        seconds: 1,
        rowsPerSecond: 10,
        output: spec.output,
        rejects: null,
        ...(error === undefined ? {} : { error }),
      });
      signal.addEventListener('abort', () => end(summaryOf('cancelled', 'cancelled after chunk 1')), { once: true });
      runs.push({
        spec,
        signal,
        progress: (rowsDone) => onProgress(progressOf(rowsDone)),
        finish: (status = 'succeeded') => end(summaryOf(status)),
        fail: (error) => end(error),
      });
    });
  };
  return {
    run,
    runs,
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
  };
}

const progressOf = (rowsDone: number): BatchProgress => ({
  rowsDone,
  rowsTotal: 100,
  rejected: 0,
  chunksDone: rowsDone / 10,
  chunksTotal: 10,
  rowsPerSecond: 20,
  etaSeconds: (100 - rowsDone) / 20,
});

const submission = (jobId?: string) => ({
  ...(jobId === undefined ? {} : { jobId }),
  model: 'm@1',
  input: '/in.csv',
  output: `/out-${jobId ?? 'x'}.csv`,
});

/** Poll until `check` passes (background work is asynchronous). */
async function until<T>(read: () => Promise<T> | T, check: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('JobService', () => {
  let folder: string;
  let database: Database;
  let store: SqlJobStore;
  const services: JobService[] = [];

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-jobs-'));
    database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
    store = new SqlJobStore(database);
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop()));
    await database.close();
    await rm(folder, { recursive: true, force: true });
  });

  const service = (run: BatchRunner, options: Partial<JobServiceOptions> = {}): JobService => {
    const created = new JobService({ store, run, pollMs: 20, ...options });
    services.push(created);
    return created;
  };
  const statusOf = (jobs: JobService, id: string) => jobs.status(id).then((job) => job.status);

  it('submits queued jobs (given id or a new one) and runs nothing until started', async () => {
    const fake = fakeRunner();
    const jobs = service(fake.run);
    const named = await jobs.submit(submission('nightly'));
    expect(named).toMatchObject({
      id: 'nightly',
      status: 'queued',
      spec: { jobId: 'nightly', model: 'm@1', input: '/in.csv', output: '/out-nightly.csv' },
    });
    const generated = await jobs.submit(submission());
    expect(generated.id).toMatch(/^job-\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(generated.spec.jobId).toBe(generated.id);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fake.runs).toHaveLength(0);
    expect((await jobs.list()).map((job) => job.id)).toEqual([generated.id, 'nightly']);
    await expect(jobs.submit(submission('nightly'))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(jobs.submit(submission('../up'))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { field: 'jobId' },
    });
  });

  for (const concurrency of [1, 2]) {
    it(`runs queued jobs oldest first, at most ${concurrency} at once`, async () => {
      const fake = fakeRunner();
      const jobs = service(fake.run, { concurrency });
      for (const id of ['a', 'b', 'c']) await jobs.submit(submission(id));
      jobs.start();
      await until(
        () => fake.runs.length,
        (n) => n === concurrency,
      );
      // A few more polling rounds must not start another.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(fake.runs.map((r) => r.spec.jobId)).toEqual(['a', 'b'].slice(0, concurrency));
      expect((await jobs.list({ status: 'running' })).length).toBe(concurrency);
      expect((await jobs.list({ status: 'queued' })).length).toBe(3 - concurrency);
      for (let finished = 0; finished < 3; finished += 1) {
        await until(
          () => fake.runs.length,
          (n) => n === Math.min(3, finished + concurrency),
        );
        expect(fake.active).toBe(Math.min(concurrency, 3 - finished));
        fake.runs[finished]!.finish();
      }
      await until(
        () => jobs.list({ status: 'succeeded' }),
        (done) => done.length === 3,
      );
      expect(fake.runs.map((r) => r.spec.jobId)).toEqual(['a', 'b', 'c']);
      expect(fake.maxActive).toBe(concurrency);
      const a = await jobs.status('a');
      expect(a).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        owner: null,
        summary: { jobId: 'a', status: 'succeeded', rows: 10 },
      });
    });
  }

  it('shows progress while running (live in this process, and written to the database every poll)', async () => {
    const fake = fakeRunner();
    const jobs = service(fake.run);
    await jobs.submit(submission('p'));
    jobs.start();
    const [run] = await until(
      () => fake.runs,
      (runs) => runs.length === 1,
    );
    run!.progress(30);
    expect((await jobs.status('p')).progress).toEqual(progressOf(30));
    await until(
      () => store.get('p'),
      (job) => job?.progress?.rowsDone === 30,
    );
    run!.progress(60);
    await until(
      () => store.get('p'),
      (job) => job?.progress?.rowsDone === 60,
    );
    run!.finish();
    const done = await until(
      () => jobs.status('p'),
      (job) => job.status === 'succeeded',
    );
    expect(done.progress).toEqual(progressOf(60));
  });

  it("cancels a running job: its signal fires and it ends cancelled with the runner's summary", async () => {
    const fake = fakeRunner();
    const jobs = service(fake.run);
    await jobs.submit(submission('c'));
    jobs.start();
    const [run] = await until(
      () => fake.runs,
      (runs) => runs.length === 1,
    );
    const answer = await jobs.cancel('c');
    expect(answer).toMatchObject({ id: 'c', status: 'running', cancelRequested: true });
    expect(run!.signal.aborted).toBe(true);
    expect(run!.signal.reason).toBeInstanceOf(SlipwayError);
    const done = await until(
      () => jobs.status('c'),
      (job) => job.status !== 'running',
    );
    expect(done).toMatchObject({
      status: 'cancelled',
      error: 'cancelled after chunk 1',
      summary: { status: 'cancelled' },
    });
    await expect(jobs.cancel('c')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(jobs.cancel('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('stops a job when another process sets its cancel flag (slipway batch cancel)', async () => {
    const fake = fakeRunner();
    const jobs = service(fake.run);
    await jobs.submit(submission('remote'));
    jobs.start();
    const [run] = await until(
      () => fake.runs,
      (runs) => runs.length === 1,
    );
    await store.requestCancel('remote');
    await until(
      () => run!.signal.aborted,
      (aborted) => aborted,
    );
    expect(
      await until(
        () => statusOf(jobs, 'remote'),
        (s) => s !== 'running',
      ),
    ).toBe('cancelled');
  });

  it('cancels a queued job without running it', async () => {
    const fake = fakeRunner();
    const jobs = service(fake.run);
    await jobs.submit(submission('first'));
    await jobs.submit(submission('second'));
    jobs.start();
    await until(
      () => fake.runs.length,
      (n) => n === 1,
    );
    expect(await jobs.cancel('second')).toMatchObject({ status: 'cancelled' });
    fake.runs[0]!.finish();
    await until(
      () => statusOf(jobs, 'first'),
      (s) => s === 'succeeded',
    );
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fake.runs.map((r) => r.spec.jobId)).toEqual(['first']);
  });

  it('records a failing runner as failed with its message, and goes on with the queue', async () => {
    const fake = fakeRunner();
    const jobs = service(fake.run);
    await jobs.submit(submission('bad'));
    await jobs.submit(submission('good'));
    jobs.start();
    await until(
      () => fake.runs.length,
      (n) => n === 1,
    );
    fake.runs[0]!.fail(new SlipwayError('INVALID_ARGUMENT', 'column "x" is missing from /in.csv'));
    await until(
      () => fake.runs.length,
      (n) => n === 2,
    );
    expect(await jobs.status('bad')).toMatchObject({
      status: 'failed',
      error: 'column "x" is missing from /in.csv',
      summary: null,
    });
    fake.runs[1]!.finish();
    await until(
      () => statusOf(jobs, 'good'),
      (s) => s === 'succeeded',
    );
  });

  it('on stop, aborts running jobs and queues them again; the next start resumes them under the same id', async () => {
    const fake = fakeRunner();
    const first = service(fake.run);
    await first.submit(submission('long'));
    first.start();
    const [run] = await until(
      () => fake.runs,
      (runs) => runs.length === 1,
    );
    run!.progress(40);
    await first.stop();
    expect(run!.signal.aborted).toBe(true);
    expect(await store.get('long')).toMatchObject({
      status: 'queued',
      owner: null,
      attempts: 1,
      progress: progressOf(40),
    });

    const second = service(fake.run);
    second.start();
    const [, resumed] = await until(
      () => fake.runs,
      (runs) => runs.length === 2,
    );
    expect(resumed!.spec).toEqual(run!.spec);
    resumed!.finish();
    expect(
      await until(
        () => second.status('long'),
        (job) => job.status === 'succeeded',
      ),
    ).toMatchObject({ attempts: 2 });
  });

  it('resumes a job left running by a crashed process on this host, at start', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    await store.insert({ jobId: 'orphan', model: 'm@1', input: '/in.csv', output: '/out.csv' });
    await store.claim(`${os.hostname()}/${deadPid}/0000`);
    const fake = fakeRunner();
    // A long stale time: only the dead pid can explain the requeue.
    const jobs = service(fake.run, { staleMs: 3_600_000 });
    jobs.start();
    const [run] = await until(
      () => fake.runs,
      (runs) => runs.length === 1,
    );
    expect(run!.spec).toEqual({ jobId: 'orphan', model: 'm@1', input: '/in.csv', output: '/out.csv' });
    expect(await jobs.status('orphan')).toMatchObject({ status: 'running', owner: jobs.owner, attempts: 2 });
    run!.finish();
    await until(
      () => statusOf(jobs, 'orphan'),
      (s) => s === 'succeeded',
    );
  });

  it('resumes a job whose owner (on another host) stopped writing heartbeats, and leaves a live one alone', async () => {
    await store.insert({ jobId: 'silent', model: 'm@1', input: '/in.csv', output: '/out.csv' });
    await store.insert({ jobId: 'busy', model: 'm@1', input: '/in.csv', output: '/out.csv' });
    await store.claim('elsewhere/1/a');
    await store.claim('elsewhere/2/b');
    await database.db
      .updateTable('batch_jobs')
      .set({ heartbeat_at: new Date(Date.now() - 120_000).toISOString() })
      .where('id', '=', 'silent')
      .execute();
    const fake = fakeRunner();
    const jobs = service(fake.run, { staleMs: 60_000, concurrency: 2 });
    jobs.start();
    await until(
      () => fake.runs.length,
      (n) => n === 1,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.runs.map((r) => r.spec.jobId)).toEqual(['silent']);
    expect(await store.get('busy')).toMatchObject({ status: 'running', owner: 'elsewhere/2/b' });
  });

  it('runs a job in the foreground (batch run) with a record: progress, the cancel flag, and a later takeover', async () => {
    const fake = fakeRunner();
    const cli = service(fake.run);
    const spec = { jobId: 'here', model: 'm@1', input: '/in.csv', output: '/out.csv' };
    const seen: number[] = [];
    const running = cli.runHere(spec, { onProgress: (p) => seen.push(p.rowsDone) });
    const [run] = await until(
      () => fake.runs,
      (runs) => runs.length === 1,
    );
    expect(await store.get('here')).toMatchObject({ status: 'running', owner: cli.owner, attempts: 1 });
    run!.progress(50);
    expect(seen).toEqual([50]);
    await until(
      () => store.get('here'),
      (job) => job?.progress?.rowsDone === 50,
    );

    // Another process cannot start it while this one runs it.
    const otherFake = fakeRunner();
    const other = service(otherFake.run);
    await expect(other.runHere(spec)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });

    await store.requestCancel('here');
    const summary = await running;
    expect(summary).toMatchObject({ jobId: 'here', status: 'cancelled' });
    expect(run!.signal.aborted).toBe(true);
    expect(await store.get('here')).toMatchObject({ status: 'cancelled', owner: null });

    // Rerun with the same id (a resume): the record is taken over, the cancel flag cleared.
    const again = other.runHere(spec);
    const [second] = await until(
      () => otherFake.runs,
      (runs) => runs.length === 1,
    );
    expect(await store.get('here')).toMatchObject({
      status: 'running',
      owner: other.owner,
      attempts: 2,
      cancelRequested: false,
      error: null,
    });
    second!.finish();
    await expect(again).resolves.toMatchObject({ jobId: 'here', status: 'succeeded' });
    expect(await store.get('here')).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('records a foreground run that throws as failed and rethrows the error', async () => {
    const jobs = service(() => Promise.reject(new SlipwayError('INVALID_ARGUMENT', 'column "f3" is missing')));
    await expect(jobs.runHere({ jobId: 'bad', model: 'm', input: '/in.csv', output: '/o.csv' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'column "f3" is missing',
    });
    expect(await store.get('bad')).toMatchObject({ status: 'failed', error: 'column "f3" is missing', attempts: 1 });
  });

  it('refuses a concurrency below 1', () => {
    expect(() => new JobService({ store, run: fakeRunner().run, concurrency: 0 })).toThrow(/at least 1/);
  });
});
