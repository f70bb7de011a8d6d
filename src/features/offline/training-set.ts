import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalid } from '../../core/errors.js';
import { describeTable } from '../../io/describe-table.js';
import { withConnection } from '../../io/duckdb.js';
import { quoteIdentifier, resolveTableSource, resolveTableTarget, type TableFormat } from '../../io/table-source.js';
import { parseFeatureRef, type JoinKey, type StoredService, type ViewDefinition } from '../definitions/types.js';
import type { FeatureStore } from '../feature-store.js';
import { featureColumnName, pointInTimeJoin, type PointInTimeView } from './point-in-time.js';
import { DUCKDB_TYPE, openViewSource, type ViewSourceFiles } from './view-sources.js';

export interface TrainingSetOptions {
  /** The feature service whose refs become the output's feature columns, in its order. */
  readonly service: string;
  /** Entity rows (CSV, Parquet or JSONL): every join key the service's views need, the timestamp, and every `request:<name>`. */
  readonly entities: string;
  /** Output file; its format follows its extension. */
  readonly out: string;
  /** The entity file's timestamp column; default `event_timestamp` (Feast's name). */
  readonly timestampColumn?: string;
}

export interface TrainingSetResult {
  readonly rows: number;
  /** The output's feature columns, in the service's order (`<view>__<feature>`, or the request column's own name). */
  readonly featureColumns: readonly string[];
  readonly serviceVersion: number;
}

const COPY_FORMAT: Readonly<Record<TableFormat, string>> = {
  csv: 'csv, HEADER true',
  parquet: 'parquet',
  jsonl: 'json',
};

/**
 * A point-in-time-correct training set for a feature service (Feast's `get_historical_features`,
 * rules in `pointInTimeJoin`): every entity row once, in order, followed by one column per
 * `view:feature` ref of the service, in the service's order. Each view reads its source plus its
 * push log. `request:<name>` refs are values the caller supplies at inference time, so here they
 * must already be columns of the entity file; they stay where they are.
 *
 * Errors: NOT_FOUND for an unknown service; INVALID_ARGUMENT naming the join key, timestamp or
 * request column the entity file lacks, or a source column a view lacks.
 *
 * @example
 * await buildTrainingSet(platform.features, { service: 'risk', entities: 'labels.parquet', out: 'train.parquet' });
 */
export async function buildTrainingSet(store: FeatureStore, options: TrainingSetOptions): Promise<TrainingSetResult> {
  const service = await store.service(options.service);
  const timestampColumn = options.timestampColumn ?? 'event_timestamp';
  const refs = service.features.map(parseFeatureRef);
  const requestColumns = refs.flatMap((ref) => (ref.kind === 'request' ? [ref.name] : []));
  const entityColumns = (await describeTable(options.entities)).columns.map((c) => c.name);
  const serviceViews = await openServiceViews(store, service);
  try {
    const needed = new Map<string, string>([[timestampColumn, 'the timestamp column (--timestamp-column)']]);
    for (const key of serviceViews.joinKeys)
      if (!needed.has(key.name)) needed.set(key.name, `a join key of view "${key.view}"`);
    for (const name of requestColumns)
      if (!needed.has(name)) needed.set(name, `request feature of service "${service.name}"`);
    const missing = [...needed].filter(([name]) => !entityColumns.includes(name));
    if (missing.length > 0) {
      throw invalid(
        `entity file "${options.entities}" lacks ${missing.map(([name, what]) => `"${name}" (${what})`).join(', ')}; its columns are ${entityColumns.join(', ')}`,
      );
    }
    const featureColumns = refs.map((ref) =>
      ref.kind === 'view' ? featureColumnName(ref.view, ref.feature) : ref.name,
    );
    const keyTypes = Object.fromEntries(serviceViews.joinKeys.map((key) => [key.name, DUCKDB_TYPE[key.type]]));
    const rows = await joinInServiceOrder(
      options,
      timestampColumn,
      serviceViews.views,
      keyTypes,
      entityColumns,
      featureColumns,
      service,
    );
    return { rows, featureColumns, serviceVersion: service.version };
  } finally {
    await serviceViews.dispose();
  }
}

/** The point-in-time views a service reads (its sources opened), and every join key they need. */
export interface ServiceViews {
  readonly views: readonly PointInTimeView[];
  /** Unique by name, in the order first needed; `view` names the first view needing it. */
  readonly joinKeys: readonly (JoinKey & { readonly view: string })[];
  dispose(): Promise<void>;
}

