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
