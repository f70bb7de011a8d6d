/**
 * The messages of `proto/grpc_service.proto` as @grpc/proto-loader hands them over
 * (`PROTO_LOADER_OPTIONS`): snake_case fields, int64/uint64 as decimal strings, bytes as Buffers.
 * Fields of decoded messages are optional because nothing guarantees a peer set them; outgoing
 * messages may give int64 values as numbers or strings.
 */

/** An int64/uint64 on the wire: a decimal string when decoded, a number or string when encoded. */
export type Int64Value = string | number;

/** Which member of `InferParameter.parameter_choice` is set (the `oneofs` virtual field). */
export type ParameterChoice = 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';

export interface InferParameterMessage {
  bool_param?: boolean;
  int64_param?: Int64Value;
  string_param?: string;
  double_param?: number;
  uint64_param?: Int64Value;
  parameter_choice?: ParameterChoice;
}

export type ParameterMapMessage = Record<string, InferParameterMessage>;

export interface InferTensorContentsMessage {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: Int64Value[];
  uint_contents?: number[];
  uint64_contents?: Int64Value[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

/** The name of one typed contents field. */
export type ContentsField = keyof InferTensorContentsMessage;

export interface InferInputTensorMessage {
  name?: string;
  datatype?: string;
  shape?: Int64Value[];
  parameters?: ParameterMapMessage;
  contents?: InferTensorContentsMessage | null;
}

export interface InferRequestedOutputTensorMessage {
  name?: string;
  parameters?: ParameterMapMessage;
}

export interface ModelInferRequestMessage {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: ParameterMapMessage;
  inputs?: InferInputTensorMessage[];
  outputs?: InferRequestedOutputTensorMessage[];
  raw_input_contents?: Uint8Array[];
}

export interface InferOutputTensorMessage {
  name: string;
  datatype: string;
  shape: Int64Value[];
  parameters?: ParameterMapMessage;
  contents?: InferTensorContentsMessage | null;
}

export interface ModelInferResponseMessage {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: ParameterMapMessage;
  outputs: InferOutputTensorMessage[];
  raw_output_contents: Uint8Array[];
}

/** ModelReadyRequest and ModelMetadataRequest. */
export interface ModelRefMessage {
  name?: string;
  version?: string;
}

export interface TensorMetadataMessage {
  name: string;
  datatype: string;
  shape: Int64Value[];
}

export interface ModelMetadataResponseMessage {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadataMessage[];
  outputs: TensorMetadataMessage[];
}

export interface ServerMetadataResponseMessage {
  name: string;
  version: string;
  extensions: string[];
}

/** The empty requests: ServerLive, ServerReady, ServerMetadata. */
export type EmptyMessage = Record<string, never>;

/** One response of the ModelStreamInfer stream: an error message, or the answer. */
export interface ModelStreamInferResponseMessage {
  error_message: string;
  infer_response?: ModelInferResponseMessage | null;
}

/** ModelStatisticsRequest: an empty name means every model. */
export type ModelStatisticsRequestMessage = ModelRefMessage;

export interface StatisticDurationMessage {
  count: Int64Value;
  ns: Int64Value;
}

export interface InferStatisticsMessage {
  success: StatisticDurationMessage;
  fail: StatisticDurationMessage;
  queue: StatisticDurationMessage;
  compute_input: StatisticDurationMessage;
  compute_infer: StatisticDurationMessage;
  compute_output: StatisticDurationMessage;
  cache_hit: StatisticDurationMessage;
  cache_miss: StatisticDurationMessage;
}

export interface InferBatchStatisticsMessage {
  batch_size: Int64Value;
  compute_input: StatisticDurationMessage;
  compute_infer: StatisticDurationMessage;
  compute_output: StatisticDurationMessage;
}

export interface ModelStatisticsMessage {
  name: string;
  version: string;
  last_inference: Int64Value;
  inference_count: Int64Value;
  execution_count: Int64Value;
  inference_stats: InferStatisticsMessage;
  batch_stats: InferBatchStatisticsMessage[];
}

export interface ModelStatisticsResponseMessage {
  model_stats: ModelStatisticsMessage[];
}

/** Which member of `ModelRepositoryParameter.parameter_choice` is set. */
export interface ModelRepositoryParameterMessage {
  bool_param?: boolean;
  int64_param?: Int64Value;
  string_param?: string;
  bytes_param?: Uint8Array;
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param';
}

export interface RepositoryIndexRequestMessage {
  repository_name?: string;
  ready?: boolean;
}

export interface ModelIndexMessage {
  name: string;
  version: string;
  state: string;
  reason: string;
}

export interface RepositoryIndexResponseMessage {
  models: ModelIndexMessage[];
}

/** RepositoryModelLoadRequest and RepositoryModelUnloadRequest. */
export interface RepositoryModelRequestMessage {
  repository_name?: string;
  model_name?: string;
  parameters?: Record<string, ModelRepositoryParameterMessage>;
}

/** Triton's `DataType` enum, by name (`enums: String`). */
export type ModelDataTypeName =
  | 'TYPE_INVALID'
  | 'TYPE_BOOL'
  | 'TYPE_UINT8'
  | 'TYPE_UINT16'
  | 'TYPE_UINT32'
  | 'TYPE_UINT64'
  | 'TYPE_INT8'
  | 'TYPE_INT16'
  | 'TYPE_INT32'
  | 'TYPE_INT64'
  | 'TYPE_FP16'
  | 'TYPE_FP32'
  | 'TYPE_FP64'
  | 'TYPE_STRING'
  | 'TYPE_BF16';

export interface ModelInputMessage {
  name: string;
  data_type: ModelDataTypeName;
  format?: 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW';
  dims: Int64Value[];
  reshape?: { shape: Int64Value[] } | null;
  is_shape_tensor?: boolean;
  allow_ragged_batch?: boolean;
  optional?: boolean;
}

export interface ModelOutputMessage {
  name: string;
  data_type: ModelDataTypeName;
  dims: Int64Value[];
  label_filename?: string;
  reshape?: { shape: Int64Value[] } | null;
  is_shape_tensor?: boolean;
}

export interface ModelInstanceGroupMessage {
  name?: string;
  count: number;
  kind: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
}

/** One member of `policy_choice` is set. */
export interface ModelVersionPolicyMessage {
  latest?: { num_versions: number } | null;
  all?: Record<string, never> | null;
  specific?: { versions: Int64Value[] } | null;
  policy_choice?: 'latest' | 'all' | 'specific';
}

export interface ModelQueuePolicyMessage {
  timeout_action?: 'REJECT' | 'DELAY';
  default_timeout_microseconds?: Int64Value;
  allow_timeout_override?: boolean;
  max_queue_size: number;
}

export interface ModelDynamicBatchingMessage {
  preferred_batch_size: number[];
  max_queue_delay_microseconds: Int64Value;
  preserve_ordering?: boolean;
  priority_levels: number;
  default_priority_level?: number;
  default_queue_policy?: ModelQueuePolicyMessage | null;
  priority_queue_policy?: Record<string, ModelQueuePolicyMessage>;
}

export interface ModelSequenceStateMessage {
  input_name: string;
  output_name: string;
  data_type: ModelDataTypeName;
  dims: Int64Value[];
}

export interface ModelSequenceBatchingMessage {
  max_sequence_idle_microseconds: Int64Value;
  state: ModelSequenceStateMessage[];
}

export interface ModelWarmupInputMessage {
  data_type: ModelDataTypeName;
  dims: Int64Value[];
  zero_data?: boolean;
  random_data?: boolean;
  input_data_file?: string;
  input_data_type?: 'zero_data' | 'random_data' | 'input_data_file';
}

export interface ModelWarmupMessage {
  name: string;
  batch_size: number;
  inputs: Record<string, ModelWarmupInputMessage>;
  count: number;
}

/** Triton's ModelConfig, the subset Slipway reports (proto/grpc_service.proto). */
export interface ModelConfigMessage {
  name: string;
  platform: string;
  backend: string;
  version_policy?: ModelVersionPolicyMessage | null;
  max_batch_size: number;
  input: ModelInputMessage[];
  output: ModelOutputMessage[];
  /** At most one of the two is set (the `scheduling_choice` oneof). */
  dynamic_batching?: ModelDynamicBatchingMessage | null;
  sequence_batching?: ModelSequenceBatchingMessage | null;
  scheduling_choice?: 'dynamic_batching' | 'sequence_batching';
  instance_group: ModelInstanceGroupMessage[];
  parameters?: Record<string, { string_value: string }>;
  model_warmup?: ModelWarmupMessage[];
}

export interface ModelConfigResponseMessage {
  config: ModelConfigMessage;
}
