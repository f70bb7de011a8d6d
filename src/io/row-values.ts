import { invalid } from '../core/errors.js';
import type { WriteColumn, WriteColumnType } from './types.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * What each column type accepts besides null and undefined (both written as null): numbers any
 * JS number (NaN and ±Infinity included) or a bigint; integers a safe integer or an int64 bigint;
 * booleans `true`/`false` or 0/1 (what `readTable` returns); strings only strings.
 */
const FITS: Readonly<Record<WriteColumnType, (value: unknown) => boolean>> = {
  number: (value) => typeof value === 'number' || typeof value === 'bigint',
  string: (value) => typeof value === 'string',
  integer: (value) =>
    typeof value === 'number'
      ? Number.isSafeInteger(value)
      : typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX,
  boolean: (value) => typeof value === 'boolean' || value === 0 || value === 1,
};

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * Checks a row against the columns without copying it; INVALID_ARGUMENT naming the row (counting
 * from 1 over all batches) and the column when a value does not fit (see {@link FITS}). The
 * encoders rely on this check having passed.
 */
export function checkRow(columns: readonly WriteColumn[], row: readonly unknown[], rowNumber: number): void {
  const candidate: unknown = row;
  if (!Array.isArray(candidate))
    throw invalid(`row ${rowNumber} is not an array of values (rows come in batches: [[row, row, ...], ...])`);
  if (row.length !== columns.length) {
    throw invalid(
      `row ${rowNumber} has ${row.length} values, expected ${columns.length} (${columns.map((c) => c.name).join(', ')})`,
    );
  }
  for (let index = 0; index < columns.length; index++) {
    const value = row[index];
    const column = columns[index];
    if (value === null || value === undefined || column === undefined || FITS[column.type](value)) continue;
    const expected = column.type === 'integer' ? 'an integer' : `a ${column.type}`;
    throw invalid(`row ${rowNumber}, column "${column.name}": expected ${expected}, got ${describe(value)}`);
  }
}

const WRITE_TYPES: ReadonlySet<string> = new Set(Object.keys(FITS));

/** At least one column, each with a non-empty unique name and a known type. */
export function checkColumns(columns: readonly WriteColumn[]): void {
  const list: unknown = columns;
  if (!Array.isArray(list) || columns.length === 0) throw invalid('a table needs at least one column');
  const seen = new Set<string>();
  for (const column of columns) {
    if (typeof column.name !== 'string' || column.name === '') throw invalid('column names must be non-empty strings');
    if (seen.has(column.name)) throw invalid(`column "${column.name}" appears twice`);
    if (!WRITE_TYPES.has(column.type)) {
      throw invalid(
        `column "${column.name}" has type ${JSON.stringify(column.type)}; expected one of ${[...WRITE_TYPES].join(', ')}`,
      );
    }
    seen.add(column.name);
  }
}
