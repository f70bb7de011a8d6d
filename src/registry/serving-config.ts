import { SlipwayError } from '../core/errors.js';
import type { Signature, TensorSpec } from '../tensor/datatypes.js';
import { formatShape, quote } from '../tensor/format.js';

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
}

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

const LIMITS: Readonly<Record<Exclude<keyof ServingConfig, 'batching' | 'logPayload' | 'sequence'>, readonly [number, number]>> = {
  maxBatchSize: [1, 1 << 20],
  maxQueueDelayMicros: [0, 10_000_000],
  maxQueueSize: [0, 1 << 24],
  instances: [1, 64],
  priorityLevels: [1, 16],
  // From monitor/payload-policy.ts (MIN_CAP_ELEMENTS, MAX_CAP_ELEMENTS): registry/ does not import monitor/.
  logMaxElements: [128, 1 << 24],
};

export const SERVING_CONFIG_KEYS = ['batching', 'logPayload', ...Object.keys(LIMITS), 'sequence'] as readonly (keyof ServingConfig)[];

/** Validate a serving config from a client; every problem is reported at once. */
export function parseServingConfig(value: unknown): ServingConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SlipwayError('INVALID_ARGUMENT', 'a serving config is a JSON object, e.g. {"maxBatchSize": 64}');
  }
  const problems: string[] = [];
  const config: Record<string, number | boolean | string | SequenceConfig> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    if (raw === undefined || raw === null) continue;
    if (key === 'batching') {
      if (typeof raw === 'boolean') config.batching = raw;
      else problems.push(`batching must be true or false, got ${JSON.stringify(raw)}`);
      continue;
    }
    if (key === 'logPayload') {
      if ((LOG_PAYLOADS as readonly unknown[]).includes(raw)) config.logPayload = raw as string;
      else problems.push(`logPayload must be one of ${LOG_PAYLOADS.join(', ')}, got ${JSON.stringify(raw)}`);
      continue;
    }
    if (key === 'sequence') {
      const sequence = parseSequenceConfig(raw, problems);
      if (sequence !== undefined) config.sequence = sequence;
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
  if (problems.length > 0) throw new SlipwayError('INVALID_ARGUMENT', `invalid serving config: ${problems.join('; ')}`, { details: problems });
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
    problems.push(`sequence must be an object like {"state": [{"input": "h", "output": "hn"}]}, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const before = problems.length;
  const config: { state: SequenceStatePair[]; idleTimeoutMs?: number; maxSequences?: number } = { state: [] };
  for (const [key, field] of Object.entries(value)) {
    if (key === 'state' || field === undefined || field === null) continue;
    const limits = SEQUENCE_LIMITS[key as keyof typeof SEQUENCE_LIMITS] as readonly [number, number] | undefined;
    if (limits === undefined) {
      problems.push(`unknown setting "sequence.${key}" (known: ${SEQUENCE_KEYS.map((k) => `sequence.${k}`).join(', ')})`);
      continue;
    }
    if (typeof field !== 'number' || !Number.isInteger(field) || field < limits[0] || field > limits[1]) {
      problems.push(`sequence.${key} must be an integer from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(field)}`);
      continue;
    }
    config[key as keyof typeof SEQUENCE_LIMITS] = field;
  }
  const state = value.state;
  if (!Array.isArray(state) || state.length === 0) {
    problems.push(`sequence.state must be a non-empty list of {"input": ..., "output": ...} pairs, got ${JSON.stringify(state) ?? 'nothing'}`);
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

function statePairProblems(pair: unknown, where: string): string[] {
  if (!isObject(pair)) return [`${where} must be {"input": ..., "output": ...}, got ${JSON.stringify(pair)}`];
  const problems: string[] = [];
  for (const side of ['input', 'output'] as const) {
    const name = pair[side];
    if (typeof name !== 'string' || name === '') problems.push(`${where}.${side} must be a tensor name, got ${JSON.stringify(name) ?? 'nothing'}`);
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
    if (input === undefined) problems.push(`state input ${quote(pair.input)} is not an input of the model (inputs: ${names(signature.inputs)})`);
    if (output === undefined) problems.push(`state output ${quote(pair.output)} is not an output of the model (outputs: ${names(signature.outputs)})`);
    if (input === undefined || output === undefined) continue;
    const label = `state ${quote(pair.output)} -> ${quote(pair.input)}`;
    if (input.datatype === 'BYTES') problems.push(`${label}: state input ${quote(input.name)} is BYTES; sequence state must be numeric or BOOL`);
    if (input.datatype !== output.datatype) {
      problems.push(`${label}: datatypes differ (output ${output.datatype}, input ${input.datatype})`);
    }
    if (!sameShape(input.shape, output.shape)) {
      problems.push(`${label}: shapes differ (output ${formatShape(output.shape)}, input ${formatShape(input.shape)}); the output's dims must equal the input's`);
    }
    const variable = input.shape.findIndex((d, i) => i > 0 && d < 0);
    if (variable > 0) {
      problems.push(`${label}: dimension ${variable} of state input ${quote(input.name)} ${formatShape(input.shape)} is variable; state needs fixed dims after the batch dimension`);
    }
  }
  if (problems.length > 0) {
    throw new SlipwayError('INVALID_ARGUMENT', `sequence state does not fit the model: ${problems.join('; ')}`, { details: problems });
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
