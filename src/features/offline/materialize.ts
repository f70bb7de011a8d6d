import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { SlipwayError, invalid } from '../../core/errors.js';
import { shortDuckDbMessage, withConnection } from '../../io/duckdb.js';
import { quoteIdentifier } from '../../io/table-source.js';
import type { ViewDefinition } from '../definitions/types.js';
import type { FeatureStore } from '../feature-store.js';
import type { FeatureScalar, OnlineRow } from '../online/online-store.js';
import { futureProblem, limitSetting } from './future-limit.js';
import { openViewSource, unionSql, useUtc, viewUnionSpec } from './view-sources.js';

export interface MaterializeOptions {
  /** Views to materialize; default every applied view. */
  readonly views?: readonly string[];
  /** Earliest event time (epoch ms, inclusive); default no lower bound, or the incremental start. */
  readonly start?: number;
  /** Latest event time (epoch ms, inclusive); default now; at most now + the store's `maxFutureSkewMs`. */
  readonly end?: number;
  /** Start each view where its last materialization ended (see {@link incrementalStart}). */
  readonly incremental?: boolean;
  /** Rows per online write, and the most rows held in JavaScript at once; default 10,000. */
  readonly chunkRows?: number;
  readonly onProgress?: (progress: MaterializeProgress) => void;
  /** The clock (epoch ms); default `Date.now()`. */
  readonly now?: number;
}

export interface MaterializeProgress {
  readonly view: string;
  /** Rows handed to the online store so far. */
  readonly rows: number;
  /** Rows this view will write in all (one per entity key in the window). */
  readonly total: number;
}

/** One view's run. */
export interface ViewMaterialization {
  readonly view: string;
  /** The window, epoch ms; `startMs` is null when it had no lower bound. */
  readonly startMs: number | null;
  readonly endMs: number;
  /** Entity keys found in the window (= written + stale). */
  readonly rows: number;
  readonly written: number;
  /** Rows the online store refused because it holds a newer value. */
  readonly stale: number;
  readonly seconds: number;
}

const DEFAULT_CHUNK_ROWS = 10_000;
const WEEK_MS = 7 * 24 * 3_600_000;
/** 0001-01-01T00:00:00Z: the lower bound of a window without a start. */
const EARLIEST_MS = -62_135_596_800_000;

/**
 * Feast's rule for where `materialize --incremental` starts: the end of the view's last run, or,
 * for a view never materialized, now - ttl (ttl > 0) or now - 52 weeks (ttl = 0).
 */
export async function incrementalStart(store: FeatureStore, view: ViewDefinition, now: number): Promise<number> {
  const watermark = await store.store.watermark(view.name);
  if (watermark !== undefined) return watermark;
  return view.ttlMs > 0 ? now - view.ttlMs : now - 52 * WEEK_MS;
}

/**
 * Load the latest row per entity key with an event time in [start, end] (both inclusive; ties by
 * created time, then input order, as in the point-in-time join) from each view's source and push
 * log into the online store, and record the run (the incremental watermark).
 *
 * Memory stays bounded whatever the source size: DuckDB reduces the rows to one per key with a
 * `max_by` aggregate (under its memory limit, spilling beyond it) into a temp table, which is then
 * streamed to the online store `chunkRows` rows at a time; JavaScript never holds more than one
 * chunk. The online store's stale protection keeps a newer pushed value when an older window is
 * materialized again.
 *
 * @example
 * const runs = await materialize(platform.features, { incremental: true, onProgress: console.log });
 */
export async function materialize(
  store: FeatureStore,
  options: MaterializeOptions = {},
): Promise<ViewMaterialization[]> {
  const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
  if (!Number.isInteger(chunkRows) || chunkRows < 1)
    throw invalid(`chunkRows must be a positive integer, got ${chunkRows}`);
  const now = options.now ?? Date.now();
  const end = options.end ?? now;
  // Refused, not clamped: rows stamped later than now would shadow every real value until then
  // (future-limit.ts), and the run's end becomes the next incremental start. The default end (now)
  // leaves such rows in the source until their time comes; an explicit end is never cut silently.
  const limit = { now, skewMs: store.maxFutureSkewMs };
  const tooLate = futureProblem(end, limit);
  if (tooLate !== undefined)
    throw invalid(
      `end ${tooLate}: materialized rows must not be stamped past the server's clock (${limitSetting(limit)})`,
    );
  const applied = (await store.definitions()).views;
  const views =
    options.views === undefined || options.views.length === 0
      ? applied
      : await Promise.all(options.views.map((name) => store.view(name)));
  const results: ViewMaterialization[] = [];
  for (const view of views) {
    if (options.incremental === true && options.start !== undefined)
      throw invalid('give either a start or incremental, not both');
    const start = options.incremental === true ? await incrementalStart(store, view, now) : options.start;
    if (start !== undefined && start > end)
      throw invalid(
        `view "${view.name}": start ${new Date(start).toISOString()} is after end ${new Date(end).toISOString()}`,
      );
    results.push(await materializeView(store, view, { start, end, chunkRows, onProgress: options.onProgress }));
  }
  return results;
}

interface ViewRun {
  readonly start: number | undefined;
  readonly end: number;
  readonly chunkRows: number;
  readonly onProgress: ((progress: MaterializeProgress) => void) | undefined;
}

