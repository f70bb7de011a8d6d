import { invalid, notFound } from '../core/errors.js';
import { preview } from '../tensor/format.js';
import type { AppliedDefinitions, JoinKey, ViewDefinition } from './definitions/types.js';
import { joinKeysOf, type FeatureStore } from './feature-store.js';
import type { EntityKey, FeatureScalar, OnlineStatus, OnlineValue } from './online/online-store.js';

/**
 * Online retrieval (`POST /api/v1/features:get`, Feast's `get_online_features`) with two
 * differences from Feast: every view is read in parallel (Feast's sync stores read
 * one view after another), and each view's TTL is applied, so a stale value comes back EXPIRED
 * instead of PRESENT.
 */

/** What to read: a service's view features, or explicit `view:feature` refs; exactly one of the two. */
export interface OnlineFeaturesRequest {
  readonly service?: string;
  readonly features?: readonly string[];
  /** One object per entity, holding every join key of every view read, e.g. `{ "patient_id": 42 }`. */
  readonly entities: readonly Readonly<Record<string, unknown>>[];
}

/**
 * One result per entity, in request order (rows rather than Feast's per-feature columns: a batch
 * caller, like inference by entity, consumes an entity at a time). `values[i]`, `statuses[i]` and
 * `eventTimes[i]` belong to `features[i]`; a value is null unless PRESENT.
 *
 * @example
 * { features: ['vitals:heart_rate'], results: [{ entity: { patient_id: 42 }, values: [71], statuses: ['PRESENT'], eventTimes: [1767225600000] }] }
 */
export interface OnlineFeaturesResponse {
  /** The view refs read, in order; a service's `request:` entries are not stored, so they are left out. */
  readonly features: readonly string[];
  readonly results: OnlineEntityResult[];
}

export interface OnlineEntityResult {
  readonly entity: EntityKey;
  readonly values: FeatureScalar[];
  readonly statuses: OnlineStatus[];
  readonly eventTimes: (number | null)[];
}

/** One view's share of a read: its features and where each lands in the response. */
interface ViewRead {
  readonly view: ViewDefinition;
  readonly features: string[];
  readonly positions: number[];
  readonly joinKeys: readonly JoinKey[];
  /** The TTL the online store applies; undefined when the view has none (ttlMs 0). */
  readonly ttlMs: number | undefined;
}

/** A compiled read: validated refs grouped by view, and every join key an entity must carry. */
interface ReadPlan {
  readonly refs: readonly string[];
  readonly views: readonly ViewRead[];
  /** Every join key of every view; a view keyed by all of them takes the entity keys as they are. */
  readonly joinKeys: readonly JoinKey[];
}

/**
 * Plans depend only on the definitions, which the store caches as one object per reload: keep them
 * beside it, so a hot request does no parsing or lookups. Bounded against arbitrary ref lists.
 */
const plans = new WeakMap<AppliedDefinitions, Map<string, ReadPlan>>();
const MAX_PLANS = 1000;

/**
 * Read the online values of a service's view features, or of explicit refs, for a batch of
 * entities: one `online.read` per view, all views at once.
 *
 * @example
 * await getOnlineFeatures(store, { service: 'risk', entities: [{ patient_id: 42 }] });
 * @throws INVALID_ARGUMENT for a malformed request or entity (naming the join key); NOT_FOUND for
 *   an unknown service, view or feature.
 */
export async function getOnlineFeatures(
  store: FeatureStore,
  request: OnlineFeaturesRequest,
  options: { now?: number } = {},
): Promise<OnlineFeaturesResponse> {
  const plan = await planFor(store, request);
  const keys = checkEntities(plan.joinKeys, request.entities);
  const now = options.now ?? Date.now();
  const read = await Promise.all(
    plan.views.map((v) =>
      store.online.read(
        v.view.name,
        v.features,
        v.joinKeys.length === plan.joinKeys.length ? keys : keysFor(v.joinKeys, keys),
        { ttlMs: v.ttlMs, now },
      ),
    ),
  );
  const width = plan.refs.length;
  const results = keys.map((entity, e): OnlineEntityResult => {
    const values = new Array<FeatureScalar>(width);
    const statuses = new Array<OnlineStatus>(width);
    const eventTimes = new Array<number | null>(width);
    plan.views.forEach((v, k) => {
      const row = read[k]?.[e] as OnlineValue[];
      v.positions.forEach((position, f) => {
        const value = row[f] as OnlineValue;
        values[position] = value.value;
        statuses[position] = value.status;
        eventTimes[position] = value.eventTimeMs;
      });
    });
    return { entity, values, statuses, eventTimes };
  });
  return { features: plan.refs, results };
}

