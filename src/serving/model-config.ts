/**
 * A model version's configuration in Triton's model-config terms (`GET /v2/models/{m}/config`, gRPC
 * `ModelConfig`), derived from what Slipway actually does with it: the version's signature, the
 * model's stored serving config (registry/serving-config.ts) and the batcher's defaults
 * (runtime/batcher.ts). Pure: no I/O.
 *
 * Choices where Triton's shape and Slipway's model differ:
 * - `version_policy` is `{all: {}}`: every active version answers when addressed (by semver, alias
 *   or major), not only the newest.
 * - `max_batch_size` is the batcher's `maxBatchSize` only when the batcher is on and every input and
 *   output has a variable leading dimension (the rows a run concatenates); otherwise 0, and `dims`
 *   are then the full shapes. With it > 0, `dims` leave the batch dimension out, as Triton's do.
 * - `dynamic_batching` is reported whenever the batcher is on (its queue limit and priority levels
 *   apply even to a model whose requests cannot share a run); never with `sequence_batching`, which
 *   Triton's `scheduling_choice` oneof makes exclusive.
 * - `instance_group` is one CPU group: the batcher's runs in flight at once, 1 without the batcher.
 * - Slipway's own facts go in `parameters` (Triton's free-form string map, which its clients pass
 *   through): `slipway_version`, the exact version the configuration describes, and
 *   `execution_provider`, where the loaded version runs (when the caller knows it is loaded).
 * - The model's ONNX Runtime session settings are `parameters` with the names of Triton's onnxruntime
 *   backend: `intra_op_thread_count`, `inter_op_thread_count`, `execution_mode` ("0" sequential,
 *   "1" parallel), `enable_mem_arena`, `enable_mem_pattern` ("0"/"1"), and Slipway's
 *   `graph_optimization_level` (disabled, basic, extended, all: Triton's `optimization.graph.level`
 *   has no "disabled"). Only the settings the model's serving config sets are listed; the rest are the
 *   process defaults (runtime/onnx/session-settings.ts SESSION_DEFAULTS, SLIPWAY_INTRA_OP_THREADS).
 * - The execution-provider preference is Triton's: `instance_group[0].kind` KIND_GPU when it names
 *   `cuda` or `tensorrt`, and `optimization.execution_accelerators.gpu_execution_accelerator`
 *   [{"name": "tensorrt"}] when TensorRT comes first (CUDA is KIND_GPU's own provider). The group's
 *   kind is what the model asks for; `parameters.execution_provider` is what it got.
 */
import type { VersionRecord } from '../registry/types.js';
import type { ServingConfig, SessionConfig } from '../registry/serving-config.js';
import { DEFAULT_BATCHING, type BatchingOptions } from '../runtime/batcher.js';
import type { Datatype, TensorSpec } from '../tensor/datatypes.js';

export const TRITON_PLATFORM = 'onnxruntime_onnx';
export const TRITON_BACKEND = 'onnxruntime';

/** Triton's DataType enum names; BYTES is TYPE_STRING. */
export type TritonDataType = `TYPE_${Exclude<Datatype, 'BYTES'>}` | 'TYPE_STRING';

export function tritonDataType(datatype: Datatype): TritonDataType {
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}

/** A sequence (implicit state) setting as the serving config stores it. */
interface SequenceSettings {
  readonly state: readonly { readonly input: string; readonly output: string }[];
  readonly idleTimeoutMs?: number;
}

/** The serving config, with the stateful-sequence field read when present. */
export type ServingConfigWithSequence = ServingConfig & { readonly sequence?: SequenceSettings };

/** Default idle timeout of a sequence, in ms (registry/serving-config.ts SEQUENCE_DEFAULTS). */
const DEFAULT_SEQUENCE_IDLE_MS = 60_000;

export interface TritonModelInput {
  name: string;
  data_type: TritonDataType;
  format: 'FORMAT_NONE';
  dims: number[];
  is_shape_tensor: false;
  allow_ragged_batch: false;
  optional: boolean;
}

