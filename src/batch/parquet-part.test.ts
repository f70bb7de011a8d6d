import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withConnection } from '../io/duckdb.js';
import { readTable } from '../io/index.js';
import { assembleOutput } from './assemble-output.js';
import { parquetCodec, type PartColumnData } from './parquet-part.js';

const { encodePart: encodeParquetPart, readLayout } = parquetCodec();

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-parquet-part-'));
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function roundTrip(
  name: string,
  columns: readonly PartColumnData[],
  rows: number,
): Promise<{ types: string[]; rows: unknown[][] }> {
  const file = path.join(dir, `${name}.parquet`);
  await writeFile(file, Buffer.concat(encodeParquetPart(columns, rows)));
  return withConnection(async (connection) => {
    const described = await connection.runAndReadAll('DESCRIBE SELECT * FROM read_parquet($1)', [file]);
    const read = await connection.runAndReadAll('SELECT * FROM read_parquet($1)', [file]);
    return { types: described.getRows().map((r) => `${String(r[0])} ${String(r[1])}`), rows: read.getRows() };
  });
}

describe('encodeParquetPart', () => {
  it('writes INT64, DOUBLE, BOOLEAN and text columns, with and without nulls, that DuckDB reads back', async () => {
    const columns: PartColumnData[] = [
      { name: 'row', type: 'INT64', values: BigInt64Array.from([0n, 1n, 2n ** 40n]) },
      { name: 'id', type: 'BYTE_ARRAY', values: ['a', null, 'été ✓'], nulls: Uint8Array.from([0, 1, 0]) },
      {
        name: 'score',
        type: 'DOUBLE',
        values: Float64Array.from([0.5, Number.NaN, -1e300]),
        nulls: Uint8Array.from([0, 1, 0]),
      },
      { name: 'flag', type: 'BOOLEAN', values: Uint8Array.from([1, 0, 1]) },
      { name: 'count', type: 'INT64', values: BigInt64Array.from([-5n, 7n, 9n]), nulls: Uint8Array.from([0, 0, 0]) },
      { name: 'say "hi"', type: 'BYTE_ARRAY', values: ['', 'x', 'y'] },
    ];
    const { types, rows } = await roundTrip('kinds', columns, 3);
    expect(types).toEqual([
      'row BIGINT',
      'id VARCHAR',
      'score DOUBLE',
      'flag BOOLEAN',
      'count BIGINT',
      'say "hi" VARCHAR',
    ]);
    expect(rows).toEqual([
      [0n, 'a', 0.5, true, -5n, ''],
      [1n, null, null, false, 7n, 'x'],
      [2n ** 40n, 'été ✓', -1e300, true, 9n, 'y'],
    ]);
  });

  it('writes 100,000 rows over many bit-packed groups, and an empty part with its columns', async () => {
    const n = 100_003;
    const nulls = new Uint8Array(n).map((_, k) => (k % 7 === 3 ? 1 : 0));
    const columns: PartColumnData[] = [
      { name: 'row', type: 'INT64', values: new BigInt64Array(n).map((_, k) => BigInt(k)) },
      { name: 'p', type: 'DOUBLE', values: new Float64Array(n).map((_, k) => k / 2), nulls },
      { name: 'b', type: 'BOOLEAN', values: new Uint8Array(n).map((_, k) => (k % 3 === 0 ? 1 : 0)) },
    ];
    const file = path.join(dir, 'big.parquet');
    await writeFile(file, Buffer.concat(encodeParquetPart(columns, n)));
    const [summary] = await withConnection(async (connection) =>
      (
        await connection.runAndReadAll(
          'SELECT count(*), sum("row"), count(p), sum(p), sum(CAST(b AS INTEGER)), max("row") FROM read_parquet($1)',
          [file],
        )
      ).getRows(),
    );
    let sum = 0;
    let present = 0;
    for (let k = 0; k < n; k++) if (k % 7 !== 3) [sum, present] = [sum + k / 2, present + 1];
    expect(summary).toEqual([
      BigInt(n),
      BigInt((n * (n - 1)) / 2),
      BigInt(present),
      sum,
      BigInt(Math.ceil(n / 3)),
      BigInt(n - 1),
    ]);
    const empty = await roundTrip('empty', columns, 0);
    expect(empty).toEqual({ types: ['row BIGINT', 'p DOUBLE', 'b BOOLEAN'], rows: [] });
  });

  it('is read back by layout, and parts are assembled by copying their column chunks as row groups', async () => {
    const part = (rows: number, first: number, nullAt?: number): PartColumnData[] => [
      { name: 'row', type: 'INT64', values: new BigInt64Array(rows).map((_, k) => BigInt(first + k)) },
      {
        name: 'id',
        type: 'BYTE_ARRAY',
        values: Array.from({ length: rows }, (_, k) => (k === nullAt ? null : `id-${first + k}`)),
        nulls: new Uint8Array(rows).map((_, k) => (k === nullAt ? 1 : 0)),
      },
      { name: 'p', type: 'DOUBLE', values: new Float64Array(rows).map((_, k) => (first + k) / 4) },
    ];
    const files = [part(3, 0, 1), part(0, 3), part(2, 3)].map((columns, i) => {
      const file = path.join(dir, `part-${i}.parquet`);
      return { file, bytes: Buffer.concat(encodeParquetPart(columns, columns[0]?.values.length ?? 0)) };
    });
    for (const { file, bytes } of files) await writeFile(file, bytes);
    expect(readLayout(files[0]?.bytes ?? new Uint8Array(), 3)).toMatchObject({
      rows: 3,
      chunks: [{ offset: 4 }, {}, {}],
    });
    expect(readLayout(files[1]?.bytes ?? new Uint8Array(), 3)).toEqual({ rows: 0, chunks: [] });
    expect(readLayout(files[0]?.bytes ?? new Uint8Array(), 2)).toBeUndefined();
    const output = path.join(dir, 'assembled.parquet');
    await assembleOutput(
      output,
      files.map((f) => f.file),
      [
        { name: 'row', type: 'integer' },
        { name: 'id', type: 'string' },
        { name: 'p', type: 'number' },
      ],
    );
    const rows: unknown[][] = [];
    for await (const chunk of readTable(output)) {
      for (let r = 0; r < chunk.rows; r++)
        rows.push(
          [...chunk.columns.values()].map((c) =>
            c.type === 'string' || c.type === 'other' ? c.values[r] : c.nulls[r] === 1 ? null : c.values[r],
          ),
        );
    }
    expect(rows).toEqual([
      [0, 'id-0', 0],
      [1, null, 0.25],
      [2, 'id-2', 0.5],
      [3, 'id-3', 0.75],
      [4, 'id-4', 1],
    ]);
    // A part DuckDB wrote (an older version's) is assembled by DuckDB instead.
    const foreign = path.join(dir, 'foreign.parquet');
    await withConnection((connection) =>
      connection.run(
        `COPY (SELECT 5::BIGINT AS "row", 'id-5' AS id, 1.25::DOUBLE AS p) TO '${foreign}' (FORMAT parquet)`,
      ),
    );
    expect(readLayout(await readFile(foreign), 3)).toBeUndefined();
    await assembleOutput(
      output,
      [...files.map((f) => f.file), foreign],
      [
        { name: 'row', type: 'integer' },
        { name: 'id', type: 'string' },
        { name: 'p', type: 'number' },
      ],
    );
    let count = 0;
    for await (const chunk of readTable(output)) count += chunk.rows;
    expect(count).toBe(6);
  });
});
