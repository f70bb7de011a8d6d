/**
 * Reading and writing TensorProto data: initializers are read whichever field holds them
 * (`raw_data` or the typed repeated fields) and always written as little-endian `raw_data`.
 */
import { invalid } from '../../core/errors.js';
import { ElementType, type OnnxTensor } from './model-proto.js';

/** Element count of a tensor's dims (1 for a scalar). */
export function elementCount(dims: readonly number[] | undefined): number {
  return (dims ?? []).reduce((n, d) => n * d, 1);
}

/** Copy of `raw_data` into a fresh, aligned buffer (protobuf bytes may sit at any offset). */
function rawCopy(tensor: OnnxTensor): ArrayBuffer | undefined {
  const raw = tensor.rawData;
  if (raw === undefined || raw.byteLength === 0) return undefined;
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return copy.buffer;
}

/** A FLOAT or DOUBLE initializer as float32 values; INVALID_ARGUMENT for other element types. */
export function readFloats(tensor: OnnxTensor): Float32Array {
  const count = elementCount(tensor.dims);
  const raw = rawCopy(tensor);
  let values: Float32Array;
  if (tensor.dataType === ElementType.FLOAT) {
    values = raw !== undefined ? new Float32Array(raw) : Float32Array.from(tensor.floatData ?? []);
  } else if (tensor.dataType === ElementType.DOUBLE) {
    values = Float32Array.from(raw !== undefined ? new Float64Array(raw) : (tensor.doubleData ?? []));
  } else {
    throw invalid(`tensor "${tensor.name ?? ''}" has element type ${tensor.dataType}, not FLOAT or DOUBLE`);
  }
  if (values.length !== count)
    throw invalid(
      `tensor "${tensor.name ?? ''}" holds ${values.length} values for dims [${(tensor.dims ?? []).join(', ')}]`,
    );
  return values;
}

/** An INT64 initializer as numbers (exact below 2^53). */
export function readInt64s(tensor: OnnxTensor): number[] {
  if (tensor.dataType !== ElementType.INT64)
    throw invalid(`tensor "${tensor.name ?? ''}" has element type ${tensor.dataType}, not INT64`);
  const raw = rawCopy(tensor);
  return raw !== undefined ? Array.from(new BigInt64Array(raw), Number) : [...(tensor.int64Data ?? [])];
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

export function floatTensor(
  name: string,
  dims: readonly number[],
  values: Float32Array | readonly number[],
): OnnxTensor {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  checkCount(name, dims, data.length);
  return { name, dims: [...dims], dataType: ElementType.FLOAT, rawData: bytesOf(data) };
}

export function int8Tensor(name: string, dims: readonly number[], values: Int8Array): OnnxTensor {
  checkCount(name, dims, values.length);
  return { name, dims: [...dims], dataType: ElementType.INT8, rawData: bytesOf(values) };
}

export function uint8Tensor(name: string, dims: readonly number[], values: Uint8Array): OnnxTensor {
  checkCount(name, dims, values.length);
  return { name, dims: [...dims], dataType: ElementType.UINT8, rawData: bytesOf(values) };
}

export function int32Tensor(name: string, dims: readonly number[], values: Int32Array | readonly number[]): OnnxTensor {
  const data = values instanceof Int32Array ? values : Int32Array.from(values);
  checkCount(name, dims, data.length);
  return { name, dims: [...dims], dataType: ElementType.INT32, rawData: bytesOf(data) };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): OnnxTensor {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  checkCount(name, dims, data.length);
  return { name, dims: [...dims], dataType: ElementType.INT64, rawData: bytesOf(data) };
}

/** IEEE half floats as their uint16 bit patterns (tensor/fp16.ts converts). */
export function float16Tensor(name: string, dims: readonly number[], bits: Uint16Array): OnnxTensor {
  checkCount(name, dims, bits.length);
  return { name, dims: [...dims], dataType: ElementType.FLOAT16, rawData: bytesOf(bits) };
}

function checkCount(name: string, dims: readonly number[], length: number): void {
  if (elementCount(dims) !== length)
    throw invalid(`tensor "${name}": ${length} values do not fill dims [${dims.join(', ')}]`);
}
