import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlJobStore, type BatchJobRecord } from '../src/batch/job-store.js';
import { runCli } from '../src/cli/main.js';
import { openDatabase } from '../src/store/database.js';
import { FIXTURES, expectedOutputs } from '../src/testing/fixtures.js';
import { ROOT, distIsBuilt, runSlipway, startServer, startSlipway, waitFor } from './slipway-process.js';

/**
 * Batch jobs with real processes (issue 13, item 9): a job submitted to a default `slipway serve`
 * runs (its scoring workers used to refuse the server's V8 flag), and a `slipway batch run` killed
 * with SIGKILL mid-job is resumed from its finished parts, by a server or by `slipway batch resume`,
 * to an output equal to a clean run's, even after `latest` moved to another version meanwhile.
 */

const ROWS = 60_000;
const CHUNK_ROWS = 1000;
const expected = expectedOutputs('breast_cancer');
const X = expected.inputs[0]!.data as number[];
const N = expected.inputs[0]!.shape[0]!;
const LABELS = expected.outputs.find((o) => o.name === 'label')!.data as number[];
const PROBABILITIES = expected.outputs.find((o) => o.name === 'probabilities')!.data as number[];

let home: string;
let env: Record<string, string>;
let input: string;
let clean: string;

/** An id column and the 30 features, row r being the fixture's row r % 20. */
async function writeCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(`id,${Array.from({ length: 30 }, (_, j) => `f${j}`).join(',')}\n`);
  for (let r = 0; r < rows; r++) {
    const ok = out.write(`r${r},${X.slice((r % N) * 30, (r % N) * 30 + 30).join(',')}\n`);
    if (!ok) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

/** The output CSV's rows as [id, label, p0, p1]. */
async function readOutput(file: string): Promise<string[][]> {
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  expect(lines[0]).toBe('id,label,probabilities_0,probabilities_1');
  return lines.slice(1).map((line) => line.split(','));
}

/** Every row equals scikit-learn's outputs for its fixture row (FP32 tolerance). */
function expectModelOutputs(rows: readonly string[][], count: number): void {
  expect(rows).toHaveLength(count);
  rows.forEach(([id, label, p0, p1], r) => {
    expect(id).toBe(`r${r}`);
    expect(Number(label)).toBe(LABELS[r % N]);
    expect(Math.abs(Number(p0) - PROBABILITIES[(r % N) * 2]!)).toBeLessThan(1e-5);
    expect(Math.abs(Number(p1) - PROBABILITIES[(r % N) * 2 + 1]!)).toBeLessThan(1e-5);
  });
}

/** The job's record, read from the home's SQLite database as any other process would. */
async function jobRecord(id: string): Promise<BatchJobRecord> {
  const store = new SqlJobStore(await openDatabase({ sqlitePath: path.join(home, 'slipway.db') }));
  try {
    const record = await store.get(id);
    if (record === undefined) throw new Error(`no batch job ${id}`);
    return record;
  } finally {
    await store.close();
  }
}

async function chunksInManifest(jobId: string): Promise<number> {
  const text = await readFile(path.join(home, 'batch', jobId, 'manifest.json'), 'utf8').catch(() => '');
  try {
    return text === '' ? 0 : (JSON.parse(text) as { chunks: unknown[] }).chunks.length;
  } catch {
    return 0;
  }
}

/** Starts `slipway batch run` on the big input and SIGKILLs it once `atChunks` chunks are done; returns the chunks done then. */
async function killMidJob(jobId: string, model: string, output: string, atChunks = 5): Promise<number> {
  const run = startSlipway(
    [
      'batch',
      'run',
      '--model',
      model,
      '--input',
      input,
      '--output',
      output,
      '--id-column',
      'id',
      '--chunk-rows',
      String(CHUNK_ROWS),
      '--workers',
      '1',
      '--job-id',
      jobId,
    ],
    env,
  );
  const done = await waitFor(
    `${atChunks} chunks of ${jobId}`,
    () => (run.child.exitCode !== null ? -1 : chunksInManifest(jobId)),
    (n) => n === -1 || n >= atChunks,
    90_000,
  );
  expect(done, `the CLI exited before it was killed: ${run.output()}`).not.toBe(-1);
  run.child.kill('SIGKILL');
  expect(await run.exited).toEqual({ code: null, signal: 'SIGKILL' });
  const left = await jobRecord(jobId);
  expect(left.status).toBe('running'); // as the killed process left it
  await expect(stat(output)).rejects.toThrow(/ENOENT/);
  return chunksInManifest(jobId);
}

describe('batch jobs as processes', () => {
  beforeAll(async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-batch-proc-'));
    // The jobs' files are in the test's home: a data root for API submissions (core/data-roots.ts).
    env = { SLIPWAY_HOME: home, SLIPWAY_DATA_ROOTS: home };
    const io = { stdout: () => undefined, stderr: () => undefined, env, cwd: ROOT };
    expect(await runCli(['push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer'], io)).toBe(0);
    input = path.join(home, 'big.csv');
    await writeCsv(input, ROWS);
    clean = path.join(home, 'clean.csv');
    const run = await runSlipway(
      [
        'batch',
        'run',
        '--model',
        'cancer',
        '--input',
        input,
        '--output',
        clean,
        '--id-column',
        'id',
        '--chunk-rows',
        String(CHUNK_ROWS),
        '--workers',
        '1',
        '--job-id',
        'clean',
      ],
      env,
    );
    expect(run.code, run.output).toBe(0);
    expectModelOutputs(await readOutput(clean), ROWS);
  }, 180_000);
  afterAll(async () => {
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  it("POST /api/v1/jobs on a default `slipway serve` runs the job to the model's predictions", async () => {
    const small = path.join(home, 'small.csv');
    await writeCsv(small, 2 * N);
    const server = await startServer(env);
    try {
      const response = await fetch(`${server.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          jobId: 'api',
          model: 'cancer',
          input: small,
          output: path.join(home, 'api-out.csv'),
          idColumn: 'id',
        }),
      });
      expect(response.status, await response.clone().text()).toBe(201);
      const job = await waitFor(
        'the job to finish',
        async () => (await (await fetch(`${server.url}/api/v1/jobs/api`)).json()) as BatchJobRecord,
        (j) => j.finishedAt !== null,
      );
      expect(job.error).toBeNull();
      expect(job.status).toBe('succeeded');
      expect(job.summary).toMatchObject({ rows: 2 * N, scored: 2 * N, rejected: 0, version: '1.0.0' });
      expectModelOutputs(await readOutput(path.join(home, 'api-out.csv')), 2 * N);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('a `slipway batch run` killed with SIGKILL mid-job is resumed by a server from its parts, with the version it started with', async () => {
    const output = path.join(home, 'crash-server.csv');
    const before = await killMidJob('crash-server', 'cancer', output);
    // `latest` moves between the crash and the resume: the job still finishes with 1.0.0.
    const pushed = await runSlipway(
      ['push', path.join(FIXTURES, 'breast_cancer_retrained.onnx'), '--name', 'cancer'],
      env,
    );
    expect(pushed.output).toMatch(/pushed cancer@1\.1\.0/);
    const server = await startServer(env);
    try {
      const job = await waitFor(
        'the server to resume and finish the job',
        () => jobRecord('crash-server'),
        (j) => j.finishedAt !== null,
        120_000,
      );
      expect(job.error).toBeNull();
      expect(job.status).toBe('succeeded');
      expect(job.attempts).toBe(2);
      expect(job.summary).toMatchObject({ rows: ROWS, scored: ROWS, rejected: 0, version: '1.0.0' });
      expect(job.summary!.resumedChunks).toBeGreaterThanOrEqual(before);
      expect(await readFile(output, 'utf8')).toBe(await readFile(clean, 'utf8'));
    } finally {
      await server.stop();
    }
  }, 240_000);

  it('`slipway batch resume <id>` finishes a job whose `batch run` was killed with SIGKILL', async () => {
    const output = path.join(home, 'crash-cli.csv');
    const before = await killMidJob('crash-cli', 'cancer@1.0.0', output);
    const resumed = await runSlipway(['batch', 'resume', 'crash-cli', '--json'], env);
    expect(resumed.code, resumed.output).toBe(0);
    const summary = JSON.parse(resumed.stdout) as {
      status: string;
      rows: number;
      resumedChunks: number;
      version: string;
    };
    expect(summary).toMatchObject({ status: 'succeeded', rows: ROWS, version: '1.0.0' });
    expect(summary.resumedChunks).toBeGreaterThanOrEqual(before);
    expect(await readFile(output, 'utf8')).toBe(await readFile(clean, 'utf8'));
    expect(await jobRecord('crash-cli')).toMatchObject({ status: 'succeeded', attempts: 2 });
    // A finished job is not run again.
    const again = await runSlipway(['batch', 'resume', 'crash-cli'], env);
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/batch job "crash-cli" already succeeded/);
  }, 240_000);
});
