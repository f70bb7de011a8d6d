import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { SlipwayError } from '../../core/errors.js';
import type { Datatype, Signature, TensorSpec } from '../../tensor/datatypes.js';
import { checkLabels, parseLabelLines } from '../labels.js';

/** What Slipway reads from an ONNX file without running it. */
export interface OnnxModelInfo {
  readonly signature: Signature;
  readonly irVersion: number;
  /** domain ('' = ai.onnx) -> opset version */
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  /** ModelProto.metadata_props */
  readonly metadata: Readonly<Record<string, string>>;
  /** An ai.onnx.ml classifier node's class labels, if any; `declaredLabels` says which labels apply. */
  readonly classifierLabels?: OnnxLabels;
}

/**
 * Class labels found in an ONNX file. `metadata`: the author declared them (`labels` or
 * `classlabels` in metadata_props), so they must fit an output. `classifier`: an ai.onnx.ml
 * classifier node's class labels, used only when they fit an output (the node's class list may
 * feed an output the graph reshapes, and pushing such a model must keep working).
 */
export interface OnnxLabels {
  readonly values: readonly string[];
  readonly from: 'metadata' | 'classifier';
  /** Where they came from, for messages: `ONNX metadata "labels"`, `TreeEnsembleClassifier node "tree" classlabels_int64s`. */
  readonly source: string;
}

/** The metadata_props keys read as class labels, in order of preference. */
export const LABEL_METADATA_KEYS = ['labels', 'classlabels'] as const;

// The ONNX schema is loaded from the .proto shipped in the package (proto/onnx-ml.proto) rather than a
// generated module, so the one file stays the source of truth for both reading and, later, rewriting graphs.
const PROTO_PATH = fileURLToPath(new URL('../../../proto/onnx-ml.proto', import.meta.url));
let modelType: protobuf.Type | undefined;

/** onnx.ModelProto from proto/onnx-ml.proto, loaded once (optimize/onnx/model-proto.ts rewrites with it too). */
export function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.loadSync(PROTO_PATH).lookupType('onnx.ModelProto');
  return modelType;
}

/** onnx.TensorProto.DataType -> Open Inference Protocol datatype. */
const ELEMENT_TYPES: Readonly<Record<number, Datatype>> = {
  1: 'FP32',
  2: 'UINT8',
  3: 'INT8',
  4: 'UINT16',
  5: 'INT16',
  6: 'INT32',
  7: 'INT64',
  8: 'BYTES',
  9: 'BOOL',
  10: 'FP16',
  11: 'FP64',
  12: 'UINT32',
  13: 'UINT64',
};
const UNSUPPORTED_ELEMENT_TYPES: Readonly<Record<number, string>> = {
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  16: 'BFLOAT16',
  17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ',
};

// Decoded protobuf messages, typed only as far as we read them.
interface Dim {
  dimValue?: number | { toNumber(): number };
  dimParam?: string;
}
interface TypeProto {
  tensorType?: { elemType?: number; shape?: { dim?: Dim[] } };
  sequenceType?: unknown;
  mapType?: unknown;
  optionalType?: unknown;
  sparseTensorType?: unknown;
}
interface ValueInfo {
  name?: string;
  type?: TypeProto;
}
type Int64 = number | { toNumber(): number };
interface Attribute {
  name?: string;
  ints?: Int64[];
  strings?: Uint8Array[];
}
interface Node {
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: Attribute[];
}
interface DecodedModel {
  irVersion?: number | { toNumber(): number };
  producerName?: string;
  producerVersion?: string;
  opsetImport?: Array<{ domain?: string; version?: number | { toNumber(): number } }>;
  metadataProps?: Array<{ key?: string; value?: string }>;
  graph?: { input?: ValueInfo[]; output?: ValueInfo[]; initializer?: Array<{ name?: string }>; node?: Node[] };
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
  const classifier = classifierLabels(graph.node ?? []);
  return {
    signature: { inputs, outputs },
    irVersion,
    opsets,
    producer,
    metadata,
    ...(classifier ? { classifierLabels: classifier } : {}),
  };
}

/**
 * The class labels an ONNX file declares: metadata_props `labels` or `classlabels`, else a
 * classifier node's. Separate from `readOnnxModel` so a push that brings its own labels file is
 * not refused for metadata it replaces.
 *
 * @throws INVALID_ARGUMENT for metadata labels that cannot be read, naming the key
 */
export function declaredLabels(info: Pick<OnnxModelInfo, 'metadata' | 'classifierLabels'>): OnnxLabels | undefined {
  return metadataLabels(info.metadata) ?? info.classifierLabels;
}

/**
 * Labels from metadata_props `labels` or `classlabels`: a JSON array of strings (a value starting
 * with `[`) or one label per line. Both keys with different lists are refused: which one is meant?
 */
function metadataLabels(metadata: Readonly<Record<string, string>>): OnnxLabels | undefined {
  const found = LABEL_METADATA_KEYS.filter((key) => metadata[key] !== undefined).map((key) => {
    const source = `ONNX metadata "${key}"`;
    return { values: parseLabelValue(metadata[key] ?? '', source), from: 'metadata' as const, source };
  });
  const [first, second] = found;
  if (first && second && JSON.stringify(first.values) !== JSON.stringify(second.values)) {
    throw new SlipwayError('INVALID_ARGUMENT', `${first.source} and ${second.source} hold different labels; keep one`);
  }
  return first;
}

function parseLabelValue(value: string, source: string): string[] {
  if (!value.trimStart().startsWith('[')) return parseLabelLines(value, source);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${source} starts with "[" but is not a JSON array: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!Array.isArray(parsed))
    throw new SlipwayError('INVALID_ARGUMENT', `${source} must be a JSON array of strings or one label per line`);
  return checkLabels(parsed, source);
}

/**
 * The first ai.onnx.ml node with class labels (LinearClassifier `classlabels_strings`/`classlabels_ints`,
 * TreeEnsembleClassifier and SVMClassifier `classlabels_strings`/`classlabels_int64s`). Integer labels
 * 0..n-1 are left out: they repeat the index the response already carries.
 */
function classifierLabels(nodes: readonly Node[]): OnnxLabels | undefined {
  for (const node of nodes) {
    if (node.domain !== 'ai.onnx.ml') continue;
    for (const attribute of node.attribute ?? []) {
      const where = `${node.opType ?? 'classifier'} node ${JSON.stringify(node.name ?? '')} ${attribute.name ?? ''}`;
      if (attribute.name === 'classlabels_strings' && (attribute.strings ?? []).length > 0) {
        const decoder = new TextDecoder();
        const values = (attribute.strings ?? []).map((bytes) => decoder.decode(bytes));
        // A class label that cannot be a response label (empty, multi-line) makes the list unusable, not the model.
        return labelsIfValid(values, where);
      }
      if (
        (attribute.name === 'classlabels_int64s' || attribute.name === 'classlabels_ints') &&
        (attribute.ints ?? []).length > 0
      ) {
        const ints = (attribute.ints ?? []).map(toNumber);
        if (ints.every((value, index) => value === index)) return undefined;
        return labelsIfValid(ints.map(String), where);
      }
    }
  }
  return undefined;
}

function labelsIfValid(values: string[], source: string): OnnxLabels | undefined {
  try {
    return { values: checkLabels(values, source), from: 'classifier', source };
  } catch {
    return undefined;
  }
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
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `${what} has element type ${known ?? `#${elemType}`}, which Slipway does not serve`,
    );
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
