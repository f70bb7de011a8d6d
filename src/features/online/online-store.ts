import { SlipwayError, invalid } from '../../core/errors.js';

/**
 * Online store: the latest feature values per entity, for low-latency serving (Feast's
 * `online_write_batch` / `online_read`), with two fixes over Feast:
 * every backend protects against stale writes by event time, and TTL is applied on read.
 *
 * Semantics shared by every implementation (checked by `online-store.test.ts`):
 * - A row is a snapshot of one view's features for one entity at `eventTimeMs`; a fresher row
 *   replaces the stored snapshot as a whole (features it omits become NOT_FOUND).
 * - An older row never overwrites a newer one for the same view + key. On equal event time the
 *   row with the larger `createdTimeMs` wins (a missing `createdTimeMs` counts as 0); on a tie the
 *   stored row is kept. Rejected rows are counted as `stale`.
 * - `1` and `"1"` are different key values (the encoding keeps the type).
 *
 * @example
 * await store.write('driver_stats', [{ key: { driver_id: 7 }, values: { trips: 12 }, eventTimeMs: now }]);
 * const [[trips]] = await store.read('driver_stats', ['trips'], [{ driver_id: 7 }], { ttlMs: 86_400_000 });
 */
export interface OnlineStore {
  /** Upsert rows, skipping stale ones. Atomic per key; `written + stale === rows.length`. */
  write(view: string, rows: readonly OnlineRow[]): Promise<OnlineWriteResult>;
  /** One result row per key, one value per feature, in the order given. */
  read(
    view: string,
    features: readonly string[],
    keys: readonly EntityKey[],
    options?: OnlineReadOptions,
  ): Promise<OnlineValue[][]>;
  /**
   * Remove these entities of one view (an operator's repair: a value stamped in the future shadows
   * every real one until then). Returns how many existed; absent keys are not an error.
   */
  deleteKeys(view: string, keys: readonly EntityKey[]): Promise<number>;
  /** Remove every entity of one view; other views are untouched. */
  deleteView(view: string): Promise<void>;
  /** Release the connection. Idempotent; any other call after close fails with FAILED_PRECONDITION. */
  close(): Promise<void>;
}

/** Composite join key, e.g. `{ driver_id: 7, city: 'Oslo' }`. Key names are sorted before encoding. */
export type EntityKey = Readonly<Record<string, string | number>>;

/** A feature value as stored and served. Numbers must be finite. */
export type FeatureScalar = number | string | boolean | null;

/** One entity's feature values for one view at one event time. */
export interface OnlineRow {
  readonly key: EntityKey;
  readonly values: Readonly<Record<string, FeatureScalar>>;
  /** When the values were true in the world (epoch ms); decides staleness and TTL. */
  readonly eventTimeMs: number;
  /** When the values were produced (epoch ms); breaks ties between equal event times. */
  readonly createdTimeMs?: number;
}

export interface OnlineWriteResult {
  readonly written: number;
  readonly stale: number;
}

export interface OnlineReadOptions {
  /** Values with `eventTimeMs < now - ttlMs` are EXPIRED. No TTL when undefined. */
  readonly ttlMs?: number;
  /** The reading clock (epoch ms); defaults to `Date.now()`. */
  readonly now?: number;
}

/**
 * PRESENT: a fresh value. EXPIRED: the entity exists but its event time is older than the TTL;
 * `value` is null and `eventTimeMs` says how old it is. NOT_FOUND: no such entity or feature;
 * `value` and `eventTimeMs` are null.
 */
export type OnlineStatus = 'PRESENT' | 'EXPIRED' | 'NOT_FOUND';

export interface OnlineValue {
  readonly status: OnlineStatus;
  readonly value: FeatureScalar;
  readonly eventTimeMs: number | null;
}

/** The value returned for a missing entity or feature. */
export const NOT_FOUND_VALUE: OnlineValue = Object.freeze({ status: 'NOT_FOUND', value: null, eventTimeMs: null });

/**
 * Deterministic, collision-free encoding of an entity key: JSON of `[name, value]` pairs sorted by
 * name. JSON quoting separates ("1","23") from ("12","3") and 1 from "1".
 */
export function encodeEntityKey(key: EntityKey): string {
  const names = Object.keys(key).sort();
  if (names.length === 0) throw invalid('an entity key needs at least one join key');
  return JSON.stringify(
    names.map((name) => {
      const value = key[name];
      if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'string') {
        throw invalid(`join key "${name}" must be a string or a finite number`);
      }
      return [name, value];
    }),
  );
}

/** Validate a write batch once, before any backend call; every implementation calls this. */
export function validateWrite(view: string, rows: readonly OnlineRow[]): void {
  validateView(view);
  rows.forEach((row, index) => {
    if (!Number.isFinite(row.eventTimeMs)) throw invalid(`rows[${index}].eventTimeMs must be a finite number`);
    if (row.createdTimeMs !== undefined && !Number.isFinite(row.createdTimeMs)) {
      throw invalid(`rows[${index}].createdTimeMs must be a finite number`);
    }
    for (const [feature, value] of Object.entries(row.values)) {
      validateFeatureName(feature);
      if (typeof value === 'number' && !Number.isFinite(value))
        throw invalid(`rows[${index}].values.${feature} must be finite`);
    }
  });
}

/** Validate a read request and resolve its clock. */
export function validateRead(
  view: string,
  features: readonly string[],
  options: OnlineReadOptions,
): { now: number; ttlMs: number | undefined } {
  validateView(view);
  features.forEach(validateFeatureName);
  if (options.ttlMs !== undefined && !(options.ttlMs >= 0)) throw invalid('ttlMs must be a non-negative number');
  const now = options.now ?? Date.now();
  if (!Number.isFinite(now)) throw invalid('now must be a finite number');
  return { now, ttlMs: options.ttlMs };
}

export function validateView(view: string): void {
  if (view.length === 0) throw invalid('a view name must not be empty');
}

function validateFeatureName(feature: string): void {
  if (feature.length === 0) throw invalid('a feature name must not be empty');
}

/**
 * Build one result row from a stored snapshot (shared so every backend reports statuses alike).
 * `lookup` returns undefined for a feature the snapshot lacks.
 */
export function toOnlineValues(
  features: readonly string[],
  eventTimeMs: number,
  lookup: (feature: string, index: number) => FeatureScalar | undefined,
  clock: { now: number; ttlMs: number | undefined },
): OnlineValue[] {
  const expired = clock.ttlMs !== undefined && eventTimeMs < clock.now - clock.ttlMs;
  return features.map((feature, index): OnlineValue => {
    const value = lookup(feature, index);
    if (value === undefined) return NOT_FOUND_VALUE;
    return expired ? { status: 'EXPIRED', value: null, eventTimeMs } : { status: 'PRESENT', value, eventTimeMs };
  });
}

/** Guard used by implementations: refuse use after close. */
export function assertOpen(closed: boolean, name: string): void {
  if (closed) throw new SlipwayError('FAILED_PRECONDITION', `${name} is closed`);
}
