/**
 * A reference data file (CSV, Parquet, JSONL) read as model input tensors, chunk by chunk: how
 * file columns map to a model's inputs.
 *
 * For each input `x` of the signature, in order of preference:
 *  1. a column named `x` (inputs one value wide);
 *  2. columns `x[0]..x[k-1]` or `x_0..x_{k-1}`;
 *  3. when the model has a single input k wide: the file's first k columns other than the ones
 *     named in `ignore` (e.g. the training label), in file order.
 * Anything else fails with a message naming the input and the columns expected.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import type { ColumnValues, TableChunk } from '../io/index.js';
import type { Signature, Tensor, TensorSpec } from '../tensor/datatypes.js';

export interface InputMapping {
  readonly spec: TensorSpec;
  readonly columns: readonly string[];
}

/**
 * Decide which file columns feed which input. `overrides` (input name -> columns, in order) come
 * first (batch scoring's `--map`); a column they name that the file lacks fails naming it.
 */
export function mapColumns(
  signature: Signature,
  fileColumns: readonly string[],
  ignore: readonly string[] = [],
  overrides: Readonly<Record<string, readonly string[]>> = {},
): InputMapping[] {
  const available = new Set(fileColumns);
  const mappings: InputMapping[] = [];
  for (const name of Object.keys(overrides)) {
    if (!signature.inputs.some((spec) => spec.name === name)) throw invalid(`the model has no input "${name}"; its inputs are ${signature.inputs.map((s) => s.name).join(', ')}`);
  }
  for (const spec of signature.inputs) {
    const width = innerWidth(spec);
    if (width === undefined) throw invalid(`input "${spec.name}" has shape [${spec.shape.join(', ')}]: only [batch, k] inputs with a fixed k can be read from a table`);
    const override = overrides[spec.name];
    if (override !== undefined) {
      mappings.push({ spec, columns: checkOverride(spec.name, width, override, fileColumns) });
      continue;
    }
    if (width === 1 && available.has(spec.name)) {
      mappings.push({ spec, columns: [spec.name] });
      continue;
    }
    const bracketed = Array.from({ length: width }, (_, j) => `${spec.name}[${j}]`);
    const underscored = Array.from({ length: width }, (_, j) => `${spec.name}_${j}`);
    if (bracketed.every((c) => available.has(c))) mappings.push({ spec, columns: bracketed });
    else if (underscored.every((c) => available.has(c))) mappings.push({ spec, columns: underscored });
    else if (width > 1 && [bracketed, underscored].some((names) => names.some((c) => available.has(c)))) {
      const names = bracketed.some((c) => available.has(c)) ? bracketed : underscored;
      const missing = names.filter((c) => !available.has(c));
      throw invalid(`input "${spec.name}" needs columns "${names[0]}".."${names[width - 1]}"; missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}`, { column: missing[0] });
    } else if (signature.inputs.length === 1) {
      const candidates = fileColumns.filter((c) => !ignore.includes(c));
      if (candidates.length < width) {
        throw invalid(`input "${spec.name}" needs ${width} columns but the file has ${candidates.length} usable ones (${candidates.join(', ')})`);
      }
      mappings.push({ spec, columns: candidates.slice(0, width) });
    } else {
      throw invalid(`no columns for input "${spec.name}": expected a column "${spec.name}"${width > 1 ? ` or columns "${spec.name}[0]".."${spec.name}[${width - 1}]"` : ''}`);
    }
  }
  return mappings;
}

function checkOverride(input: string, width: number, columns: readonly string[], fileColumns: readonly string[]): readonly string[] {
  const missing = columns.find((c) => !fileColumns.includes(c));
  if (missing !== undefined) {
    throw invalid(`missing column "${missing}" (mapped to input "${input}"); the file's columns are ${fileColumns.join(', ')}`, { column: missing });
  }
  if (columns.length !== width) throw invalid(`input "${input}" takes ${width} values per row but is mapped to ${columns.length} column${columns.length === 1 ? '' : 's'}`);
  return columns;
}

function innerWidth(spec: TensorSpec): number | undefined {
  const inner = spec.shape.slice(1);
  if (spec.shape.length === 0) return 1;
  if (inner.some((d) => d < 0)) return undefined;
  return inner.reduce((a, b) => a * b, 1);
}

/**
 * Refuse ignored columns the file does not have: a misspelt label would otherwise be read as a
 * feature without a word (issue 13 item 13).
 */
