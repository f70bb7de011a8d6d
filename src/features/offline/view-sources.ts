import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { listValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { sql } from 'kysely';
import { invalid } from '../../core/errors.js';
import {
  quoteIdentifier,
  resolveTableSource,
  tableFormatOf,
  toReadError,
  type TableFormat,
  type TableSource,
} from '../../io/table-source.js';
import type { WriteColumn, WriteColumnType } from '../../io/types.js';
import { writeTable } from '../../io/write-table.js';
import type { Database } from '../../store/database.js';
import type { FeatureType, JoinKey, ViewDefinition } from '../definitions/types.js';
import type { FeatureStore } from '../feature-store.js';

/**
 * What DuckDB reads for a feature view: its source (a file or glob, or a snapshot of a table on
 * the metadata database) followed by its push log. Parts are unioned by column name; on a full tie
 * (same key, event time and created time) a later part wins, and within a part a later row, so a
 * pushed row beats the source row it repeats.
 */

/** One input of a view: a file or glob, or an explicit list of files (the push log, in name order). */
export interface ViewSourcePart {
  readonly path: string | readonly string[];
  /** For messages. */
  readonly label: string;
}

/** A view's inputs, resolved; `dispose` removes the temporary snapshot of a table source, if any. */
export interface ViewSourceFiles {
  readonly parts: readonly ViewSourcePart[];
  dispose(): Promise<void>;
}

/** DuckDB types of the declared feature and join-key types: every part is cast to these, so unions line up. */
export const DUCKDB_TYPE: Readonly<Record<FeatureType, string>> = {
  int64: 'BIGINT',
  int32: 'INTEGER',
  float64: 'DOUBLE',
  float32: 'FLOAT',
  string: 'VARCHAR',
  bool: 'BOOLEAN',
};

/** Rows per page when a table source is snapshotted through Kysely. */
const SNAPSHOT_PAGE_ROWS = 10_000;

/** The push log of a view, oldest first: committed Parquet files only (temp files start with a dot). */
export async function pushLogFiles(store: FeatureStore, view: string): Promise<string[]> {
  const dir = store.pushLogDir(view);
  const names = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw error;
  });
  return names
    .filter((name) => name.endsWith('.parquet') && !name.startsWith('.'))
    .sort()
    .map((name) => path.join(dir, name));
}

/**
 * Resolve `view` to the files DuckDB reads: its source, then its push log when it has files.
 * A `{ table }` source is copied through Kysely, page by page, into a temporary Parquet file
 * (DuckDB here has no SQLite/PostgreSQL scanner and must not download one); call `dispose`.
 */
