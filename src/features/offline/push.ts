import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { invalid } from '../../core/errors.js';
import type { WriteColumn, WriteColumnType } from '../../io/types.js';
import { writeTable } from '../../io/write-table.js';
import type { FeatureType, JoinKey, ViewDefinition } from '../definitions/types.js';
import type { FeatureStore } from '../feature-store.js';
import type { FeatureScalar, OnlineRow } from '../online/online-store.js';
import { futureProblem, limitSetting, type FutureLimit } from './future-limit.js';

/** Where pushed rows go (Feast's `PushMode`). */
export const PUSH_TARGETS = ['online', 'offline', 'online_and_offline'] as const;
export type PushTarget = (typeof PUSH_TARGETS)[number];

export interface PushOptions {
  readonly view: string;
  /** Rows in the view's own column names: join keys, the timestamp field, optionally the created field, features. */
  readonly rows: readonly unknown[];
  /** Default `online_and_offline`. */
  readonly to?: PushTarget;
  /** The push's clock (epoch ms): the created time of rows without one, and the log file's name. */
  readonly now?: number;
}

export interface PushResult {
  readonly rows: number;
  /** Rows the online store took (0 when pushing offline only). */
  readonly written: number;
  /** Rows the online store refused because it holds a newer value. */
  readonly stale: number;
  /** The push log file, when the rows went offline. */
  readonly file?: string;
}

/** Most problems listed in one error. */
const MAX_PROBLEMS = 20;

/**
 * Push fresh feature values (Feast's `push`): every row is checked against the view first (join
 * keys present and typed, the timestamp an ISO string or epoch ms and at most the store's
 * `maxFutureSkewMs` past now, features typed per definition, no unknown columns; one
 * INVALID_ARGUMENT naming each `rows[i].column`, nothing written), then the batch is appended to
 * the view's offline push log as one Parquet file (atomically, named `<epoch ms>-<random>.parquet`
 * so names sort by time) and written to the online store, which skips rows older than what it holds.
 * Training sets, materialization and the skew check read the push log after the view's source.
 *
 * A row without a created time gets the push time when the view has a created column, so a
 * correction pushed for an existing event time wins the tie-break over the source row.
 *
 * @example
 * await pushFeatures(platform.features, { view: 'driver_stats', rows: [{ driver_id: 7, event_ts: Date.now(), trips: 12 }] });
 */
export async function pushFeatures(store: FeatureStore, options: PushOptions): Promise<PushResult> {
  const to = options.to ?? 'online_and_offline';
  if (!PUSH_TARGETS.includes(to))
    throw invalid(`"to" must be one of ${PUSH_TARGETS.join(', ')}, got ${JSON.stringify(to)}`);
  const view = await store.view(options.view);
  const keys = await store.joinKeys(view);
  const now = options.now ?? Date.now();
  const rows = checkRows(view, keys, options.rows, { now, skewMs: store.maxFutureSkewMs });
  if (rows.length === 0) return { rows: 0, written: 0, stale: 0 };
  let file: string | undefined;
  if (to !== 'online') file = await appendToLog(store, view, keys, rows, now);
  let outcome = { written: 0, stale: 0 };
  if (to !== 'offline') outcome = await store.online.write(view.name, rows);
  return { rows: rows.length, ...outcome, ...(file === undefined ? {} : { file }) };
}

