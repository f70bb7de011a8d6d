import { withConnection } from '../io/duckdb.js';
import { resolveTableSource } from '../io/table-source.js';
import { notFound } from '../core/errors.js';

/** The files a path or glob names, sorted (DuckDB's own glob, so it matches what is read). */
export async function expandInput(input: string): Promise<string[]> {
  const source = await resolveTableSource(input);
  const files = await withConnection(async (connection) => {
    const reader = await connection.runAndReadAll('SELECT file FROM glob($1) ORDER BY file', [source.path]);
    return reader.getRows().map((row) => String(row[0]));
  });
  if (files.length === 0) throw notFound(`no table files match "${input}"`);
  return files;
}

/** The row count when it is cheap (Parquet metadata); null for CSV and JSONL, which would need a full read. */
export async function countRows(input: string): Promise<number | null> {
  const source = await resolveTableSource(input);
  if (source.format !== 'parquet') return null;
  return withConnection(async (connection) => {
    const reader = await connection.runAndReadAll('SELECT sum(num_rows) FROM parquet_file_metadata($1)', [source.path]);
    const value = reader.getRows()[0]?.[0];
    return value === null || value === undefined ? 0 : Number(value);
  });
}