export async function openViewSource(store: FeatureStore, view: ViewDefinition): Promise<ViewSourceFiles> {
  const parts: ViewSourcePart[] = [];
  let tempDir: string | undefined;
  if ('path' in view.source) {
    parts.push({ path: view.source.path, label: view.source.path });
  } else {
    tempDir = await mkdtemp(path.join(os.tmpdir(), 'slipway-view-'));
    const file = path.join(tempDir, `${randomBytes(4).toString('hex')}.parquet`);
    try {
      await snapshotTable(store.database, view.source.table, viewColumns(view, await store.joinKeys(view)), file);
    } catch (error) {
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
    parts.push({ path: file, label: `table ${view.source.table}` });
  }
  const log = await pushLogFiles(store, view.name);
  if (log.length > 0) parts.push({ path: log, label: `push log of ${view.name}` });
  return {
    parts,
    async dispose() {
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    },
  };
}

/** The columns a view reads, each once: join keys, event and created time, features. */
function viewColumns(
  view: ViewDefinition,
  keys: readonly JoinKey[],
): { name: string; kind: 'timestamp' | FeatureType }[] {
  const columns = new Map<string, 'timestamp' | FeatureType>();
  for (const key of keys) columns.set(key.name, key.type);
  columns.set(view.timestampField, 'timestamp');
  if (view.createdTimestampField !== undefined) columns.set(view.createdTimestampField, 'timestamp');
  for (const feature of view.features) if (!columns.has(feature.name)) columns.set(feature.name, feature.type);
  return [...columns].map(([name, kind]) => ({ name, kind }));
}

/**
 * Copy the view's columns of `table` to a Parquet file. Numbers travel as DOUBLE and are cast to
 * their declared types when read; timestamps keep what the database returned (epoch numbers, ISO
 * text, or a Date from PostgreSQL, stored as epoch ms) and are normalised like any other source.
 * Pages are ordered by SQLite's rowid (insertion order) or, on PostgreSQL, by every column read, so
 * paging is stable.
 */
async function snapshotTable(
  database: Database,
  table: string,
  columns: readonly { name: string; kind: 'timestamp' | FeatureType }[],
  file: string,
): Promise<void> {
  const refs = sql.join(columns.map((c) => sql.ref(c.name)));
  const order = database.dialect === 'sqlite' ? sql`rowid` : refs;
  const page = async (offset: number): Promise<Record<string, unknown>[]> => {
    try {
      const result = await sql<
        Record<string, unknown>
      >`select ${refs} from ${sql.table(table)} order by ${order} limit ${SNAPSHOT_PAGE_ROWS} offset ${offset}`.execute(
        database.db,
      );
      return result.rows;
    } catch (error) {
      throw invalid(`cannot read table "${table}" of the metadata database: ${(error as Error).message}`);
    }
  };
  const first = await page(0);
  const writeColumns: WriteColumn[] = columns.map((c) => ({ name: c.name, type: snapshotType(c.kind, first, c.name) }));
  async function* batches(): AsyncGenerator<unknown[][]> {
    let rows = first;
    for (let offset = 0; rows.length > 0;) {
      yield rows.map((row) => writeColumns.map((c) => snapshotValue(row[c.name], c.type)));
      if (rows.length < SNAPSHOT_PAGE_ROWS) break;
      offset += rows.length;
      rows = await page(offset);
    }
  }
  await writeTable(file, writeColumns, batches());
}

function snapshotType(
  kind: 'timestamp' | FeatureType,
  rows: readonly Record<string, unknown>[],
  name: string,
): WriteColumnType {
  switch (kind) {
    case 'string':
      return 'string';
    case 'bool':
      return 'boolean';
    case 'timestamp':
      return typeof rows.find((row) => row[name] !== null && row[name] !== undefined)?.[name] === 'string'
        ? 'string'
        : 'integer';
    case 'int64':
    case 'int32':
    case 'float64':
    case 'float32':
      return 'number';
  }
}

function snapshotValue(value: unknown, type: WriteColumnType): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.getTime();
  if (type === 'string' && typeof value !== 'string')
    return typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean'
      ? String(value)
      : JSON.stringify(value);
  if (type === 'integer' && typeof value === 'number' && !Number.isSafeInteger(value)) return Math.round(value);
  if (type === 'boolean' && typeof value === 'bigint') return value === 1n;
  return value;
}

/** How one view's parts are read: which columns, cast to what, and which hold timestamps. */
export interface UnionSpec {
  /** Output columns in order; `cast` is a DuckDB type (absent: as read). */
  readonly columns: readonly { readonly name: string; readonly cast?: string }[];
  /** Columns normalised to TIMESTAMP (they must also be in `columns`). */
  readonly timestamps: readonly string[];
  /** Add `__part`, `__file`, `__seq` columns: ordered by them, rows are in input order (for tie-breaking). */
  readonly ordinals: boolean;
}

/** The SQL `UnionSpec` for a view over its definition (casts to the declared types). */
export function viewUnionSpec(view: ViewDefinition, keys: readonly JoinKey[], ordinals: boolean): UnionSpec {
  const columns = viewColumns(view, keys).map(({ name, kind }) =>
    kind === 'timestamp' ? { name } : { name, cast: DUCKDB_TYPE[kind] },
  );
  const timestamps = [
    view.timestampField,
    ...(view.createdTimestampField === undefined ? [] : [view.createdTimestampField]),
  ];
  return { columns, timestamps, ordinals };
}

const READERS: Readonly<Record<TableFormat, (param: string) => string>> = {
  csv: (p) => `read_csv(${p}, header = true, allow_quoted_nulls = false)`,
  parquet: (p) => `read_parquet(${p}, filename = '__file', file_row_number = true)`,
  jsonl: (p) => `read_json(${p}, format = 'newline_delimited')`,
};

/**
 * One SELECT over every part, unioned by name, with timestamps normalised to TIMESTAMP (from
 * TIMESTAMP[_S|_MS|_NS], TIMESTAMPTZ, DATE, epoch-ms numbers or ISO text with or without an
 * offset) and other columns cast per `spec`. Paths are bound as `$firstParam`, `$firstParam+1`...
 * (returned in `params`); a missing column is an INVALID_ARGUMENT naming the part. Run
 * `SET TimeZone = 'UTC'` on the connection first (see {@link useUtc}) so offset-less text is UTC.
 */
