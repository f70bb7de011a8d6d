import { SlipwayError } from '../core/errors.js';
import type { Signature, TensorSpec } from '../tensor/datatypes.js';
import { formatShape, quote } from '../tensor/format.js';
import { decodeRequestInput } from '../tensor/json-codec.js';
import {
  parseExecutionProviders,
  parseSessionConfig,
  type ExecutionProviderName,
  type SessionConfig,
} from './serving-session-config.js';

export type { ExecutionProviderName, SessionConfig } from './serving-session-config.js';

/**
 * How a model is served: dynamic batching and instances (Triton's `dynamic_batching` and
 * `instance_group`, in the names of issue 3). Unset fields take the server's defaults.
 * Stored per model; applied when a version is (re)loaded.
 */
export interface ServingConfig {
  /** false turns the batcher off: every request runs on its own. */
  readonly batching?: boolean;
  readonly maxBatchSize?: number;
  readonly maxQueueDelayMicros?: number;
  /** 0 = unbounded. */
  readonly maxQueueSize?: number;
  readonly instances?: number;
  readonly priorityLevels?: number;
  /**
   * What the prediction log keeps of this model's tensors (monitor/payload-policy.ts): `full`,
   * `capped` (each tensor's first `logMaxElements` elements) or `none`. Unset: the process default
   * (SLIPWAY_LOG_PAYLOAD, capped).
   */
  readonly logPayload?: 'full' | 'capped' | 'none';
  readonly logMaxElements?: number;
  /** Implicit state kept per sequence between requests (Triton's sequence batcher); unset: the model is stateless. */
  readonly sequence?: SequenceConfig;
  /** How a version is warmed up before it is ready (Triton's `model_warmup`); unset: `generated`. */
  readonly warmup?: WarmupSetting;
  /** ONNX Runtime session options for this model (registry/serving-session-config.ts); unset: the process defaults. */
  readonly session?: SessionConfig;
  /** Execution providers in preference order; `cpu` is the last resort whether listed or not. Unset: CPU. */
  readonly executionProviders?: readonly ExecutionProviderName[];
}

/**
 * `none`: no warm-up; `generated`: one run on zeros, skipped with a warning when the model refuses
 * it; `{"request": {"inputs": [...]}, "count"?: n}`: a v2 JSON request body run `count` times (default
 * 1), whose failure refuses the load. The same shape as runtime/warmup.ts's WarmupPlan, which the
 * platform passes the model pool as it is.
 */
export type WarmupSetting = 'none' | 'generated' | WarmupRequest;

export interface WarmupRequest {
  /** A v2 JSON inference request body: `inputs` as clients send them (checked with the request codec). */
  readonly request: { readonly inputs: readonly unknown[] };
  readonly count?: number;
}

/** A stored warm-up request's JSON at most (the serving config is one JSON column, read at every load). */
export const WARMUP_REQUEST_MAX_BYTES = 1 << 20;
const WARMUP_COUNT_LIMITS = [1, 100] as const;

/** One implicit state: what a run returns as `output` is fed back as `input` to the sequence's next run. */
export interface SequenceStatePair {
  readonly input: string;
  readonly output: string;
}

/**
 * A stateful model's sequence settings (Triton's `sequence_batching` with implicit `state`). The state
 * inputs and outputs are hidden from clients; src/serving/sequence-state.ts keeps them per sequence_id.
 */
export interface SequenceConfig {
  readonly state: readonly SequenceStatePair[];
  /** A sequence without a request for this long is freed (Triton's max_sequence_idle_microseconds); default 60000. */
  readonly idleTimeoutMs?: number;
  /** Live sequences at most; a new one past it is refused with 503; default 1000. */
  readonly maxSequences?: number;
}

export const SEQUENCE_DEFAULTS = { idleTimeoutMs: 60_000, maxSequences: 1000 } as const;

const SEQUENCE_LIMITS = {
  idleTimeoutMs: [1, 86_400_000],
  maxSequences: [1, 1_000_000],
} as const;

const SEQUENCE_KEYS = ['state', ...Object.keys(SEQUENCE_LIMITS)] as const;

const LOG_PAYLOADS = ['full', 'capped', 'none'] as const;