async function planFor(store: FeatureStore, request: OnlineFeaturesRequest): Promise<ReadPlan> {
  const { service, features } = request;
  if ((service === undefined) === (features === undefined))
    throw invalid(
      'send exactly one of "service" (a feature service name) or "features" (a list of "view:feature" refs)',
    );
  const definitions = await store.definitions();
  // Only well-typed requests are looked up: anything else must reach the checks below.
  const cacheKey =
    typeof service === 'string'
      ? `s\u0000${service}`
      : isStringList(features)
        ? `f\u0000${features.join('\u0000')}`
        : undefined;
  let cached = plans.get(definitions);
  if (cached === undefined) plans.set(definitions, (cached = new Map<string, ReadPlan>()));
  const hit = cacheKey === undefined ? undefined : cached.get(cacheKey);
  if (hit !== undefined) return hit;
  const plan = compilePlan(
    definitions,
    service !== undefined ? serviceRefs(definitions, service) : checkRefs(features),
  );
  if (cacheKey === undefined) return plan;
  if (cached.size >= MAX_PLANS) cached.clear();
  cached.set(cacheKey, plan);
  return plan;
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function serviceRefs(definitions: AppliedDefinitions, name: string): string[] {
  if (typeof name !== 'string') throw invalid(`"service" must be a string, got ${preview(name)}`);
  const service = definitions.services.find((s) => s.name === name);
  if (service === undefined) throw notFound(`feature service "${name}" does not exist`);
  return service.features.filter((ref) => !ref.startsWith('request:'));
}

function checkRefs(features: unknown): string[] {
  if (!Array.isArray(features) || features.length === 0)
    throw invalid(`"features" must be a non-empty list of "view:feature" refs, got ${preview(features)}`);
  const seen = new Set<string>();
  return features.map((ref: unknown, i) => {
    if (typeof ref !== 'string' || !/^[^:]+:[^:]+$/.test(ref) || ref.startsWith('request:'))
      throw invalid(`features[${i}] must be a "view:feature" ref, got ${preview(ref)}`);
    if (seen.has(ref)) throw invalid(`features[${i}]: "${ref}" is listed twice`);
    seen.add(ref);
    return ref;
  });
}

function compilePlan(definitions: AppliedDefinitions, refs: readonly string[]): ReadPlan {
  const byView = new Map<string, { view: ViewDefinition; features: string[]; positions: number[] }>();
  refs.forEach((ref, position) => {
    const colon = ref.indexOf(':');
    const viewName = ref.slice(0, colon);
    const feature = ref.slice(colon + 1);
    let group = byView.get(viewName);
    if (group === undefined) {
      const view = definitions.views.find((v) => v.name === viewName);
      if (view === undefined) throw notFound(`feature view "${viewName}" does not exist (in "${ref}")`);
      byView.set(viewName, (group = { view, features: [], positions: [] }));
    }
    if (!group.view.features.some((f) => f.name === feature))
      throw notFound(`feature view "${viewName}" has no feature "${feature}"`);
    group.features.push(feature);
    group.positions.push(position);
  });
  const joinKeys: JoinKey[] = [];
  const views = [...byView.values()].map((group): ViewRead => {
    const keys = joinKeysOf(group.view, definitions.entities);
    for (const key of keys) if (!joinKeys.some((k) => k.name === key.name && k.type === key.type)) joinKeys.push(key);
    return { ...group, joinKeys: keys, ttlMs: group.view.ttlMs > 0 ? group.view.ttlMs : undefined };
  });
  return { refs, views, joinKeys };
}

/**
 * Check each entity against the join keys (present, of the declared type, nothing else) and copy
 * out a key holding exactly them: a typo'd or extra key is refused rather than silently ignored.
 * Shared with the online delete (online-delete.ts).
 */
export function checkEntities(joinKeys: readonly JoinKey[], entities: unknown): EntityKey[] {
  if (!Array.isArray(entities) || entities.length === 0)
    throw invalid(
      `"entities" must be a non-empty list of objects such as ${example(joinKeys)}, got ${preview(entities)}`,
    );
  return entities.map((entity: unknown, i): EntityKey => {
    if (typeof entity !== 'object' || entity === null || Array.isArray(entity))
      throw invalid(`entities[${i}] must be an object such as ${example(joinKeys)}, got ${preview(entity)}`);
    const given = entity as Record<string, unknown>;
    const key: Record<string, string | number> = {};
    for (const { name, type } of joinKeys) {
      const value = given[name];
      if (value === undefined) throw invalid(`entities[${i}] is missing join key "${name}" (${type})`);
      const ok = type === 'int64' ? Number.isSafeInteger(value) : typeof value === 'string';
      if (!ok)
        throw invalid(
          `entities[${i}]: join key "${name}" must be ${type === 'int64' ? 'an integer' : 'a string'} (${type}), got ${preview(value)}`,
        );
      key[name] = value as string | number;
    }
    const names = Object.keys(given);
    if (names.length !== joinKeys.length) {
      const extra = names.filter((name) => !joinKeys.some((k) => k.name === name));
      throw invalid(
        `entities[${i}]: unknown join key${extra.length > 1 ? 's' : ''} ${extra.map((n) => `"${n}"`).join(', ')}; expected ${joinKeys.map((k) => k.name).join(', ')}`,
      );
    }
    return key;
  });
}

/** A view's keys when it is keyed by fewer join keys than the request (views over different entities). */
function keysFor(joinKeys: readonly JoinKey[], keys: readonly EntityKey[]): EntityKey[] {
  return keys.map((key) => Object.fromEntries(joinKeys.map((k) => [k.name, key[k.name] as string | number])));
}

function example(joinKeys: readonly JoinKey[]): string {
  return JSON.stringify(Object.fromEntries(joinKeys.map((k) => [k.name, k.type === 'int64' ? 42 : 'id'])));
}
