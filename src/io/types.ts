/**
 * Shapes shared by the tabular-file readers and writers. Nothing here mentions DuckDB: callers see
 * plain typed arrays and strings, whatever engine reads the file.
 */

/** How a column reaches JavaScript (see {@link ColumnValues}). */
export type ColumnType = 'number' | 'string' | 'boolean' | 'timestamp' | 'other';

export interface TableColumn {
  readonly name: string;
  readonly type: ColumnType;
  /** The engine's own spelling of the type, e.g. `BIGINT`, `TIMESTAMP WITH TIME ZONE`, `VARCHAR[]`. */
  readonly duckdbType: string;
}

export interface TableDescription {
  readonly columns: readonly TableColumn[];
}

/**
 * Numbers, booleans (0/1) and timestamps (epoch milliseconds, UTC) arrive as a `Float64Array`.
 * A null is `NaN` in `values` and `1` in `nulls`, so a real NaN in the data (`nulls[i] === 0`)
 * stays distinguishable. Integers wider than 2^53 lose precision. `values` may be a view on a
 * larger buffer (`subarray`); each chunk owns fresh buffers, so keeping a chunk is safe.
 */
export interface NumericValues<T extends 'number' | 'boolean' | 'timestamp'> {
  readonly type: T;
  readonly values: Float64Array;
  readonly nulls: Uint8Array;
  readonly nullCount: number;
}

/** Strings, and every other type (lists, structs, blobs, times...) as DuckDB's text form of the value. */
export interface TextValues<T extends 'string' | 'other'> {
  readonly type: T;
  readonly values: (string | null)[];
  readonly nullCount: number;
}

// One member per `type`, so that `type` checks narrow (a union-typed discriminant would not).
export type NumericColumnValues = NumericValues<'number'> | NumericValues<'boolean'> | NumericValues<'timestamp'>;
export type TextColumnValues = TextValues<'string'> | TextValues<'other'>;

/** One column of a {@link TableChunk}; switch on `type` to reach the values. */
export type ColumnValues = NumericColumnValues | TextColumnValues;

/** A slice of consecutive rows; every column holds exactly `rows` values, in file order. */
export interface TableChunk {
  readonly rows: number;
  readonly columns: Map<string, ColumnValues>;
}

export interface ReadTableOptions {
  /** Columns to read, in this order; default all, in file order. Duplicates are read once; `[]` reads row counts only. */
  columns?: readonly string[];
  /** Rows per chunk (the last chunk may be shorter); default 50,000. */
  chunkRows?: number;
  /** Stops the read between engine batches with a CANCELLED error. */
  signal?: AbortSignal;
}

/** Column types a writer accepts. `integer` is a 64-bit integer (number or bigint). */
export type WriteColumnType = 'number' | 'string' | 'integer' | 'boolean';

export interface WriteColumn {
  readonly name: string;
  readonly type: WriteColumnType;
}

/** Rows arrive in batches (each batch an array of rows, each row one value per column). */
export type RowBatches = AsyncIterable<readonly (readonly unknown[])[]> | Iterable<readonly (readonly unknown[])[]>;

export interface WriteTableOptions {
  /** Stops the write between batches with a CANCELLED error; nothing is left behind. */
  signal?: AbortSignal;
}

export interface WriteTableResult {
  readonly rows: number;
}
