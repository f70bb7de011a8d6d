import { SlipwayError, invalid } from '../core/errors.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';
import { decodeInstances } from '../tensor/rows.js';
import { isPlainObject, preview } from '../tensor/format.js';
import { parseFeatureRef, type StoredService } from './definitions/types.js';
import type { FeatureStore } from './feature-store.js';
import { bindModel, toInstance, type ModelBinding } from './model-binding.js';
import { getOnlineFeatures, type OnlineEntityResult } from './online-retrieval.js';
import type { EntityKey, FeatureScalar } from './online/online-store.js';
import type { ServedFeatures, ServedRow, ServedStatus } from './served-features.js';

/**
 * Inference by entity: a model version bound to a feature service (`model: name@x.y.z` in
 * features.yaml) is called with entity keys and request-time values instead of tensors. The
 * server reads the service's view features online, fills its `request:` entries from the request,
 * replaces missing or expired values with declared defaults, and builds `:predict` instances in
 * the model's order, decoded by the same code as a client's `{"instances": [...]}`, so both paths
 * give the same tensors. The {@link ServedFeatures} go into the prediction log.
 */

/** The resolved model version being called. */
export interface EntityTarget {
  readonly model: string;
  readonly version: string;
  readonly signature: Signature;
}

/**
 * The request's entity part: `entities` one object or a list (one per example); `features` the
 * request-time values, an object for a single entity or a list as long as `entities`.
 */
export interface EntityRequest {
  readonly entities: unknown;
  readonly features?: unknown;
}

export interface EntityInputs {
  /** The model's input tensors, as `decodeInstances` makes them from the instances. */
  readonly inputs: Tensor[];
  /** One `:predict` instance per entity. */
  readonly instances: Record<string, unknown>[];
  readonly served: ServedFeatures;
}

/**
 * A service's binding and its view features' defaults, by position among the view refs. They
 * depend only on the service object (replaced when the store reloads definitions) and its one bound
 * version, so they are worked out once per reload, not per request.
 */
interface Prepared {
  readonly binding: ModelBinding;
  readonly defaults: readonly (FeatureScalar | undefined)[];
}
const prepared = new WeakMap<StoredService, Prepared>();

/**
 * Build the input tensors for `request` on the version `target`.
 *
 * @example
 * await entityInputs(features, record, { entities: { patient_id: 42 }, features: { age: 61 } });
 * // { inputs: [x: FP32 [1, 3]], instances: [{ x: [71, 120, 61] }], served: { service: 'risk', serviceVersion: 1, rows: [...] } }
 * @throws INVALID_ARGUMENT when no service is bound to the version, for malformed entities or
 *   request values, and when features are missing without a default (listing every one, per entity).
 */
export async function entityInputs(
  store: FeatureStore | undefined,
  target: EntityTarget,
  request: EntityRequest,
): Promise<EntityInputs> {
  const service = store === undefined ? undefined : await store.serviceForModel(target.model, target.version);
  if (store === undefined || service === undefined) {
    throw invalid(
      `no feature service is bound to ${target.model}@${target.version}, so it cannot take "entities"; send "instances" or "inputs", or bind a service (model: ${target.model}@${target.version} in features.yaml)`,
    );
  }
  const { binding, defaults } = prepared.get(service) ?? (await prepare(store, service, target));
  const entities = asList(request.entities, 'entities');
  const given = request.features === undefined ? undefined : asList(request.features, 'features');
  if (
    given !== undefined &&
    (given.length !== entities.length || Array.isArray(request.features) !== Array.isArray(request.entities))
  ) {
    throw invalid(
      `"features" must match "entities": one object for one entity object, or a list of ${entities.length} objects for a list of ${entities.length}`,
    );
  }
  const requestNames = service.features
    .filter((ref) => ref.startsWith('request:'))
    .map((ref) => ref.slice('request:'.length));
  given?.forEach((values, i) => checkRequestValues(values, requestNames, at('features', i, request.features)));

  // Each entity is checked against the join keys inside getOnlineFeatures.
  const online = await getOnlineFeatures(store, {
    service: service.name,
    entities: entities as Record<string, unknown>[],
  });
  const missing: { entity: EntityKey; index: number; features: string[] }[] = [];
  const rows: ServedRow[] = [];
  const instances = online.results.map((result, e) => {
    const served = serveRow(service.features, result, given?.[e] as Record<string, unknown> | undefined, defaults);
    if (served.lacking.length > 0) missing.push({ entity: result.entity, index: e, features: served.lacking });
    rows.push(served.row);
    return toInstance(binding, served.ordered);
  });
  if (missing.length > 0) {
    const list = missing
      .map((m) => `entities[${m.index}] ${JSON.stringify(m.entity)}: ${m.features.join(', ')}`)
      .join('; ');
    throw invalid(
      `missing features without a default for ${target.model}@${target.version} (service "${service.name}"): ${list}`,
      { missing },
    );
  }
  let inputs: Tensor[];
  try {
    inputs = decodeInstances(instances, target.signature);
  } catch (error) {
    // e.g. a request-time string for a numeric column: say where the instances came from.
    if (error instanceof SlipwayError)
      throw new SlipwayError(
        error.code,
        `the features served for entities do not fit ${target.model}@${target.version}: ${error.message}`,
        { cause: error },
      );
    throw error;
  }
  return { inputs, instances, served: { service: service.name, serviceVersion: service.version, rows } };
}

