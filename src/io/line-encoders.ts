import type { WriteColumn, WriteColumnType } from './types.js';

/** Turns rows (already checked by `checkRow`) into the lines of a text table. */
export interface LineEncoder {
  /** The first line, without its newline, if the format has one. */
  readonly header: string | undefined;
  /** One row, without its newline. */
  line(row: readonly unknown[]): string;
}

type FieldEncoder = (value: unknown) => string;

const NEEDS_QUOTES = /[",\r\n]/;

/** RFC 4180 quoting: fields holding a quote, comma or line break are quoted, quotes doubled. */
function csvText(text: string): string {
  // An empty string is quoted so that it reads back as '' while an unquoted empty field is null.
  if (text === '') return '""';
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const isTrue = (value: unknown): boolean => value === true || value === 1;

// String(number) is the shortest text that parses back to the same double; NaN and ±Infinity are
// written as NaN, Infinity and -Infinity, which DuckDB reads back as such. A null is an empty field.
const CSV_FIELDS: Readonly<Record<WriteColumnType, FieldEncoder>> = {
  number: (value) =>
    typeof value === 'number' ? String(value) : typeof value === 'bigint' ? String(Number(value)) : '',
  integer: (value) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : ''),
  boolean: (value) => (value === null || value === undefined ? '' : isTrue(value) ? 'true' : 'false'),
  string: (value) => (typeof value === 'string' ? csvText(value) : ''),
};

function jsonNumber(value: number): string {
  // JSON has no NaN or Infinity: they are written as null.
  return Number.isFinite(value) ? String(value) : 'null';
}

const JSON_FIELDS: Readonly<Record<WriteColumnType, FieldEncoder>> = {
  number: (value) =>
    typeof value === 'number' ? jsonNumber(value) : typeof value === 'bigint' ? jsonNumber(Number(value)) : 'null',
  integer: (value) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : 'null'),
  boolean: (value) => (value === null || value === undefined ? 'null' : isTrue(value) ? 'true' : 'false'),
  string: (value) => (typeof value === 'string' ? JSON.stringify(value) : 'null'),
};

/** Joins one encoded field per column, each preceded by its prefix (a separator, a key...). */
function joinFields(
  prefixes: readonly string[],
  fields: readonly FieldEncoder[],
  suffix: string,
): (row: readonly unknown[]) => string {
  return (row) => {
    let line = '';
    for (let index = 0; index < fields.length; index++)
      line += (prefixes[index] ?? '') + (fields[index] ?? String)(row[index]);
    return line + suffix;
  };
}

/** CSV with `,` separators and `\n` line ends; a null is an empty field, an empty string `""`. */
export function csvEncoder(columns: readonly WriteColumn[], options: { header: boolean }): LineEncoder {
  return {
    header: options.header ? columns.map((column) => csvText(column.name)).join(',') : undefined,
    line: joinFields(
      columns.map((_, index) => (index === 0 ? '' : ',')),
      columns.map((column) => CSV_FIELDS[column.type]),
      '',
    ),
  };
}

/** One JSON object per line, keys in column order. Non-finite numbers become null. */
export function jsonlEncoder(columns: readonly WriteColumn[]): LineEncoder {
  return {
    header: undefined,
    line: joinFields(
      columns.map((column, index) => `${index === 0 ? '{' : ','}${JSON.stringify(column.name)}:`),
      columns.map((column) => JSON_FIELDS[column.type]),
      '}',
    ),
  };
}
