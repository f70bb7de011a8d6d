/**
 * Triton's repository load and unload parameters, shared by HTTP (server/http/repository-routes.ts)
 * and gRPC (server/grpc/repository-handlers.ts), and a load with a `config` parameter: Triton's
 * model-config JSON applied as the model's serving config (registry/serving-config.ts), then loaded.
 *
 * Choices where Triton and Slipway differ:
 * - The config is merged over the stored serving config: a field the client leaves out keeps its
 *   setting (Triton replaces the whole config; Slipway's settings are per model, kept across loads).
 * - Fields that describe the model rather than how it is served (`name`, `platform`, `backend`,
 *   `version_policy`, `input`, `output`, `parameters`, an empty `model_warmup`) are accepted only
 *   when they equal what `GET /v2/models/{m}/config` reports for the result, so a configuration
 *   read from Slipway can be sent back; anything else is refused, never ignored.
 * - `unload_dependents` is accepted and changes nothing: Slipway has no ensembles, so no model
 *   depends on another.
 * - A load whose version then fails to load puts the previous serving config back.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import {
  WARMUP_REQUEST_MAX_BYTES,
  checkSequenceConfig,
  parseServingConfig,
  type ServingConfig,
} from '../registry/serving-config.js';
import type { VersionRecord } from '../registry/types.js';
import { isBatchMajor } from '../runtime/batcher.js';
import { formatShape, quote } from '../tensor/format.js';
import {
  executionProvidersFromConfig,
  parseModelConfigJson,
  type ModelConfigPatch,
  type WarmupSample,
} from './model-config-patch.js';
import { buildModelConfig, type TritonModelConfig } from './model-config.js';
import type { ServingLifecycle } from './serving-lifecycle.js';

/** A repository parameter's value, whichever transport carried it (gRPC's oneof decoded to its JS value). */
export type RepositoryParameterValue = string | number | boolean | Uint8Array;

export interface LoadParameters {
  /** Which version (a semver, an alias, `latest` or a major); default latest. */
  readonly version?: string;
  /** Triton's model-config JSON, as the string the client sent. */
  readonly config?: string;
}

export interface UnloadParameters {
  readonly version?: string;
}

const LOAD_KEYS = ['version', 'config'];
const UNLOAD_KEYS = ['version', 'unload_dependents'];

/**
 * A load request's parameters. Triton's model file override (`file:<path>` keys) and any other
 * key are refused by name.
 *
 * @throws INVALID_ARGUMENT e.g. `parameter "file:1/model.onnx": ...` or `unknown parameter "x" (known: version, config)`
 */
export function parseLoadParameters(
  parameters: Readonly<Record<string, RepositoryParameterValue>> | undefined,
): LoadParameters {
  if (parameters === undefined) return {};
  let version: string | undefined;
  let config: string | undefined;
  for (const [key, value] of Object.entries(parameters)) {
    if (key === 'version') version = versionValue(value);
    else if (key === 'config') {
      if (typeof value !== 'string')
        throw invalid(
          'parameter "config" must be a string holding the model configuration JSON, e.g. "{\\"max_batch_size\\": 8}"',
        );
      config = value;
    } else if (key.startsWith('file:')) {
      throw invalid(
        `parameter ${quote(key)}: Triton's model file override is not supported by Slipway (push the model as a new version: slipway push)`,
      );
    } else throw invalid(`unknown parameter ${quote(key)} (known: ${LOAD_KEYS.join(', ')})`);
  }
  return { ...(version === undefined ? {} : { version }), ...(config === undefined ? {} : { config }) };
}

/**
 * An unload request's parameters: `version`, and `unload_dependents` (a bool, accepted as a no-op:
 * no model depends on another without ensembles).
 */
