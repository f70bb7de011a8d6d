import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTable, writeTable } from '../io/index.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { batchDepsOf, runBatchJob, type BatchDeps } from './run-batch-job.js';
import { stringInputModel } from './string-model.test-support.js';

/**
 * Batch scoring applies the online path's BYTES rule (tensor/bytes-text.ts): a string with a NUL,
 * which ONNX Runtime would cut short, rejects its row with the online message; other text,
 * multi-byte included, is scored and comes back byte for byte. (A BOM at the very start of a value
 * is not used here: @duckdb/node-api decodes VARCHAR with a default TextDecoder, which drops it.)
 */

let platform: Awaited<ReturnType<typeof openTestPlatform>>;
let deps: BatchDeps;
let dir: string;

beforeAll(async () => {
  platform = await openTestPlatform();
  deps = batchDepsOf(platform);
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-batch-nul-'));
  await platform.registry.push({ name: 'colors', bytes: stringInputModel() });
}, 60_000);

afterAll(async () => {
  await platform?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function rejectsOf(output: string): Promise<unknown[]> {
  const text = await readFile(output.replace(/\.[a-z]+$/, '.rejects.jsonl'), 'utf8').catch(() => '');
  return text.trim() === ''
    ? []
    : text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown);
}

async function colorOuts(file: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const chunk of readTable(file)) {
    const ids = chunk.columns.get('id')!;
    const colors = chunk.columns.get('color_out')!;
    for (let r = 0; r < chunk.rows; r++) out[ids.values[r] as string] = colors.values[r] as string;
  }
  return out;
}

describe('batch scoring: BYTES text with a NUL', () => {
  it.each(['parquet', 'jsonl'] as const)(
    'rejects the row from %s with the online message and scores the rest exactly',
    async (format) => {
      const input = path.join(dir, `nul.${format}`);
      const rows = [
        ['a', 'red', 1],
        ['b', 're\u0000d', 2],
        ['c', 'green\ufeff 🚢 e\u0301', 3],
      ];
      await writeTable(
        input,
        [
          { name: 'id', type: 'string' },
          { name: 'color', type: 'string' },
          { name: 'x', type: 'number' },
        ],
        [rows],
      );
      const output = path.join(dir, `nul-${format}-out.parquet`);
      const summary = await runBatchJob(
        { jobId: `nul-${format}`, model: 'colors@1.0.0', input, output, idColumn: 'id', workers: 1 },
        deps,
      );
      expect(summary, summary.error).toMatchObject({ status: 'succeeded', rows: 3, scored: 2, rejected: 1 });
      expect(await rejectsOf(output)).toEqual([
        {
          id: 'b',
          reason: 'column "color" contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry',
        },
      ]);
      const outs = await colorOuts(output);
      expect(Object.keys(outs).sort()).toEqual(['a', 'c']);
      expect(Buffer.from(outs.c!, 'utf8')).toEqual(Buffer.from('green\ufeff 🚢 e\u0301', 'utf8'));
    },
    60_000,
  );
});