export async function unionSql(
  connection: DuckDBConnection,
  parts: readonly ViewSourcePart[],
  spec: UnionSpec,
  firstParam = 1,
): Promise<{ sql: string; params: DuckDBValue[] }> {
  const q = quoteIdentifier;
  const selects: string[] = [];
  const params: DuckDBValue[] = [];
  for (const [index, part] of parts.entries()) {
    const param = `$${firstParam + index}`;
    const format = tableFormatOf(typeof part.path === 'string' ? part.path : (part.path[0] ?? '.parquet'));
    const source = await resolvePart(part, format);
    const value = typeof part.path === 'string' ? source.path : listValue([...part.path]);
    const described = await describePart(connection, part, READERS[format]('$1'), value);
    const types = new Map(described.map((c) => [c.name, c]));
    const list = spec.columns.map(({ name, cast }) => {
      const column = types.get(name);
      if (column === undefined)
        throw invalid(
          `${part.label} has no column "${name}"; its columns are ${described.map((c) => JSON.stringify(c.name)).join(', ')}`,
        );
      if (spec.timestamps.includes(name)) return `${timestampSql(column)} AS ${q(name)}`;
      return cast === undefined ? q(name) : `CAST(${q(name)} AS ${cast}) AS ${q(name)}`;
    });
    if (spec.ordinals) {
      // Input order without a sort: Parquet says where each row came from; other formats are
      // numbered as scanned (a streaming window, in order while DuckDB preserves insertion order).
      const order =
        format === 'parquet'
          ? ['__file', 'file_row_number AS __seq']
          : ["'' AS __file", 'row_number() OVER () AS __seq'];
      list.push(`${index} AS __part`, ...order);
    }
    selects.push(`SELECT ${list.join(', ')} FROM ${READERS[format](param)}`);
    params.push(value);
  }
  return { sql: selects.map((s) => `(${s})`).join(' UNION ALL BY NAME '), params };
}

async function resolvePart(part: ViewSourcePart, format: TableFormat): Promise<TableSource> {
  if (typeof part.path === 'string') return resolveTableSource(part.path);
  return { file: part.label, path: part.path[0] ?? '', format, sql: '' };
}

/** A part's columns and DuckDB types, without reading its rows. */
async function describePart(
  connection: DuckDBConnection,
  part: ViewSourcePart,
  reader: string,
  value: DuckDBValue,
): Promise<PartColumn[]> {
  try {
    const result = await connection.stream(`SELECT * FROM ${reader} LIMIT 0`, [value]);
    const names = result.columnNames();
    return result.columnTypes().map((type, index) => ({ name: names[index] ?? '', duckdbType: type.toString() }));
  } catch (error) {
    throw partReadError(part, error);
  }
}

/** A column of a part as DuckDB sees it. */
export interface PartColumn {
  readonly name: string;
  readonly duckdbType: string;
}

const NUMERIC_TYPE = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL.*)$/;

/** Make offset-less timestamp text mean UTC on this connection, whatever the host's zone. */
export async function useUtc(connection: DuckDBConnection): Promise<void> {
  await connection.run("SET TimeZone = 'UTC'");
}

/** A TIMESTAMP expression for a column of any supported type. */
export function timestampSql(column: PartColumn): string {
  const name = quoteIdentifier(column.name);
  const type = column.duckdbType.toUpperCase();
  if (type === 'TIMESTAMP WITH TIME ZONE' || type === 'TIMESTAMPTZ') return `make_timestamp(epoch_us(${name}))`;
  if (type.startsWith('TIMESTAMP') || type === 'DATE') return `CAST(${name} AS TIMESTAMP)`;
  if (NUMERIC_TYPE.test(type)) return `epoch_ms(CAST(${name} AS BIGINT))`;
  if (type === 'VARCHAR') {
    return `CASE WHEN regexp_full_match(trim(${name}), '-?[0-9]+') THEN epoch_ms(CAST(trim(${name}) AS BIGINT)) ELSE make_timestamp(epoch_us(CAST(${name} AS TIMESTAMPTZ))) END`;
  }
  throw invalid(
    `column "${column.name}" has type ${column.duckdbType}, which is not a timestamp (expected a timestamp, a date, epoch milliseconds or ISO text)`,
  );
}

/** Wraps DuckDB read errors of a part as SlipwayErrors. */
export function partReadError(part: ViewSourcePart, error: unknown): Error {
  return toReadError({ file: part.label, path: '', format: 'parquet', sql: '' }, error);
}
