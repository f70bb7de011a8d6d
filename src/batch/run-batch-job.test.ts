import { tensorRequest } from '../serving/index.js';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTable, writeTable } from '../io/index.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { batchDepsOf, runBatchJob, type BatchDeps } from './run-batch-job.js';
import type { BatchJobSpec } from './types.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

let platform: TestPlatform;
let deps: BatchDeps;
let dir: string;
const expected = expectedOutputs('breast_cancer');
const X = expected.inputs[0]?.data as number[];
const N = expected.inputs[0]?.shape[0] as number;
const FEATURES = Array.from({ length: 30 }, (_, j) => `f${j}`);
/** Per-row online predictions (label, p0, p1), filled in beforeAll. */
const online: [number, number, number][] = [];

function rowsOf(n: number): unknown[][] {
  return Array.from({ length: n }, (_, i) => [`id-${i}`, i % 3, ...X.slice((i % N) * 30, (i % N) * 30 + 30)]);
}

async function writeInput(file: string, n = N): Promise<string> {
  const columns = [
    { name: 'id', type: 'string' as const },
    { name: 'group', type: 'integer' as const },
    ...FEATURES.map((name) => ({ name, type: 'number' as const })),
  ];
  await writeTable(file, columns, [rowsOf(n)]);
  return file;
}

async function readAll(file: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const chunk of readTable(file)) {
    for (let r = 0; r < chunk.rows; r++) {
      const row: Record<string, unknown> = {};
      for (const [name, column] of chunk.columns)
        row[name] = column.type === 'string' || column.type === 'other' ? column.values[r] : column.values[r];
      rows.push(row);
    }
  }
  return rows;
}

function spec(overrides: Partial<BatchJobSpec> & Pick<BatchJobSpec, 'jobId' | 'input' | 'output'>): BatchJobSpec {
  return { model: 'bc@1.0.0', idColumn: 'id', keep: ['group'], workers: 2, ...overrides };
}

beforeAll(async () => {
  platform = await openTestPlatform();
  await platform.registry.push({ name: 'bc', bytes: fixtureBytes('breast_cancer.onnx') });
  deps = batchDepsOf(platform);
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-batch-'));
  for (let i = 0; i < N; i++) {
    const result = await platform.serving.pipeline.infer(
      tensorRequest('bc', [
        { name: 'input', datatype: 'FP32', shape: [1, 30], data: Float32Array.from(X.slice(i * 30, i * 30 + 30)) },
      ]),
    );
    const label = result.outputs.find((o) => o.name === 'label')?.data as BigInt64Array;
    const probabilities = result.outputs.find((o) => o.name === 'probabilities')?.data as Float32Array;
    online.push([Number(label[0]), probabilities[0] as number, probabilities[1] as number]);
  }
}, 60_000);

