import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { FIXTURES } from '../src/testing/fixtures.js';
import { ROOT, distIsBuilt, startServer, waitFor } from './slipway-process.js';

/**
 * Optimize jobs over the API with real processes: `slipway serve` starts each job in its own
 * `slipway optimize-job` process; a passing candidate is registered with its lineage, a failing
 * gate stores nothing, and a runner killed with SIGKILL leaves its job failed with nothing stored.
 */

let home: string;
let server: Awaited<ReturnType<typeof startServer>>;

interface Job {
  id: string;
  status: string;
  resultVersion: string | null;
  error: string | null;
  errorCode: string | null;
  progress: { message: string } | null;
  result: { report: { rows: number; agreement: number }; gates: Array<{ text: string; passed: boolean }> } | null;
}

async function post(pathname: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${server.url}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function job(id: string): Promise<Job> {
  return (await (await fetch(`${server.url}/api/v1/optimize-jobs/${id}`)).json()) as Job;
}

const finished = (j: Job) => !['queued', 'running'].includes(j.status);

async function blobCount(): Promise<number> {
  const root = path.join(home, 'blobs', 'sha256');
  const folders = await readdir(root);
  return (await Promise.all(folders.map((f) => readdir(path.join(root, f))))).flat().length;
}

async function versionCount(model: string): Promise<number> {
  const r = await fetch(`${server.url}/api/v1/models/${model}/versions`);
  const body = (await r.json()) as { versions?: unknown[] } | unknown[];
  return Array.isArray(body) ? body.length : (body.versions?.length ?? 0);
}

beforeAll(async () => {
  expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
  home = await mkdtemp(path.join(os.tmpdir(), 'slipway-optimize-proc-'));
  const io = { stdout: () => undefined, stderr: () => undefined, env: { SLIPWAY_HOME: home }, cwd: ROOT };
  expect(await runCli(['push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer'], io)).toBe(0);
  expect(await runCli(['push', path.join(FIXTURES, 'digits_mlp_wide.onnx'), '--name', 'digits'], io)).toBe(0);
  for (const file of ['breast_cancer_test.csv', 'digits_test.csv'])
    await copyFile(path.join(ROOT, 'fixtures', 'optimize', file), path.join(home, file));
  server = await startServer({ SLIPWAY_HOME: home, SLIPWAY_DATA_ROOTS: home });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('POST /api/v1/models/{m}/versions/{v}/optimize', () => {
  it('runs the job in its own process and registers the candidate with its lineage and report', async () => {
    const submitted = await post('/api/v1/models/digits/versions/1.0.0/optimize', {
      passes: [{ pass: 'quantize-dynamic' }],
      eval: 'digits_test.csv',
      labelColumn: 'label',
      gates: ['accuracy>=-0.005', 'agreement>=0.95'],
      minSeconds: 0.2,
    });
    expect(submitted.status, JSON.stringify(submitted.json)).toBe(202);
    expect(submitted.json).toMatchObject({ status: 'queued', model: 'digits', parentVersion: '1.0.0' });
    const done = await waitFor('the job to finish', () => job(submitted.json.id as string), finished, 120_000);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    expect(done.result?.report.rows).toBe(450);
    expect(done.result?.gates.map((g) => [g.text, g.passed])).toEqual([
      ['accuracy>=-0.005', true],
      ['agreement>=0.95', true],
    ]);
    const created = (await (
      await fetch(`${server.url}/api/v1/models/digits/versions/${done.resultVersion}`)
    ).json()) as {
      lineage: Record<string, unknown>;
    };
    expect(created.lineage).toMatchObject({ parentVersion: '1.0.0', passes: ['quantize-dynamic'] });
    const listed = (await (await fetch(`${server.url}/api/v1/optimize-jobs?model=digits`)).json()) as { jobs: Job[] };
    expect(listed.jobs.map((j) => j.id)).toContain(done.id);
  }, 150_000);

  it('a failing gate ends the job refused with the report, storing nothing', async () => {
    const blobs = await blobCount();
    const versions = await versionCount('cancer');
    const submitted = await post('/api/v1/models/cancer/versions/1.0.0/optimize', {
      passes: [{ pass: 'fp16' }],
      eval: 'breast_cancer_test.csv',
      gates: ['speedup>=1000'],
      minSeconds: 0.1,
    });
    expect(submitted.status).toBe(202);
    const done = await waitFor('the job to finish', () => job(submitted.json.id as string), finished, 120_000);
    expect(done).toMatchObject({ status: 'refused', errorCode: 'FAILED_PRECONDITION', resultVersion: null });
    expect(done.error).toMatch(/speedup>=1000/);
    expect(done.result?.report.rows).toBe(143);
    expect(await blobCount()).toBe(blobs);
    expect(await versionCount('cancer')).toBe(versions);
  }, 150_000);

  it('refuses bad requests before storing a job: 400 naming the field or setting, 404 unknown version', async () => {
    const outside = await post('/api/v1/models/cancer/versions/1.0.0/optimize', {
      passes: [{ pass: 'fp16' }],
      eval: '/etc/passwd',
    });
    expect(outside.status).toBe(400);
    expect(outside.json.error).toMatch(/field "eval".*SLIPWAY_DATA_ROOTS/);
    const setting = await post('/api/v1/models/cancer/versions/1.0.0/optimize', {
      passes: [{ pass: 'prune-magnitude', sparsity: 1.5 }],
      eval: 'breast_cancer_test.csv',
    });
    expect(setting.status).toBe(400);
    expect(setting.json.error).toMatch(/sparsity/);
    const field = await post('/api/v1/models/cancer/versions/1.0.0/optimize', {
      passes: [{ pass: 'fp16' }],
      eval: 'breast_cancer_test.csv',
      turbo: true,
    });
    expect(field.status).toBe(400);
    expect(field.json.error).toMatch(/unknown field "turbo"/);
    const missing = await post('/api/v1/models/cancer/versions/9.9.9/optimize', {
      passes: [{ pass: 'fp16' }],
      eval: 'breast_cancer_test.csv',
    });
    expect(missing.status).toBe(404);
  });

  it('a runner killed with SIGKILL leaves its job failed and nothing registered', async () => {
    const blobs = await blobCount();
    const versions = await versionCount('digits');
    const submitted = await post('/api/v1/models/digits/versions/1.0.0/optimize', {
      passes: [{ pass: 'quantize-dynamic' }],
      eval: 'digits_test.csv',
      minSeconds: 30,
    });
    const id = submitted.json.id as string;
    await waitFor(
      'the job to measure latency',
      () => job(id),
      (j) => /latency|comparing/.test(j.progress?.message ?? ''),
      60_000,
    );
    const { execFileSync } = await import('node:child_process');
    const pids = execFileSync('pgrep', ['-f', `optimize-job ${id}`])
      .toString()
      .trim()
      .split('\n');
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    const done = await waitFor('the job to be recorded as interrupted', () => job(id), finished, 30_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/interrupted: its process was stopped by SIGKILL/);
    expect(await blobCount()).toBe(blobs);
    expect(await versionCount('digits')).toBe(versions);
  }, 120_000);
});
