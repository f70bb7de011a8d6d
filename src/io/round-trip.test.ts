import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTable } from './describe-table.js';
import { closeDuckDb } from './duckdb.js';
import { readAll, readColumns, tempFolder } from './io.test-support.js';
import { writeTable } from './write-table.js';
import type { WriteColumn } from './types.js';

// One test body per format: every writer must read back what it wrote.
const FORMATS = ['csv', 'parquet', 'jsonl'] as const;

const COLUMNS: WriteColumn[] = [
  { name: 'id', type: 'integer' },
  { name: 'score', type: 'number' },
  { name: 'label', type: 'string' },
  { name: 'flag', type: 'boolean' },
];

const TRICKY_STRINGS = [
  'plain',
  'comma, inside',
  'quote " inside',
  '"fully quoted"',
  'line\nbreak',
  'crlf\r\nbreak',
  'héllo wörld',
  '日本語',
  '🦆 emoji',
  '',
  ' padded ',
];

function rowsFor(count: number): unknown[][] {
  return Array.from({ length: count }, (_, i) => [
    i,
    i % 7 === 3 ? null : i / 3 - 100.125,
    i % 5 === 2 ? null : (TRICKY_STRINGS[i % TRICKY_STRINGS.length] ?? 'x'),
    i % 11 === 4 ? null : i % 2 === 0,
  ]);
}

let folder: Awaited<ReturnType<typeof tempFolder>>;
beforeAll(async () => {
  folder = await tempFolder();
});
afterAll(async () => {
  await closeDuckDb();
  await folder.remove();
});

describe.each(FORMATS)('%s round trip', (format) => {
  it('reads back the values it wrote, nulls and tricky strings included', async () => {
    const file = path.join(folder.dir, `table.${format}`);
    const rows = rowsFor(1_000);
    // Two batches, one of them a generator, to exercise batching.
    function* batches(): Generator<unknown[][]> {
      yield rows.slice(0, 400);
      yield rows.slice(400);
    }
    expect(await writeTable(file, COLUMNS, batches())).toEqual({ rows: 1_000 });

    const { columns } = await describeTable(file);
    expect(columns.map((c) => [c.name, c.type])).toEqual([
      ['id', 'number'],
      ['score', 'number'],
      ['label', 'string'],
      ['flag', 'boolean'],
    ]);
    const read = await readColumns(file);
    expect(read.id).toEqual(rows.map((r) => r[0]));
    expect(read.score).toEqual(rows.map((r) => r[1]));
    expect(read.label).toEqual(rows.map((r) => r[2]));
    expect(read.flag).toEqual(rows.map((r) => (r[3] === null ? null : r[3] === true ? 1 : 0)));
  });

  it('keeps the column names, whatever characters they hold', async () => {
    const file = path.join(folder.dir, `names.${format}`);
    const columns: WriteColumn[] = [
      { name: 'a, "b"', type: 'number' },
      { name: 'größe', type: 'string' },
    ];
    await writeTable(file, columns, [[[1.5, 'x']]]);
    const { columns: described } = await describeTable(file);
    expect(described.map((c) => c.name)).toEqual(['a, "b"', 'größe']);
    const read = await readColumns(file, { columns: ['größe', 'a, "b"'] });
    expect(read).toEqual({ größe: ['x'], 'a, "b"': [1.5] });
  });

  it('writes 64-bit integers and non-finite numbers', async () => {
    const file = path.join(folder.dir, `wide.${format}`);
    const columns: WriteColumn[] = [
      { name: 'big', type: 'integer' },
      { name: 'x', type: 'number' },
    ];
    await writeTable(file, columns, [
      [
        [2n ** 40n, Number.NaN],
        [-(2n ** 40n), Number.POSITIVE_INFINITY],
        [null, -0.5],
      ],
    ]);
    const read = await readColumns(file);
    expect(read.big).toEqual([2 ** 40, -(2 ** 40), null]);
    // JSON has no NaN or Infinity: JSONL writes them as null.
    expect(read.x).toEqual(format === 'jsonl' ? [null, null, -0.5] : [Number.NaN, Number.POSITIVE_INFINITY, -0.5]);
  });
});

it('a Parquet file with no rows keeps its schema and reads as zero chunks', async () => {
  const file = path.join(folder.dir, 'empty.parquet');
  expect(await writeTable(file, COLUMNS, [])).toEqual({ rows: 0 });
  const { columns } = await describeTable(file);
  expect(columns.map((c) => c.duckdbType)).toEqual(['BIGINT', 'DOUBLE', 'VARCHAR', 'BOOLEAN']);
  expect(await readAll(file)).toEqual([]);
});