export interface TritonModelOutput {
  name: string;
  data_type: TritonDataType;
  dims: number[];
  label_filename: string;
  is_shape_tensor: false;
}

export interface TritonQueuePolicy {
  timeout_action: 'REJECT';
  default_timeout_microseconds: number;
  allow_timeout_override: boolean;
  max_queue_size: number;
}

export interface TritonDynamicBatching {
  preferred_batch_size: number[];
  max_queue_delay_microseconds: number;
  preserve_ordering: boolean;
  priority_levels: number;
  default_priority_level: number;
  default_queue_policy: TritonQueuePolicy;
}

export interface TritonSequenceState {
  input_name: string;
  output_name: string;
  data_type: TritonDataType | 'TYPE_INVALID';
  dims: number[];
}

export interface TritonSequenceBatching {
  max_sequence_idle_microseconds: number;
  state: TritonSequenceState[];
}

/** Triton's model-config JSON, the fields Slipway reports (the same subset proto/grpc_service.proto declares). */
export interface TritonModelConfig {
  name: string;
  platform: typeof TRITON_PLATFORM;
  backend: typeof TRITON_BACKEND;
  version_policy: { all: Record<string, never> };
  max_batch_size: number;
  input: TritonModelInput[];
  output: TritonModelOutput[];
  dynamic_batching?: TritonDynamicBatching;
  sequence_batching?: TritonSequenceBatching;
  instance_group: { name: string; kind: 'KIND_CPU' | 'KIND_GPU'; count: number }[];
  optimization?: { execution_accelerators: { gpu_execution_accelerator: { name: 'tensorrt' }[] } };
  parameters: Record<string, { string_value: string }>;
  model_warmup: [];
}

/** The session settings as Triton's onnxruntime backend parameters (see the module comment). */
export const SESSION_PARAMETERS: Readonly<Record<keyof SessionConfig, string>> = {
  intraOpThreads: 'intra_op_thread_count',
  interOpThreads: 'inter_op_thread_count',
  executionMode: 'execution_mode',
  graphOptimizationLevel: 'graph_optimization_level',
  enableCpuMemArena: 'enable_mem_arena',
  enableMemPattern: 'enable_mem_pattern',
};

/** A session setting's value as the parameter's string. */
export function sessionParameterValue(key: keyof SessionConfig, value: SessionConfig[keyof SessionConfig]): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (key === 'executionMode') return value === 'parallel' ? '1' : '0';
  return String(value);
}

export interface ModelConfigSource {
  /** The name the client asked for (a model or a deployment); Triton's config names what was asked. */
  readonly name: string;
  readonly record: Pick<VersionRecord, 'version' | 'signature'>;
  readonly serving: ServingConfigWithSequence;
  /** The batcher's defaults for unset serving fields (DEFAULT_BATCHING unless a test says otherwise). */
  readonly defaults?: BatchingOptions;
  /** Where the version runs when it is loaded (serving-lifecycle.ts `activeProvider`); reported as `parameters.execution_provider`. */
  readonly activeProvider?: { readonly name: string };
}

