import type { ColumnValues } from '../io/index.js';
import type { InputMapping } from '../tensor/column-mapping.js';
import type { Datatype, TensorSpec } from '../tensor/datatypes.js';
import { stringElementProblem } from '../tensor/bytes-text.js';
import { FP16_OVERFLOW, toHalfBits } from '../tensor/fp16.js';
import type { WireTensor } from './scoring-pool.js';

/**
 * Table values -> model feeds for every datatype the online path accepts (`tensor/datatypes.ts`),
 * with the same per-value rules as `tensor/elements.ts` applies to JSON: integers within the
 * type's range, floats within FP32/FP16 range, BOOL as true/false, BYTES as text without NUL. A value that
 * breaks a rule rejects its row (the reason names the column and the datatype) instead of failing
 * the job. Numbers are read from the file as DOUBLE (see `read-input.ts`), so INT64/UINT64 values
 * beyond ±2^53 are rejected rather than rounded.
 */

/** ONNX Runtime's element type name for each datatype (`runtime/onnx/ort-tensors.ts` has the same table; runtime/ is not ours to import). */
export const ORT_TYPE: Readonly<Record<Datatype, string>> = {
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

/** Inputs whose columns are read as text and parsed here: BYTES as is, BOOL as true/false/1/0. */
export function readsText(datatype: Datatype): boolean {
  return datatype === 'BYTES' || datatype === 'BOOL';
}

const INT_RANGES: Partial<Record<Datatype, readonly [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  // A DOUBLE holds integers exactly up to 2^53.
  INT64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
};

/** Float32 values at or beyond this magnitude round to infinity (as in tensor/elements.ts). */
export const FP32_OVERFLOW = 2 ** 128 - 2 ** 103;

/** One column's values checked for one input datatype: numbers (BOOL as 0/1), or text for BYTES. */
export type ParsedColumn = Float64Array | readonly (string | null)[];

/**
 * The column as the values of `datatype`; rows that cannot feed the model get a reason in
 * `reasons` (the first one found wins). `badText` is `read-input.ts`'s UNPARSABLE_COLUMN.
 */
export function parseColumn(
  name: string,
  datatype: Datatype,
  values: ColumnValues,
  badText: readonly (string | null)[] | undefined,
  rows: number,
  reasons: Map<number, string>,
): ParsedColumn {
  const reject = (row: number, reason: string): void => {
    if (!reasons.has(row)) reasons.set(row, `column "${name}" ${reason}`);
  };
  if (datatype === 'BYTES') {
    const texts = textsOf(values, rows);
    for (let r = 0; r < rows; r++) {
      const text = texts[r];
      if (text === null || text === undefined) {
        reject(r, 'is null');
        continue;
      }
      // The online path's rule (tensor/bytes-text.ts): a NUL cannot reach ONNX Runtime intact.
      const problem = stringElementProblem(text);
      if (problem !== undefined) reject(r, problem);
    }
    return texts;
  }
  if (datatype === 'BOOL') return parseBools(values, rows, reject);
  const check = numberCheck(datatype);
  if (values.type === 'string' || values.type === 'other') {
    const numbers = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const text = values.values[r];
      if (text === null || text === undefined) {
        reject(r, 'is null');
        continue;
      }
      const value = text.trim() === '' ? Number.NaN : Number(text);
      numbers[r] = value;
      if (!Number.isFinite(value)) reject(r, `holds ${quote(text)}, not a number`);
      else {
        const problem = check(value);
        if (problem !== undefined) reject(r, problem);
      }
    }
    return numbers;
  }
  const numbers = values.values;
  for (let r = 0; r < rows; r++) {
    const value = numbers[r] as number;
    if (Number.isFinite(value)) {
      const problem = check(value);
      if (problem !== undefined) reject(r, problem);
    } else if (values.nulls[r] === 1) {
      const bad = badText?.[r];
      const text =
        bad !== null && bad !== undefined && bad.startsWith(`${name}\u0000`) ? bad.slice(name.length + 1) : undefined;
      reject(r, text === undefined ? 'is null' : `holds ${quote(text)}, not a number`);
    } else reject(r, `is ${value}`);
  }
  return numbers;
}

/** The check of a finite number for a numeric datatype: undefined when it fits, else the reason. */
function numberCheck(datatype: Datatype): (value: number) => string | undefined {
  if (datatype === 'FP64') return () => undefined;
  if (datatype === 'FP32')
    return (v) => (v < FP32_OVERFLOW && v > -FP32_OVERFLOW ? undefined : `holds ${v}, out of range for FP32`);
  if (datatype === 'FP16')
    return (v) => (v < FP16_OVERFLOW && v > -FP16_OVERFLOW ? undefined : `holds ${v}, out of range for FP16 (±65504)`);
  const [min, max] = INT_RANGES[datatype] as readonly [number, number];
  const wide = datatype === 'INT64' || datatype === 'UINT64';
  return (v) => {
    if (!Number.isInteger(v)) return `holds ${v}, not an integer`;
    if (v >= min && v <= max) return undefined;
    return wide && (datatype === 'INT64' || v > 0)
      ? `holds ${v}, beyond ±2^53 where a number read from a file is exact`
      : `holds ${v}, out of range for ${datatype} (${min}..${max})`;
  };
}

