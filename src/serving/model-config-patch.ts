/**
 * Triton's model-config JSON, as a client sends it with a repository load (`parameters.config`),
 * parsed into the serving settings it asks for and the descriptive fields that must match what
 * Slipway reports (serving/repository-load.ts applies and checks both). Pure. Every field Slipway
 * has no setting for is refused by name; nothing is accepted and ignored.
 */
import { invalid } from '../core/errors.js';
import { DATATYPES, type Datatype } from '../tensor/datatypes.js';
import { SESSION_FIELDS, optimization, reportedProvider, sessionParameter } from './model-config-session.js';

export { executionProvidersFromConfig } from './model-config-session.js';

/** One descriptive value the client gave, to compare with the reported configuration at `path`. */
export interface FixedField {
  /** The config field, for messages: `config.dynamic_batching.preserve_ordering`. */
  readonly field: string;
  /** Where the same value sits in serving/model-config.ts's TritonModelConfig. */
  readonly path: readonly (string | number)[];
  readonly value: unknown;
}

/** An input or output entry: its name and every other field given. */
export interface TensorEntry {
  readonly name: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface ConfigSettings {
  maxBatchSize?: number;
  /** `dynamic_batching` is present: the batcher is on. */
  dynamicBatching: boolean;
  maxQueueDelayMicros?: number;
  maxQueueSize?: number;
  priorityLevels?: number;
  instances?: number;
  sequence?: { state: { input: string; output: string }[]; idleTimeoutMs?: number };
  warmup?: WarmupSample;
  /** Session settings from `parameters` with Triton's onnxruntime backend names (serving/model-config.ts SESSION_PARAMETERS). */
  session?: Record<string, string | number | boolean>;
  /** `instance_group[0].kind`: true for KIND_GPU, false for KIND_CPU. */
  gpu?: boolean;
  /** `optimization.execution_accelerators.gpu_execution_accelerator` names, in order. */
  gpuAccelerators?: ('tensorrt' | 'cuda')[];
}

/** One Triton warm-up sample of zeros (`zero_data`), made into a request once the batch dimension is known. */
export interface WarmupSample {
  readonly batchSize: number;
  readonly inputs: readonly { readonly name: string; readonly datatype: Datatype; readonly dims: readonly number[] }[];
  readonly count?: number;
}

export interface ModelConfigPatch {
  readonly settings: ConfigSettings;
  readonly fixed: readonly FixedField[];
  readonly input?: readonly TensorEntry[];
  readonly output?: readonly TensorEntry[];
  /** Problems found while parsing, each naming its field. */
  readonly problems: readonly string[];
}

/** instance_group fields whose empty or false value asks for nothing (Triton's own configs carry them so). */
const EMPTY_GROUP_FIELDS = new Set(['gpus', 'secondary_devices', 'profile', 'passive', 'host_policy']);

/**
 * Parse the JSON text of a model config.
 *
 * @throws INVALID_ARGUMENT when the text is not a JSON object; field problems are returned in `problems`
 */
export function parseModelConfigJson(text: string): ModelConfigPatch {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw invalid(`parameter "config" is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(value))
    throw invalid(
      `parameter "config" must be a JSON object (Triton's model configuration), got ${JSON.stringify(value).slice(0, 80)}`,
    );
  return new Parser().parse(value);
}

class Parser {
  private readonly problems: string[] = [];
  private readonly fixed: FixedField[] = [];
  private readonly settings: ConfigSettings = { dynamicBatching: false };
  private input: TensorEntry[] | undefined;
  private output: TensorEntry[] | undefined;

  parse(config: Readonly<Record<string, unknown>>): ModelConfigPatch {
    for (const [key, value] of Object.entries(config)) {
      if (value === null || value === undefined) continue;
      const field = `config.${key}`;
      switch (key) {
        case 'name':
        case 'platform':
        case 'backend':
          if (typeof value === 'string') this.fix(field, [key], value);
          else this.problems.push(`${field} must be a string, got ${JSON.stringify(value)}`);
          break;
        case 'version_policy':
          // Reported as {"all": {}}: every active version answers when addressed.
          this.fix(field, [key], value);
          break;
        case 'model_warmup':
          // [] is what the configuration reports (Slipway's own default warm-up is not a Triton sample).
          if (Array.isArray(value) && value.length === 0) this.fix(field, [key], value);
          else this.modelWarmup(value);
          break;
        case 'max_batch_size':
          this.settings.maxBatchSize = this.integer(field, value, 0);
          break;
        case 'input':
        case 'output':
          this[key] = this.tensors(field, value);
          break;
        case 'dynamic_batching':
          this.dynamicBatching(value);
          break;
        case 'sequence_batching':
          this.sequenceBatching(value);
          break;
        case 'instance_group':
          this.instanceGroup(value);
          break;
        case 'parameters':
          if (!isObject(value))
            this.problems.push(`${field} must be an object of {"string_value": ...}, got ${JSON.stringify(value)}`);
          else
            for (const [name, parameter] of Object.entries(value)) {
              if (name in SESSION_FIELDS)
                sessionParameter(`${field}.${name}`, name, parameter, this.settings, this.problems);
              else if (name === 'execution_provider') reportedProvider(`${field}.${name}`, parameter, this.problems);
              else this.fix(`${field}.${name}`, ['parameters', name], parameter);
            }
          break;
        case 'optimization':
          optimization(value, this.settings, this.problems);
          break;
        default:
          this.problems.push(`${field} is not supported by Slipway`);
      }
    }
    if (this.settings.dynamicBatching && this.settings.sequence !== undefined) {
      this.problems.push(
        "config.dynamic_batching and config.sequence_batching are exclusive (Triton's scheduling_choice): give one",
      );
    }
    return {
      settings: this.settings,
      fixed: this.fixed,
      ...(this.input === undefined ? {} : { input: this.input }),
      ...(this.output === undefined ? {} : { output: this.output }),
      problems: this.problems,
    };
  }

  private dynamicBatching(value: unknown): void {
    const where = 'config.dynamic_batching';
    if (!isObject(value)) {
      this.problems.push(`${where} must be an object, got ${JSON.stringify(value)}`);
      return;
    }
    this.settings.dynamicBatching = true;
    for (const [key, field] of Object.entries(value)) {
      if (field === null || field === undefined) continue;
      const name = `${where}.${key}`;
      switch (key) {
        case 'max_queue_delay_microseconds':
          this.settings.maxQueueDelayMicros = this.integer(name, field, 0);
          break;
        case 'priority_levels': {
          // Triton's 0 means no priorities: one level.
          const levels = this.integer(name, field, 0);
          if (levels !== undefined) this.settings.priorityLevels = Math.max(levels, 1);
          break;
        }
        case 'default_priority_level':
          // 0 is Triton's "unset"; Slipway's default level is the lowest, as it reports.
          if (field !== 0 && field !== '0') this.fix(name, ['dynamic_batching', key], field);
          break;
        case 'preferred_batch_size':
          if (Array.isArray(field) && field.length === 0) break;
          this.problems.push(
            `${name} is not supported by Slipway: its batcher runs every compatible queued request up to max_batch_size at once, it has no preferred sizes`,
          );
          break;
        case 'preserve_ordering':
          this.fix(name, ['dynamic_batching', key], field);
          break;
        case 'default_queue_policy':
          this.queuePolicy(name, field);
          break;
        default:
          this.problems.push(`${name} is not supported by Slipway`);
      }
    }
  }

  private queuePolicy(where: string, value: unknown): void {
    if (!isObject(value)) {
      this.problems.push(`${where} must be an object, got ${JSON.stringify(value)}`);
      return;
    }
    for (const [key, field] of Object.entries(value)) {
      if (field === null || field === undefined) continue;
      const name = `${where}.${key}`;
      if (key === 'max_queue_size') this.settings.maxQueueSize = this.integer(name, field, 0);
      // A request's own `timeout` parameter applies; the queue rejects past its size: what the configuration reports.
      else if (key === 'timeout_action' || key === 'default_timeout_microseconds' || key === 'allow_timeout_override')
        this.fix(name, ['dynamic_batching', 'default_queue_policy', key], field);
      else this.problems.push(`${name} is not supported by Slipway`);
    }
  }

  private sequenceBatching(value: unknown): void {
    const where = 'config.sequence_batching';
    if (!isObject(value)) {
      this.problems.push(`${where} must be an object, got ${JSON.stringify(value)}`);
      return;
    }
    const sequence: NonNullable<ConfigSettings['sequence']> = { state: [] };
    let stateGiven = false;
    for (const [key, field] of Object.entries(value)) {
      if (field === null || field === undefined) continue;
      const name = `${where}.${key}`;
      if (key === 'max_sequence_idle_microseconds') {
        const micros = this.integer(name, field, 1000);
        if (micros !== undefined && micros % 1000 !== 0)
          this.problems.push(`${name} must be whole milliseconds (a multiple of 1000), got ${micros}`);
        else if (micros !== undefined) sequence.idleTimeoutMs = micros / 1000;
      } else if (key === 'state') {
        stateGiven = true;
        this.sequenceState(name, field, sequence.state);
      } else if (key === 'control_input') {
        this.problems.push(
          `${name} is not supported by Slipway: a request marks its sequence with the sequence_id, sequence_start and sequence_end parameters`,
        );
      } else this.problems.push(`${name} is not supported by Slipway (its sequences keep implicit state only)`);
    }
    if (!stateGiven)
      this.problems.push(
        `${where}.state must list the implicit state, e.g. [{"input_name": "h", "output_name": "hn"}]: Slipway's sequences are models whose state outputs feed their state inputs`,
      );
    this.settings.sequence = sequence;
  }

  private sequenceState(where: string, value: unknown, into: { input: string; output: string }[]): void {
    if (!Array.isArray(value) || value.length === 0) {
      this.problems.push(
        `${where} must be a non-empty list of {"input_name": ..., "output_name": ...}, got ${JSON.stringify(value)}`,
      );
      return;
    }
    value.forEach((entry: unknown, i) => {
      const at = `${where}[${i}]`;
      if (!isObject(entry)) {
        this.problems.push(`${at} must be an object, got ${JSON.stringify(entry)}`);
        return;
      }
      const { input_name: input, output_name: output } = entry;
      if (typeof input !== 'string' || input === '')
        this.problems.push(`${at}.input_name must be a tensor name, got ${JSON.stringify(input) ?? 'nothing'}`);
      if (typeof output !== 'string' || output === '')
        this.problems.push(`${at}.output_name must be a tensor name, got ${JSON.stringify(output) ?? 'nothing'}`);
      if (typeof input === 'string' && input !== '' && typeof output === 'string' && output !== '')
        into.push({ input, output });
      for (const [key, field] of Object.entries(entry)) {
        if (key === 'input_name' || key === 'output_name' || field === null || field === undefined) continue;
        if (key === 'data_type' || key === 'dims')
          this.fix(`${at}.${key}`, ['sequence_batching', 'state', i, key], field);
        else if (key === 'initial_state')
          this.problems.push(`${at}.initial_state is not supported by Slipway: a sequence's state starts from zeros`);
        else this.problems.push(`${at}.${key} is not supported by Slipway`);
      }
    });
  }

  /** Triton's `model_warmup`: one sample whose inputs are `zero_data` (Slipway's warm-up is one request). */
  private modelWarmup(value: unknown): void {
    const where = 'config.model_warmup';
    if (!Array.isArray(value) || value.length !== 1 || !isObject(value[0])) {
      this.problems.push(
        `${where} must hold one sample, e.g. [{"name": "zeros", "batch_size": 1, "inputs": {"x": {"data_type": "TYPE_FP32", "dims": [4], "zero_data": true}}}]: Slipway warms a version up with one request, got ${short(value)}`,
      );
      return;
    }
    const sample = value[0];
    const inputs: { name: string; datatype: Datatype; dims: number[] }[] = [];
    let batchSize = 1;
    let count: number | undefined;
    for (const [key, field] of Object.entries(sample)) {
      const name = `${where}[0].${key}`;
      if (field === null || field === undefined) continue;
      // A sample's name labels it in Triton's logs; Slipway's warm-up messages name the model and version instead.
      if (key === 'name') {
        if (typeof field !== 'string') this.problems.push(`${name} must be a string, got ${short(field)}`);
      } else if (key === 'batch_size') batchSize = this.integer(name, field, 0) ?? batchSize;
      else if (key === 'count') count = this.integer(name, field, 1);
      else if (key === 'inputs') this.warmupInputs(name, field, inputs);
      else this.problems.push(`${name} is not supported by Slipway`);
    }
    if (inputs.length === 0)
      this.problems.push(`${where}[0].inputs must name at least one input with "zero_data": true`);
    this.settings.warmup = { batchSize, inputs, ...(count === undefined ? {} : { count }) };
  }

  private warmupInputs(
    where: string,
    value: unknown,
    into: { name: string; datatype: Datatype; dims: number[] }[],
  ): void {
    if (!isObject(value)) {
      this.problems.push(
        `${where} must be an object of input name -> {"data_type", "dims", "zero_data": true}, got ${short(value)}`,
      );
      return;
    }
    for (const [input, spec] of Object.entries(value)) {
      const at = `${where}.${input}`;
      if (!isObject(spec)) {
        this.problems.push(`${at} must be an object, got ${short(spec)}`);
        continue;
      }
      const datatype = typeof spec.data_type === 'string' ? datatypeOf(spec.data_type) : undefined;
      if (datatype === undefined)
        this.problems.push(`${at}.data_type must be a Triton data type like "TYPE_FP32", got ${short(spec.data_type)}`);
      const dims = Array.isArray(spec.dims)
        ? spec.dims.map((d: unknown, i) => this.integer(`${at}.dims[${i}]`, d, 1))
        : undefined;
      if (dims === undefined) this.problems.push(`${at}.dims must be a list of sizes, got ${short(spec.dims)}`);
      for (const [key, field] of Object.entries(spec)) {
        if (key === 'data_type' || key === 'dims') continue;
        if (key === 'zero_data') {
          if (field !== true) this.problems.push(`${at}.zero_data must be true, got ${short(field)}`);
        } else this.problems.push(`${at}.${key} is not supported by Slipway (a warm-up sample is zero_data)`);
      }
      if (spec.zero_data !== true && !('zero_data' in spec))
        this.problems.push(`${at} needs "zero_data": true (the one kind of sample Slipway runs)`);
      const sizes = dims?.filter((d): d is number => d !== undefined);
      if (datatype !== undefined && dims !== undefined && sizes?.length === dims.length)
        into.push({ name: input, datatype, dims: sizes });
    }
  }

  private instanceGroup(value: unknown): void {
    const where = 'config.instance_group';
    if (!Array.isArray(value) || value.length !== 1) {
      this.problems.push(
        `${where} must hold exactly one group, e.g. [{"count": 2, "kind": "KIND_CPU"}]: Slipway runs one group of instances on the CPU, got ${JSON.stringify(value)}`,
      );
      return;
    }
    const group: unknown = value[0];
    if (!isObject(group)) {
      this.problems.push(`${where}[0] must be an object, got ${JSON.stringify(group)}`);
      return;
    }
    for (const [key, field] of Object.entries(group)) {
      if (field === null || field === undefined) continue;
      const name = `${where}[0].${key}`;
      if (key === 'count') this.settings.instances = this.integer(name, field, 1);
      else if (key === 'kind') {
        if (field === 'KIND_GPU' || field === 'KIND_CPU') this.settings.gpu = field === 'KIND_GPU';
        else this.problems.push(`${name} must be KIND_CPU or KIND_GPU, got ${JSON.stringify(field)}`);
      } else if (key === 'name') this.fix(name, ['instance_group', 0, key], field);
      else if (EMPTY_GROUP_FIELDS.has(key) && isEmptyValue(field)) continue;
      else this.problems.push(`${name} is not supported by Slipway`);
    }
  }

  private tensors(where: string, value: unknown): TensorEntry[] | undefined {
    if (!Array.isArray(value)) {
      this.problems.push(`${where} must be a list of tensors, got ${JSON.stringify(value)}`);
      return undefined;
    }
    const entries: TensorEntry[] = [];
    value.forEach((entry: unknown, i) => {
      if (!isObject(entry) || typeof entry.name !== 'string') {
        this.problems.push(`${where}[${i}] must be an object with a "name", got ${JSON.stringify(entry)}`);
        return;
      }
      const { name, ...fields } = entry;
      entries.push({
        name,
        fields: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null && v !== undefined)),
      });
    });
    return entries;
  }

  private fix(field: string, path: readonly (string | number)[], value: unknown): void {
    this.fixed.push({ field, path, value });
  }

  /** An integer at least `min`, as a JSON number or (protobuf's JSON for int64) a decimal string. */
  private integer(field: string, value: unknown, min: number): number | undefined {
    const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
      this.problems.push(`${field} must be an integer of at least ${min}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return n;
  }
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmptyValue(value: unknown): boolean {
  return value === false || value === '' || (Array.isArray(value) && value.length === 0);
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Triton's `TYPE_*` name as an OIP datatype (TYPE_STRING is BYTES). */
function datatypeOf(name: string): Datatype | undefined {
  if (name === 'TYPE_STRING') return 'BYTES';
  const datatype = name.startsWith('TYPE_') ? name.slice(5) : '';
  return (DATATYPES as readonly string[]).includes(datatype) && datatype !== 'BYTES'
    ? (datatype as Datatype)
    : undefined;
}
