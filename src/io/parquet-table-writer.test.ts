import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTable } from './describe-table.js';
import { closeDuckDb } from './duckdb.js';
import { readColumns, tempFolder } from './io.test-support.js';
import { writeParquetTable } from './parquet-table-writer.js';
import type { CheckedBatch } from './row-batches.js';
import type { WriteColumn } from './types.js';

let folder: Awaited<ReturnType<typeof tempFolder>>;
beforeAll(async () => {
  folder = await tempFolder();
});
afterAll(async () => {
  await closeDuckDb();
  await folder.remove();
});

const COLUMNS: WriteColumn[] = [
  { name: 'id', type: 'integer' },
  { name: 'label', type: 'string' },
];

async function* batches(count: number, failAfter?: number): AsyncGenerator<CheckedBatch> {
  for (let start = 0; start < count; start += 1_000) {
    await Promise.resolve(); // an asynchronous source, like a database cursor
    if (failAfter !== undefined && start >= failAfter) throw new Error('source failed');
    yield Array.from({ length: Math.min(1_000, count - start) }, (_, i) => [
      start + i,
      i % 4 === 0 ? null : `row ${start + i}`,
    ]);
  }
}

it('merges several staged parts into one file, keeping row order and column types', async () => {
  const dir = path.join(folder.dir, 'merge');
  await mkdir(dir);
  const file = path.join(dir, 'out.parquet');
  expect(await writeParquetTable(file, COLUMNS, batches(25_500), { partRows: 4_096 })).toBe(25_500);
  expect(await readdir(dir)).toEqual(['out.parquet']);
  expect((await describeTable(file)).columns.map((c) => c.duckdbType)).toEqual(['BIGINT', 'VARCHAR']);
  const read = await readColumns(file);
  expect(read.id).toEqual(Array.from({ length: 25_500 }, (_, i) => i));
  expect(read.label?.slice(0, 3)).toEqual([null, 'row 1', 'row 2']);
});

it('removes its part files when the row source fails after some parts were written', async () => {
  const dir = path.join(folder.dir, 'fail');
  await mkdir(dir);
  await expect(
    writeParquetTable(path.join(dir, 'out.parquet'), COLUMNS, batches(20_000, 12_000), { partRows: 4_096 }),
  ).rejects.toThrow('source failed');
  // The caller (writeFileAtomically) removes `out.parquet` itself; the parts are this writer's to remove.
  expect((await readdir(dir)).filter((name) => name.includes('.part-'))).toEqual([]);
});
