import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { SlipwayError } from '../../core/errors.js';
import type { Datatype, Signature, TensorSpec } from '../../tensor/datatypes.js';

/** What Slipway reads from an ONNX file without running it. */
export interface OnnxModelInfo {
  readonly signature: Signature;
  readonly irVersion: number;
  /** domain ('' = ai.onnx) -> opset version */
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  /** ModelProto.metadata_props */
  readonly metadata: Readonly<Record<string, string>>;
}

// The ONNX schema is loaded from the .proto shipped in the package (proto/onnx-ml.proto) rather than a
// generated module, so the one file stays the source of truth for both reading and, later, rewriting graphs.
const PROTO_PATH = fileURLToPath(new URL('../../../proto/onnx-ml.proto', import.meta.url));
let modelType: protobuf.Type | undefined;

function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.loadSync(PROTO_PATH).lookupType('onnx.ModelProto');
  return modelType;
}

/** onnx.TensorProto.DataType -> Open Inference Protocol datatype. */
const ELEMENT_TYPES: Readonly<Record<number, Datatype>> = {
  1: 'FP32', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'BYTES', 9: 'BOOL',
  10: 'FP16', 11: 'FP64', 12: 'UINT32', 13: 'UINT64',
};
const UNSUPPORTED_ELEMENT_TYPES: Readonly<Record<number, string>> = {
  14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ',
};

// Decoded protobuf messages, typed only as far as we read them.
interface Dim { dimValue?: number | { toNumber(): number }; dimParam?: string }
interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: Dim[] } };
  sequenceType?: unknown;
  mapType?: unknown;
  optionalType?: unknown;
  sparseTensorType?: unknown;
}
interface ValueInfo { name?: string; type?: TypeProto }
interface DecodedModel {
  irVersion?: number | { toNumber(): number };
  producerName?: string;
  producerVersion?: string;
  opsetImport?: Array<{ domain?: string; version?: number | { toNumber(): number } }>;
  metadataProps?: Array<{ key?: string; value?: string }>;
  graph?: { input?: ValueInfo[]; output?: ValueInfo[]; initializer?: Array<{ name?: string }> };
}

const toNumber = (v: number | { toNumber(): number } | undefined): number =>
  v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber();

/**
 * Read the signature and header of an ONNX model.
 * Throws INVALID_ARGUMENT for empty, truncated or non-ONNX bytes, and for tensors Slipway cannot serve.
 *
 * @example
 * const { signature } = readOnnxModel(await readFile('model.onnx'));
 * signature.inputs[0]; // { name: 'input', datatype: 'FP32', shape: [-1, 30] }
 */
export function readOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  if (bytes.byteLength === 0) throw new SlipwayError('INVALID_ARGUMENT', 'the model file is empty');
  let decoded: DecodedModel;
  try {
    decoded = onnxModelType().decode(bytes) as unknown as DecodedModel;
  } catch (error) {
    throw new SlipwayError('INVALID_ARGUMENT', `not a valid ONNX model: ${(error as Error).message}`, { cause: error });
  }
  const irVersion = toNumber(decoded.irVersion);
  const graph = decoded.graph;
  if (irVersion <= 0 || graph === undefined || (graph.output ?? []).length === 0) {
    throw new SlipwayError('INVALID_ARGUMENT', 'not a valid ONNX model: no ir_version or no graph with outputs');
  }
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const inputs: TensorSpec[] = [];
  for (const value of graph.input ?? []) {
    const name = value.name ?? '';
    if (initializers.has(name)) {
      // Before IR 4 every initializer was also listed as an input; from IR 4 on, an input with an
      // initializer is an optional input whose default is the initializer.
      if (irVersion < 4) continue;
      inputs.push({ ...tensorSpec(value, 'input'), optional: true });
    } else {
      inputs.push(tensorSpec(value, 'input'));
    }
  }
  const outputs = (graph.output ?? []).map((value) => tensorSpec(value, 'output'));
  const opsets: Record<string, number> = {};
  for (const o of decoded.opsetImport ?? []) opsets[o.domain ?? ''] = toNumber(o.version);
  const metadata: Record<string, string> = {};
  for (const p of decoded.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  const producer = [decoded.producerName, decoded.producerVersion].filter(Boolean).join(' ');
  return { signature: { inputs, outputs }, irVersion, opsets, producer, metadata };
}

function tensorSpec(value: ValueInfo, side: 'input' | 'output'): TensorSpec {
  const name = value.name ?? '';
  const what = `${side} "${name}"`;
  const tensorType = value.type?.tensorType;
  if (tensorType === undefined) {
    const kind = value.type?.sequenceType ? 'a sequence' : value.type?.mapType ? 'a map' : 'not a dense tensor';
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${what} is ${kind}; Slipway serves dense tensors only (for scikit-learn classifiers export without ZipMap, e.g. options={"zipmap": False})`,
    );
  }
  const elemType = tensorType.elemType ?? 0;
  const datatype = ELEMENT_TYPES[elemType];
  if (datatype === undefined) {
    const known = UNSUPPORTED_ELEMENT_TYPES[elemType];
    throw new SlipwayError('INVALID_ARGUMENT', `${what} has element type ${known ?? `#${elemType}`}, which Slipway does not serve`);
  }
  if (tensorType.shape === undefined) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${what} has no shape; run onnx.shape_inference.infer_shapes on the model or declare the shape when exporting`,
    );
  }
  const shape = (tensorType.shape.dim ?? []).map((d) => {
    const size = toNumber(d.dimValue);
    return d.dimValue !== undefined && size > 0 ? size : -1;
  });
  return { name, datatype, shape };
}
