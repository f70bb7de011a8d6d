/**
 * Rows of a table file (CSV, Parquet, JSONL) shaped for a model's inputs: the eval set of an
 * optimize run, and the calibration, training and distillation data of its passes (types.ts EvalSet).
 */
import * as ort from 'onnxruntime-node';
import { SlipwayError, invalid } from '../core/errors.js';
import { describeTable } from '../io/describe-table.js';
import { readTable } from '../io/read-table.js';
import type { ColumnValues } from '../io/types.js';
import { mapColumns, type InputMapping } from '../tensor/column-mapping.js';
import type { Datatype, Signature } from '../tensor/datatypes.js';
import type { EvalSet, FeedTensor } from './types.js';

export type EvalSetPurpose = 'eval' | 'calibration' | 'train' | 'data';

export interface ReadEvalSetOptions {
  /** The column holding the true label; it never feeds an input. */
  readonly labelColumn?: string;
  /** More rows than this are refused (never silently truncated); default 100,000. */
  readonly maxRows?: number;
  /** What the file is for, named in every message (`the calibration file "c.csv"`). */
  readonly purpose: EvalSetPurpose;
}

const DEFAULT_MAX_ROWS = 100_000;
const FEED_DATATYPES: readonly Datatype[] = ['FP32', 'FP64', 'INT64', 'INT32', 'BYTES', 'BOOL'];

/** A value of one input being filled row by row. */
interface InputBuffer {
  readonly mapping: InputMapping;
  readonly width: number;
  /** FP32/FP64/INT32/INT64/BOOL values as numbers (checked per datatype), BYTES as text. */
  readonly numbers: number[];
  readonly texts: string[];
}

/**
 * Read `file` and map its columns to the inputs of `signature` (tensor/column-mapping.ts, the label
 * column excluded). FP32, FP64, INT64 and INT32 inputs take numbers, BYTES inputs text (a number as
 * its text), BOOL inputs 0/1; a null or non-number where a number is needed is refused naming the
 * file, column and row. Refuses an empty file, more than `maxRows` rows and a missing label column.
 */
export async function readEvalSet(file: string, signature: Signature, options: ReadEvalSetOptions): Promise<EvalSet> {
  const what = `the ${options.purpose} file "${file}"`;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  if (!Number.isInteger(maxRows) || maxRows < 1) throw invalid(`maxRows must be a positive integer, got ${maxRows}`);
  const { columns } = await describeTable(file);
  const names = columns.map((c) => c.name);
  const { labelColumn } = options;
  if (labelColumn !== undefined && !names.includes(labelColumn))
    throw invalid(`${what} has no label column "${labelColumn}"; its columns are ${names.join(', ')}`, {
      column: labelColumn,
      available: names,
    });
  for (const spec of signature.inputs)
    if (!FEED_DATATYPES.includes(spec.datatype))
      throw invalid(
        `input "${spec.name}" is ${spec.datatype}; ${what} can feed only ${FEED_DATATYPES.join(', ')} inputs`,
      );
  const mappings = mapColumns(signature, names, labelColumn === undefined ? [] : [labelColumn]);
  const buffers: InputBuffer[] = mappings.map((mapping) => ({
    mapping,
    width: mapping.columns.length,
    numbers: [],
    texts: [],
  }));
  const wanted = [
    ...new Set([...mappings.flatMap((m) => m.columns), ...(labelColumn === undefined ? [] : [labelColumn])]),
  ];
  const labels: (number | string)[] = [];
  let rowCount = 0;
  for await (const chunk of readTable(file, { columns: wanted })) {
    if (rowCount + chunk.rows > maxRows)
      throw invalid(
        `${what} has more than ${maxRows} rows, the limit for ${options.purpose} sets; use a smaller sample`,
      );
    for (let row = 0; row < chunk.rows; row++) {
      const fileRow = rowCount + row + 1;
      for (const buffer of buffers) appendRow(buffer, chunk.columns, row, fileRow, what);
      if (labelColumn !== undefined)
        labels.push(labelValue(chunk.columns.get(labelColumn)!, row, fileRow, labelColumn, what));
    }
    rowCount += chunk.rows;
  }
  if (rowCount === 0) throw invalid(`${what} has no rows`);
  const inputs: Record<string, FeedTensor> = {};
  for (const buffer of buffers) inputs[buffer.mapping.spec.name] = toFeed(buffer, rowCount);
  return {
    rowCount,
    inputs,
    source: file,
    ...(labelColumn === undefined ? {} : { labels, labelColumn }),
  };
}

