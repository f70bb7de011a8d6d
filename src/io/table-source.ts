import { stat } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError, invalid, notFound } from '../core/errors.js';
import { shortDuckDbMessage } from './duckdb.js';

export type TableFormat = 'csv' | 'parquet' | 'jsonl';

const FORMAT_BY_EXTENSION: Readonly<Record<string, TableFormat>> = {
  '.csv': 'csv',
  '.parquet': 'parquet',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
};

/**
 * DuckDB table functions, each taking the path as the bound parameter `$1` (paths never enter
 * the SQL text). CSV files must have a header row; a quoted empty field (`""`) is an empty
 * string and only an unquoted empty field is null, which is how `writeTable` writes them.
 */
const READERS: Readonly<Record<TableFormat, string>> = {
  csv: 'read_csv($1, header = true, allow_quoted_nulls = false)',
  parquet: 'read_parquet($1)',
  jsonl: "read_json($1, format = 'newline_delimited')",
};

/** A table file (or glob) resolved to an absolute path, with the SQL that reads it. */
export interface TableSource {
  /** What the caller passed, for messages. */
  readonly file: string;
  /** Absolute path or glob, bound as `$1` in `sql`. */
  readonly path: string;
  readonly format: TableFormat;
  /** A table expression such as `read_parquet($1)`. */
  readonly sql: string;
}

/** The format a file name implies; INVALID_ARGUMENT for anything else. */
export function tableFormatOf(file: string): TableFormat {
  const format = FORMAT_BY_EXTENSION[path.extname(file).toLowerCase()];
  if (format === undefined) {
    throw invalid(
      `cannot tell the format of "${file}": expected a name ending in ${Object.keys(FORMAT_BY_EXTENSION).join(', ')}`,
    );
  }
  return format;
}

function checkPathText(file: string): void {
  if (file === '' || file.includes('\0')) throw invalid(`invalid table path ${JSON.stringify(file)}`);
}

const GLOB_CHARACTERS = /[*?[]/;

/**
 * Resolves `file` for reading: NOT_FOUND when it does not exist, INVALID_ARGUMENT when its
 * extension is unknown or it is a folder. Globs are checked by DuckDB when read (see {@link toReadError}).
 */
export async function resolveTableSource(file: string): Promise<TableSource> {
  checkPathText(file);
  const format = tableFormatOf(file);
  const absolute = path.resolve(file);
  if (!GLOB_CHARACTERS.test(absolute)) {
    const stats = await stat(absolute).catch((error: unknown) => {
      if (isMissing(error)) throw notFound(`table file "${file}" does not exist`);
      throw invalid(`cannot read table "${file}": ${error instanceof Error ? error.message : String(error)}`);
    });
    if (!stats.isFile()) throw invalid(`table path "${file}" is not a file`);
  }
  return { file, path: absolute, format, sql: READERS[format] };
}

/** Resolves a path for writing: the format from its extension, the folder it goes in. */
export function resolveTableTarget(file: string): { path: string; format: TableFormat } {
  checkPathText(file);
  return { path: path.resolve(file), format: tableFormatOf(file) };
}

function isMissing(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    (error.code === 'ENOENT' || error.code === 'ENOTDIR')
  );
}

/** A DuckDB failure while reading `source` as a SlipwayError: NOT_FOUND for a glob matching nothing. */
export function toReadError(source: TableSource, error: unknown): SlipwayError {
  if (error instanceof SlipwayError) return error;
  const message = shortDuckDbMessage(error);
  if (message.includes('No files found that match the pattern')) {
    return notFound(`no table files match "${source.file}"`);
  }
  return new SlipwayError('INVALID_ARGUMENT', `cannot read table "${source.file}": ${message}`, { cause: error });
}

/** A SQL identifier in double quotes, inner quotes doubled: safe for any column name. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
