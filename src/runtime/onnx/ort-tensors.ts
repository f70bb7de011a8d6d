/**
 * Conversion between Slipway tensors and ONNX Runtime tensors, and between ONNX Runtime's type
 * strings and Open Inference Protocol datatypes. ORT types never leave `runtime/onnx/`.
 */
import * as ort from 'onnxruntime-node';
import { SlipwayError } from '../../core/errors.js';
import { DATATYPE_SIZE, elementCount } from '../../tensor/datatypes.js';
import type { Datatype, Tensor, TensorData } from '../../tensor/datatypes.js';

/** ONNX Runtime's element type string for each datatype. */
export const ORT_TYPE_OF: Readonly<Record<Datatype, ort.Tensor.Type>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const DATATYPE_OF: ReadonlyMap<string, Datatype> = new Map(
  Object.entries(ORT_TYPE_OF).map(([datatype, ortType]) => [ortType, datatype as Datatype]),
);

/** The datatype for an ONNX Runtime type string, or undefined for types Slipway does not serve (int4, uint4). */
export function datatypeOfOrtType(ortType: string): Datatype | undefined {
  return DATATYPE_OF.get(ortType);
}

type NumericDatatype = Exclude<Datatype, 'BYTES'>;
type TypedArrayConstructor = new (
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
) => Exclude<TensorData, string[]>;

/** The typed array each numeric datatype is stored in (TensorDataByType, as constructors). */
const STORAGE: Readonly<Record<NumericDatatype, TypedArrayConstructor>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/**
 * Wrap a Slipway tensor as an ONNX Runtime tensor without copying numeric data.
 * Throws INVALID_ARGUMENT when the data's storage or length does not match the datatype and shape.
 */
export function toOrtTensor(tensor: Tensor): ort.Tensor {
  const { name, datatype, shape, data } = tensor;
  const expected = elementCount(shape);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new SlipwayError('INVALID_ARGUMENT', `input "${name}": invalid shape [${shape.join(', ')}]`);
  }
  if (data.length !== expected) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `input "${name}": shape [${shape.join(', ')}] needs ${expected} elements, got ${data.length}`,
    );
  }
  if (datatype === 'BYTES') {
    if (!Array.isArray(data)) throw storageError(name, datatype, data);
    return new ort.Tensor('string', data, [...shape]);
  }
  if (!(data instanceof STORAGE[datatype])) throw storageError(name, datatype, data);
  // FP16 travels as raw half bits in a Uint16Array, which ORT accepts for 'float16'; BOOL as 0/1 bytes.
  return new ort.Tensor(ORT_TYPE_OF[datatype], data as ort.Tensor.DataTypeMap[ort.Tensor.Type], [...shape]);
}

function storageError(name: string, datatype: Datatype, data: TensorData): SlipwayError {
  const got = Array.isArray(data) ? 'Array' : data.constructor.name;
  const want = datatype === 'BYTES' ? 'string[]' : STORAGE[datatype].name;
  return new SlipwayError('INVALID_ARGUMENT', `input "${name}": ${datatype} data must be a ${want}, got ${got}`);
}

/**
 * Read an ONNX Runtime CPU tensor back as a Slipway tensor named `name`.
 * Throws INTERNAL for element types Slipway does not serve.
 */
export function fromOrtTensor(name: string, value: ort.Tensor): Tensor {
  const datatype = datatypeOfOrtType(value.type);
  if (datatype === undefined) {
    throw new SlipwayError('INTERNAL', `output "${name}" has unsupported element type "${value.type}"`);
  }
  const shape = value.dims.map(Number);
  return { name, datatype, shape, data: readData(datatype, value.data) };
}

function readData(datatype: Datatype, data: ort.Tensor.DataType): TensorData {
  if (datatype === 'BYTES') {
    if (!Array.isArray(data)) throw new SlipwayError('INTERNAL', 'string tensor without string data');
    return data;
  }
  const Storage = STORAGE[datatype];
  if (data instanceof Storage) return data;
  if (!ArrayBuffer.isView(data)) throw new SlipwayError('INTERNAL', `${datatype} tensor without typed array data`);
  // Where the runtime has Float16Array, ORT hands float16 back in one; keep our raw-bits contract.
  return new Storage(data.buffer, data.byteOffset, data.byteLength / DATATYPE_SIZE[datatype]);
}
