import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { SlipwayError, invalid } from '../../core/errors.js';
import { shortDuckDbMessage, withConnection } from '../../io/duckdb.js';
import { describeSource } from '../../io/describe-table.js';
import {
  quoteIdentifier,
  resolveTableSource,
  resolveTableTarget,
  toReadError,
  type TableFormat,
  type TableSource,
} from '../../io/table-source.js';
import { timestampSql, unionSql, useUtc, type ViewSourcePart } from './view-sources.js';

/** One feature view to join onto the entity rows. */
export interface PointInTimeView {
  /** Prefix of the output columns: feature `f` of view `v` becomes column `v__f`. */
  readonly name: string;
  /**
   * The view's source file (CSV, Parquet or JSONL, by extension, or a glob), or several parts
   * unioned by column name, where a later part wins a full tie (e.g. the source, then its push log).
   */
  readonly source: string | readonly ViewSourcePart[];
  /** DuckDB types to cast source columns to (e.g. the declared feature types), so parts line up. */
  readonly columnTypes?: Readonly<Record<string, string>>;
  /** Columns present in both the entity file and the source, compared column by column with `=` (a null key never matches). */
  readonly joinKeys: readonly string[];
  /** The source's event-time column. */
  readonly eventTimestamp: string;
  /** The source's creation-time column; breaks ties on the event time (latest wins). */
  readonly createdTimestamp?: string;
  /** Maximum age of a feature row relative to the entity timestamp, in ms; 0 or undefined means no lower bound. */
  readonly ttlMs?: number;
  /** Source columns to return. */
  readonly features: readonly string[];
}

/** Options of {@link pointInTimeJoin}. */
export interface PointInTimeJoinOptions {
  /** The entity file (CSV, Parquet or JSONL): join keys plus `entityTimestamp`, and any other columns. */
  readonly entities: string;
  /** The entity file's timestamp column (T): a timestamp, a date, epoch milliseconds or ISO text. */
  readonly entityTimestamp: string;
  /** DuckDB types to cast entity columns to (e.g. join keys to their declared types); the output keeps the cast. */
  readonly entityColumnTypes?: Readonly<Record<string, string>>;
  readonly views: readonly PointInTimeView[];
  /** The output file; its format follows its extension (`.csv`, `.parquet`, `.jsonl`). */
  readonly out: string;
  /**
   * How DuckDB computes it; both give the same rows. `asof` (default): ties deduplicated first,
   * then ASOF LEFT JOIN plus a TTL post-filter, ~2.5-3x faster on 1M entity rows. `window`: a range
   * join and a ROW_NUMBER window per entity row (Feast's SQL template).
   */
  readonly strategy?: 'asof' | 'window';
}

/** The output column holding `feature` of view `view`: `<view>__<feature>`. */
export function featureColumnName(view: string, feature: string): string {
  return `${view}__${feature}`;
}

const COPY_FORMAT: Readonly<Record<TableFormat, string>> = {
  csv: 'csv, HEADER true',
  parquet: 'parquet',
  jsonl: 'json',
};

/**
 * Feast's point-in-time join (`get_historical_features`), run in DuckDB. For every view and every
 * entity row with timestamp T it picks the source row with equal join keys and the latest
 * `event_ts` such that `T - ttl <= event_ts <= T` (both inclusive; no lower bound when ttl is 0 or
 * unset). Ties on `event_ts` go to the latest `created_ts` (nulls last), then to the row that comes
 * last in the source file, so the result is deterministic. No match gives null features.
 *
 * Entity, event and created timestamps may be TIMESTAMP (any precision or with a zone), DATE,
 * epoch-ms numbers or ISO text (with or without an offset; none means UTC); all are normalised to
 * UTC TIMESTAMP before comparing. A view may have several parts (its source, then its push log).
 *
 * Every entity row is kept exactly once and in input order, duplicates included. The output holds
 * the entity columns followed by `<view>__<feature>` per view and feature (see {@link featureColumnName}).
 *
 * DuckDB's ASOF JOIN picks among rows tied on the ordering column differently from run to run,
 * so the `asof` strategy first keeps one row per (keys, event_ts) by the tie-break above.
 *
 * @example
 * await pointInTimeJoin({
 *   entities: 'orders.parquet', entityTimestamp: 'ts', out: 'training.parquet',
 *   views: [{ name: 'user', source: 'user_stats.parquet', joinKeys: ['user_id'],
 *             eventTimestamp: 'event_ts', createdTimestamp: 'created_ts', ttlMs: 86_400_000, features: ['clicks'] }],
 * }); // columns: ...orders columns, user__clicks
 */