const LIMITS: Readonly<
  Record<
    Exclude<keyof ServingConfig, 'batching' | 'logPayload' | 'sequence' | 'warmup' | 'session' | 'executionProviders'>,
    readonly [number, number]
  >
> = {
  maxBatchSize: [1, 1 << 20],
  maxQueueDelayMicros: [0, 10_000_000],
  maxQueueSize: [0, 1 << 24],
  instances: [1, 64],
  priorityLevels: [1, 16],
  // From monitor/payload-policy.ts (MIN_CAP_ELEMENTS, MAX_CAP_ELEMENTS): registry/ does not import monitor/.
  logMaxElements: [128, 1 << 24],
};

export const SERVING_CONFIG_KEYS = [
  'batching',
  'logPayload',
  ...Object.keys(LIMITS),
  'sequence',
  'warmup',
  'session',
  'executionProviders',
] as readonly (keyof ServingConfig)[];

/** Validate a serving config from a client; every problem is reported at once. */
export function parseServingConfig(value: unknown): ServingConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SlipwayError('INVALID_ARGUMENT', 'a serving config is a JSON object, e.g. {"maxBatchSize": 64}');
  }
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  // `session.intraOpThreads=2` from `slipway config --set` is merged into `session`.
  const dotted = Object.fromEntries(
    entries.filter(([key, raw]) => key.startsWith('session.') && raw !== undefined).map(([k, v]) => [k.slice(8), v]),
  );
  const sessionRaw = (value as Record<string, unknown>).session;
  if (Object.keys(dotted).length > 0 || (sessionRaw !== undefined && sessionRaw !== null)) {
    const session = parseSessionConfig(sessionRaw, dotted, problems);
    if (session !== undefined && Object.keys(session).length > 0) config.session = session;
  }
  for (const [key, raw] of entries) {
    if (raw === undefined || raw === null || key === 'session' || key.startsWith('session.')) continue;
    if (key === 'executionProviders') {
      const providers = parseExecutionProviders(raw, problems);
      if (providers !== undefined) config.executionProviders = providers;
      continue;
    }
    if (key === 'batching') {
      if (typeof raw === 'boolean') config.batching = raw;
      else problems.push(`batching must be true or false, got ${JSON.stringify(raw)}`);
      continue;
    }
    if (key === 'logPayload') {
      if ((LOG_PAYLOADS as readonly unknown[]).includes(raw)) config.logPayload = raw;
      else problems.push(`logPayload must be one of ${LOG_PAYLOADS.join(', ')}, got ${JSON.stringify(raw)}`);
      continue;
    }
    if (key === 'sequence') {
      const sequence = parseSequenceConfig(raw, problems);
      if (sequence !== undefined) config.sequence = sequence;
      continue;
    }
    if (key === 'warmup') {
      const warmup = parseWarmupSetting(raw, problems);
      if (warmup !== undefined) config.warmup = warmup;
      continue;
    }
    const limits = LIMITS[key as keyof typeof LIMITS] as readonly [number, number] | undefined;
    if (limits === undefined) {
      problems.push(`unknown setting "${key}" (known: ${SERVING_CONFIG_KEYS.join(', ')})`);
      continue;
    }
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < limits[0] || n > limits[1]) {
      problems.push(`${key} must be an integer from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(raw)}`);
      continue;
    }
    config[key] = n;
  }
  if (problems.length > 0)
    throw new SlipwayError('INVALID_ARGUMENT', `invalid serving config: ${problems.join('; ')}`, { details: problems });
  return config;
}

/**
 * The `sequence` setting, its problems appended to `problems` by name (`sequence.state[0].output ...`).
 * A JSON string is taken too, so `slipway config m --set 'sequence={"state":[...]}'` works.
 */
