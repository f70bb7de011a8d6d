/**
 * Open Inference Protocol datatypes and the tensor shapes Slipway passes between modules.
 * Pure data: no I/O, no ONNX Runtime types (those stay in runtime/).
 */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export type Datatype = (typeof DATATYPES)[number];

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/** Bytes per element; BYTES is variable (0 here). */
export const DATATYPE_SIZE: Readonly<Record<Datatype, number>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: 0,
};

/** The name, datatype and shape of one model input or output. `-1` marks a variable (symbolic) dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  /** An input with a default value in the graph (an initializer of the same name); clients may leave it out. */
  readonly optional?: boolean;
}

/** A model's interface: what it takes and what it gives. */
export interface Signature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/**
 * Element storage per datatype. FP16 is kept as raw IEEE half bits in a Uint16Array; BOOL as 0/1 bytes;
 * BYTES as strings (what ONNX Runtime's string tensors take: UTF-8 text). Kept as strings on purpose
 * (issue 14): every edge decodes strictly and refuses what a string tensor cannot carry exactly, so
 * valid bytes round-trip unchanged (bytes-text.ts).
 */
export interface TensorDataByType {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: string[];
}

export type TensorData = TensorDataByType[Datatype];

/** A decoded tensor: row-major data whose length equals the product of `shape`. */
export interface Tensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
