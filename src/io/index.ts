/**
 * Tabular files (CSV, Parquet, JSONL) in and out, streamed in chunks with bounded memory.
 * DuckDB does the reading and the Parquet writing; nothing DuckDB-specific crosses this surface
 * except the shared instance's lifecycle.
 */
export { readTable } from './read-table.js';
export { describeTable } from './describe-table.js';
export { writeTable } from './write-table.js';
export { getDuckDb, closeDuckDb, configureDuckDb, type DuckDbSettings } from './duckdb.js';
export type {
  ColumnType,
  ColumnValues,
  NumericColumnValues,
  ReadTableOptions,
  RowBatches,
  TableChunk,
  TableColumn,
  TableDescription,
  TextColumnValues,
  WriteColumn,
  WriteColumnType,
  WriteTableOptions,
  WriteTableResult,
} from './types.js';