function checkRows(
  view: ViewDefinition,
  keys: readonly JoinKey[],
  rows: readonly unknown[],
  limit: FutureLimit,
): OnlineRow[] {
  const { now } = limit;
  const listed: unknown = rows;
  if (!Array.isArray(listed)) throw invalid('"rows" must be an array of objects');
  const known = new Set([
    ...keys.map((k) => k.name),
    view.timestampField,
    ...(view.createdTimestampField === undefined ? [] : [view.createdTimestampField]),
    ...view.features.map((f) => f.name),
  ]);
  const problems: string[] = [];
  const checked: OnlineRow[] = [];
  rows.forEach((raw, index) => {
    if (problems.length >= MAX_PROBLEMS) return;
    const at = `rows[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${at} must be an object`);
      return;
    }
    const row = raw as Record<string, unknown>;
    const rowProblems: string[] = [];
    for (const column of Object.keys(row))
      if (!known.has(column)) rowProblems.push(`${at}.${column}: view "${view.name}" has no such column`);
    const key: Record<string, string | number> = {};
    for (const joinKey of keys) {
      const value = row[joinKey.name];
      if (joinKey.type === 'string' ? typeof value === 'string' : Number.isSafeInteger(value))
        key[joinKey.name] = value as string | number;
      else
        rowProblems.push(
          `${at}.${joinKey.name}: join key must be ${joinKey.type === 'string' ? 'a string' : 'an int64'}, got ${describe(value)}`,
        );
    }
    const eventTimeMs = timeOf(row[view.timestampField], `${at}.${view.timestampField}`, rowProblems, true);
    const givenCreatedMs =
      view.createdTimestampField === undefined
        ? undefined
        : timeOf(row[view.createdTimestampField], `${at}.${view.createdTimestampField}`, rowProblems, false);
    const createdTimeMs = view.createdTimestampField === undefined ? undefined : (givenCreatedMs ?? now);
    checkNotFuture(eventTimeMs, `${at}.${view.timestampField}`, key, limit, rowProblems);
    checkNotFuture(givenCreatedMs, `${at}.${view.createdTimestampField ?? ''}`, key, limit, rowProblems);
    const values: Record<string, FeatureScalar> = {};
    for (const feature of view.features) {
      const value = row[feature.name] ?? null;
      if (value === null || fits(feature.type, value)) values[feature.name] = value as FeatureScalar;
      else rowProblems.push(`${at}.${feature.name}: expected ${feature.type}, got ${describe(value)}`);
    }
    problems.push(...rowProblems);
    if (rowProblems.length === 0 && eventTimeMs !== undefined)
      checked.push({ key, values, eventTimeMs, ...(createdTimeMs === undefined ? {} : { createdTimeMs }) });
  });
  if (problems.length > 0) {
    throw invalid(
      `push to view "${view.name}" refused, nothing written: ${problems.slice(0, MAX_PROBLEMS).join('; ')}${problems.length >= MAX_PROBLEMS ? '; ...' : ''}`,
      { problems },
    );
  }
  return checked;
}

function checkNotFuture(
  timeMs: number | undefined,
  at: string,
  key: Record<string, string | number>,
  limit: FutureLimit,
  problems: string[],
): void {
  const problem = timeMs === undefined ? undefined : futureProblem(timeMs, limit);
  // A created time that far ahead would win every tie at its event time the same way.
  if (problem !== undefined) problems.push(`${at}: ${problem} (entity ${JSON.stringify(key)}; ${limitSetting(limit)})`);
}

/** Epoch ms from an ISO string or epoch-ms number; a problem when required and absent, or unparseable. */
function timeOf(value: unknown, at: string, problems: string[], required: boolean): number | undefined {
  if (value === undefined || value === null) {
    if (required) problems.push(`${at}: the event timestamp is required`);
    return undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /\d{4}-\d{2}-\d{2}/.test(value)) {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  problems.push(`${at}: expected an ISO-8601 time or epoch milliseconds, got ${describe(value)}`);
  return undefined;
}

const INT32_MAX = 2 ** 31 - 1;

function fits(type: FeatureType, value: unknown): boolean {
  switch (type) {
    case 'int64':
      return Number.isSafeInteger(value);
    case 'int32':
      return Number.isSafeInteger(value) && Math.abs(value as number) <= INT32_MAX;
    case 'float64':
    case 'float32':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
    ? String(value)
    : typeof value;
}

const WRITE_TYPE: Readonly<Record<FeatureType, WriteColumnType>> = {
  int64: 'integer',
  int32: 'integer',
  float64: 'number',
  float32: 'number',
  string: 'string',
  bool: 'boolean',
};

/** One Parquet file per push, in the view's own column names; timestamps as epoch ms (normalised on read). */
async function appendToLog(
  store: FeatureStore,
  view: ViewDefinition,
  keys: readonly JoinKey[],
  rows: readonly OnlineRow[],
  now: number,
): Promise<string> {
  const columns: WriteColumn[] = [];
  const cells: ((row: OnlineRow) => unknown)[] = [];
  const add = (name: string, type: WriteColumnType, cell: (row: OnlineRow) => unknown): void => {
    if (columns.some((c) => c.name === name)) return;
    columns.push({ name, type });
    cells.push(cell);
  };
  for (const key of keys) add(key.name, WRITE_TYPE[key.type], (row) => row.key[key.name]);
  add(view.timestampField, 'integer', (row) => Math.round(row.eventTimeMs));
  if (view.createdTimestampField !== undefined)
    add(view.createdTimestampField, 'integer', (row) =>
      row.createdTimeMs === undefined ? null : Math.round(row.createdTimeMs),
    );
  for (const feature of view.features)
    add(feature.name, WRITE_TYPE[feature.type], (row) => row.values[feature.name] ?? null);
  const dir = store.pushLogDir(view.name);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${String(now).padStart(13, '0')}-${randomBytes(6).toString('hex')}.parquet`);
  await writeTable(file, columns, [rows.map((row) => cells.map((cell) => cell(row)))]);
  return file;
}
