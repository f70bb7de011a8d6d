/**
 * The Open Inference Protocol's JSON tensors: `$request_input` in, `$response_output` out
 * (KServe v2 REST).
 */
import { invalid } from '../core/errors.js';
import { DATATYPES, elementCount, isDatatype } from './datatypes.js';
import type { Tensor } from './datatypes.js';
import { decodeElements } from './elements.js';
import { decodeFp16 } from './fp16.js';
import { formatShape, isArray, isPlainObject, preview, quote } from './format.js';
import { flattenNested } from './nested-data.js';

/** A JSON element of a response tensor. */
export type JsonElement = number | boolean | string;

/** `$response_output` without `parameters`. */
export interface ResponseOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: JsonElement[];
}

/**
 * Decode one `$request_input` (`inputs[position]` of a v2 request) into a tensor: checks name,
 * datatype, shape and every element, flattens nested data. `parameters` is ignored here.
 * Does not look at the model: `validateInputs` does that.
 *
 * @example decodeRequestInput({ name: 'x', datatype: 'FP32', shape: [1, 2], data: [[1, 2]] }, 0)
 *   // { name: 'x', datatype: 'FP32', shape: [1, 2], data: Float32Array [1, 2] }
 * @throws INVALID_ARGUMENT e.g. `input "x": data has 29 elements but shape [1,30] needs 30`
 */
export function decodeRequestInput(raw: unknown, position: number): Tensor {
  const at = `inputs[${position}]`;
  if (!isPlainObject(raw)) {
    throw invalid(`${at} must be an object with "name", "datatype", "shape" and "data", got ${preview(raw)}`);
  }
  const { name, datatype, shape, data } = raw;
  if (typeof name !== 'string' || name === '')
    throw invalid(`${at}: "name" must be a non-empty string, got ${preview(name)}`);
  if (!isDatatype(datatype))
    throw invalid(`${at}: "datatype" must be one of ${DATATYPES.join(', ')}, got ${preview(datatype)}`);
  const label = `input ${quote(name)}`;
  if (!isShape(shape))
    throw invalid(`${label}: shape must be an array of non-negative integers, got ${preview(shape)}`);
  if (!isArray(data)) throw invalid(`${label}: "data" must be an array, got ${preview(data)}`);

  const values = flattenNested(data, label);
  const needed = elementCount(shape);
  if (values.length !== needed) {
    throw invalid(`${label}: data has ${values.length} elements but shape ${formatShape(shape)} needs ${needed}`);
  }
  return { name, datatype, shape, data: decodeElements(datatype, values, (i) => `${label}: element ${i}`) };
}

function isShape(value: unknown): value is number[] {
  return isArray(value) && value.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/**
 * Encode a tensor as a `$response_output` with flat data. INT64/UINT64 become numbers (exact up to
 * 2^53), FP16 its decoded values, BOOL booleans, BYTES strings.
 *
 * NaN and ±Infinity stay numbers: `JSON.stringify` writes them as `null`, the usual JSON behaviour
 * (Triton does the same); callers wanting something else must post-process.
 */
export function encodeResponseOutput(t: Tensor): ResponseOutput {
  return { name: t.name, datatype: t.datatype, shape: [...t.shape], data: toJsonElements(t) };
}

/** A tensor's values as flat JSON elements (see `encodeResponseOutput`). */
export function toJsonElements(t: Tensor): JsonElement[] {
  // The casts restate the TensorDataByType pairing that `Tensor` does not carry in its type.
  switch (t.datatype) {
    case 'FP16':
      return Array.from(decodeFp16(t.data as Uint16Array));
    case 'BOOL':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'INT64':
    case 'UINT64':
      return Array.from(t.data as BigInt64Array | BigUint64Array, Number);
    case 'BYTES':
      return (t.data as string[]).slice();
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
    case 'INT8':
    case 'INT16':
    case 'INT32':
    case 'FP32':
    case 'FP64':
      return Array.from(t.data as Exclude<Tensor['data'], BigInt64Array | BigUint64Array | string[]>);
  }
}