/**
 * One example's values in service order: online values that are PRESENT, else the declared default
 * (status DEFAULT), and request values (status REQUEST); `lacking` names what has neither.
 */
function serveRow(
  refs: readonly string[],
  online: OnlineEntityResult,
  given: Record<string, unknown> | undefined,
  defaults: readonly (FeatureScalar | undefined)[],
): { ordered: FeatureScalar[]; row: ServedRow; lacking: string[] } {
  const values: Record<string, FeatureScalar> = {};
  const statuses: Record<string, ServedStatus> = {};
  const eventTimes: Record<string, number | null> = {};
  const lacking: string[] = [];
  let i = 0; // position among the view refs, as getOnlineFeatures returns them
  const ordered = refs.map((ref): FeatureScalar => {
    let value: FeatureScalar;
    if (ref.startsWith('request:')) {
      value = (given?.[ref.slice('request:'.length)] ?? null) as FeatureScalar;
      if (value === null) lacking.push(`${ref} (not in the request)`);
      statuses[ref] = 'REQUEST';
      eventTimes[ref] = null;
    } else {
      const status = online.statuses[i] ?? 'NOT_FOUND';
      value = online.values[i] ?? null;
      if (status === 'PRESENT' && value !== null) {
        statuses[ref] = 'PRESENT';
        eventTimes[ref] = online.eventTimes[i] ?? null;
      } else {
        // A stored null cannot go into a tensor either: it is as missing as NOT_FOUND.
        value = defaults[i] ?? null;
        if (value === null) lacking.push(`${ref} (${status === 'PRESENT' ? 'null' : status})`);
        statuses[ref] = 'DEFAULT';
        eventTimes[ref] = null;
      }
      i++;
    }
    values[ref] = value;
    return value;
  });
  return { ordered, row: { entity: online.entity, values, statuses, eventTimes }, lacking };
}

async function prepare(store: FeatureStore, service: StoredService, target: EntityTarget): Promise<Prepared> {
  const bound = bindModel(service.features, target.signature);
  if ('problems' in bound)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `feature service "${service.name}" cannot feed ${target.model}@${target.version}: ${bound.problems.join('; ')}`,
    );
  const views = (await store.definitions()).views;
  const defaults = service.features.flatMap((ref) => {
    const parsed = parseFeatureRef(ref);
    if (parsed.kind === 'request') return [];
    return [views.find((v) => v.name === parsed.view)?.features.find((f) => f.name === parsed.feature)?.default];
  });
  const result = { binding: bound.binding, defaults };
  prepared.set(service, result);
  return result;
}

function asList(value: unknown, name: string): unknown[] {
  if (isPlainObject(value)) return [value];
  if (Array.isArray(value) && value.length > 0) return value;
  throw invalid(`"${name}" must be an object or a non-empty list of objects, got ${preview(value)}`);
}

function at(name: string, i: number, original: unknown): string {
  return Array.isArray(original) ? `${name}[${i}]` : name;
}

function checkRequestValues(values: unknown, names: readonly string[], where: string): void {
  if (!isPlainObject(values))
    throw invalid(`${where} must be an object of request-time values, got ${preview(values)}`);
  for (const [name, value] of Object.entries(values)) {
    if (!names.includes(name)) {
      throw invalid(
        `${where}: "${name}" is not a request-time feature of the bound service (${names.length === 0 ? 'it takes none' : `it takes ${names.join(', ')}`})`,
      );
    }
    if (!(
      value === null ||
      typeof value === 'string' ||
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value))
    )) {
      throw invalid(`${where}.${name} must be a number, string or boolean, got ${preview(value)}`);
    }
  }
}
