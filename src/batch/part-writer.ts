import { randomBytes } from 'node:crypto';
import { BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, VARCHAR, type DuckDBType, type DuckDBVector } from '@duckdb/node-api';
import { SlipwayError } from '../core/errors.js';
import { writeFileAtomically } from '../io/atomic-file.js';
import { shortDuckDbMessage, withConnection } from '../io/duckdb.js';
import { quoteIdentifier } from '../io/table-source.js';
import type { WriteColumn, WriteColumnType } from '../io/index.js';

/** One output column of a part: `get(k)` is the value of scored row k (null, or the column type's JS value). */
export interface PartColumn {
  readonly column: WriteColumn;
  readonly get: (row: number) => unknown;
}

const TYPES: Readonly<Record<WriteColumnType, { sql: string; type: DuckDBType }>> = {
  number: { sql: 'DOUBLE', type: DOUBLE },
  integer: { sql: 'BIGINT', type: BIGINT },
  boolean: { sql: 'BOOLEAN', type: BOOLEAN },
  string: { sql: 'VARCHAR', type: VARCHAR },
};

/** DuckDB's vector size: a data chunk holds at most this many rows. */
const VECTOR_ROWS = 2048;

/**
 * Writes one part file (Parquet), atomically, column by column: values go into DuckDB vectors
 * (typed arrays on the JS side, flushed in bulk), 2,048 rows per data chunk, into a temp table
 * copied to the file. About 4x faster than `writeTable`'s row-by-row appender, which matters
 * because parts are written on the same thread that reads the input.
 */
export async function writeParquetPart(file: string, columns: readonly PartColumn[], rows: number): Promise<void> {
  const table = `slipway_part_${randomBytes(6).toString('hex')}`;
  await withConnection(async (connection) => {
    const run = async (sql: string, values: string[] = []): Promise<void> => {
      try {
        await connection.run(sql, values);
      } catch (error) {
        throw new SlipwayError('INTERNAL', `writing part ${file} failed: ${shortDuckDbMessage(error)}`, { cause: error });
      }
    };
    await run(`CREATE TEMP TABLE ${table} (${columns.map((c) => `${quoteIdentifier(c.column.name)} ${TYPES[c.column.type].sql}`).join(', ')})`);
    try {
      const appender = await connection.createAppender(table, 'main', 'temp');
      try {
        const types = columns.map((c) => TYPES[c.column.type].type);
        for (let from = 0; from < rows; from += VECTOR_ROWS) {
          const count = Math.min(VECTOR_ROWS, rows - from);
          const chunk = DuckDBDataChunk.create(types, count);
          columns.forEach((c, index) => fillVector(chunk.getColumnVector(index), c, from, count));
          appender.appendDataChunk(chunk);
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await writeFileAtomically(file, (temp) => run(`COPY temp.main.${table} TO $1 (FORMAT parquet)`, [temp]));
    } finally {
      await connection.run(`DROP TABLE IF EXISTS temp.main.${table}`).catch(() => undefined);
    }
  });
}

function fillVector(vector: DuckDBVector, part: PartColumn, from: number, count: number): void {
  if (fillNumbers(vector, part, from, count)) return;
  const { column, get } = part;
  const set = vector.setItem.bind(vector) as (index: number, value: unknown) => void;
  for (let i = 0; i < count; i++) {
    const value = get(from + i);
    if (value === null || value === undefined) set(i, null);
    else if (column.type === 'integer') set(i, typeof value === 'bigint' ? value : BigInt(value as number));
    else if (column.type === 'boolean') set(i, value === true || value === 1);
    else if (column.type === 'number') set(i, typeof value === 'bigint' ? Number(value) : value);
    else set(i, typeof value === 'string' ? value : JSON.stringify(value));
  }
  vector.flush();
}

/**
 * DOUBLE and BIGINT columns written straight into the vector's typed array, nulls through setItem:
 * @duckdb/node-api's setItem also keeps the validity mask per value, which a fresh chunk (all
 * valid) does not need. Returns false when the vector is not shaped so (another library version).
 */
function fillNumbers(vector: DuckDBVector, { column, get }: PartColumn, from: number, count: number): boolean {
  const items = (vector as unknown as { items?: unknown }).items;
  const set = vector.setItem.bind(vector) as (index: number, value: unknown) => void;
  if (column.type === 'number' && items instanceof Float64Array) {
    for (let i = 0; i < count; i++) {
      const value = get(from + i);
      if (value === null || value === undefined) set(i, null);
      else items[i] = typeof value === 'bigint' ? Number(value) : (value as number);
    }
  } else if (column.type === 'integer' && items instanceof BigInt64Array) {
    for (let i = 0; i < count; i++) {
      const value = get(from + i);
      if (value === null || value === undefined) set(i, null);
      else items[i] = typeof value === 'bigint' ? value : BigInt(value as number);
    }
  } else {
    return false;
  }
  vector.flush();
  return true;
}