export async function pointInTimeJoin(options: PointInTimeJoinOptions): Promise<{ rows: number }> {
  checkOptions(options);
  const entities = await resolveTableSource(options.entities);
  const target = resolveTableTarget(options.out);
  return withConnection(async (connection) => {
    await useUtc(connection);
    // Temporary tables live and die with this connection. CREATE TABLE AS keeps input order, so
    // `rowid` numbers the rows in input order (entity order for output, file order for ties).
    await loadEntities(connection, entities, options);
    for (const [index, view] of options.views.entries()) await loadView(connection, `pit_source_${index}`, view);
    if (options.strategy !== 'window') await dedupTies(connection, options.views);
    const sql = options.strategy === 'window' ? buildWindowSql(options) : buildAsofSql(options);
    const ttls = options.views.map((view) => view.ttlMs ?? 0);
    try {
      const result = await connection.run(`COPY (${sql}) TO $1 (FORMAT ${COPY_FORMAT[target.format]})`, [
        target.path,
        ...ttls,
      ]);
      return { rows: result.rowsChanged };
    } catch (error) {
      throw new SlipwayError('INVALID_ARGUMENT', `point-in-time join failed: ${shortDuckDbMessage(error)}`, {
        cause: error,
      });
    }
  });
}

/** The entity rows plus `__pit_ts`, their timestamp normalised to TIMESTAMP (the output keeps the original column). */
async function loadEntities(
  connection: DuckDBConnection,
  source: TableSource,
  options: PointInTimeJoinOptions,
): Promise<void> {
  const columns = await describeSource(connection, source);
  const names = new Set(columns.map((c) => c.name));
  const missing = [options.entityTimestamp, ...options.views.flatMap((view) => view.joinKeys)].filter(
    (name, i, all) => !names.has(name) && all.indexOf(name) === i,
  );
  if (missing.length > 0) {
    throw invalid(
      `entity file "${source.file}" has no column ${missing.map((m) => JSON.stringify(m)).join(', ')}; its columns are ${columns.map((c) => JSON.stringify(c.name)).join(', ')}`,
    );
  }
  const ts = columns.find((c) => c.name === options.entityTimestamp)!;
  const casts = Object.entries(options.entityColumnTypes ?? {}).filter(([name]) => names.has(name));
  const replace =
    casts.length === 0
      ? ''
      : ` REPLACE (${casts.map(([name, type]) => `CAST(${quoteIdentifier(name)} AS ${type}) AS ${quoteIdentifier(name)}`).join(', ')})`;
  await load(
    connection,
    `CREATE TEMP TABLE pit_entities AS SELECT *${replace}, ${timestampSql(ts)} AS __pit_ts FROM ${source.sql}`,
    [source.path],
    source,
  );
}

/** One view's rows (every part, in order) as a temp table of the columns the join needs. */
async function loadView(connection: DuckDBConnection, table: string, view: PointInTimeView): Promise<void> {
  const parts: readonly ViewSourcePart[] =
    typeof view.source === 'string' ? [{ path: view.source, label: `table "${view.source}"` }] : view.source;
  const names = [
    ...new Set([
      ...view.joinKeys,
      view.eventTimestamp,
      ...(view.createdTimestamp === undefined ? [] : [view.createdTimestamp]),
      ...view.features,
    ]),
  ];
  const columns = names.map((name) => {
    const cast = view.columnTypes?.[name];
    return cast === undefined ? { name } : { name, cast };
  });
  const timestamps = [view.eventTimestamp, ...(view.createdTimestamp === undefined ? [] : [view.createdTimestamp])];
  const ordinals = parts.length > 1;
  const union = await unionSql(connection, parts, { columns, timestamps, ordinals });
  const select = ordinals
    ? `SELECT * EXCLUDE (__part, __file, __seq) FROM (${union.sql}) ORDER BY __part, __file, __seq`
    : union.sql;
  const source: TableSource = { file: parts.map((p) => p.label).join(' + '), path: '', format: 'parquet', sql: '' };
  await load(connection, `CREATE TEMP TABLE ${table} AS ${select}`, union.params, source);
}

async function load(
  connection: DuckDBConnection,
  statement: string,
  params: DuckDBValue[],
  source: TableSource,
): Promise<void> {
  try {
    await connection.run(statement, params);
  } catch (error) {
    throw toReadError(source, error);
  }
}

/** Keeps, per source, one row per (join keys, event_ts): the latest created_ts, then the last in the file. */
async function dedupTies(connection: DuckDBConnection, views: readonly PointInTimeView[]): Promise<void> {
  const q = quoteIdentifier;
  for (const [index, view] of views.entries()) {
    const partition = [...view.joinKeys, view.eventTimestamp].map(q).join(', ');
    const order = [
      ...(view.createdTimestamp === undefined ? [] : [`${q(view.createdTimestamp)} DESC NULLS LAST`]),
      'rowid DESC',
    ].join(', ');
    await connection.run(
      `CREATE TEMP TABLE pit_dedup_${index} AS SELECT * FROM pit_source_${index}
       WHERE ${q(view.eventTimestamp)} IS NOT NULL
       QUALIFY row_number() OVER (PARTITION BY ${partition} ORDER BY ${order}) = 1`,
    );
  }
}

