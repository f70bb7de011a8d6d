import type { FeatureScalar } from '../online/online-store.js';

/**
 * The feature store's definitions as applied from `features.yaml` (see `parse-definitions.ts` for
 * the file format). Names follow Feast: entities with join keys, feature views over a timestamped
 * source, feature services grouping `view:feature` refs for one model.
 */

/** Value types of features and join keys. */
export const FEATURE_TYPES = ['int64', 'int32', 'float64', 'float32', 'string', 'bool'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

/** Join keys are integers or strings (a float key would compare inexactly). */
export const JOIN_KEY_TYPES = ['int64', 'string'] as const;
export type JoinKeyType = (typeof JOIN_KEY_TYPES)[number];

export interface JoinKey {
  readonly name: string;
  readonly type: JoinKeyType;
}

export interface EntityDefinition {
  readonly name: string;
  readonly joinKeys: readonly JoinKey[];
  readonly description?: string;
}

/** Where a view's rows come from: a file (CSV/Parquet/JSONL, or a glob) or a table on the configured database. */
export type ViewSource = { readonly path: string } | { readonly table: string };

export interface FeatureDefinition {
  readonly name: string;
  readonly type: FeatureType;
  /** Served instead of a missing or expired value at inference time; absent = such a request fails. */
  readonly default?: FeatureScalar;
  readonly description?: string;
}

export interface ViewDefinition {
  readonly name: string;
  /** Entity names; their join keys, in order, make the view's key. */
  readonly entities: readonly string[];
  readonly source: ViewSource;
  /** The source's event-time column. */
  readonly timestampField: string;
  /** The source's creation-time column, which breaks ties on the event time. */
  readonly createdTimestampField?: string;
  /** How old a value may be (ms) relative to the entity timestamp (training) or now (online); 0 = no limit. */
  readonly ttlMs: number;
  readonly features: readonly FeatureDefinition[];
  readonly description?: string;
  readonly owner?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** A service entry: a view's feature, or a value the request brings (`request:<name>`). */
export type FeatureRef =
  | { readonly kind: 'view'; readonly view: string; readonly feature: string }
  | { readonly kind: 'request'; readonly name: string };

export interface ServiceDefinition {
  readonly name: string;
  /** Ordered refs as written, `view:feature` or `request:name`; the order is the model input's column order. */
  readonly features: readonly string[];
  /** `model@version` the service feeds; inference by entity is served for that version. */
  readonly model?: string;
  readonly description?: string;
  readonly owner?: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** A whole `features.yaml`. */
export interface FeatureDefinitions {
  readonly entities: readonly EntityDefinition[];
  readonly views: readonly ViewDefinition[];
  readonly services: readonly ServiceDefinition[];
}

/** A service as stored: its definition plus the version the store gave it (1, 2, ... per change). */
export interface StoredService extends ServiceDefinition {
  readonly version: number;
  readonly updatedAt: string;
}

/** Everything applied, as the store holds it. */
export interface AppliedDefinitions {
  readonly entities: readonly EntityDefinition[];
  readonly views: readonly ViewDefinition[];
  readonly services: readonly StoredService[];
}

export const EMPTY_DEFINITIONS: AppliedDefinitions = Object.freeze({ entities: [], views: [], services: [] });

/** Parse `view:feature` or `request:name`. Callers validate first (parse-definitions.ts). */
export function parseFeatureRef(ref: string): FeatureRef {
  const colon = ref.indexOf(':');
  const head = ref.slice(0, colon);
  const tail = ref.slice(colon + 1);
  return head === 'request' ? { kind: 'request', name: tail } : { kind: 'view', view: head, feature: tail };
}
