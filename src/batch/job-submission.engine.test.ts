import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/main.js';
import { startServer } from '../server/serve.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

/**
 * Jobs with settings or references that cannot run are refused when submitted (issue 13, item
 * 12), on a real server over a real platform: 400 naming the field (and its range), 404 for an
 * unknown model, version or deployment. Nothing refused is stored. `slipway batch run` has the
 * same limits.
 */
describe('job submission checks', () => {
  let platform: TestPlatform;
  let server: Awaited<ReturnType<typeof startServer>>;
  let dir: string;
  let input: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-job-checks-'));
    // The job's files are in the test's folder: a data root for API submissions (core/data-roots.ts).
    platform = await openTestPlatform({ dataRoots: [dir] });
    await platform.registry.push({ name: 'bc', bytes: fixtureBytes('breast_cancer.onnx') });
    input = path.join(dir, 'in.csv');
    await writeFile(
      input,
      `id,${Array.from({ length: 30 }, (_, j) => `f${j}`).join(',')}\nr0,${Array.from({ length: 30 }, () => '1.5').join(',')}\n`,
    );
    server = await startServer(platform, { host: '127.0.0.1', port: 0 });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await platform?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const submit = async (body: Record<string, unknown>) => {
    const response = await fetch(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      body: (await response.json()) as { error?: string; code?: string; details?: unknown; id?: string },
    };
  };
  const job = (overrides: Record<string, unknown> = {}) => ({
    model: 'bc@1.0.0',
    input,
    output: path.join(dir, 'out.csv'),
    idColumn: 'id',
    ...overrides,
  });

  // Paths are made under the test's folder when the test runs (it does not exist when tests are collected).
  const under = (...parts: string[]) => path.join(dir, ...parts);
  type Case = [string, () => Record<string, unknown>, () => string | RegExp, Record<string, unknown>];
  it.each<Case>([
    [
      'chunkRows 1e12',
      () => ({ chunkRows: 1e12 }),
      () => 'job field "chunkRows" must be an integer from 1 to 10,000,000, got 1000000000000',
      { field: 'chunkRows', min: 1, max: 10_000_000 },
    ],
    [
      '10,000 workers',
      () => ({ workers: 10_000 }),
      () => 'job field "workers" must be an integer from 1 to 256, got 10000',
      { field: 'workers', min: 1, max: 256 },
    ],
    [
      'a missing input file',
      () => ({ input: under('nope.csv') }),
      // Server paths reach the client as <path> (server/client-errors.ts).
      () => /^job field "input": .*<path>.*(does not exist|no table files)/,
      { field: 'input' },
    ],
    [
      'an output in a missing folder',
      () => ({ output: under('no', 'out.csv') }),
      () => 'job field "output": the folder of "<path>" does not exist',
      { field: 'output' },
    ],
    [
      'an output of an unknown format',
      () => ({ output: under('out.xlsx') }),
      () => /^job field "output": /,
      { field: 'output' },
    ],
    [
      'a missing id column',
      () => ({ idColumn: 'key' }),
      () => /^missing column "key" \(--id-column\)/,
      { column: 'key' },
    ],
  ])('answers 400 for %s', async (_, overrides, message, details) => {
    const { status, body } = await submit(job(overrides()));
    expect(status, JSON.stringify(body)).toBe(400);
    expect(body.code).toBe('INVALID_ARGUMENT');
    const expected = message();
    if (expected instanceof RegExp) expect(body.error).toMatch(expected);
    else if (expected !== undefined) expect(body.error).toBe(expected);
    expect(body.details).toEqual(details);
  });

  it.each([
    ['an unknown model', { model: 'nope' }, /model "nope" does not exist/],
    ['an unknown version', { model: 'bc@9.9.9' }, /bc@9\.9\.9|9\.9\.9/],
    ['an unknown deployment', { model: undefined, deployment: 'nope' }, /deployment "nope"/],
  ])('answers 404 for %s', async (_, overrides, message) => {
    const { status, body } = await submit(job(overrides));
    expect(status, JSON.stringify(body)).toBe(404);
    expect(body).toMatchObject({ code: 'NOT_FOUND', error: expect.stringMatching(message) });
  });

  it('stores nothing it refused, and accepts a good job', async () => {
    expect(await platform.jobs.list()).toEqual([]);
    const { status, body } = await submit(job({ jobId: 'good' }));
    expect(status, JSON.stringify(body)).toBe(201);
    expect((await platform.jobs.list()).map((j) => j.id)).toEqual(['good']);
  });

  it('`slipway batch run` refuses the same settings and an unknown model before recording a job', async () => {
    const lines: string[] = [];
    const io = {
      stdout: (text: string) => lines.push(text),
      stderr: (text: string) => lines.push(text),
      env: { SLIPWAY_HOME: platform.home, SLIPWAY_LOG_LEVEL: 'silent' },
      cwd: dir,
    };
    const run = (...args: string[]) =>
      runCli(
        [
          'batch',
          'run',
          '--input',
          input,
          '--output',
          path.join(dir, 'cli.csv'),
          '--id-column',
          'id',
          '--job-id',
          'cli',
          ...args,
        ],
        io,
      );
    expect(await run('--model', 'bc@1.0.0', '--chunk-rows', '1e12')).toBe(1);
    expect(lines.join('')).toContain('--chunk-rows must be an integer from 1 to 10,000,000, got 1000000000000');
    expect(await run('--model', 'bc@1.0.0', '--workers', '10000')).toBe(1);
    expect(lines.join('')).toContain('--workers must be an integer from 1 to 256, got 10000');
    expect(await run('--model', 'nope')).not.toBe(0);
    expect(lines.join('')).toMatch(/model "nope" does not exist/);
    expect((await platform.jobs.list()).map((j) => j.id)).not.toContain('cli');
  });
});
