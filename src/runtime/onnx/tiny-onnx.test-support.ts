/**
 * Test support: writes tiny ONNX models (a few nodes) as protobuf bytes, for the cases the fixture
 * models do not cover: every datatype through ORT, non-tensor outputs, a model that fails to run.
 * Only the ModelProto fields those models need are encoded (field numbers from onnx.proto).
 */
import type { Datatype, Tensor, TensorData } from '../../tensor/datatypes.js';
import { concat, int, message, text } from '../../testing/protobuf-writer.js';

/** TensorProto.DataType numbers. */
const ELEM_TYPE: Readonly<Record<Datatype, number>> = {
  FP32: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BYTES: 8,
  BOOL: 9,
  FP16: 10,
  FP64: 11,
  UINT32: 12,
  UINT64: 13,
};

/** A tensor type (string dims are symbolic) or a sequence of one. */
export type TinyType =
  { readonly tensor: Datatype; readonly shape: readonly (number | string)[] } | { readonly sequenceOf: TinyType };

export interface TinyValue {
  readonly name: string;
  readonly type: TinyType;
}

export interface TinyNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export interface TinyGraph {
  readonly nodes: readonly TinyNode[];
  readonly inputs: readonly TinyValue[];
  readonly outputs: readonly TinyValue[];
  /** ai.onnx opset; default 13. */
  readonly opset?: number;
}

/** Encode a graph as an ONNX model file (IR version 8). */
export function tinyModel(graph: TinyGraph): Uint8Array {
  const graphProto = concat(
    ...graph.nodes.map((node) => message(1, nodeProto(node))),
    text(2, 'tiny'),
    ...graph.inputs.map((v) => message(11, valueInfo(v))),
    ...graph.outputs.map((v) => message(12, valueInfo(v))),
  );
  const opset = concat(text(1, ''), int(2, graph.opset ?? 13));
  return concat(int(1, 8), text(2, 'slipway-tests'), message(7, graphProto), message(8, opset));
}

/** `y = Identity(x)` for one datatype, shape [N, 2] with a symbolic batch dimension. */
export function identityModel(datatype: Datatype): Uint8Array {
  const type: TinyType = { tensor: datatype, shape: ['N', 2] };
  return tinyModel({
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', type }],
    outputs: [{ name: 'y', type }],
  });
}

/** Output `s` is a sequence of tensors (like ZipMap's non-tensor output): not servable. */
export function sequenceOutputModel(): Uint8Array {
  return tinyModel({
    nodes: [
      { op: 'Identity', inputs: ['x'], outputs: ['y'] },
      { op: 'SequenceConstruct', inputs: ['x'], outputs: ['s'] },
    ],
    inputs: [{ name: 'x', type: { tensor: 'FP32', shape: ['N', 2] } }],
    outputs: [
      { name: 'y', type: { tensor: 'FP32', shape: ['N', 2] } },
      { name: 's', type: { sequenceOf: { tensor: 'FP32', shape: ['N', 2] } } },
    ],
  });
}

/**
 * `y = Reshape(x, shape)`: loads fine, but fails at run time unless `shape` fits `x`; the all-zero
 * warm-up request ([1, 2] reshaped to [0] = [1]) fails.
 */
export function failsOnZerosModel(): Uint8Array {
  return tinyModel({
    nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
    inputs: [
      { name: 'x', type: { tensor: 'FP32', shape: ['N', 2] } },
      { name: 'shape', type: { tensor: 'INT64', shape: [1] } },
    ],
    outputs: [{ name: 'y', type: { tensor: 'FP32', shape: ['M'] } }],
  });
}

function nodeProto(node: TinyNode): Uint8Array {
  return concat(
    ...node.inputs.map((name) => text(1, name)),
    ...node.outputs.map((name) => text(2, name)),
    text(4, node.op),
  );
}

function valueInfo(value: TinyValue): Uint8Array {
  return concat(text(1, value.name), message(2, typeProto(value.type)));
}

function typeProto(type: TinyType): Uint8Array {
  if ('sequenceOf' in type) return message(4, message(1, typeProto(type.sequenceOf)));
  const dims = type.shape.map((d) => message(1, typeof d === 'number' ? int(1, d) : text(2, d)));
  return message(1, concat(int(1, ELEM_TYPE[type.tensor]), message(2, concat(...dims))));
}

/** Six awkward values per datatype, shape [3, 2]: extremes, zero, sign, precision. */
const SAMPLES: Readonly<Record<Datatype, TensorData>> = {
  BOOL: Uint8Array.from([0, 1, 1, 0, 0, 1]),
  UINT8: Uint8Array.from([0, 1, 127, 128, 254, 255]),
  UINT16: Uint16Array.from([0, 1, 32767, 32768, 65534, 65535]),
  UINT32: Uint32Array.from([0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]),
  UINT64: BigUint64Array.from([0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n]),
  INT8: Int8Array.from([-128, -1, 0, 1, 126, 127]),
  INT16: Int16Array.from([-32768, -1, 0, 1, 32766, 32767]),
  INT32: Int32Array.from([-(2 ** 31), -1, 0, 1, 2 ** 31 - 2, 2 ** 31 - 1]),
  INT64: BigInt64Array.from([-(2n ** 63n), -(2n ** 53n) - 1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
  // Raw half bits: 0, -0, 1.0, -2.0, 65504 (max), NaN.
  FP16: Uint16Array.from([0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x7e00]),
  FP32: Float32Array.from([-3.4028234663852886e38, -1.5, 0, 1e-45, 0.1, Number.POSITIVE_INFINITY]),
  FP64: Float64Array.from([-Number.MAX_VALUE, -1.5, 0, 5e-324, 0.1, Number.NaN]),
  BYTES: ['', 'a', 'héllo', '日本語', 'emoji 🚢', 'tab\tnew\nline'],
};

/** A [3, 2] tensor of awkward values (extremes, zero, sign, precision, unicode) for a datatype. */
export function sampleTensor(datatype: Datatype, name = 'x'): Tensor {
  return { name, datatype, shape: [3, 2], data: SAMPLES[datatype] };
}

/** `ya = Identity(a)`, `yb = Identity(b)` with `a: [N, 3]`, `b: [N, 2]`: two inputs sharing the symbolic batch dimension `N`. */
export function sharedBatchModel(): Uint8Array {
  return tinyModel({
    nodes: [
      { op: 'Identity', inputs: ['a'], outputs: ['ya'] },
      { op: 'Identity', inputs: ['b'], outputs: ['yb'] },
    ],
    inputs: [
      { name: 'a', type: { tensor: 'FP32', shape: ['N', 3] } },
      { name: 'b', type: { tensor: 'FP32', shape: ['N', 2] } },
    ],
    outputs: [
      { name: 'ya', type: { tensor: 'FP32', shape: ['N', 3] } },
      { name: 'yb', type: { tensor: 'FP32', shape: ['N', 2] } },
    ],
  });
}