function parseSequenceConfig(raw: unknown, problems: string[]): SequenceConfig | undefined {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      problems.push(`sequence must be an object like {"state": [{"input": "h", "output": "hn"}]}, got ${quote(raw)}`);
      return undefined;
    }
  }
  if (!isObject(value)) {
    problems.push(
      `sequence must be an object like {"state": [{"input": "h", "output": "hn"}]}, got ${JSON.stringify(value)}`,
    );
    return undefined;
  }
  const before = problems.length;
  const config: { state: SequenceStatePair[]; idleTimeoutMs?: number; maxSequences?: number } = { state: [] };
  for (const [key, field] of Object.entries(value)) {
    if (key === 'state' || field === undefined || field === null) continue;
    const limits = SEQUENCE_LIMITS[key as keyof typeof SEQUENCE_LIMITS] as readonly [number, number] | undefined;
    if (limits === undefined) {
      problems.push(
        `unknown setting "sequence.${key}" (known: ${SEQUENCE_KEYS.map((k) => `sequence.${k}`).join(', ')})`,
      );
      continue;
    }
    if (typeof field !== 'number' || !Number.isInteger(field) || field < limits[0] || field > limits[1]) {
      problems.push(
        `sequence.${key} must be an integer from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(field)}`,
      );
      continue;
    }
    config[key as keyof typeof SEQUENCE_LIMITS] = field;
  }
  const state = value.state;
  if (!Array.isArray(state) || state.length === 0) {
    problems.push(
      `sequence.state must be a non-empty list of {"input": ..., "output": ...} pairs, got ${JSON.stringify(state) ?? 'nothing'}`,
    );
  } else {
    state.forEach((pair: unknown, i) => {
      const pairProblems = statePairProblems(pair, `sequence.state[${i}]`);
      if (pairProblems.length > 0) problems.push(...pairProblems);
      else config.state.push({ input: (pair as SequenceStatePair).input, output: (pair as SequenceStatePair).output });
    });
    for (const side of ['input', 'output'] as const) {
      const names = config.state.map((p) => p[side]);
      const repeated = names.filter((name, i) => names.indexOf(name) !== i);
      for (const name of new Set(repeated)) problems.push(`sequence.state names ${side} ${quote(name)} more than once`);
    }
  }
  return problems.length === before ? config : undefined;
}

const WARMUP_EXAMPLE = '"none", "generated" or {"request": {"inputs": [...]}, "count": 1}';

/**
 * The `warmup` setting, its problems appended to `problems` by name (`warmup.request: input "x": ...`).
 * A JSON object in a string is taken too, for `slipway config m --set 'warmup={"request": ...}'`.
 * The request's tensors are decoded with the request codec here; whether they fit a version's
 * signature is known only when that version loads.
 */
