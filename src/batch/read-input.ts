import type { DuckDBConnection } from '@duckdb/node-api';
import { ChunkBuilder } from '../io/chunk-builder.js';
import { selectExpression } from '../io/read-table.js';
import { openConnection } from '../io/duckdb.js';
import { quoteIdentifier, resolveTableSource, toReadError, type TableSource } from '../io/table-source.js';
import type { TableChunk, TableColumn } from '../io/index.js';

/**
 * A column naming, per row, the first model-input column whose text did not parse as a number,
 * as `<column>\u0000<text>` (null when every value parsed or was absent).
 */
export const UNPARSABLE_COLUMN = '\u0000unparsable';

/**
 * Streams the input like `readTable`, but reads model-input columns so that a bad value cannot
 * stop the job. CSV and JSONL types are DuckDB's guess from a sample, so a word in a numeric
 * column after the sample would fail the whole read; here those columns are read as text and cast
 * with `TRY_CAST` in SQL: `<col>` is the number (null when absent or unparsable) and
 * {@link UNPARSABLE_COLUMN} names the first column whose text did not parse, so the rejects file can say why.
 * Other columns (id, kept) come as `readTable` gives them. Rows keep file order (DuckDB preserves
 * insertion order; a glob reads its files in name order).
 */
export async function* readInput(
  file: string,
  fileColumns: readonly TableColumn[],
  options: { numeric: readonly string[]; text?: readonly string[]; other: readonly string[]; chunkRows: number },
): AsyncGenerator<TableChunk> {
  const source = await resolveTableSource(file);
  const byName = new Map(fileColumns.map((c) => [c.name, c]));
  const numeric = new Set(options.numeric);
  // Columns of BYTES and BOOL inputs come as text, whatever their type (see input-values.ts).
  const text = new Set((options.text ?? []).filter((name) => !numeric.has(name)));
  const selected: { sql: string; column: TableColumn }[] = [];
  for (const name of options.other) {
    const column = byName.get(name);
    if (column !== undefined && !numeric.has(name) && !text.has(name))
      selected.push({ sql: selectExpression(column), column });
  }
  for (const name of text)
    selected.push({
      sql: `CAST(${quoteIdentifier(name)} AS VARCHAR)`,
      column: { name, type: 'string', duckdbType: 'VARCHAR' },
    });
  const textual: string[] = [];
  for (const name of numeric) {
    const quoted = quoteIdentifier(name);
    const column = byName.get(name);
    // Numbers stored as numbers (Parquet, or a column DuckDB typed) cannot be unparsable; text is cast in SQL.
    const asText =
      source.format !== 'parquet' || column === undefined || column.type === 'string' || column.type === 'other';
    selected.push({
      sql: asText ? `TRY_CAST(${quoted} AS DOUBLE)` : `CAST(${quoted} AS DOUBLE)`,
      column: { name, type: 'number', duckdbType: 'DOUBLE' },
    });
    if (asText)
      textual.push(
        `CASE WHEN ${quoted} IS NOT NULL AND TRY_CAST(${quoted} AS DOUBLE) IS NULL THEN ${literalOf(name)} || chr(0) || CAST(${quoted} AS VARCHAR) END`,
      );
  }
  if (textual.length > 0)
    selected.push({
      sql: `COALESCE(${textual.join(', ')})`,
      column: { name: UNPARSABLE_COLUMN, type: 'string', duckdbType: 'VARCHAR' },
    });
  const connection = await openConnection();
  try {
    const list = selected.length === 0 ? 'NULL' : selected.map((s) => s.sql).join(', ');
    const result = await stream(
      connection,
      source,
      `SELECT ${list} FROM ${readerSql(source, fileColumns, new Set([...numeric, ...text]))}`,
    );
    const builder = new ChunkBuilder(
      selected.map((s) => s.column),
      options.chunkRows,
    );
    for (;;) {
      const batch = await result.fetchChunk().catch((error: unknown) => {
        throw toReadError(source, error);
      });
      if (batch === null || batch.rowCount === 0) break;
      yield* builder.append(batch);
    }
    const last = builder.finish();
    if (last !== undefined) yield last;
  } finally {
    connection.closeSync();
  }
}

function literalOf(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The table function, with the model-input columns of text formats read as VARCHAR (as written: "007" stays "007"). */
function readerSql(source: TableSource, columns: readonly TableColumn[], numeric: ReadonlySet<string>): string {
  const literal = literalOf;
  switch (source.format) {
    case 'parquet':
      return source.sql;
    case 'csv': {
      const types = [...numeric].map((name) => `${literal(name)}: 'VARCHAR'`).join(', ');
      return types === '' ? source.sql : `read_csv($1, header = true, allow_quoted_nulls = false, types = {${types}})`;
    }
    case 'jsonl': {
      const schema = columns
        .map((c) => `${literal(c.name)}: ${literal(numeric.has(c.name) ? 'VARCHAR' : c.duckdbType)}`)
        .join(', ');
      return `read_json($1, format = 'newline_delimited', columns = {${schema}})`;
    }
  }
}

async function stream(connection: DuckDBConnection, source: TableSource, sql: string) {
  try {
    return await connection.stream(sql, [source.path]);
  } catch (error) {
    throw toReadError(source, error);
  }
}
