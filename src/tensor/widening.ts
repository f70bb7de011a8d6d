/**
 * Lossless datatype widening: which datatypes a client may send for an input declared with a wider
 * one (INT32 data for an INT64 input, FP16 for FP32, ...), and the conversion itself.
 */
import { SlipwayError } from '../core/errors.js';
import type { Datatype, Tensor, TensorData } from './datatypes.js';
import { decodeFp16 } from './fp16.js';

/** For each datatype, the datatypes that hold every one of its values exactly. */
const WIDER: Readonly<Partial<Record<Datatype, readonly Datatype[]>>> = {
  INT8: ['INT16', 'INT32', 'INT64', 'FP32', 'FP64'],
  UINT8: ['UINT16', 'UINT32', 'UINT64', 'INT16', 'INT32', 'INT64', 'FP32', 'FP64'],
  INT16: ['INT32', 'INT64', 'FP32', 'FP64'],
  UINT16: ['UINT32', 'UINT64', 'INT32', 'INT64', 'FP32', 'FP64'],
  INT32: ['INT64', 'FP64'],
  UINT32: ['UINT64', 'INT64', 'FP64'],
  FP16: ['FP32', 'FP64'],
  FP32: ['FP64'],
};

/**
 * True when every value of `from` is exactly representable in `to`, and `from !== to`.
 * INT64 -> FP64 is not lossless (beyond 2^53); BOOL and BYTES never widen.
 *
 * @example canWiden('INT32', 'INT64') === true; canWiden('INT64', 'FP64') === false
 */
export function canWiden(from: Datatype, to: Datatype): boolean {
  return WIDER[from]?.includes(to) ?? false;
}

/**
 * Convert a tensor to a wider datatype (exact values; same name and shape). Returns `t` itself when it
 * already has that datatype. Throws INVALID_ARGUMENT for a pair `canWiden` rejects.
 */
export function convertTensor(t: Tensor, to: Datatype): Tensor {
  if (t.datatype === to) return t;
  if (!canWiden(t.datatype, to)) {
    throw new SlipwayError('INVALID_ARGUMENT', `input "${t.name}": cannot convert ${t.datatype} to ${to} without loss`);
  }
  return { name: t.name, datatype: to, shape: t.shape, data: widen(t, to) };
}

function widen(t: Tensor, to: Datatype): TensorData {
  // canWiden ruled out BOOL, BYTES and the 64-bit integers as sources, so the values are numbers.
  const values = t.datatype === 'FP16' ? decodeFp16(t.data as Uint16Array) : (t.data as NumericSource);
  switch (to) {
    case 'INT64':
      return BigInt64Array.from(values, toBigInt);
    case 'UINT64':
      return BigUint64Array.from(values, toBigInt);
    case 'UINT16':
      return new Uint16Array(values);
    case 'UINT32':
      return new Uint32Array(values);
    case 'INT16':
      return new Int16Array(values);
    case 'INT32':
      return new Int32Array(values);
    case 'FP32':
      return new Float32Array(values);
    case 'FP64':
      return new Float64Array(values);
    case 'BOOL':
    case 'UINT8':
    case 'INT8':
    case 'FP16':
    case 'BYTES':
      // No datatype widens to these (see WIDER); convertTensor checked before calling.
      throw new SlipwayError('INTERNAL', `no widening to ${to}`);
  }
}

type NumericSource = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array;

function toBigInt(value: number): bigint {
  return BigInt(value);
}
