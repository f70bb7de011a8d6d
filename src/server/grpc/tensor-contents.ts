/**
 * `InferTensorContents` (the typed, per-datatype repeated fields) <-> Slipway tensor storage.
 * FP16 has no typed field in the protocol: it travels only as raw bytes.
 */
import { SlipwayError, invalid } from '../../core/errors.js';
import { decodeBytesElement } from '../../tensor/bytes-text.js';
import { elementCount, type Datatype, type Tensor, type TensorData } from '../../tensor/datatypes.js';
import { decodeElements } from '../../tensor/elements.js';
import { formatShape } from '../../tensor/format.js';
import type { ContentsField, InferTensorContentsMessage } from './messages.js';

const CONTENTS_FIELDS: readonly ContentsField[] = [
  'bool_contents',
  'int_contents',
  'int64_contents',
  'uint_contents',
  'uint64_contents',
  'fp32_contents',
  'fp64_contents',
  'bytes_contents',
];

/** The typed field that carries each datatype (KServe v2 gRPC's InferTensorContents). */
export const CONTENTS_FIELD_OF: Readonly<Record<Exclude<Datatype, 'FP16'>, ContentsField>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** True when any typed field holds elements (an empty `contents` message counts as unset). */
export function hasContents(contents: InferTensorContentsMessage | null | undefined): boolean {
  return !!contents && CONTENTS_FIELDS.some((field) => (contents[field]?.length ?? 0) > 0);
}

/**
 * Decode the typed contents of one input of `datatype` and `shape`. `label` names it in errors
 * (`input "x"`). Integer elements are range-checked as in JSON; INT64/UINT64 stay exact.
 *
 * @throws INVALID_ARGUMENT for FP16, for elements in another type's field, for a count that does
 *   not match the shape, for an element out of range, or for a BYTES element that is not valid UTF-8
 *   or holds a NUL.
 */
export function decodeContents(
  label: string,
  datatype: Datatype,
  shape: readonly number[],
  contents: InferTensorContentsMessage | null | undefined,
): TensorData {
  const needed = elementCount(shape);
  if (datatype === 'FP16') {
    if (needed === 0 && !hasContents(contents)) return new Uint16Array(0);
    throw invalid(
      `${label}: FP16 has no typed contents field; send FP16 tensors in raw_input_contents (2 bytes of IEEE half per element, little-endian)`,
    );
  }
  const expected = CONTENTS_FIELD_OF[datatype];
  const stray = CONTENTS_FIELDS.find((field) => field !== expected && (contents?.[field]?.length ?? 0) > 0);
  if (stray !== undefined)
    throw invalid(`${label}: ${datatype} elements go in contents.${expected}, got contents.${stray}`);

  function take<F extends ContentsField>(field: F): NonNullable<InferTensorContentsMessage[F]> | [] {
    const values = contents?.[field] ?? [];
    if (values.length !== needed) {
      throw invalid(
        `${label}: contents.${field} has ${values.length} elements but shape ${formatShape(shape)} needs ${needed}`,
      );
    }
    return values;
  }
  const at = (i: number): string => `${label}: element ${i}`;
  switch (datatype) {
    case 'FP32':
      return Float32Array.from(take('fp32_contents'));
    case 'FP64':
      return Float64Array.from(take('fp64_contents'));
    case 'BYTES':
      // Strict UTF-8, no NUL (tensor/bytes-text.ts): refused by name, never replaced.
      return take('bytes_contents').map((b, i) =>
        decodeBytesElement(Buffer.from(b.buffer, b.byteOffset, b.byteLength), 0, b.byteLength, label, i),
      );
    case 'BOOL':
    case 'INT8':
    case 'INT16':
    case 'INT32':
    case 'INT64':
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
    case 'UINT64':
      return decodeElements(datatype, take(expected), at);
  }
}

/**
 * A tensor's elements as typed contents: INT64/UINT64 as exact decimal strings, BYTES as UTF-8.
 * FP16 cannot be encoded this way (callers answer raw instead).
 */
export function encodeContents(tensor: Tensor): InferTensorContentsMessage {
  // The casts restate the TensorDataByType pairing that `Tensor` does not carry in its type.
  const { data } = tensor;
  switch (tensor.datatype) {
    case 'BOOL':
      return { bool_contents: Array.from(data as Uint8Array, (v) => v !== 0) };
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return { int_contents: Array.from(data as Int8Array | Int16Array | Int32Array) };
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return { uint_contents: Array.from(data as Uint8Array | Uint16Array | Uint32Array) };
    case 'INT64':
      return { int64_contents: Array.from(data as BigInt64Array, String) };
    case 'UINT64':
      return { uint64_contents: Array.from(data as BigUint64Array, String) };
    case 'FP32':
      return { fp32_contents: Array.from(data as Float32Array) };
    case 'FP64':
      return { fp64_contents: Array.from(data as Float64Array) };
    case 'BYTES':
      return { bytes_contents: (data as string[]).map((s) => Buffer.from(s, 'utf8')) };
    case 'FP16':
      throw new SlipwayError(
        'INTERNAL',
        `output ${JSON.stringify(tensor.name)} is FP16, which has no typed contents field`,
      );
  }
}
