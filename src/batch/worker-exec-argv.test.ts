import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withConnection } from '../io/duckdb.js';
import { FIXTURES, expectedOutputs } from '../testing/fixtures.js';
import { ScoringPool } from './scoring-pool.js';
import { WORKER_ALLOWED_OPTIONS, workerExecArgv } from './worker-exec-argv.js';

/** Starts a real worker thread with `execArgv`; resolves with what it printed, rejects with Node's refusal. */
function startWorker(execArgv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker("require('node:worker_threads').parentPort.postMessage('up')", { eval: true, execArgv });
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    worker.once('message', (message: string) => void worker.terminate().then(() => resolve(message)));
    worker.once('error', reject);
  });
}

describe('workerExecArgv (issue 13, item 9)', () => {
  it('drops V8 heap flags and process-wide options, with their separate values, and keeps loading and diagnostics options', () => {
    expect(
      workerExecArgv([
        '--max-semi-space-size=64',
        '--max-old-space-size=4096',
        '--enable-source-maps',
        '--title',
        'slipway',
        '-r',
        '/x/otel.cjs',
        '--input-type=module',
        '--conditions=development',
        '--inspect=0',
        '--no-warnings',
      ]),
    ).toEqual(['--enable-source-maps', '-r', '/x/otel.cjs', '--conditions=development', '--no-warnings']);
    expect(workerExecArgv([])).toEqual([]);
  });

  it('the flag `slipway serve` runs with is refused by a Worker given it, so it must not be passed on', async () => {
    await expect(startWorker(['--max-semi-space-size=64'])).rejects.toThrow(
      /invalid execArgv flags: --max-semi-space-size=64/,
    );
    await expect(startWorker(workerExecArgv(['--max-semi-space-size=64']))).resolves.toBe('up');
  });

  it.each(WORKER_ALLOWED_OPTIONS)('a real Worker accepts the allowed option %s', async (option) => {
    const preload = path.join(await mkdtemp(path.join(os.tmpdir(), 'slipway-preload-')), 'preload.cjs');
    await writeFile(preload, '// nothing\n');
    const values: Record<string, string> = {
      '--require': preload,
      '-r': preload,
      '--import': 'node:os',
      '--conditions': 'development',
      '-C': 'development',
      '--loader': 'data:text/javascript,',
      '--experimental-loader': 'data:text/javascript,',
      '--unhandled-rejections': 'strict',
    };
    const value = values[option];
    const argv = value === undefined ? [option] : option.startsWith('--') ? [`${option}=${value}`] : [option, value];
    expect(workerExecArgv(argv)).toEqual(argv);
    await expect(startWorker(argv)).resolves.toBe('up');
    await rm(path.dirname(preload), { recursive: true, force: true });
  });
});

describe('ScoringPool under a parent started with V8 heap flags (issue 13, item 9)', () => {
  let dir: string;
  const original = [...process.execArgv];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-argv-'));
    // What `node --max-semi-space-size=64 bin/slipway.js serve` (or NODE_OPTIONS) leaves in process.execArgv.
    process.execArgv.push('--max-semi-space-size=64', '--max-old-space-size=8192', '--stack-size=2000');
  });
  afterAll(async () => {
    process.execArgv.splice(0, process.execArgv.length, ...original);
    await rm(dir, { recursive: true, force: true });
  });

  it('starts its workers and scores a chunk equal to the expected outputs', async () => {
    const expected = expectedOutputs('breast_cancer');
    const rows = 4;
    const x = Float32Array.from((expected.inputs[0]?.data as number[]).slice(0, rows * 30));
    const pool = await ScoringPool.start({ modelPath: path.join(FIXTURES, 'breast_cancer.onnx'), workers: 2 });
    try {
      const file = path.join(dir, 'part.parquet');
      await pool.scoreToPart({
        feeds: [{ name: 'input', type: 'float32', data: x, dims: [rows, 30] }],
        fetches: ['label', 'probabilities'],
        valid: Int32Array.from([0, 1, 2, 3]),
        file,
        columns: [
          { source: 'row', name: 'row', base: 0 },
          { source: 'output', name: 'label', type: 'BIGINT', output: 0, width: 1, element: 0 },
          { source: 'output', name: 'p1', type: 'DOUBLE', output: 1, width: 2, element: 1 },
        ],
      });
      const read = await withConnection((connection) =>
        connection.runAndReadAll('SELECT "row", label, p1 FROM read_parquet($1) ORDER BY "row"', [file]),
      );
      const labels = (expected.outputs.find((o) => o.name === 'label')?.data as number[]).slice(0, rows);
      const p1 = (expected.outputs.find((o) => o.name === 'probabilities')?.data as number[])
        .filter((_, i) => i % 2 === 1)
        .slice(0, rows);
      expect(read.getRows().map((r) => Number(r[1]))).toEqual(labels);
      read.getRows().forEach((r, i) => expect(r[2] as number).toBeCloseTo(p1[i] as number, 5));
    } finally {
      await pool.close();
    }
  });
});