/** Build the configuration; see the module comment for each choice. */
export function buildModelConfig(source: ModelConfigSource): TritonModelConfig {
  const { name, record, serving } = source;
  const defaults = source.defaults ?? DEFAULT_BATCHING;
  const batching = serving.batching !== false;
  const stateInputs = new Set(serving.sequence?.state.map((s) => s.input) ?? []);
  const stateOutputs = new Set(serving.sequence?.state.map((s) => s.output) ?? []);
  const { inputs, outputs } = record.signature;
  const batchMajor = [...inputs, ...outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  const maxBatchSize = batching && batchMajor ? (serving.maxBatchSize ?? defaults.maxBatchSize) : 0;
  const dims = (spec: TensorSpec): number[] => (maxBatchSize > 0 ? spec.shape.slice(1) : [...spec.shape]);
  const gpu = (serving.executionProviders ?? []).filter((p) => p !== 'cpu');

  const config: TritonModelConfig = {
    name,
    platform: TRITON_PLATFORM,
    backend: TRITON_BACKEND,
    version_policy: { all: {} },
    max_batch_size: maxBatchSize,
    input: inputs
      .filter((spec) => !stateInputs.has(spec.name))
      .map((spec) => ({
        name: spec.name,
        data_type: tritonDataType(spec.datatype),
        format: 'FORMAT_NONE',
        dims: dims(spec),
        is_shape_tensor: false,
        allow_ragged_batch: false,
        optional: spec.optional === true,
      })),
    output: outputs
      .filter((spec) => !stateOutputs.has(spec.name))
      .map((spec) => ({
        name: spec.name,
        data_type: tritonDataType(spec.datatype),
        dims: dims(spec),
        label_filename: '',
        is_shape_tensor: false,
      })),
    instance_group: [
      {
        name: `${name}_0`,
        kind: gpu.length > 0 ? 'KIND_GPU' : 'KIND_CPU',
        count: batching ? (serving.instances ?? defaults.instances) : 1,
      },
    ],
    parameters: sessionParameters(source),
    model_warmup: [],
  };
  if (gpu[0] === 'tensorrt')
    config.optimization = { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt' }] } };
  if (serving.sequence !== undefined) {
    config.sequence_batching = sequenceBatching(serving.sequence, inputs, dims);
  } else if (batching) {
    const priorityLevels = serving.priorityLevels ?? defaults.priorityLevels;
    config.dynamic_batching = {
      // Slipway picks no preferred sizes: a run takes every compatible queued request up to max_batch_size.
      preferred_batch_size: [],
      max_queue_delay_microseconds: serving.maxQueueDelayMicros ?? defaults.maxQueueDelayMicros,
      preserve_ordering: false,
      priority_levels: priorityLevels,
      // Requests without a priority get the lowest (runtime/batcher.ts).
      default_priority_level: priorityLevels,
      // A request's own `timeout` parameter applies; none by default; past the limit, 503.
      default_queue_policy: {
        timeout_action: 'REJECT',
        default_timeout_microseconds: 0,
        allow_timeout_override: true,
        max_queue_size: serving.maxQueueSize ?? defaults.maxQueueSize,
      },
    };
  }
  return config;
}

function sequenceBatching(
  sequence: SequenceSettings,
  inputs: readonly TensorSpec[],
  dims: (spec: TensorSpec) => number[],
): TritonSequenceBatching {
  return {
    max_sequence_idle_microseconds: (sequence.idleTimeoutMs ?? DEFAULT_SEQUENCE_IDLE_MS) * 1000,
    state: sequence.state.map((pair) => {
      const spec = inputs.find((t) => t.name === pair.input);
      // The serving config's state names are checked against the signature when stored and loaded; a
      // stale one (a later version renamed it) is still reported, with what the model no longer declares left empty.
      return {
        input_name: pair.input,
        output_name: pair.output,
        data_type: spec ? tritonDataType(spec.datatype) : 'TYPE_INVALID',
        dims: spec ? dims(spec) : [],
      };
    }),
  };
}

/** `slipway_version`, the loaded version's `execution_provider`, and the model's session settings by Triton's names. */
function sessionParameters(source: ModelConfigSource): Record<string, { string_value: string }> {
  const parameters: Record<string, { string_value: string }> = {
    slipway_version: { string_value: source.record.version },
  };
  if (source.activeProvider !== undefined) parameters.execution_provider = { string_value: source.activeProvider.name };
  for (const [key, value] of Object.entries(source.serving.session ?? {}) as [keyof SessionConfig, never][]) {
    if (value !== undefined) parameters[SESSION_PARAMETERS[key]] = { string_value: sessionParameterValue(key, value) };
  }
  return parameters;
}