export function parseUnloadParameters(
  parameters: Readonly<Record<string, RepositoryParameterValue>> | undefined,
): UnloadParameters {
  if (parameters === undefined) return {};
  let version: string | undefined;
  for (const [key, value] of Object.entries(parameters)) {
    if (key === 'version') version = versionValue(value);
    else if (key === 'unload_dependents') {
      if (typeof value !== 'boolean')
        throw invalid(`parameter "unload_dependents" must be true or false, got ${describe(value)}`);
    } else throw invalid(`unknown parameter ${quote(key)} (known: ${UNLOAD_KEYS.join(', ')})`);
  }
  return version === undefined ? {} : { version };
}

function versionValue(value: RepositoryParameterValue): string {
  if (typeof value !== 'string')
    throw invalid(`parameter "version" must be a string (a version, an alias or latest), got ${describe(value)}`);
  return value;
}

function describe(value: RepositoryParameterValue): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : JSON.stringify(value);
}

export interface RepositoryLoadDeps {
  readonly registry: Pick<RegistryService, 'resolve' | 'getServingConfig' | 'setServingConfig'>;
  readonly lifecycle: Pick<ServingLifecycle, 'load'>;
}

/**
 * Load (or reload) a version; with a `config`, first store the serving config it makes (the model's
 * existence is checked first, then the config; nothing is stored when the config is refused).
 */
export async function loadWithParameters(
  deps: RepositoryLoadDeps,
  model: string,
  parameters: LoadParameters,
): Promise<VersionRecord> {
  if (parameters.config === undefined) return deps.lifecycle.load(model, parameters.version);
  const record = await deps.registry.resolve(model, parameters.version ?? 'latest');
  const stored = await deps.registry.getServingConfig(record.model);
  const next = servingConfigFromModelConfig(parseModelConfigJson(parameters.config), {
    model: record.model,
    record,
    stored,
  });
  await deps.registry.setServingConfig(record.model, next);
  try {
    return await deps.lifecycle.load(model, parameters.version);
  } catch (error) {
    // The version kept serving with its old settings (a reload swaps only a warm copy in), so the stored config goes back to match it.
    await deps.registry.setServingConfig(record.model, stored).catch(() => undefined);
    throw error;
  }
}

export interface ModelConfigTarget {
  readonly model: string;
  readonly record: Pick<VersionRecord, 'version' | 'signature'>;
  readonly stored: ServingConfig;
}

/**
 * The serving config a parsed model config makes for one version: merged over `stored`, checked
 * (every problem at once, named by its config field) and checked against what the configuration
 * of the result would report. Pure.
 *
 * @throws INVALID_ARGUMENT `invalid model config: config.max_batch_size 8 needs ...; ...`
 */
