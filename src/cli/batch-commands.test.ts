import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchSummary } from '../batch/types.js';
import { readTable, writeTable } from '../io/index.js';
import { FIXTURES, expectedOutputs } from '../testing/fixtures.js';
import { progressReporter } from './batch-commands.js';
import { cliRunner } from './cli.test-support.js';

const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));
// bin/slipway.js runs dist/main.js.
const COMPILED = existsSync(fileURLToPath(new URL('../../dist/main.js', import.meta.url)));
const expected = expectedOutputs('breast_cancer');
const X = expected.inputs[0]?.data as number[];
const N = expected.inputs[0]?.shape[0] as number;
const FEATURES = Array.from({ length: 30 }, (_, j) => `f${j}`);

async function writeInput(file: string, rows: number): Promise<void> {
  const columns = [
    { name: 'id', type: 'integer' as const },
    ...FEATURES.map((name) => ({ name, type: 'number' as const })),
  ];
  const batches = function* () {
    for (let from = 0; from < rows; from += 10_000) {
      yield Array.from({ length: Math.min(10_000, rows - from) }, (_, k) => [
        from + k,
        ...X.slice(((from + k) % N) * 30, ((from + k) % N) * 30 + 30),
      ]);
    }
  };
  await writeTable(file, columns, batches());
}

async function ids(file: string): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of readTable(file, { columns: ['id'] })) {
    const column = chunk.columns.get('id');
    if (column?.type === 'number') out.push(...column.values);
  }
  return out;
}

