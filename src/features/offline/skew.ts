import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readTable } from '../../io/read-table.js';
import type { WriteColumn } from '../../io/types.js';
import { writeTable } from '../../io/write-table.js';
import type { PredictionStore } from '../../monitor/prediction-store.js';
import { parseFeatureRef } from '../definitions/types.js';
import type { FeatureStore } from '../feature-store.js';
import type { FeatureScalar } from '../online/online-store.js';
import { isServedFeatures, type ServedRow } from '../served-features.js';
import { featureColumnName, pointInTimeJoin } from './point-in-time.js';
import { openServiceViews } from './training-set.js';

export interface SkewOptions {
  readonly service: string;
  /** Predictions logged at or after this time (epoch ms). */
  readonly since: number;
  /** Before this time (epoch ms, exclusive); default now. */
  readonly until?: number;
  /** Most served rows recomputed (a systematic sample of the predictions beyond that); default 10,000. */
  readonly maxRows?: number;
}

/** One `view:feature` ref of the service. */
export interface FeatureSkew {
  readonly feature: string;
  /** Rows where the served value was compared with the offline one. */
  readonly compared: number;
  /** Compared rows whose values differ (numbers: by more than 1e-6 relative). */
  readonly mismatches: number;
  /** mismatches / compared; 0 when nothing was compared. */
  readonly mismatchRate: number;
  /** Rows served with the declared default where offline has no value either: consistent, not compared. */
  readonly defaulted: number;
  /** Compared rows where offline has no value (counted in `mismatches` too). */
  readonly offlineMissing: number;
}

export interface SkewReport {
  readonly service: string;
  readonly since: number;
  readonly until: number;
  /** Logged predictions of the service read. */
  readonly predictions: number;
  /** Served rows (examples) recomputed. */
  readonly rows: number;
  readonly features: readonly FeatureSkew[];
}

const DEFAULT_MAX_ROWS = 10_000;
const RELATIVE_TOLERANCE = 1e-6;

/**
 * The training-serving skew check: for each example served by inference-by-entity (the
 * `ServedFeatures` logged with its prediction), recompute every `view:feature` the service read,
 * point-in-time at the prediction's time, from the offline data (source plus push log), and count
 * per feature where the served value differs. Values pushed online only, a materialization that
 * lags the source, or a source rewritten after the fact all show up here.
 *
 * @example
 * const report = await featureSkew(platform.features, platform.predictions, { service: 'risk', since: Date.now() - 3_600_000 });
 */
export async function featureSkew(
  store: FeatureStore,
  predictions: PredictionStore,
  options: SkewOptions,
): Promise<SkewReport> {
  const service = await store.service(options.service);
  const until = options.until ?? Date.now();
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const model = service.model === undefined ? undefined : service.model.slice(0, service.model.lastIndexOf('@'));
  const logged = await predictions.sample({
    since: options.since,
    until,
    maxRows,
    ...(model === undefined ? {} : { model }),
  });
  const served: { row: ServedRow; timeMs: number }[] = [];
  let count = 0;
  for (const prediction of logged) {
    const features = prediction.features;
    if (!isServedFeatures(features) || features.service !== service.name) continue;
    count++;
    for (const row of features.rows) if (served.length < maxRows) served.push({ row, timeMs: prediction.timeMs });
  }
  const refs = service.features.filter((ref) => parseFeatureRef(ref).kind === 'view');
  const offline = served.length === 0 || refs.length === 0 ? [] : await recompute(store, service.name, served);
  const features = refs.map((ref) => compareFeature(ref, served, offline));
  return { service: service.name, since: options.since, until, predictions: count, rows: served.length, features };
}

/** The offline values of every served row, by `<view>__<feature>` column, in served order. */
async function recompute(
  store: FeatureStore,
  serviceName: string,
  served: readonly { row: ServedRow; timeMs: number }[],
): Promise<Record<string, FeatureScalar>[]> {
  const service = await store.service(serviceName);
  const views = await openServiceViews(store, service);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-skew-'));
  try {
    const keys = views.joinKeys;
    const columns: WriteColumn[] = [
      ...keys.map((k): WriteColumn => ({ name: k.name, type: k.type === 'string' ? 'string' : 'integer' })),
      { name: '__skew_ts', type: 'integer' },
    ];
    const entities = path.join(dir, 'entities.parquet');
    const out = path.join(dir, 'offline.parquet');
    await writeTable(entities, columns, [
      served.map(({ row, timeMs }) => [...keys.map((k) => row.entity[k.name] ?? null), Math.round(timeMs)]),
    ]);
    await pointInTimeJoin({ entities, entityTimestamp: '__skew_ts', views: views.views, out });
    const wanted = views.views.flatMap((view) => view.features.map((feature) => featureColumnName(view.name, feature)));
    const rows: Record<string, FeatureScalar>[] = [];
    for await (const chunk of readTable(out, { columns: wanted })) {
      for (let i = 0; i < chunk.rows; i++) {
        const row: Record<string, FeatureScalar> = {};
        for (const [name, column] of chunk.columns) {
          if (column.type === 'string' || column.type === 'other') row[name] = column.values[i] ?? null;
          else if (column.nulls[i] === 1) row[name] = null;
          else row[name] = column.type === 'boolean' ? column.values[i] === 1 : column.values[i]!;
        }
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await views.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

function compareFeature(
  ref: string,
  served: readonly { row: ServedRow }[],
  offline: readonly Record<string, FeatureScalar>[],
): FeatureSkew {
  const parsed = parseFeatureRef(ref);
  const column = parsed.kind === 'view' ? featureColumnName(parsed.view, parsed.feature) : ref;
  let compared = 0;
  let mismatches = 0;
  let defaulted = 0;
  let offlineMissing = 0;
  served.forEach(({ row }, index) => {
    const offlineValue = offline[index]?.[column] ?? null;
    const servedValue = row.values[ref] ?? null;
    if (row.statuses[ref] === 'DEFAULT' && offlineValue === null) {
      defaulted++;
      return;
    }
    compared++;
    if (offlineValue === null) offlineMissing++;
    if (!sameValue(servedValue, offlineValue)) mismatches++;
  });
  return {
    feature: ref,
    compared,
    mismatches,
    mismatchRate: compared === 0 ? 0 : mismatches / compared,
    defaulted,
    offlineMissing,
  };
}

function sameValue(served: FeatureScalar, offline: FeatureScalar): boolean {
  if (typeof served === 'number' && typeof offline === 'number') {
    return (
      served === offline ||
      Math.abs(served - offline) <= RELATIVE_TOLERANCE * Math.max(Math.abs(served), Math.abs(offline))
    );
  }
  return served === offline;
}