/**
 * The ASOF form: one ASOF LEFT JOIN per view on the deduplicated source (plain `=` keys and one
 * inequality only, see duckdb#13899), the TTL applied afterwards to the one candidate, as Feast does.
 * `$2`, `$3`, ... are the views' TTLs in ms (`$1` is the output path).
 */
function buildAsofSql(options: PointInTimeJoinOptions): string {
  const q = quoteIdentifier;
  const ts = 'e.__pit_ts';
  const columns: string[] = [];
  const joins: string[] = [];
  for (const [index, view] of options.views.entries()) {
    const s = `s${index}`;
    const event = `${s}.${q(view.eventTimestamp)}`;
    const ttl = `$${index + 2}`;
    const fresh = `(${ttl} = 0 OR ${event} >= ${ts} - to_milliseconds(CAST(${ttl} AS BIGINT)))`;
    for (const feature of view.features) {
      columns.push(`CASE WHEN ${fresh} THEN ${s}.${q(feature)} END AS ${q(featureColumnName(view.name, feature))}`);
    }
    const keys = view.joinKeys.map((key) => `e.${q(key)} = ${s}.${q(key)}`);
    joins.push(`ASOF LEFT JOIN pit_dedup_${index} ${s} ON ${[...keys, `${ts} >= ${event}`].join(' AND ')}`);
  }
  return `SELECT e.* EXCLUDE (__pit_ts), ${columns.join(', ')} FROM pit_entities e ${joins.join(' ')} ORDER BY e.rowid`;
}

/**
 * The window form: one CTE per view yielding (entity rowid, features) for the entity
 * rows that matched, then LEFT JOINs of them onto the entities, ordered by entity rowid.
 * `$2`, `$3`, ... are the views' TTLs in ms (`$1` is the output path).
 */
function buildWindowSql(options: PointInTimeJoinOptions): string {
  const q = quoteIdentifier;
  const ts = 'e.__pit_ts';
  const ctes = options.views.map((view, index) => {
    const keys = view.joinKeys.map((key) => `e.${q(key)} = f.${q(key)}`);
    const event = `f.${q(view.eventTimestamp)}`;
    const ttl = `$${index + 2}`;
    const window = [`${event} <= ${ts}`, `(${ttl} = 0 OR ${event} >= ${ts} - to_milliseconds(CAST(${ttl} AS BIGINT)))`];
    const order = [`${event} DESC`];
    if (view.createdTimestamp !== undefined) order.push(`f.${q(view.createdTimestamp)} DESC NULLS LAST`);
    order.push('f.rowid DESC');
    const features = view.features.map((feature) => `f.${q(feature)} AS ${q(featureColumnName(view.name, feature))}`);
    return `v${index} AS (
      SELECT e.rowid AS pit_row, ${features.join(', ')}
      FROM pit_entities e JOIN pit_source_${index} f ON ${[...keys, ...window].join(' AND ')}
      QUALIFY row_number() OVER (PARTITION BY e.rowid ORDER BY ${order.join(', ')}) = 1)`;
  });
  const columns = options.views.flatMap((view, index) =>
    view.features.map((feature) => `v${index}.${q(featureColumnName(view.name, feature))}`),
  );
  const joins = options.views.map((_view, index) => `LEFT JOIN v${index} ON v${index}.pit_row = e.rowid`);
  return `WITH ${ctes.join(',\n')}
    SELECT e.* EXCLUDE (__pit_ts)${columns.map((column) => `, ${column}`).join('')}
    FROM pit_entities e ${joins.join(' ')}
    ORDER BY e.rowid`;
}

function checkOptions(options: PointInTimeJoinOptions): void {
  const problems: string[] = [];
  if (options.entityTimestamp === '') problems.push('entityTimestamp must not be empty');
  if (options.strategy !== undefined && options.strategy !== 'asof' && options.strategy !== 'window') {
    problems.push(`strategy must be 'asof' or 'window', got ${JSON.stringify(options.strategy)}`);
  }
  const names = new Set<string>();
  for (const view of options.views) {
    const label = `view "${view.name}"`;
    if (view.name === '') problems.push('a view name must not be empty');
    if (names.has(view.name)) problems.push(`${label} appears twice`);
    names.add(view.name);
    if (view.joinKeys.length === 0) problems.push(`${label} needs at least one join key`);
    if (view.features.length === 0) problems.push(`${label} needs at least one feature`);
    if (view.eventTimestamp === '') problems.push(`${label}: eventTimestamp must not be empty`);
    const ttl = view.ttlMs ?? 0;
    if (!Number.isSafeInteger(ttl) || ttl < 0)
      problems.push(`${label}: ttlMs must be a non-negative integer, got ${ttl}`);
  }
  if (problems.length > 0) throw invalid(`invalid point-in-time join: ${problems.join('; ')}`);
}