/** Text as is; numbers and booleans as they print (a text format's column read as VARCHAR is already text). */
function textsOf(values: ColumnValues, rows: number): (string | null)[] {
  const out = new Array<string | null>(rows);
  for (let r = 0; r < rows; r++) {
    if (values.type === 'string' || values.type === 'other') out[r] = values.values[r] ?? null;
    else if (values.nulls[r] === 1) out[r] = null;
    else if (values.type === 'boolean') out[r] = values.values[r] === 1 ? 'true' : 'false';
    else if (values.type === 'timestamp') out[r] = new Date(values.values[r] as number).toISOString();
    else out[r] = String(values.values[r]);
  }
  return out;
}

/** true/false (any case), 1/0, or a boolean column; anything else rejects the row. */
function parseBools(values: ColumnValues, rows: number, reject: (row: number, reason: string) => void): Float64Array {
  const out = new Float64Array(rows);
  const texts = textsOf(values, rows);
  for (let r = 0; r < rows; r++) {
    const text = texts[r];
    if (text === null || text === undefined) {
      reject(r, 'is null');
      continue;
    }
    const word = text.trim().toLowerCase();
    if (word === 'true' || word === '1' || word === '1.0') out[r] = 1;
    else if (word !== 'false' && word !== '0' && word !== '0.0')
      reject(r, `holds ${quote(text)}, not true or false for BOOL`);
  }
  return out;
}

export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** The feed of one input for the scored rows (`valid`), from its columns' parsed values. */
export function fillFeed(
  mapping: InputMapping,
  valid: Int32Array,
  parsed: ReadonlyMap<string, ParsedColumn>,
  keyOf: (mapping: InputMapping, column: string) => string,
): WireTensor {
  const { spec, columns } = mapping;
  const width = columns.length;
  const n = valid.length;
  const sources = columns.map((name) => parsed.get(keyOf(mapping, name)) as ParsedColumn);
  const dims = dimsOf(spec, n);
  const type = ORT_TYPE[spec.datatype];
  if (spec.datatype === 'BYTES') {
    const data = new Array<string>(n * width);
    sources.forEach((source, j) => {
      for (let k = 0; k < n; k++) data[k * width + j] = source[valid[k] as number] as string;
    });
    return { name: spec.name, type, data, dims };
  }
  const numbers = sources as Float64Array[];
  if (spec.datatype === 'FP32') {
    const data = new Float32Array(n * width);
    interleaveFloat32(data, numbers, valid);
    return { name: spec.name, type, data, dims };
  }
  if (spec.datatype === 'INT64' || spec.datatype === 'UINT64') {
    const data = spec.datatype === 'INT64' ? new BigInt64Array(n * width) : new BigUint64Array(n * width);
    numbers.forEach((source, j) => {
      for (let k = 0; k < n; k++) data[k * width + j] = BigInt(source[valid[k] as number] as number);
    });
    return { name: spec.name, type, data, dims };
  }
  const data = numericStorage(spec.datatype, n * width);
  const convert = spec.datatype === 'FP16' ? toHalfBits : (v: number) => v;
  numbers.forEach((source, j) => {
    for (let k = 0; k < n; k++) data[k * width + j] = convert(source[valid[k] as number] as number);
  });
  return { name: spec.name, type, data, dims };
}

function numericStorage(
  datatype: Datatype,
  length: number,
): Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array {
  switch (datatype) {
    case 'FP64':
      return new Float64Array(length);
    case 'INT8':
      return new Int8Array(length);
    case 'INT16':
      return new Int16Array(length);
    case 'INT32':
      return new Int32Array(length);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(length);
    case 'UINT32':
      return new Uint32Array(length);
    case 'UINT8':
    case 'BOOL': // 0/1 bytes
      return new Uint8Array(length);
    case 'FP32':
    case 'INT64':
    case 'UINT64':
    case 'BYTES':
      throw new Error(`${datatype} feeds are filled by fillFeed itself`);
  }
}

export function dimsOf(spec: TensorSpec, rows: number): number[] {
  return spec.shape.length <= 1 ? [rows] : [rows, ...spec.shape.slice(1)];
}

/**
 * The hot loop for the common FP32 input: row by row (sequential writes; column-by-column strided
 * writes ran 3x slower on 100k x 30) and monomorphic (one typed-array type per call site).
 */
function interleaveFloat32(data: Float32Array, sources: readonly Float64Array[], valid: Int32Array): void {
  const n = valid.length;
  const width = sources.length;
  let at = 0;
  for (let k = 0; k < n; k++) {
    const r = valid[k] as number;
    for (let j = 0; j < width; j++) data[at++] = (sources[j] as Float64Array)[r] as number;
  }
}
