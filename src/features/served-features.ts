import type { EntityKey, FeatureScalar, OnlineStatus } from './online/online-store.js';

/**
 * What inference by entity logs with a prediction (`PredictionEntry.features`, stored as JSON),
 * and what `slipway features skew` reads back to recompute the same values point-in-time from the
 * offline store. One `rows` entry per example, in request order.
 */
export interface ServedFeatures {
  readonly service: string;
  readonly serviceVersion: number;
  readonly rows: readonly ServedRow[];
}

/**
 * How a served value came to be: an online status (PRESENT; EXPIRED/NOT_FOUND only appear with
 * `DEFAULT`), `DEFAULT` when the declared default replaced a missing or expired value, `REQUEST`
 * for a request-time value the client sent.
 */
export type ServedStatus = OnlineStatus | 'DEFAULT' | 'REQUEST';

export interface ServedRow {
  /** The example's entity key (every join key of every view the service reads). */
  readonly entity: EntityKey;
  /** Keyed by the service's refs (`view:feature`, `request:name`): the value fed to the model. */
  readonly values: Readonly<Record<string, FeatureScalar>>;
  readonly statuses: Readonly<Record<string, ServedStatus>>;
  /** The online value's event time per view feature (epoch ms), null for defaults and request values. */
  readonly eventTimes: Readonly<Record<string, number | null>>;
}

/** True when `value` looks like a {@link ServedFeatures} record (logged rows may hold other JSON). */
export function isServedFeatures(value: unknown): value is ServedFeatures {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ServedFeatures).service === 'string' &&
    Array.isArray((value as ServedFeatures).rows)
  );
}