export function checkIgnoredColumns(fileColumns: readonly string[], ignore: readonly string[]): void {
  const unknown = ignore.filter((c) => !fileColumns.includes(c));
  if (unknown.length === 0) return;
  const names = unknown.map((c) => `"${c}"`).join(', ');
  throw invalid(`ignored column${unknown.length > 1 ? 's' : ''} ${names} ${unknown.length > 1 ? 'are' : 'is'} not in the file; its columns are ${fileColumns.join(', ')}`, { column: unknown[0] });
}

/** Check a reference file against a signature without reading its rows: what `readInputTensors` would refuse up front. */
export async function checkReferenceFile(file: string, signature: Signature, ignore: readonly string[] = []): Promise<void> {
  const { describeTable } = await import('../io/index.js');
  const columns = (await describeTable(file)).columns.map((c) => c.name);
  checkIgnoredColumns(columns, ignore);
  mapColumns(signature, columns, ignore);
}

/** Read `file` as batches of input tensors (`chunkRows` rows each). */
export async function* readInputTensors(file: string, signature: Signature, options: { ignore?: readonly string[]; chunkRows?: number } = {}): AsyncGenerator<Tensor[]> {
  // Loaded on first use: DuckDB's native module costs ~0.3 s, which every CLI command would pay.
  const { describeTable, readTable } = await import('../io/index.js');
  const description = await describeTable(file);
  checkIgnoredColumns(description.columns.map((c) => c.name), options.ignore ?? []);
  const mappings = mapColumns(signature, description.columns.map((c) => c.name), options.ignore);
  const columns = [...new Set(mappings.flatMap((m) => m.columns))];
  for await (const chunk of readTable(file, { columns, chunkRows: options.chunkRows ?? 10_000 })) {
    if (chunk.rows === 0) continue;
    yield mappings.map((m) => toTensor(m, chunk));
  }
}

function toTensor(mapping: InputMapping, chunk: TableChunk): Tensor {
  const { spec, columns } = mapping;
  const width = columns.length;
  const rows = chunk.rows;
  const shape = spec.shape.length === 0 ? [] : [rows, ...spec.shape.slice(1)];
  const values = columns.map((name) => chunk.columns.get(name) as ColumnValues);
  if (spec.datatype === 'BYTES') {
    const data: string[] = new Array<string>(rows * width);
    values.forEach((column, j) => {
      for (let r = 0; r < rows; r++) data[r * width + j] = textAt(column, r, spec.name);
    });
    return { name: spec.name, datatype: 'BYTES', shape, data };
  }
  const numbers = new Float64Array(rows * width);
  values.forEach((column, j) => {
    for (let r = 0; r < rows; r++) numbers[r * width + j] = numberAt(column, r, spec.name);
  });
  switch (spec.datatype) {
    case 'FP32':
      return { name: spec.name, datatype: 'FP32', shape, data: Float32Array.from(numbers) };
    case 'FP64':
      return { name: spec.name, datatype: 'FP64', shape, data: numbers };
    case 'INT64':
      return { name: spec.name, datatype: 'INT64', shape, data: BigInt64Array.from(numbers, (v) => BigInt(Math.trunc(v))) };
    case 'INT32':
      return { name: spec.name, datatype: 'INT32', shape, data: Int32Array.from(numbers) };
    case 'BOOL':
      return { name: spec.name, datatype: 'BOOL', shape, data: Uint8Array.from(numbers, (v) => (v ? 1 : 0)) };
    case 'FP16':
    case 'INT8':
    case 'INT16':
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
    case 'UINT64':
      throw new SlipwayError('UNIMPLEMENTED', `input "${spec.name}" is ${spec.datatype}: reference files can feed FP32, FP64, INT32, INT64, BOOL and BYTES inputs`);
  }
}

function numberAt(column: ColumnValues, row: number, input: string): number {
  if (column.type === 'string' || column.type === 'other') {
    const value = Number(column.values[row]);
    if (column.values[row] === null || !Number.isFinite(value)) throw invalid(`input "${input}": row ${row + 1} holds "${column.values[row]}", not a number`);
    return value;
  }
  if (column.nulls[row] === 1) throw invalid(`input "${input}": row ${row + 1} is null`);
  return column.values[row] as number;
}

function textAt(column: ColumnValues, row: number, input: string): string {
  if (column.type === 'string' || column.type === 'other') {
    const value = column.values[row];
    if (value === null || value === undefined) throw invalid(`input "${input}": row ${row + 1} is null`);
    return value;
  }
  if (column.nulls[row] === 1) throw invalid(`input "${input}": row ${row + 1} is null`);
  return String(column.values[row]);
}
