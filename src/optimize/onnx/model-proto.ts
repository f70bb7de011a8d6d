/**
 * An ONNX model as a plain, mutable object: decoded and encoded with protobufjs and the schema in
 * proto/onnx-ml.proto (the one registry/onnx/read-onnx.ts reads with), so every rewrite in this
 * module edits the real protobuf, field for field, and nothing it does not know is dropped.
 *
 * int64 fields are JS numbers (exact below 2^53: dims, opset versions and attribute ints are far
 * below it); bytes fields are Uint8Array.
 */
import type protobuf from 'protobufjs';
import { invalid } from '../../core/errors.js';
import { onnxModelType } from '../../registry/onnx/read-onnx.js';

export interface OnnxAttribute {
  name: string;
  /** AttributeProto.AttributeType: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS, 8 STRINGS */
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  [field: string]: unknown;
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: OnnxAttribute[];
  docString?: string;
  [field: string]: unknown;
}

export interface OnnxTensor {
  name?: string;
  dims?: number[];
  /** TensorProto.DataType: 1 FLOAT, 2 UINT8, 3 INT8, 6 INT32, 7 INT64, 10 FLOAT16, 11 DOUBLE */
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  [field: string]: unknown;
}

export interface OnnxValueInfo {
  name: string;
  type?: {
    tensorType?: { elemType?: number; shape?: { dim?: Array<{ dimValue?: number; dimParam?: string }> } };
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

export interface OnnxGraph {
  name?: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  valueInfo: OnnxValueInfo[];
  [field: string]: unknown;
}

export interface OnnxModel {
  irVersion?: number;
  opsetImport: Array<{ domain?: string; version?: number }>;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadataProps?: Array<{ key?: string; value?: string }>;
  graph: OnnxGraph;
  [field: string]: unknown;
}

/** onnx.TensorProto.DataType values used by the passes. */
export const ElementType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;

/** onnx.AttributeProto.AttributeType values. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

/** Decode ONNX bytes into a mutable model; INVALID_ARGUMENT when they are not an ONNX model with a graph. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const type = onnxModelType();
  let decoded: protobuf.Message;
  try {
    decoded = type.decode(bytes);
  } catch (error) {
    throw invalid(`not an ONNX model: ${(error as Error).message}`);
  }
  const model = type.toObject(decoded, { longs: Number, arrays: true, defaults: false }) as OnnxModel;
  if (model.graph === undefined) throw invalid('not an ONNX model: it has no graph');
  const graph = model.graph;
  graph.node ??= [];
  graph.initializer ??= [];
  graph.input ??= [];
  graph.output ??= [];
  graph.valueInfo ??= [];
  model.opsetImport ??= [];
  for (const node of graph.node) {
    node.input ??= [];
    node.output ??= [];
  }
  return model;
}

/** Encode a model back to ONNX bytes. */
export function encodeModel(model: OnnxModel): Uint8Array {
  const type = onnxModelType();
  return type.encode(type.fromObject(model)).finish();
}

/** A deep copy (through the wire format), so a pass never edits its caller's model. */
export function cloneModel(model: OnnxModel): OnnxModel {
  return decodeModel(encodeModel(model));
}

/** The opset version a model imports for `domain` ('' or 'ai.onnx' = the default domain), or undefined. */
export function opsetVersion(model: OnnxModel, domain = ''): number | undefined {
  const wanted = domain === 'ai.onnx' ? '' : domain;
  return model.opsetImport.find((o) => (o.domain ?? '') === wanted || (wanted === '' && o.domain === 'ai.onnx'))
    ?.version;
}

/** Import `domain` at `version` at least (raising an older import; the default domain is ''). */
export function requireOpset(model: OnnxModel, domain: string, version: number): void {
  const existing = model.opsetImport.find((o) => (o.domain ?? '') === domain);
  if (existing === undefined) model.opsetImport.push({ domain, version });
  else if ((existing.version ?? 0) < version) existing.version = version;
}
