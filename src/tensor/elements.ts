/**
 * JSON element values -> typed tensor storage, with the per-datatype checks of the Open Inference
 * Protocol's JSON form. Shared by the v2 codec and the row/column formats; each caller says how to
 * name an element's position in its messages.
 */
import { invalid } from '../core/errors.js';
import { stringElementProblem } from './bytes-text.js';
import type { Datatype, TensorData } from './datatypes.js';
import { FP16_OVERFLOW, toHalfBits } from './fp16.js';
import { describeValue, quote } from './format.js';

/**
 * Names the element at a flat index for an error message, e.g. `input "x": element 3`.
 * Called only when something is wrong, so it costs nothing on the hot path.
 */
export type ElementLabel = (index: number) => string;

/** Float32 values at or beyond this magnitude round to infinity (2^128 - 2^103, the midpoint past FLT_MAX). */
const FP32_OVERFLOW = 2 ** 128 - 2 ** 103;
const FP32_MAX = 3.4028234663852886e38;

const INT_RANGES = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
} as const;

const BIG_RANGES = {
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
} as const;

/** Decimal integers only; long enough for UINT64 with some leading zeros, short enough for BigInt to be cheap. */
const DECIMAL_INTEGER = /^-?[0-9]{1,40}$/;

/**
 * Check and convert flat JSON values to the storage of `datatype` (see `TensorDataByType`):
 * - FP16/FP32/FP64: numbers (finite and within the type's range) or the strings "NaN", "Infinity", "-Infinity";
 * - integer types: integers within range; INT64/UINT64 also take decimal strings (and require them beyond 2^53);
 * - BOOL: true/false; BYTES: strings that ONNX Runtime carries exactly (no NUL, no lone surrogate: bytes-text.ts).
 *
 * Throws INVALID_ARGUMENT naming the first offending element, e.g.
 * `input "x": element 3 is "abc" (string), expected a number for FP32`.
 */
export function decodeElements(datatype: Datatype, values: readonly unknown[], label: ElementLabel): TensorData {
  const n = values.length;
  switch (datatype) {
    case 'FP32':
      return decodeFloats(new Float32Array(n), values, FP32_OVERFLOW, 'FP32', label);
    case 'FP64':
      return decodeFloats(new Float64Array(n), values, Infinity, 'FP64', label);
    case 'FP16':
      return decodeHalves(values, label);
    case 'INT8':
      return decodeInts(new Int8Array(n), values, 'INT8', label);
    case 'INT16':
      return decodeInts(new Int16Array(n), values, 'INT16', label);
    case 'INT32':
      return decodeInts(new Int32Array(n), values, 'INT32', label);
    case 'UINT8':
      return decodeInts(new Uint8Array(n), values, 'UINT8', label);
    case 'UINT16':
      return decodeInts(new Uint16Array(n), values, 'UINT16', label);
    case 'UINT32':
      return decodeInts(new Uint32Array(n), values, 'UINT32', label);
    case 'INT64':
      return decodeBigInts(new BigInt64Array(n), values, 'INT64', label);
    case 'UINT64':
      return decodeBigInts(new BigUint64Array(n), values, 'UINT64', label);
    case 'BOOL':
      return decodeBools(values, label);
    case 'BYTES':
      return decodeStrings(values, label);
  }
}

function decodeFloats<T extends Float32Array | Float64Array>(
  out: T,
  values: readonly unknown[],
  overflow: number,
  datatype: 'FP32' | 'FP64',
  label: ElementLabel,
): T {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // The one hot-path check: a number strictly inside the range (this also rejects NaN and ±Infinity numbers).
    if (typeof v === 'number' && v < overflow && v > -overflow) out[i] = v;
    else out[i] = specialFloat(v, datatype, label(i));
  }
  return out;
}

function decodeHalves(values: readonly unknown[], label: ElementLabel): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = toHalfBits(
      typeof v === 'number' && v < FP16_OVERFLOW && v > -FP16_OVERFLOW ? v : specialFloat(v, 'FP16', label(i)),
    );
  }
  return out;
}

/** The value of a float element that is not an in-range number: one of the special strings, or an error. */
function specialFloat(value: unknown, datatype: 'FP16' | 'FP32' | 'FP64', where: string): number {
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  if (typeof value === 'number' && !Number.isNaN(value)) {
    const range = datatype === 'FP16' ? '±65504' : datatype === 'FP32' ? `±${FP32_MAX}` : 'finite';
    throw invalid(
      `${where} is ${value}, out of range for ${datatype} (${range}; send "Infinity", "-Infinity" or "NaN" as strings)`,
    );
  }
  throw invalid(`${where} is ${describeValue(value)}, expected a number for ${datatype}`);
}

function decodeInts<T extends Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array>(
  out: T,
  values: readonly unknown[],
  datatype: keyof typeof INT_RANGES,
  label: ElementLabel,
): T {
  const [min, max] = INT_RANGES[datatype];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw invalid(`${label(i)} is ${describeValue(v)}, expected an integer for ${datatype}`);
    }
    if (v < min || v > max) throw invalid(`${label(i)} is ${v}, out of range for ${datatype} (${min}..${max})`);
    out[i] = v;
  }
  return out;
}

function decodeBigInts<T extends BigInt64Array | BigUint64Array>(
  out: T,
  values: readonly unknown[],
  datatype: keyof typeof BIG_RANGES,
  label: ElementLabel,
): T {
  const [min, max] = BIG_RANGES[datatype];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let big: bigint;
    if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
    else if (typeof v === 'string' && DECIMAL_INTEGER.test(v)) big = BigInt(v);
    else if (typeof v === 'number' && Number.isInteger(v)) {
      throw invalid(
        `${label(i)} is ${v}, too large to be exact as a JSON number; send ${datatype} values beyond ±${Number.MAX_SAFE_INTEGER} as decimal strings`,
      );
    } else {
      throw invalid(`${label(i)} is ${describeValue(v)}, expected an integer (or a decimal string) for ${datatype}`);
    }
    if (big < min || big > max) {
      const shown = typeof v === 'string' ? quote(v) : String(v);
      throw invalid(`${label(i)} is ${shown}, out of range for ${datatype} (${min}..${max})`);
    }
    out[i] = big;
  }
  return out;
}

function decodeBools(values: readonly unknown[], label: ElementLabel): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === true) out[i] = 1;
    else if (v !== false) throw invalid(`${label(i)} is ${describeValue(v)}, expected true or false for BOOL`);
  }
  return out;
}

function decodeStrings(values: readonly unknown[], label: ElementLabel): string[] {
  const out = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'string') throw invalid(`${label(i)} is ${describeValue(v)}, expected a string for BYTES`);
    const problem = stringElementProblem(v);
    if (problem !== undefined) throw invalid(`${label(i)} ${problem}`);
    out[i] = v;
  }
  return out;
}