async function materializeView(store: FeatureStore, view: ViewDefinition, run: ViewRun): Promise<ViewMaterialization> {
  const began = performance.now();
  const keys = await store.joinKeys(view);
  if (keys.length === 0) throw invalid(`view "${view.name}" has no join keys`);
  const source = await openViewSource(store, view);
  try {
    const counts = await withConnection(async (connection) => {
      await useUtc(connection);
      const union = await unionSql(connection, source.parts, viewUnionSpec(view, keys, true));
      const total = await reduceToLatest(
        connection,
        view,
        keys.map((k) => k.name),
        union,
        run,
      );
      return writeOnline(store, connection, view, keys, total, run);
    });
    await store.store.recordMaterialization({
      view: view.name,
      startMs: run.start ?? 0,
      endMs: run.end,
      rows: counts.written + counts.stale,
    });
    const rows = counts.written + counts.stale;
    return {
      view: view.name,
      startMs: run.start ?? null,
      endMs: run.end,
      rows,
      ...counts,
      seconds: (performance.now() - began) / 1000,
    };
  } finally {
    await source.dispose();
  }
}

/** Fills temp table `mat_latest` with one row per key: keys, `__event_ms`, `__created_ms`, `f0`, `f1`... ; returns its size. */
async function reduceToLatest(
  connection: DuckDBConnection,
  view: ViewDefinition,
  keys: readonly string[],
  union: { sql: string; params: DuckDBValue[] },
  run: ViewRun,
): Promise<number> {
  const q = quoteIdentifier;
  const ts = q(view.timestampField);
  const created = view.createdTimestampField === undefined ? 'CAST(NULL AS TIMESTAMP)' : q(view.createdTimestampField);
  const startParam = `$${union.params.length + 1}`;
  const endParam = `$${union.params.length + 2}`;
  const where = [
    ...keys.map((k) => `${q(k)} IS NOT NULL`),
    `${ts} <= epoch_ms(CAST(${endParam} AS BIGINT))`,
    `${ts} >= epoch_ms(CAST(${startParam} AS BIGINT))`,
  ];
  const payload = [
    `__event_ms := CAST(epoch_ms(${ts}) AS DOUBLE)`,
    `__created_ms := CAST(epoch_ms(${created}) AS DOUBLE)`,
    ...view.features.map((f, i) => `f${i} := ${q(f.name)}`),
  ];
  // NULL sorts above everything inside a STRUCT comparison, so a missing created time becomes the smallest value.
  const order = `struct_pack(a := epoch_us(${ts}), b := coalesce(epoch_us(${created}), -9223372036854775807), c := __part, d := __file, e := __seq)`;
  const keyList = keys.map(q).join(', ');
  const statement = `CREATE OR REPLACE TEMP TABLE mat_latest AS
    SELECT ${keyList}, m.* FROM (
      SELECT ${keyList}, max_by(struct_pack(${payload.join(', ')}), ${order}) AS m
      FROM (${union.sql}) WHERE ${where.join(' AND ')} GROUP BY ${keyList})`;
  try {
    await connection.run(statement, [...union.params, run.start ?? EARLIEST_MS, run.end]);
    const result = await connection.runAndReadAll('SELECT count(*) FROM mat_latest');
    return Number(result.getRows()[0]?.[0] ?? 0);
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    throw invalid(`materializing view "${view.name}" failed: ${shortDuckDbMessage(error)}`);
  }
}

/** Streams `mat_latest` into the online store, `chunkRows` rows per write. */
async function writeOnline(
  store: FeatureStore,
  connection: DuckDBConnection,
  view: ViewDefinition,
  keys: readonly { name: string; type: string }[],
  total: number,
  run: ViewRun,
): Promise<{ written: number; stale: number }> {
  const q = quoteIdentifier;
  // BIGINT would arrive as bigint; DOUBLE is exact for the keys and values an online store holds.
  const keyColumns = keys.map((k) => (k.type === 'string' ? q(k.name) : `CAST(${q(k.name)} AS DOUBLE)`));
  const featureColumns = view.features.map((f, i) =>
    f.type === 'int64' || f.type === 'int32' ? `CAST(f${i} AS DOUBLE)` : `f${i}`,
  );
  const result = await connection.stream(
    `SELECT ${[...keyColumns, '__event_ms', '__created_ms', ...featureColumns].join(', ')} FROM mat_latest`,
  );
  let written = 0;
  let stale = 0;
  let done = 0;
  let batch: OnlineRow[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const outcome = await store.online.write(view.name, batch);
    written += outcome.written;
    stale += outcome.stale;
    done += batch.length;
    batch = [];
    run.onProgress?.({ view: view.name, rows: done, total });
  };
  run.onProgress?.({ view: view.name, rows: 0, total });
  for (;;) {
    const chunk = await result.fetchChunk();
    if (chunk === null || chunk.rowCount === 0) break;
    for (const row of chunk.getRows()) {
      batch.push(toOnlineRow(row, keys, view));
      if (batch.length >= run.chunkRows) await flush();
    }
  }
  await flush();
  return { written, stale };
}

function toOnlineRow(row: readonly DuckDBValue[], keys: readonly { name: string }[], view: ViewDefinition): OnlineRow {
  const key: Record<string, string | number> = {};
  keys.forEach((k, i) => (key[k.name] = row[i] as string | number));
  const base = keys.length;
  const values: Record<string, FeatureScalar> = {};
  view.features.forEach((f, i) => (values[f.name] = scalar(row[base + 2 + i])));
  const created = row[base + 1];
  return {
    key,
    values,
    eventTimeMs: row[base] as number,
    ...(typeof created === 'number' ? { createdTimeMs: created } : {}),
  };
}

function scalar(value: DuckDBValue | undefined): FeatureScalar {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return Number(value);
  return null;
}