function parseWarmupSetting(raw: unknown, problems: string[]): WarmupSetting | undefined {
  if (raw === 'none' || raw === 'generated') return raw;
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = raw.trimStart().startsWith('{') ? (JSON.parse(raw) as unknown) : raw;
    } catch (error) {
      problems.push(
        `warmup is not valid JSON (${error instanceof Error ? error.message : String(error)}); expected ${WARMUP_EXAMPLE}`,
      );
      return undefined;
    }
  }
  if (!isObject(value)) {
    problems.push(`warmup must be ${WARMUP_EXAMPLE}, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(value)) {
    if (key === 'reference') {
      // Drift's reference profile (monitor/drift-store.ts) keeps per-column summaries, not rows, so there is no row to send.
      problems.push(
        'warmup.reference is not supported: the reference profile keeps column summaries, not rows; give a request',
      );
    } else if (key !== 'request' && key !== 'count')
      problems.push(`unknown setting "warmup.${key}" (known: warmup.request, warmup.count)`);
  }
  const { request, count } = value;
  if (
    count !== undefined &&
    (typeof count !== 'number' ||
      !Number.isInteger(count) ||
      count < WARMUP_COUNT_LIMITS[0] ||
      count > WARMUP_COUNT_LIMITS[1])
  ) {
    problems.push(
      `warmup.count must be an integer from ${WARMUP_COUNT_LIMITS[0]} to ${WARMUP_COUNT_LIMITS[1]}, got ${JSON.stringify(count)}`,
    );
  }
  if (request === undefined) {
    if (!('reference' in value)) problems.push(`warmup.request is missing; expected ${WARMUP_EXAMPLE}`);
    return undefined;
  }
  const inputs = warmupInputs(request, problems);
  if (problems.length > before || inputs === undefined) return undefined;
  return count === undefined ? { request: { inputs } } : { request: { inputs }, count: count as number };
}

/** The request's `inputs`, each decoded once to check it; undefined (with problems) when it is not a request. */
function warmupInputs(request: unknown, problems: string[]): readonly unknown[] | undefined {
  if (!isObject(request)) {
    problems.push(
      `warmup.request must be a v2 JSON request body like {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}, got ${JSON.stringify(request)}`,
    );
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(request)) {
    // `outputs`, `id` and `parameters` would change nothing in a warm-up: refused rather than ignored.
    if (key !== 'inputs') problems.push(`unknown setting "warmup.request.${key}" (known: warmup.request.inputs)`);
  }
  const { inputs } = request;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    problems.push(
      `warmup.request.inputs must be a non-empty list of v2 input tensors, got ${JSON.stringify(inputs) ?? 'nothing'}`,
    );
    return undefined;
  }
  inputs.forEach((input: unknown, i) => {
    try {
      decodeRequestInput(input, i);
    } catch (error) {
      problems.push(`warmup.request: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  const bytes = Buffer.byteLength(JSON.stringify(inputs));
  if (bytes > WARMUP_REQUEST_MAX_BYTES)
    problems.push(`warmup.request is ${bytes} bytes of JSON; at most ${WARMUP_REQUEST_MAX_BYTES}`);
  return problems.length === before ? inputs : undefined;
}

function statePairProblems(pair: unknown, where: string): string[] {
  if (!isObject(pair)) return [`${where} must be {"input": ..., "output": ...}, got ${JSON.stringify(pair)}`];
  const problems: string[] = [];
  for (const side of ['input', 'output'] as const) {
    const name = pair[side];
    if (typeof name !== 'string' || name === '')
      problems.push(`${where}.${side} must be a tensor name, got ${JSON.stringify(name) ?? 'nothing'}`);
  }
  for (const key of Object.keys(pair)) {
    if (key !== 'input' && key !== 'output') problems.push(`unknown setting "${where}.${key}" (known: input, output)`);
  }
  return problems;
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Check a sequence config against one version's signature (when the config is applied or the version
 * loads): every state input and output exists, each pair has one datatype and one shape, the state is
 * numeric or BOOL, and every dimension after the first is fixed (a sequence starts from zeros of that
 * shape, with batch 1 where the first dimension is variable). Every problem is reported at once.
 *
 * @throws INVALID_ARGUMENT e.g. `sequence state does not fit the model: state output "hx" is not an output of the model (outputs: "y", "hn")`
 */
export function checkSequenceConfig(config: SequenceConfig, signature: Signature): void {
  const problems: string[] = [];
  const names = (specs: readonly TensorSpec[]) => specs.map((s) => quote(s.name)).join(', ');
  for (const pair of config.state) {
    const input = signature.inputs.find((s) => s.name === pair.input);
    const output = signature.outputs.find((s) => s.name === pair.output);
    if (input === undefined)
      problems.push(
        `state input ${quote(pair.input)} is not an input of the model (inputs: ${names(signature.inputs)})`,
      );
    if (output === undefined)
      problems.push(
        `state output ${quote(pair.output)} is not an output of the model (outputs: ${names(signature.outputs)})`,
      );
    if (input === undefined || output === undefined) continue;
    const label = `state ${quote(pair.output)} -> ${quote(pair.input)}`;
    if (input.datatype === 'BYTES')
      problems.push(`${label}: state input ${quote(input.name)} is BYTES; sequence state must be numeric or BOOL`);
    if (input.datatype !== output.datatype) {
      problems.push(`${label}: datatypes differ (output ${output.datatype}, input ${input.datatype})`);
    }
    if (!sameShape(input.shape, output.shape)) {
      problems.push(
        `${label}: shapes differ (output ${formatShape(output.shape)}, input ${formatShape(input.shape)}); the output's dims must equal the input's`,
      );
    }
    const variable = input.shape.findIndex((d, i) => i > 0 && d < 0);
    if (variable > 0) {
      problems.push(
        `${label}: dimension ${variable} of state input ${quote(input.name)} ${formatShape(input.shape)} is variable; state needs fixed dims after the batch dimension`,
      );
    }
  }
  if (problems.length > 0) {
    throw new SlipwayError('INVALID_ARGUMENT', `sequence state does not fit the model: ${problems.join('; ')}`, {
      details: problems,
    });
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
