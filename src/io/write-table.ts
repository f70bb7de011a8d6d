import { writeFileAtomically } from './atomic-file.js';
import { csvEncoder, jsonlEncoder } from './line-encoders.js';
import { writeParquetTable } from './parquet-table-writer.js';
import { checkedBatches } from './row-batches.js';
import { checkColumns } from './row-values.js';
import { resolveTableTarget } from './table-source.js';
import { writeTextTable } from './text-table-writer.js';
import type { RowBatches, WriteColumn, WriteTableOptions, WriteTableResult } from './types.js';

/**
 * Writes rows to a CSV, Parquet or JSONL file, chosen by extension, all or nothing: the data goes
 * to a hidden temp file in the same folder, is fsynced, then renamed over `file`; on any failure
 * (a bad value, a throwing row source, cancellation) no file is left behind and an existing
 * `file` is untouched.
 *
 * Rows come in batches and only one batch is held at a time. CSV has a header row and RFC 4180
 * quoting (null = empty field, empty string = `""`, `\n` line ends); JSONL writes one object per
 * row (NaN and ±Infinity become null). Parquet (DOUBLE, BIGINT, BOOLEAN, VARCHAR columns) is
 * staged through DuckDB in parts of about 4M cells, merged in order at the end, so memory stays
 * bounded (see `writeParquetTable`, and DuckDB's memory limit in `configureDuckDb`).
 *
 * Errors: INVALID_ARGUMENT for an unknown extension, bad columns, or a value that does not fit its
 * column (the message names the row, counting from 1, and the column); NOT_FOUND when the folder
 * does not exist; CANCELLED when `options.signal` aborts; INTERNAL when DuckDB fails to write
 * Parquet. An error thrown by the row source is rethrown as it is.
 *
 * @example
 * await writeTable('out/predictions.parquet',
 *   [{ name: 'id', type: 'integer' }, { name: 'score', type: 'number' }],
 *   [[[1, 0.93], [2, 0.12]]]);
 */
export async function writeTable(
  file: string,
  columns: readonly WriteColumn[],
  rows: RowBatches,
  options: WriteTableOptions = {},
): Promise<WriteTableResult> {
  checkColumns(columns);
  const target = resolveTableTarget(file);
  const written = await writeFileAtomically(target.path, (tempPath) => {
    const batches = checkedBatches(file, columns, rows, options.signal);
    switch (target.format) {
      case 'csv':
        return writeTextTable(tempPath, csvEncoder(columns, { header: true }), batches);
      case 'jsonl':
        return writeTextTable(tempPath, jsonlEncoder(columns), batches);
      case 'parquet':
        return writeParquetTable(tempPath, columns, batches);
    }
  });
  return { rows: written };
}
