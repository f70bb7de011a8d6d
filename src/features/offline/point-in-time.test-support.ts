import { readTable } from '../../io/index.js';
/**
 * A brute-force point-in-time join over in-memory rows, written from Feast's rules and not from
 * the SQL, for tests only: for each entity row and view, scan every source row.
 */

/** A row: column name to value; timestamps are epoch milliseconds. */
export type Row = Readonly<Record<string, string | number | null>>;

/** One view, as in `PointInTimeView` but over rows. */
export interface ReferenceView {
  readonly name: string;
  readonly rows: readonly Row[];
  readonly joinKeys: readonly string[];
  readonly eventTimestamp: string;
  readonly createdTimestamp?: string;
  readonly ttlMs?: number;
  readonly features: readonly string[];
}

/** Returns one output row per entity row, in order: entity columns, then `<view>__<feature>`. */
export function referencePointInTimeJoin(
  entities: readonly Row[],
  entityTimestamp: string,
  views: readonly ReferenceView[],
): Row[] {
  return entities.map((entity) => {
    const out: Record<string, string | number | null> = { ...entity };
    for (const view of views) {
      const best = bestMatch(entity, entityTimestamp, view);
      for (const feature of view.features)
        out[`${view.name}__${feature}`] = best === undefined ? null : (best[feature] ?? null);
    }
    return out;
  });
}

function bestMatch(entity: Row, entityTimestamp: string, view: ReferenceView): Row | undefined {
  const t = entity[entityTimestamp];
  if (typeof t !== 'number') return undefined;
  const ttl = view.ttlMs ?? 0;
  let best: Row | undefined;
  for (const row of view.rows) {
    if (!view.joinKeys.every((key) => entity[key] !== null && entity[key] !== undefined && entity[key] === row[key]))
      continue;
    const event = row[view.eventTimestamp];
    if (typeof event !== 'number' || event > t) continue;
    if (ttl > 0 && event < t - ttl) continue;
    // `>=` on a full tie: the later row in the source wins.
    if (best === undefined || isLaterOrEqual(row, best, view)) best = row;
  }
  return best;
}

function isLaterOrEqual(row: Row, best: Row, view: ReferenceView): boolean {
  const event = row[view.eventTimestamp] as number;
  const bestEvent = best[view.eventTimestamp] as number;
  if (event !== bestEvent) return event > bestEvent;
  if (view.createdTimestamp === undefined) return true;
  const created = row[view.createdTimestamp] ?? null;
  const bestCreated = best[view.createdTimestamp] ?? null;
  if (created === null) return bestCreated === null;
  if (bestCreated === null) return true;
  return (created as number) >= (bestCreated as number);
}

/** Every row of a table file; numbers, booleans (0/1) and timestamps (epoch ms) as numbers. */
export async function readRows(file: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const chunk of readTable(file)) {
    for (let i = 0; i < chunk.rows; i++) {
      const row: Record<string, string | number | null> = {};
      for (const [name, column] of chunk.columns) {
        if (column.type === 'string' || column.type === 'other') row[name] = column.values[i] ?? null;
        else row[name] = column.nulls[i] === 1 ? null : column.values[i]!;
      }
      rows.push(row);
    }
  }
  return rows;
}
