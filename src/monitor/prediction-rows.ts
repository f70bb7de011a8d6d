import { sql } from 'kysely';
import type { Expression, RawBuilder, Selectable, SqlBool } from 'kysely';
import { invalid } from '../core/errors.js';
import type { PredictionTable } from '../store/schema.js';
import type { PredictionFilter, StoredPrediction } from './prediction-store.js';
import { decodeTensorBlob } from './tensor-blob.js';

/** Row helpers of the SQL prediction store (sql-prediction-store.ts). */

export type PredictionRow = Selectable<PredictionTable>;

export function toStored(row: PredictionRow): StoredPrediction {
  const inputs = decodeTensorBlob(row.inputs);
  const outputs = decodeTensorBlob(row.outputs);
  const cut = inputs.servedShapes !== undefined || outputs.servedShapes !== undefined;
  return {
    id: Number(row.id),
    requestId: row.request_id,
    timeMs: Number(row.time_ms),
    deployment: row.deployment ?? undefined,
    model: row.model,
    version: row.version,
    protocol: row.protocol,
    latencyMs: row.latency_ms,
    inputs: inputs.tensors,
    outputs: outputs.tensors,
    shadow: row.shadow === null ? undefined : JSON.parse(row.shadow),
    features: row.features === null ? undefined : JSON.parse(row.features),
    payload: inputs.omitted || outputs.omitted ? 'omitted' : cut ? 'truncated' : 'full',
    ...(cut ? { servedShapes: { inputs: inputs.servedShapes, outputs: outputs.servedShapes } } : {}),
  };
}

/** The filter as one condition on `predictions` (prefix 'p.' when it is aliased `p`). */
export function matching(filter: PredictionFilter, prefix: '' | 'p.' = ''): Expression<SqlBool> {
  const column = (name: keyof PredictionTable) => sql.ref(`${prefix}${name}`);
  const conditions: RawBuilder<unknown>[] = [];
  if (filter.model !== undefined) conditions.push(sql`${column('model')} = ${filter.model}`);
  if (filter.version !== undefined) conditions.push(sql`${column('version')} = ${filter.version}`);
  if (filter.deployment !== undefined) conditions.push(sql`${column('deployment')} = ${filter.deployment}`);
  if (filter.requestId !== undefined) conditions.push(sql`${column('request_id')} = ${filter.requestId}`);
  if (filter.since !== undefined) conditions.push(sql`${column('time_ms')} >= ${bound('since', filter.since)}`);
  if (filter.until !== undefined) conditions.push(sql`${column('time_ms')} < ${bound('until', filter.until)}`);
  return conditions.length === 0 ? sql<SqlBool>`1 = 1` : sql<SqlBool>`${sql.join(conditions, sql` and `)}`;
}

/** A time bound as the integer that selects the same integer times (PostgreSQL rejects a fraction for a bigint). */
export function bound(what: string, timeMs: number): number {
  if (typeof timeMs !== 'number' || !Number.isFinite(timeMs))
    throw invalid(`${what} ${String(timeMs)}: expected epoch milliseconds`);
  return Math.ceil(timeMs);
}

export function checkedRowCount(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw invalid(`${what} ${value}: expected a whole number from 1 to ${max}`);
  return value;
}