/** Open the sources of every view `service` refers to, grouped by view in order of first reference. */
export async function openServiceViews(store: FeatureStore, service: StoredService): Promise<ServiceViews> {
  const byView = new Map<string, string[]>();
  for (const ref of service.features.map(parseFeatureRef))
    if (ref.kind === 'view') byView.set(ref.view, [...(byView.get(ref.view) ?? []), ref.feature]);
  const sources: ViewSourceFiles[] = [];
  const views: PointInTimeView[] = [];
  const joinKeys: (JoinKey & { view: string })[] = [];
  try {
    for (const [name, features] of byView) {
      const view = await store.view(name);
      for (const key of await store.joinKeys(view))
        if (!joinKeys.some((k) => k.name === key.name)) joinKeys.push({ ...key, view: view.name });
      const source = await openViewSource(store, view);
      sources.push(source);
      views.push(await pointInTimeView(store, view, features, source));
    }
  } catch (error) {
    await Promise.all(sources.map((source) => source.dispose()));
    throw error;
  }
  return { views, joinKeys, dispose: async () => void (await Promise.all(sources.map((source) => source.dispose()))) };
}

async function pointInTimeView(
  store: FeatureStore,
  view: ViewDefinition,
  features: readonly string[],
  source: ViewSourceFiles,
): Promise<PointInTimeView> {
  const keys = await store.joinKeys(view);
  const columnTypes: Record<string, string> = {};
  for (const key of keys) columnTypes[key.name] = DUCKDB_TYPE[key.type];
  for (const feature of view.features) columnTypes[feature.name] ??= DUCKDB_TYPE[feature.type];
  return {
    name: view.name,
    source: source.parts,
    columnTypes,
    joinKeys: keys.map((k) => k.name),
    eventTimestamp: view.timestampField,
    ...(view.createdTimestampField === undefined ? {} : { createdTimestamp: view.createdTimestampField }),
    ttlMs: view.ttlMs,
    features: [...new Set(features)],
  };
}

/**
 * `pointInTimeJoin` writes entity columns then features grouped by view; the service's order can
 * interleave views, so the join goes to a temporary Parquet file beside `out` and one COPY
 * reorders the columns into `out` (atomically: temp name, then rename).
 */
async function joinInServiceOrder(
  options: TrainingSetOptions,
  timestampColumn: string,
  views: readonly PointInTimeView[],
  entityTypes: Readonly<Record<string, string>>,
  entityColumns: readonly string[],
  featureColumns: readonly string[],
  service: StoredService,
): Promise<number> {
  const target = resolveTableTarget(options.out);
  const suffix = randomBytes(6).toString('hex');
  const joined = path.join(path.dirname(target.path), `.${path.basename(target.path)}.${suffix}.join.parquet`);
  const staged = path.join(path.dirname(target.path), `.${path.basename(target.path)}.${suffix}.tmp`);
  try {
    let rows: number;
    if (views.length === 0) {
      rows = await copyColumns(options.entities, staged, target.format, entityColumns, true);
    } else {
      await pointInTimeJoin({
        entities: options.entities,
        entityTimestamp: timestampColumn,
        entityColumnTypes: entityTypes,
        views,
        out: joined,
      });
      // Feature columns named like an entity column would be ambiguous in the output.
      const clash = featureColumns.find(
        (name, index) => entityColumns.includes(name) && !service.features[index]!.startsWith('request:'),
      );
      if (clash !== undefined)
        throw invalid(
          `feature column "${clash}" of service "${service.name}" clashes with an entity column of the same name`,
        );
      const output = [...entityColumns, ...featureColumns.filter((name) => !entityColumns.includes(name))];
      rows = await copyColumns(joined, staged, target.format, output, false);
    }
    await rename(staged, target.path);
    return rows;
  } finally {
    await rm(joined, { force: true });
    await rm(staged, { force: true });
  }
}

async function copyColumns(
  from: string,
  to: string,
  format: TableFormat,
  columns: readonly string[],
  entitiesOnly: boolean,
): Promise<number> {
  const list = columns.map(quoteIdentifier).join(', ');
  const reader = entitiesOnly ? (await resolveTableSource(from)).sql : 'read_parquet($1)';
  return withConnection(async (connection) => {
    const result = await connection.run(`COPY (SELECT ${list} FROM ${reader}) TO $2 (FORMAT ${COPY_FORMAT[format]})`, [
      path.resolve(from),
      to,
    ]);
    return result.rowsChanged;
  });
}
