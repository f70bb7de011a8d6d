import { DuckDBTypeId, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import { withConnection } from './duckdb.js';
import { resolveTableSource, toReadError, type TableSource } from './table-source.js';
import type { ColumnType, TableColumn, TableDescription } from './types.js';

/**
 * The columns of a CSV, Parquet or JSONL file (or glob), without reading its rows. CSV and JSONL
 * types are DuckDB's inference from a sample of the file.
 *
 * @example
 * const { columns } = await describeTable('data/reference.parquet');
 * // [{ name: 'age', type: 'number', duckdbType: 'BIGINT' }, ...]
 */
export async function describeTable(file: string): Promise<TableDescription> {
  const source = await resolveTableSource(file);
  const columns = await withConnection((connection) => describeSource(connection, source));
  return { columns };
}

/** The columns of an already resolved source, on the caller's connection. */
export async function describeSource(connection: DuckDBConnection, source: TableSource): Promise<TableColumn[]> {
  try {
    const result = await connection.stream(`SELECT * FROM ${source.sql} LIMIT 0`, [source.path]);
    const names = result.columnNames();
    return result.columnTypes().map((type, index) => ({
      name: names[index] ?? `column${index}`,
      type: columnTypeOf(type),
      duckdbType: type.toString(),
    }));
  } catch (error) {
    throw toReadError(source, error);
  }
}

/** Types not listed here (lists, structs, blobs, times, intervals...) are 'other'. */
const COLUMN_TYPES: ReadonlyMap<DuckDBTypeId, ColumnType> = new Map([
  ...[
    DuckDBTypeId.TINYINT,
    DuckDBTypeId.SMALLINT,
    DuckDBTypeId.INTEGER,
    DuckDBTypeId.BIGINT,
    DuckDBTypeId.HUGEINT,
    DuckDBTypeId.UTINYINT,
    DuckDBTypeId.USMALLINT,
    DuckDBTypeId.UINTEGER,
    DuckDBTypeId.UBIGINT,
    DuckDBTypeId.UHUGEINT,
    DuckDBTypeId.FLOAT,
    DuckDBTypeId.DOUBLE,
    DuckDBTypeId.DECIMAL,
    DuckDBTypeId.BIGNUM,
  ].map((id) => [id, 'number'] as const),
  [DuckDBTypeId.BOOLEAN, 'boolean'],
  ...[
    DuckDBTypeId.DATE,
    DuckDBTypeId.TIMESTAMP,
    DuckDBTypeId.TIMESTAMP_S,
    DuckDBTypeId.TIMESTAMP_MS,
    DuckDBTypeId.TIMESTAMP_NS,
    DuckDBTypeId.TIMESTAMP_TZ,
  ].map((id) => [id, 'timestamp'] as const),
  [DuckDBTypeId.VARCHAR, 'string'],
  [DuckDBTypeId.ENUM, 'string'],
]);

function columnTypeOf(type: DuckDBType): ColumnType {
  return COLUMN_TYPES.get(type.typeId) ?? 'other';
}
