import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobService } from '../batch/job-service.js';
import type { BatchJobRecord } from '../batch/job-store.js';
import { SqlJobStore } from '../batch/job-store.js';
import type { BatchProgress, BatchSummary } from '../batch/types.js';
import { openDatabase } from '../store/database.js';
import { batchCommandGroup, progressText, registerBatchJobCommands } from './batch-job-commands.js';
import { cliRunner } from './cli.test-support.js';

const progress: BatchProgress = {
  rowsDone: 2000,
  rowsTotal: 10_000,
  rejected: 3,
  chunksDone: 2,
  chunksTotal: 10,
  rowsPerSecond: 1000.4,
  etaSeconds: 8.2,
};

describe('slipway batch status|cancel|list', () => {
  let home: string;
  let store: SqlJobStore;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeEach(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-batch-'));
    store = new SqlJobStore(await openDatabase({ sqlitePath: path.join(home, 'slipway.db') }));
    await store.insert({ jobId: 'old', model: 'fraud@1.0.0', input: 'a.csv', output: 'a.parquet' });
    await store.insert({ jobId: 'new', model: 'fraud@champion', input: 'b.csv', output: 'b.parquet' });
  });
  afterEach(async () => {
    await store.close();
    await rm(home, { recursive: true, force: true });
  });

  it('lists jobs newest first, as a table and as JSON, with a status filter', async () => {
    await store.claim('elsewhere/1/a');
    await store.heartbeat('old', 'elsewhere/1/a', progress);
    const text = await cli('batch', 'list');
    expect(text.err).toBe('');
    expect(text.code).toBe(0);
    const lines = text.out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+MODEL\s+PROGRESS\s+CREATED\s+OUTPUT$/);
    expect(lines[1]).toMatch(/^new\s+queued\s+fraud@champion\s+-\s+\S+\s+b\.parquet$/);
    expect(lines[2]).toMatch(/^old\s+running\s+fraud@1\.0\.0\s+2000\/10000 rows\s+\S+\s+a\.parquet$/);

    const running = await cli('batch', 'list', '--status', 'running', '--json');
    expect((JSON.parse(running.out) as BatchJobRecord[]).map((job) => [job.id, job.status, job.progress])).toEqual([
      ['old', 'running', progress],
    ]);
    const wrong = await cli('batch', 'list', '--status', 'done');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toBe('error: --status done: expected one of queued, running, succeeded, failed, cancelled\n');
  });

  it('shows one job with its progress, and its summary once finished', async () => {
    await store.claim('me');
    await store.heartbeat('old', 'me', progress);
    const running = await cli('batch', 'status', 'old');
    expect(running.code).toBe(0);
    expect(running.out).toContain('batch job old  running\n');
    expect(running.out).toContain(
      'progress  2,000/10,000 rows (20.0%), 2/10 chunks, 3 rejected, 1,000 rows/s, ETA 8s\n',
    );

    const summary: BatchSummary = {
      jobId: 'old',
      status: 'succeeded',
      model: 'fraud',
      version: '1.0.0',
      rows: 10_000,
      scored: 9997,
      rejected: 3,
      resumedChunks: 0,
      seconds: 10,
      rowsPerSecond: 1000,
      output: 'a.parquet',
      rejects: 'a.rejects.jsonl',
    };
    await store.finish(
      'old',
      'me',
      { status: 'succeeded', summary, error: null },
      { ...progress, rowsDone: 10_000, chunksDone: 10 },
    );
    const done = await cli('batch', 'status', 'old', '--json');
    expect(JSON.parse(done.out)).toMatchObject({ id: 'old', status: 'succeeded', summary });
    const text = await cli('batch', 'status', 'old');
    expect(text.out).toContain(
      'summary   fraud@1.0.0: 9,997 of 10,000 rows scored, 3 rejected in 10.0 s (1000 rows/s)\n',
    );
    expect(text.out).toContain('rejects   a.rejects.jsonl\n');

    const missing = await cli('batch', 'status', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('error: batch job "nope" does not exist\n');
  });

  it('cancels a queued job at once, and refuses a finished one', async () => {
    const cancelled = await cli('batch', 'cancel', 'new');
    expect(cancelled.out).toBe('cancelled batch job new (it had not started)\n');
    expect((await store.get('new'))?.status).toBe('cancelled');
    const again = await cli('batch', 'cancel', 'new');
    expect(again.code).toBe(1);
    expect(again.err).toBe('error: batch job "new" already cancelled\n');
  });

  it('cancels a job a server is running: the flag reaches it and the run stops', async () => {
    const seen = new Map<string, AbortSignal>();
    const server = new JobService({
      store,
      pollMs: 20,
      run: (spec, { signal }) =>
        new Promise<BatchSummary>((resolve) => {
          seen.set(spec.jobId, signal);
          signal.addEventListener('abort', () =>
            resolve({
              jobId: spec.jobId,
              status: 'cancelled',
              model: 'fraud',
              version: '1.0.0',
              rows: 0,
              scored: 0,
              rejected: 0,
              resumedChunks: 0,
              seconds: 0,
              rowsPerSecond: 0,
              output: spec.output,
              rejects: null,
              error: 'cancelled',
            }),
          );
        }),
    });
    server.start();
    try {
      for (let i = 0; i < 200 && seen.size === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(server.runningIds).toEqual(['old']);
      const answer = await cli('batch', 'cancel', 'old', '--json');
      expect(answer.err).toBe('');
      expect(JSON.parse(answer.out)).toMatchObject({ id: 'old', status: 'running', cancelRequested: true });
      for (let i = 0; i < 200 && (await store.get('old'))?.status === 'running'; i += 1)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seen.get('old')?.aborted).toBe(true);
      expect((await store.get('old'))?.status).toBe('cancelled');
    } finally {
      await server.stop();
    }
  });

  it('shares the batch command group with `batch run`, registered in either order', () => {
    const before = new Command('slipway');
    before.command('batch').command('run');
    registerBatchJobCommands(before, { stdout: () => undefined, stderr: () => undefined, env: {}, cwd: '/' });
    expect(before.commands.filter((c) => c.name() === 'batch')).toHaveLength(1);
    expect(before.commands[0]?.commands.map((c) => c.name())).toEqual(['run', 'status', 'cancel', 'list']);

    const after = new Command('slipway');
    registerBatchJobCommands(after, { stdout: () => undefined, stderr: () => undefined, env: {}, cwd: '/' });
    batchCommandGroup(after).command('run');
    expect(after.commands.filter((c) => c.name() === 'batch')).toHaveLength(1);
  });

  it('formats progress without totals', () => {
    expect(
      progressText({
        rowsDone: 500,
        rowsTotal: null,
        rejected: 0,
        chunksDone: 1,
        chunksTotal: null,
        rowsPerSecond: 250,
        etaSeconds: null,
      }),
    ).toBe('500 rows, 1 chunks, 0 rejected, 250 rows/s');
    expect(progressText(null)).toBe('-');
  });
});