export function servingConfigFromModelConfig(patch: ModelConfigPatch, target: ModelConfigTarget): ServingConfig {
  const problems = [...patch.problems];
  const { model, record, stored } = target;
  const { settings } = patch;
  const batchMajor = isBatchMajor(record.signature);
  const next: Record<string, unknown> = { ...stored };
  // Which config field set each serving setting, to name it when parseServingConfig refuses the setting.
  const origin: Record<string, string> = {};
  const set = (key: keyof ServingConfig, value: unknown, field: string): void => {
    next[key] = value;
    origin[key] = field;
  };

  // max_batch_size 0 turns the batcher off (Triton: a model without batching); a model whose tensors
  // have no variable first dimension always reports 0, and there 0 changes nothing.
  const batcherOff = settings.maxBatchSize === 0 && batchMajor;
  if (settings.maxBatchSize !== undefined && settings.maxBatchSize > 0) {
    if (batchMajor) {
      set('batching', true, 'config.max_batch_size');
      set('maxBatchSize', settings.maxBatchSize, 'config.max_batch_size');
    } else {
      const shapes = [...record.signature.inputs, ...record.signature.outputs]
        .map((t) => `${quote(t.name)} ${formatShape(t.shape)}`)
        .join(', ');
      problems.push(
        `config.max_batch_size ${settings.maxBatchSize} needs every input and output to have a variable first dimension (the batch), and this model's do not (${shapes}): its max_batch_size is 0`,
      );
    }
  }
  if (batcherOff) {
    set('batching', false, 'config.max_batch_size');
    if (settings.dynamicBatching)
      problems.push('config.dynamic_batching needs config.max_batch_size > 0: max_batch_size 0 turns the batcher off');
  } else if (settings.dynamicBatching) {
    set('batching', true, 'config.dynamic_batching');
    // Triton's scheduling_choice is dynamic or sequence batching: dynamic batching replaces a stored sequence.
    delete next.sequence;
  }
  if (settings.maxQueueDelayMicros !== undefined)
    set('maxQueueDelayMicros', settings.maxQueueDelayMicros, 'config.dynamic_batching.max_queue_delay_microseconds');
  if (settings.maxQueueSize !== undefined)
    set('maxQueueSize', settings.maxQueueSize, 'config.dynamic_batching.default_queue_policy.max_queue_size');
  if (settings.priorityLevels !== undefined)
    set('priorityLevels', settings.priorityLevels, 'config.dynamic_batching.priority_levels');
  if (settings.instances !== undefined) {
    if (next.batching === false && settings.instances > 1) {
      problems.push(
        `config.instance_group[0].count ${settings.instances} needs the batcher (max_batch_size > 0): without it a model runs one request at a time`,
      );
    } else set('instances', settings.instances, 'config.instance_group[0].count');
  }
  if (settings.sequence !== undefined) {
    const previous = stored.sequence;
    const idleTimeoutMs = settings.sequence.idleTimeoutMs ?? previous?.idleTimeoutMs;
    // maxSequences is Slipway's own setting (Triton has none): it stays.
    const sequence = {
      state: settings.sequence.state,
      ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
      ...(previous?.maxSequences === undefined ? {} : { maxSequences: previous.maxSequences }),
    };
    set('sequence', sequence, 'config.sequence_batching');
  }
  if (settings.warmup !== undefined) {
    const request = warmupRequest(settings.warmup, batchMajor && next.batching !== false, problems);
    if (request !== undefined) set('warmup', request, 'config.model_warmup');
  }

  if (settings.session !== undefined) set('session', { ...stored.session, ...settings.session }, 'config.parameters');
  const providers = executionProvidersFromConfig(settings, stored.executionProviders, problems);
  if (providers !== undefined)
    set('executionProviders', providers.length > 0 ? providers : undefined, 'config.instance_group[0].kind');

  let config: ServingConfig | undefined;
  try {
    config = parseServingConfig(next);
    if (config.sequence !== undefined && settings.sequence !== undefined)
      checkSequenceConfig(config.sequence, record.signature);
  } catch (error) {
    if (!(error instanceof SlipwayError)) throw error;
    problems.push(...namedProblems(error, origin));
    config = undefined;
  }
  if (config !== undefined)
    problems.push(...reportedProblems(patch, buildModelConfig({ name: model, record, serving: config }), model));
  if (problems.length > 0 || config === undefined) {
    throw new SlipwayError('INVALID_ARGUMENT', `invalid model config: ${problems.join('; ')}`, { details: problems });
  }
  return config;
}

/**
 * A Triton warm-up sample as the serving config's `warmup` request: each input zeros of
 * `[batch_size, ...dims]` when the model batches (Triton's dims leave the batch out), else of `dims`.
 */
function warmupRequest(
  sample: WarmupSample,
  batches: boolean,
  problems: string[],
): ServingConfig['warmup'] | undefined {
  if (!batches && sample.batchSize > 1) {
    problems.push(
      `config.model_warmup[0].batch_size ${sample.batchSize} needs max_batch_size > 0: without batching, dims are the whole shape`,
    );
    return undefined;
  }
  const inputs = [];
  for (const { name, datatype, dims } of sample.inputs) {
    const shape = batches ? [Math.max(sample.batchSize, 1), ...dims] : [...dims];
    const count = shape.reduce((a, b) => a * b, 1);
    // The stored request is JSON of at most WARMUP_REQUEST_MAX_BYTES (registry/serving-config.ts): two bytes an element at least.
    if (count > WARMUP_REQUEST_MAX_BYTES / 2) {
      problems.push(
        `config.model_warmup[0].inputs.${name}: ${count} elements is more than a stored warm-up request holds (${WARMUP_REQUEST_MAX_BYTES / 2})`,
      );
      return undefined;
    }
    const zero = datatype === 'BYTES' ? '' : datatype === 'BOOL' ? false : 0;
    inputs.push({ name, datatype, shape, data: new Array<string | boolean | number>(count).fill(zero) });
  }
  return { request: { inputs }, ...(sample.count === undefined ? {} : { count: sample.count }) };
}