function appendRow(
  buffer: InputBuffer,
  columns: ReadonlyMap<string, ColumnValues>,
  row: number,
  fileRow: number,
  what: string,
): void {
  const { spec } = buffer.mapping;
  for (const name of buffer.mapping.columns) {
    const column = columns.get(name)!;
    const at = `${what}: column "${name}", row ${fileRow}`;
    if (spec.datatype === 'BYTES') {
      buffer.texts.push(textOf(column, row, at, spec.name));
      continue;
    }
    const value = numberOf(column, row, at, spec.name, spec.datatype);
    buffer.numbers.push(value);
  }
}

function textOf(column: ColumnValues, row: number, at: string, input: string): string {
  if (column.type === 'string' || column.type === 'other') {
    const value = column.values[row];
    if (value === null || value === undefined) throw invalid(`${at} is null; input "${input}" (BYTES) needs text`);
    return value;
  }
  if (column.nulls[row] === 1) throw invalid(`${at} is null; input "${input}" (BYTES) needs text`);
  return String(column.values[row]);
}

function numberOf(column: ColumnValues, row: number, at: string, input: string, datatype: Datatype): number {
  const need = `input "${input}" (${datatype}) needs ${datatype === 'BOOL' ? '0 or 1' : 'a number'}`;
  let value: number;
  if (column.type === 'string' || column.type === 'other') {
    const text = column.values[row];
    if (text === null || text === undefined) throw invalid(`${at} is null; ${need}`);
    value = text.trim() === '' ? Number.NaN : Number(text);
    if (Number.isNaN(value)) throw invalid(`${at} is ${JSON.stringify(text)}, not a number; ${need}`);
  } else {
    if (column.nulls[row] === 1) throw invalid(`${at} is null; ${need}`);
    value = column.values[row]!;
  }
  if (datatype === 'BOOL' && value !== 0 && value !== 1) throw invalid(`${at} is ${value}; ${need}`);
  if (datatype === 'INT32' && (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31))
    throw invalid(`${at} is ${value}; ${need} that is a 32-bit integer`);
  if (datatype === 'INT64' && !Number.isSafeInteger(value))
    throw invalid(`${at} is ${value}; ${need} that is an integer`);
  return value;
}

function labelValue(column: ColumnValues, row: number, fileRow: number, name: string, what: string): number | string {
  if (column.type === 'string' || column.type === 'other') {
    const value = column.values[row];
    if (value === null || value === undefined) throw invalid(`${what}: label column "${name}", row ${fileRow} is null`);
    return value;
  }
  if (column.nulls[row] === 1) throw invalid(`${what}: label column "${name}", row ${fileRow} is null`);
  return column.values[row]!;
}

function toFeed(buffer: InputBuffer, rowCount: number): FeedTensor {
  const { spec } = buffer.mapping;
  const inner = spec.shape.length <= 1 ? [] : spec.shape.slice(1);
  const dims = [rowCount, ...inner];
  const values = buffer.numbers;
  if (spec.datatype === 'FP32') return { datatype: 'FP32', dims, data: Float32Array.from(values) };
  if (spec.datatype === 'FP64') return { datatype: 'FP64', dims, data: Float64Array.from(values) };
  if (spec.datatype === 'INT32') return { datatype: 'INT32', dims, data: Int32Array.from(values) };
  if (spec.datatype === 'INT64') return { datatype: 'INT64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
  if (spec.datatype === 'BOOL') return { datatype: 'BOOL', dims, data: Uint8Array.from(values) };
  if (spec.datatype === 'BYTES') return { datatype: 'BYTES', dims, data: buffer.texts };
  throw new SlipwayError('INTERNAL', `input "${spec.name}": no feed for ${spec.datatype}`);
}

const ORT_TYPES = { FP32: 'float32', FP64: 'float64', INT32: 'int32', INT64: 'int64', BOOL: 'bool', BYTES: 'string' };

/**
 * ONNX Runtime tensors for rows [start, end) of every input, copying only that slice (ORT may keep
 * a reference to what it is given, so the set's arrays are never shared with a session).
 */
export function evalSetSlice(set: EvalSet, start: number, end: number): Record<string, ort.Tensor> {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > set.rowCount || start >= end)
    throw invalid(`rows [${start}, ${end}) are not a non-empty range of the ${set.rowCount} rows of "${set.source}"`);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, feed] of Object.entries(set.inputs)) {
    const width = feed.dims.slice(1).reduce((a, b) => a * b, 1);
    const dims = [end - start, ...feed.dims.slice(1)];
    const type = ORT_TYPES[feed.datatype as keyof typeof ORT_TYPES];
    if (type === undefined)
      throw new SlipwayError('INTERNAL', `input "${name}": no ONNX Runtime type for ${feed.datatype}`);
    const data = feed.data.slice(start * width, end * width);
    feeds[name] = new ort.Tensor(type as 'float32', data as Float32Array, dims);
  }
  return feeds;
}
