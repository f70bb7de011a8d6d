import { invalid } from '../core/errors.js';
import { decodeBytesElement, type BytesRule } from './bytes-text.js';
import { DATATYPE_SIZE, elementCount, type Datatype, type Tensor, type TensorData } from './datatypes.js';

/**
 * Tensors as raw little-endian bytes, the layout shared by Triton's binary tensor extension over HTTP
 * and by gRPC's `raw_input_contents` / `raw_output_contents`: row-major elements with no padding;
 * BOOL one byte each; FP16 two bytes of IEEE half; BYTES each element as a 4-byte little-endian
 * length then its bytes (UTF-8, decoded strictly: bytes-text.ts).
 */

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!isLittleEndian) throw new Error('Slipway needs a little-endian platform for raw tensor bytes');

const TYPED_ARRAY = {
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
} as const;

/** Encode a tensor's elements as raw bytes (a view, without copying, where the layout allows); BYTES as UTF-8. */
export function tensorToBytes(tensor: Pick<Tensor, 'datatype' | 'data'>): Uint8Array {
  if (tensor.datatype === 'BYTES') return encodeBytesElements(tensor.data as string[]);
  const data = tensor.data as Exclude<TensorData, string[]>;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Size in bytes of the raw form (for `binary_data_size`). */
export function rawByteLength(tensor: Pick<Tensor, 'datatype' | 'data'>): number {
  if (tensor.datatype !== 'BYTES') return (tensor.data as Exclude<TensorData, string[]>).byteLength;
  let n = 0;
  for (const s of tensor.data as string[]) n += 4 + Buffer.byteLength(s, 'utf8');
  return n;
}

/**
 * Decode raw bytes into a tensor of `datatype` and `shape`, checking the byte count.
 * `what` names the tensor in errors, e.g. `input "x"`. Numeric data is a view of `bytes` (sharing
 * its memory) when `bytes.byteOffset` is a multiple of the element size, else a copy. BYTES
 * elements must be valid UTF-8 and, under `bytesRule` 'onnx-input' (the default), hold no NUL.
 *
 * @throws INVALID_ARGUMENT for a wrong byte count, or a BYTES element that breaks `bytesRule`
 */
export function tensorFromBytes(
  what: string,
  datatype: Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
  bytesRule: BytesRule = 'onnx-input',
): TensorData {
  const count = elementCount(shape);
  if (datatype === 'BYTES') return decodeBytesElements(what, count, bytes, bytesRule);
  const size = DATATYPE_SIZE[datatype];
  if (bytes.byteLength !== count * size) {
    throw invalid(
      `${what}: ${bytes.byteLength} bytes of raw data, but ${datatype} shape [${shape.join(',')}] needs ${count * size}`,
    );
  }
  const Ctor = TYPED_ARRAY[datatype];
  // A view, not a copy, when the bytes sit at a multiple of the element size: a 60 MB tensor then
  // costs no second 60 MB (server/http/infer-body-reader.ts reads binary bodies so their tensor bytes
  // are aligned).
  // Decoded tensors are read-only downstream (runtime, batcher, prediction log), so sharing the
  // source's memory (request body, gRPC message, stored log blob) is safe.
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count); // sources are never SharedArrayBuffers
  // A typed array cannot start at an unaligned offset: copy into a fresh buffer.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, count);
}

function encodeBytesElements(values: readonly string[]): Uint8Array {
  const parts = values.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.writeUInt32LE(part.byteLength, offset);
    part.copy(out, offset + 4);
    offset += 4 + part.byteLength;
  }
  return out;
}

function decodeBytesElements(what: string, count: number, bytes: Uint8Array, rule: BytesRule): string[] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: string[] = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > view.byteLength)
      throw invalid(`${what}: raw BYTES data ends inside the length of element ${i} (of ${count})`);
    const length = view.readUInt32LE(offset);
    if (offset + 4 + length > view.byteLength)
      throw invalid(
        `${what}: raw BYTES element ${i} says ${length} bytes but only ${view.byteLength - offset - 4} remain`,
      );
    values[i] = decodeBytesElement(view, offset + 4, offset + 4 + length, what, i, rule);
    offset += 4 + length;
  }
  if (offset !== view.byteLength)
    throw invalid(`${what}: ${view.byteLength - offset} bytes left over after ${count} BYTES elements`);
  return values;
}
