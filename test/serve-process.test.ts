import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { SqlPredictionStore } from '../src/monitor/sql-prediction-store.js';
import { openDatabase } from '../src/store/database.js';
import { FIXTURES, expectedOutputs } from '../src/testing/fixtures.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'bin', 'slipway.js');

/**
 * The real `slipway serve` process (built by `npm run build`, which `npm install` and CI run):
 * SIGTERM under load drains and exits 0; every answer it gave is a real answer, and every answered
 * request is in the prediction log (written by the log's writer thread, flushed on the way out).
 */
describe('slipway serve as a process', () => {
  let home: string;
  beforeAll(async () => {
    expect(existsSync(path.join(root, 'dist', 'cli', 'main.js')), 'dist/ is missing: run `npm run build`').toBe(true);
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-proc-'));
    const io = { stdout: () => undefined, stderr: () => undefined, env: { SLIPWAY_HOME: home }, cwd: root };
    expect(await runCli(['push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer'], io)).toBe(0);
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it.each([1, 2])('drains on SIGTERM under load and exits 0 (workers: %i)', async (workers) => {
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--port', '0', '--grpc-port', '0', '--workers', String(workers)],
      {
        env: { ...process.env, SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent', SLIPWAY_PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /serving on (http:\/\/[0-9.:]+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 15_000);
    });
    if (workers > 1) await new Promise((resolve) => setTimeout(resolve, 1500)); // every worker listening
    for (let i = 0; i < 100 && (await fetch(`${url}/v2/health/ready`)).status !== 200; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));

    const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30);
    const payload = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });
    const statuses: number[] = [];
    const answered: string[] = [];
    let refused = 0;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        try {
          const response = await fetch(`${url}/v2/models/cancer/infer`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: payload,
          });
          const body = (await response.json()) as { id?: string };
          statuses.push(response.status);
          if (response.status === 200 && body.id !== undefined) answered.push(body.id);
        } catch {
          refused++; // no connection: the server had stopped accepting
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, loop));
    await new Promise((resolve) => setTimeout(resolve, 400));
    child.kill('SIGTERM');
    const code = await exited;
    stop = true;
    await load;
    expect(code, output).toBe(0);
    expect(output).toMatch(/SIGTERM: draining/);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(refused).toBeGreaterThan(0);

    // Requests answered == rows stored: nothing answered before SIGTERM was lost from the log.
    expect(answered).toHaveLength(statuses.filter((s) => s === 200).length);
    const store = new SqlPredictionStore(await openDatabase({ sqlitePath: path.join(home, 'slipway.db') }));
    try {
      const missing: string[] = [];
      for (const id of answered) if ((await store.query({ requestId: id, limit: 1 })).length !== 1) missing.push(id);
      expect(missing, `${missing.length} of ${answered.length} answered requests are not in the log`).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