/** parseServingConfig's and checkSequenceConfig's problems, each prefixed with the config field that set the setting. */
function namedProblems(error: SlipwayError, origin: Readonly<Record<string, string>>): string[] {
  const details = Array.isArray(error.details) ? (error.details as unknown[]).map(String) : [error.message];
  return details.map((problem) => {
    const key = Object.keys(origin).find((k) => problem.startsWith(`${k} `) || problem.startsWith(`${k}.`));
    if (key !== undefined) return `${origin[key]}: ${problem}`;
    // checkSequenceConfig names state inputs and outputs, not settings.
    return origin.sequence !== undefined ? `${origin.sequence}: ${problem}` : problem;
  });
}

/**
 * The descriptive fields the client gave, compared with what the configuration of the result
 * reports (serving/model-config.ts): a difference is refused, since a model config cannot change
 * the model itself nor a behaviour Slipway does not have.
 */
function reportedProblems(patch: ModelConfigPatch, reported: TritonModelConfig, model: string): string[] {
  const problems: string[] = [];
  for (const { field, path, value } of patch.fixed) {
    const expected = path.reduce<unknown>(
      (at, step) =>
        typeof at === 'object' && at !== null ? (at as Record<string | number, unknown>)[step] : undefined,
      reported,
    );
    if (expected === undefined) problems.push(`${field} is not supported by Slipway`);
    else if (sameValue(value, expected)) continue;
    else if (path.length === 1 && ['name', 'platform', 'backend'].includes(String(path[0])))
      problems.push(`${field} ${short(value)} differs from the model's ${short(expected)}`);
    else
      problems.push(`${field} ${short(value)} is not supported by Slipway (for this model it is ${short(expected)})`);
  }
  for (const side of ['input', 'output'] as const) {
    patch[side]?.forEach((entry, i) => {
      const where = `config.${side}[${i}]`;
      const actual = reported[side].find((t) => t.name === entry.name);
      if (actual === undefined) {
        const known = reported[side].map((t) => quote(t.name)).join(', ');
        problems.push(
          `${where}: ${quote(entry.name)} is not ${side === 'input' ? 'an input' : 'an output'} of model ${quote(model)} (${known}); the ${side} of a model config cannot change the model's signature`,
        );
        return;
      }
      for (const [key, value] of Object.entries(entry.fields)) {
        const expected = (actual as unknown as Record<string, unknown>)[key];
        if (expected === undefined) problems.push(`${where}.${key} is not supported by Slipway`);
        else if (!sameValue(value, expected)) {
          problems.push(
            `${where}.${key} ${short(value)} differs from the model's ${short(expected)}: the ${side} of a model config cannot change the model's signature`,
          );
        }
      }
    });
  }
  return problems;
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** JSON equality where an int64 may come as a decimal string (protobuf's JSON mapping) or a number. */
function sameValue(given: unknown, expected: unknown): boolean {
  if (typeof expected === 'number')
    return (
      (typeof given === 'number' || (typeof given === 'string' && /^-?\d+$/.test(given))) && Number(given) === expected
    );
  if (Array.isArray(expected))
    return Array.isArray(given) && given.length === expected.length && given.every((g, i) => sameValue(g, expected[i]));
  if (typeof expected === 'object' && expected !== null) {
    if (typeof given !== 'object' || given === null || Array.isArray(given)) return false;
    const keys = new Set([...Object.keys(expected), ...Object.keys(given)]);
    return [...keys].every((k) =>
      sameValue((given as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]),
    );
  }
  return given === expected;
}