describe('slipway batch run', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-batch-'));
    expect((await cli('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'bc')).code).toBe(0);
    await writeInput(path.join(home, 'in.csv'), N);
  }, 30_000);

  afterAll(async () => {
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  it('scores a file and prints a summary; a rerun of the finished job reports it done', async () => {
    const run = await cli(
      'batch',
      'run',
      '--model',
      'bc@1.0.0',
      '--input',
      'in.csv',
      '--output',
      'out.jsonl',
      '--id-column',
      'id',
      '--job-id',
      'cli-1',
      '--json',
    );
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.out) as BatchSummary;
    expect(summary).toMatchObject({
      jobId: 'cli-1',
      status: 'succeeded',
      model: 'bc',
      version: '1.0.0',
      rows: N,
      scored: N,
      rejected: 0,
    });
    const lines = (await readFile(path.join(home, 'out.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number; label: number });
    expect(lines.map((l) => l.label)).toEqual(expected.outputs[0]?.data);
    const again = await cli(
      'batch',
      'run',
      '--model',
      'bc@1.0.0',
      '--input',
      'in.csv',
      '--output',
      'out.jsonl',
      '--id-column',
      'id',
      '--job-id',
      'cli-1',
    );
    expect(again.code).toBe(0);
    expect(again.out).toContain(`job cli-1: succeeded — bc@1.0.0, ${N} rows`);
    expect(again.out).toContain('resumed 1 chunks');
  }, 30_000);

  it('fails with one clear line naming a missing column, and names an unknown --deployment', async () => {
    const missing = await cli(
      'batch',
      'run',
      '--model',
      'bc@1.0.0',
      '--input',
      'in.csv',
      '--output',
      'out.parquet',
      '--id-column',
      'customer',
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: missing column "customer" \(--id-column\); the file's columns are id, f0, /);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    const mapped = await cli(
      'batch',
      'run',
      '--model',
      'bc',
      '--input',
      'in.csv',
      '--output',
      'out.parquet',
      '--map',
      `input=${[...FEATURES.slice(0, 29), 'f30'].join(';')}`,
    );
    expect(mapped.code).toBe(1);
    expect(mapped.err).toMatch(/^error: missing column "f30" \(mapped to input "input"\)/);
    const deployment = await cli(
      'batch',
      'run',
      '--deployment',
      'prod',
      '--input',
      'in.csv',
      '--output',
      'out.parquet',
    );
    expect(deployment.code).toBe(1);
    expect(deployment.err).toBe('error: deployment "prod" does not exist\n');
  });

  it('cancels on Ctrl-C after the current chunk and says how to resume', async () => {
    await writeInput(path.join(home, 'sigint.parquet'), 50_000);
    const args = [
      'batch',
      'run',
      '--model',
      'bc@1.0.0',
      '--input',
      'sigint.parquet',
      '--output',
      'sigint-out.csv',
      '--id-column',
      'id',
      '--job-id',
      'ctrl-c',
      '--chunk-rows',
      '1000',
    ];
    const running = cli(...args);
    const manifest = path.join(home, 'batch', 'ctrl-c', 'manifest.json');
    for (let tries = 0; tries < 2000; tries++) {
      const text = await readFile(manifest, 'utf8').catch(() => '');
      if (text !== '' && (JSON.parse(text) as { chunks: unknown[] }).chunks.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    process.emit('SIGINT');
    const cancelled = await running;
    expect(cancelled.code).toBe(1);
    expect(cancelled.err).toContain('cancelling after the current chunk; resume with: slipway batch resume ctrl-c');
    expect(cancelled.err).toMatch(/error: cancelled after \d+ rows; resume with: slipway batch resume ctrl-c/);
    expect(cancelled.out).toMatch(/job ctrl-c: cancelled/);
    const resumed = await cli(...args, '--json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({ status: 'succeeded', rows: 50_000 });
    const out = (await readFile(path.join(home, 'sigint-out.csv'), 'utf8')).trim().split('\n');
    expect(out.slice(1).map((line) => Number(line.split(',')[0]))).toEqual(Array.from({ length: 50_000 }, (_, i) => i));
  }, 60_000);

  it.skipIf(!COMPILED)(
    'resumes after the process is killed mid-job: every row once, in order',
    async () => {
      const rows = 300_000;
      await writeInput(path.join(home, 'big.parquet'), rows);
      const args = [
        'batch',
        'run',
        '--model',
        'bc@1.0.0',
        '--input',
        'big.parquet',
        '--output',
        'big-out.parquet',
        '--id-column',
        'id',
        '--job-id',
        'killed',
        '--chunk-rows',
        '20000',
      ];
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: home,
        env: { ...process.env, SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' },
        stdio: 'ignore',
      });
      const manifest = path.join(home, 'batch', 'killed', 'manifest.json');
      // Kill it once it has completed a few chunks but not all of them.
      const killedAfter = await new Promise<number>((resolve, reject) => {
        const timer = setInterval(() => {
          void readFile(manifest, 'utf8')
            .then((text) => {
              const done = (JSON.parse(text) as { chunks: unknown[] }).chunks.length;
              if (done >= 3) {
                clearInterval(timer);
                child.kill('SIGKILL');
                resolve(done);
              }
            })
            .catch(() => undefined);
        }, 5);
        child.on('exit', () => {
          clearInterval(timer);
          reject(new Error('the child finished before it could be killed'));
        });
      });
      await new Promise((resolve) => child.once('exit', resolve));
      expect(killedAfter).toBeLessThan(15);
      const resumed = await cli(...args, '--json');
      expect(resumed.code).toBe(0);
      const summary = JSON.parse(resumed.out) as BatchSummary;
      expect(summary.rows).toBe(rows);
      expect(summary.resumedChunks).toBeGreaterThanOrEqual(killedAfter);
      expect(await ids(path.join(home, 'big-out.parquet'))).toEqual(Array.from({ length: rows }, (_, i) => i));
    },
    60_000,
  );

  it('draws a bar on a terminal and plain lines at most every 5 s otherwise', () => {
    const progress = {
      rowsDone: 250_000,
      rowsTotal: 1_000_000,
      rejected: 3,
      chunksDone: 3,
      chunksTotal: 10,
      rowsPerSecond: 50_000,
      etaSeconds: 15,
    };
    let tty = '';
    progressReporter({ stdout: () => undefined, stderr: (t) => void (tty += t), env: {}, cwd: '.', isTTY: true })(
      progress,
    );
    expect(tty).toBe(
      '\r[########----------------------]  25% 250,000/1,000,000 rows, 3 rejected, 50,000 rows/s ETA 15s  ',
    );
    let plain = '';
    let now = 10_000;
    const report = progressReporter(
      { stdout: () => undefined, stderr: (t) => void (plain += t), env: {}, cwd: '.' },
      () => now,
    );
    report(progress);
    now += 1000;
    report({ ...progress, rowsDone: 300_000 });
    now += 5000;
    report({ ...progress, rowsDone: 400_000, etaSeconds: 90 });
    expect(plain).toBe(
      '250000 rows of 1000000, 3 rejected, 50,000 rows/s ETA 15s\n400000 rows of 1000000, 3 rejected, 50,000 rows/s ETA 1m30s\n',
    );
  });
});
