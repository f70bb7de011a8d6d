/**
 * A reference data file (CSV, Parquet, JSONL) read as model input tensors, chunk by chunk; which
 * columns feed which input is decided by `tensor/column-mapping.ts`.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import type { ColumnValues, TableChunk } from '../io/index.js';
import { checkIgnoredColumns, mapColumns, type InputMapping } from '../tensor/column-mapping.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';

/** Check a reference file against a signature without reading its rows: what `readInputTensors` would refuse up front. */
export async function checkReferenceFile(
  file: string,
  signature: Signature,
  ignore: readonly string[] = [],
): Promise<void> {
  const { describeTable } = await import('../io/index.js');
  const columns = (await describeTable(file)).columns.map((c) => c.name);
  checkIgnoredColumns(columns, ignore);
  mapColumns(signature, columns, ignore);
}

/** Read `file` as batches of input tensors (`chunkRows` rows each). */
export async function* readInputTensors(
  file: string,
  signature: Signature,
  options: { ignore?: readonly string[]; chunkRows?: number } = {},
): AsyncGenerator<Tensor[]> {
  // Loaded on first use: DuckDB's native module costs ~0.3 s, which every CLI command would pay.
  const { describeTable, readTable } = await import('../io/index.js');
  const description = await describeTable(file);
  checkIgnoredColumns(
    description.columns.map((c) => c.name),
    options.ignore ?? [],
  );
  const mappings = mapColumns(
    signature,
    description.columns.map((c) => c.name),
    options.ignore,
  );
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
      return {
        name: spec.name,
        datatype: 'INT64',
        shape,
        data: BigInt64Array.from(numbers, (v) => BigInt(Math.trunc(v))),
      };
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
      throw new SlipwayError(
        'UNIMPLEMENTED',
        `input "${spec.name}" is ${spec.datatype}: reference files can feed FP32, FP64, INT32, INT64, BOOL and BYTES inputs`,
      );
  }
}

function numberAt(column: ColumnValues, row: number, input: string): number {
  if (column.type === 'string' || column.type === 'other') {
    const value = Number(column.values[row]);
    if (column.values[row] === null || !Number.isFinite(value))
      throw invalid(`input "${input}": row ${row + 1} holds "${column.values[row]}", not a number`);
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