afterAll(async () => {
  await platform?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('runBatchJob', () => {
  it('matches per-row online predictions row for row, for every input and output format', async () => {
    const parquet = await writeInput(path.join(dir, 'in.parquet'));
    const inputs = [parquet, await writeInput(path.join(dir, 'in.csv')), await writeInput(path.join(dir, 'in.jsonl'))];
    for (const [i, input] of inputs.entries()) {
      for (const format of ['parquet', 'csv', 'jsonl']) {
        const output = path.join(dir, `out-${i}.${format}`);
        const summary = await runBatchJob(spec({ jobId: `formats-${i}-${format}`, input, output, chunkRows: 7 }), deps);
        expect(summary).toMatchObject({
          status: 'succeeded',
          rows: N,
          scored: N,
          rejected: 0,
          rejects: null,
          version: '1.0.0',
        });
        const rows = await readAll(output);
        expect(Object.keys(rows[0] ?? {})).toEqual(['id', 'group', 'label', 'probabilities_0', 'probabilities_1']);
        expect(rows.map((r) => r.id)).toEqual(Array.from({ length: N }, (_, r) => `id-${r}`));
        rows.forEach((row, r) => {
          const [label, p0, p1] = online[r] as [number, number, number];
          expect(row.label).toBe(label);
          expect(row.group).toBe(r % 3);
          // Parquet keeps the FP32 value exactly; text formats print the float32 widened to a double.
          expect(row.probabilities_0).toBe(p0);
          expect(row.probabilities_1).toBe(p1);
          expect(row.label).toBe(expected.outputs[0]?.data[r]);
        });
      }
    }
  }, 60_000);

  it('maps columns with --map, defaults the id to the row number, and names a missing column', async () => {
    const input = await writeInput(path.join(dir, 'mapped.parquet'));
    const reversed = [...FEATURES].reverse();
    const wrong = await runBatchJob(
      spec({
        jobId: 'mapped-wrong',
        input,
        output: path.join(dir, 'mapped-wrong.parquet'),
        idColumn: undefined,
        keep: [],
        map: { input: reversed.join(';') },
      }),
      deps,
    );
    expect(wrong.status).toBe('succeeded');
    const straight = await runBatchJob(
      spec({
        jobId: 'mapped',
        input,
        output: path.join(dir, 'mapped.csv'),
        idColumn: undefined,
        keep: [],
        map: { input: FEATURES.join(';') },
      }),
      deps,
    );
    const rows = await readAll(path.join(dir, 'mapped.csv'));
    expect(straight.rows).toBe(N);
    expect(rows.map((r) => r.row)).toEqual(Array.from({ length: N }, (_, r) => r));
    expect(rows.map((r) => r.label)).toEqual(online.map((o) => o[0]));
    const missing = FEATURES.map((f) => (f === 'f17' ? 'f17_missing' : f)).join(';');
    await expect(
      runBatchJob(
        spec({ jobId: 'missing', input, output: path.join(dir, 'x.parquet'), map: { input: missing } }),
        deps,
      ),
    ).rejects.toThrow(/missing column "f17_missing"/);
    await expect(
      runBatchJob(spec({ jobId: 'missing-keep', input, output: path.join(dir, 'x.parquet'), keep: ['nope'] }), deps),
    ).rejects.toThrow(/missing column "nope" \(--keep\)/);
    await expect(
      runBatchJob(
        spec({ jobId: 'unknown-model', model: 'nope@1.0.0', input, output: path.join(dir, 'x.parquet') }),
        deps,
      ),
    ).rejects.toThrow(/model "nope" does not exist/);
  }, 30_000);

  it('writes bad rows to the rejects file and fails when the reject rate is exceeded', async () => {
    const header = ['id', ...FEATURES].join(',');
    const lines = Array.from({ length: 10 }, (_, i) => {
      const values = X.slice(i * 30, i * 30 + 30).map(String);
      if (i === 2) values[4] = '';
      if (i === 5) values[0] = 'abc';
      if (i === 7) values[29] = 'NaN';
      return [`r${i}`, ...values].join(',');
    });
    const input = path.join(dir, 'bad.csv');
    await writeFile(input, `${header}\n${lines.join('\n')}\n`);
    const output = path.join(dir, 'bad-out.jsonl');
    const summary = await runBatchJob(spec({ jobId: 'rejects', input, output, keep: [], chunkRows: 4 }), deps);
    expect(summary).toMatchObject({
      status: 'succeeded',
      rows: 10,
      scored: 7,
      rejected: 3,
      rejects: path.join(dir, 'bad-out.rejects.jsonl'),
    });
    const rejects = (await readFile(path.join(dir, 'bad-out.rejects.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(rejects).toEqual([
      { id: 'r2', reason: 'column "f4" is null' },
      { id: 'r5', reason: 'column "f0" holds "abc", not a number' },
      { id: 'r7', reason: 'column "f29" is NaN' },
    ]);
    const rows = await readAll(output);
    expect(rows.map((r) => r.id)).toEqual(['r0', 'r1', 'r3', 'r4', 'r6', 'r8', 'r9']);
    expect(rows.map((r) => r.label)).toEqual([0, 1, 3, 4, 6, 8, 9].map((i) => online[i]?.[0]));
    const failed = await runBatchJob(
      spec({ jobId: 'rejects-max', input, output: path.join(dir, 'bad-max.jsonl'), keep: [], maxRejectRate: 0.2 }),
      deps,
    );
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/reject rate 30\.00% \(3 of 10 rows\) exceeds the maximum 20\.00%/);
  }, 30_000);

  it('rejects nulls and values that are not finite in a Parquet file, naming the first bad column in mapping order', async () => {
    const columns = [
      { name: 'id', type: 'string' as const },
      ...FEATURES.map((name) => ({ name, type: 'number' as const })),
    ];
    const rows = Array.from({ length: 10 }, (_, i) => {
      const values: unknown[] = [`p${i}`, ...X.slice(i * 30, i * 30 + 30)];
      if (i === 2) values[1 + 4] = null;
      if (i === 5) values[1 + 0] = Number.NaN;
      if (i === 7) [values[1 + 29], values[1 + 3]] = [Number.POSITIVE_INFINITY, null];
      return values;
    });
    const input = path.join(dir, 'bad.parquet');
    await writeTable(input, columns, [rows]);
    for (const chunkRows of [4, 100]) {
      const output = path.join(dir, `bad-parquet-${chunkRows}.parquet`);
      const summary = await runBatchJob(
        spec({ jobId: `rejects-parquet-${chunkRows}`, input, output, keep: [], chunkRows }),
        deps,
      );
      expect(summary).toMatchObject({ status: 'succeeded', rows: 10, scored: 7, rejected: 3 });
      const rejects = (await readFile(path.join(dir, `bad-parquet-${chunkRows}.rejects.jsonl`), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
      expect(rejects).toEqual([
        { id: 'p2', reason: 'column "f4" is null' },
        { id: 'p5', reason: 'column "f0" is NaN' },
        { id: 'p7', reason: 'column "f3" is null' },
      ]);
      const scored = await readAll(output);
      expect(scored.map((r) => r.id)).toEqual(['p0', 'p1', 'p3', 'p4', 'p6', 'p8', 'p9']);
      expect(scored.map((r) => r.label)).toEqual([0, 1, 3, 4, 6, 8, 9].map((i) => online[i]?.[0]));
      expect(scored.map((r) => r.probabilities_1)).toEqual([0, 1, 3, 4, 6, 8, 9].map((i) => online[i]?.[2]));
    }
    // Without nulls a batch is packed in one pass that notices values that are not finite.
    const finiteOnly = path.join(dir, 'not-finite.parquet');
    await writeTable(finiteOnly, columns, [
      rows.map((row, i) => (i === 2 || i === 7 ? row.map((v) => v ?? Number.NEGATIVE_INFINITY) : row)),
    ]);
    const summary = await runBatchJob(
      spec({
        jobId: 'rejects-not-finite',
        input: finiteOnly,
        output: path.join(dir, 'not-finite.parquet.out.csv'),
        keep: [],
      }),
      deps,
    );
    expect(summary).toMatchObject({ status: 'succeeded', rows: 10, scored: 7, rejected: 3 });
    const reasons = (await readFile(path.join(dir, 'not-finite.parquet.out.rejects.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { reason: string }).reason);
    expect(reasons).toEqual(['column "f4" is -Infinity', 'column "f0" is NaN', 'column "f3" is -Infinity']);
  }, 30_000);

  it('rejects a word in a numeric CSV column even past the rows DuckDB samples for types', async () => {
    const rows = 30_000;
    const lines = Array.from({ length: rows }, (_, i) => {
      const values = X.slice((i % N) * 30, (i % N) * 30 + 30).map(String);
      if (i === 25_000) values[3] = 'oops';
      return [i, ...values].join(',');
    });
    const input = path.join(dir, 'late-bad.csv');
    await writeFile(input, `${['id', ...FEATURES].join(',')}\n${lines.join('\n')}\n`);
    const output = path.join(dir, 'late-bad.parquet');
    const summary = await runBatchJob(spec({ jobId: 'late-bad', input, output, keep: [] }), deps);
    expect(summary).toMatchObject({ status: 'succeeded', rows, scored: rows - 1, rejected: 1 });
    expect(JSON.parse(await readFile(path.join(dir, 'late-bad.rejects.jsonl'), 'utf8'))).toEqual({
      id: 25_000,
      reason: 'column "f3" holds "oops", not a number',
    });
  }, 30_000);

  it('scores an empty file into an empty output with the columns', async () => {
    const input = path.join(dir, 'empty.csv');
    await writeFile(input, `${['id', 'group', ...FEATURES].join(',')}\n`);
    for (const format of ['parquet', 'csv']) {
      const output = path.join(dir, `empty-out.${format}`);
      const summary = await runBatchJob(spec({ jobId: `empty-${format}`, input, output }), deps);
      expect(summary).toMatchObject({ status: 'succeeded', rows: 0, scored: 0, rejected: 0 });
      expect(await readAll(output)).toEqual([]);
    }
    expect(await readFile(path.join(dir, 'empty-out.csv'), 'utf8')).toBe(
      'id,group,label,probabilities_0,probabilities_1\n',
    );
  }, 30_000);

  it('resumes a cancelled job from its last chunk: every row once, in order; refuses a changed spec', async () => {
    const input = await writeInput(path.join(dir, 'resume.parquet'), 1000);
    const output = path.join(dir, 'resume-out.parquet');
    const controller = new AbortController();
    const first = await runBatchJob(spec({ jobId: 'resume', input, output, chunkRows: 100 }), deps, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.chunksDone === 3) controller.abort();
      },
    });
    expect(first.status).toBe('cancelled');
    expect(first.rows).toBeGreaterThanOrEqual(300);
    expect(first.rows).toBeLessThan(1000);
    const parts = await readdir(path.join(deps.workDir, 'resume', 'parts'));
    expect(parts.filter((p) => p.endsWith('.parquet')).length).toBe(first.rows / 100);
    // What a process killed in the middle of writing a part leaves behind.
    const leftover = path.join(deps.workDir, 'resume', 'parts', '.part-000009.parquet.0123456789ab.tmp');
    await writeFile(leftover, 'half a part');
    await expect(runBatchJob(spec({ jobId: 'resume', input, output, chunkRows: 50 }), deps)).rejects.toThrow(
      /job "resume" was started with a different chunkRows/,
    );
    const second = await runBatchJob(spec({ jobId: 'resume', input, output, chunkRows: 100 }), deps);
    expect(second).toMatchObject({ status: 'succeeded', rows: 1000, scored: 1000, resumedChunks: first.rows / 100 });
    expect(await readdir(path.join(deps.workDir, 'resume', 'parts'))).not.toContain(path.basename(leftover));
    const rows = await readAll(output);
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `id-${i}`));
    expect(rows.map((r) => r.label)).toEqual(Array.from({ length: 1000 }, (_, i) => online[i % N]?.[0]));
    await rm(output);
    const again = await runBatchJob(spec({ jobId: 'resume', input, output, chunkRows: 100 }), deps);
    expect(again).toMatchObject({ status: 'succeeded', rows: 1000, resumedChunks: 10 });
    expect((await readAll(output)).length).toBe(1000);
  }, 30_000);
});
