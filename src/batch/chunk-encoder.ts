import { SlipwayError, invalid } from '../core/errors.js';
import type { ColumnValues, TableChunk, TableColumn, WriteColumn, WriteColumnType } from '../io/index.js';
import type { InputMapping } from '../tensor/column-mapping.js';
import type { Datatype, TensorSpec } from '../tensor/datatypes.js';
import { ORT_TYPE, dimsOf, fillFeed, parseColumn, readsText, type ParsedColumn } from './input-values.js';
import { UNPARSABLE_COLUMN } from './read-input.js';
import type { PartColumnSpec, PartColumnType, WireTensor } from './scoring-pool.js';

/** How each output column type is written in a part. */
const PART_TYPE: Readonly<Record<WriteColumnType, PartColumnType>> = {
  number: 'DOUBLE',
  integer: 'BIGINT',
  boolean: 'BOOLEAN',
  string: 'VARCHAR',
};

/** Output datatypes as output columns. */
function writeTypeOf(datatype: Datatype): WriteColumnType {
  switch (datatype) {
    case 'BOOL':
      return 'boolean';
    case 'BYTES':
      return 'string';
    case 'FP16':
    case 'FP32':
    case 'FP64':
      return 'number';
    case 'INT8':
    case 'INT16':
    case 'INT32':
    case 'INT64':
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
    case 'UINT64':
      return 'integer';
  }
}

const INTEGER_TYPES = /^(U?(TINY|SMALL|BIG|HUGE)?INT|INTEGER)$/;

/** How an input column (the id or a kept one) is written: integers stay integers, timestamps become ISO text. */
function passthroughType(column: TableColumn): WriteColumnType {
  switch (column.type) {
    case 'number':
      return INTEGER_TYPES.test(column.duckdbType) ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    case 'timestamp':
    case 'string':
    case 'other':
      return 'string';
  }
}

/** One output tensor as columns: `name` when one value wide, else `name_0..name_{k-1}`. */
export interface OutputColumns {
  readonly spec: TensorSpec;
  readonly width: number;
  readonly names: readonly string[];
}

export function outputColumns(outputs: readonly TensorSpec[]): OutputColumns[] {
  return outputs.map((spec) => {
    const inner = spec.shape.slice(1);
    if (inner.some((d) => d < 0))
      throw new SlipwayError(
        'UNIMPLEMENTED',
        `output "${spec.name}" has shape [${spec.shape.join(', ')}]: batch scoring writes outputs of shape [batch] or [batch, k] with a fixed k`,
      );
    const width = inner.reduce((a, b) => a * b, 1);
    return {
      spec,
      width,
      names: width === 1 ? [spec.name] : Array.from({ length: width }, (_, j) => `${spec.name}_${j}`),
    };
  });
}

/** One chunk turned into model feeds (valid rows only) and rejected rows. */
export interface EncodedChunk {
  readonly feeds: WireTensor[];
  /** Rows scored, in order, as indexes into the chunk. */
  readonly valid: Int32Array;
  readonly rejects: { readonly id: unknown; readonly reason: string }[];
}

/** A chunk as read: its place in the input and, unless it was skipped (done before a resume), its work. */
export interface ReadChunk {
  /** 1-based: the part file's number. */
  readonly index: number;
  readonly firstRow: number;
  readonly rows: number;
  /** Undefined for a skipped chunk. */
  readonly work?: { readonly encoded: EncodedChunk; readonly columns: PartColumnSpec[] };
}

/**
 * Turns table chunks into input tensors. A row is rejected (and left out of the feeds) when a
 * mapped column is null, NaN or infinite, holds text that is not a number, or holds a fraction for
 * an integer input; the reason names the first such column.
 */
export class ChunkEncoder {
  /** The output file's columns: id, kept columns, then the outputs. */
  readonly columns: WriteColumn[];
  private readonly passthrough: readonly TableColumn[];

  constructor(
    private readonly mappings: readonly InputMapping[],
    private readonly outputs: readonly OutputColumns[],
    fileColumns: readonly TableColumn[],
    private readonly idColumn: string | undefined,
    keep: readonly string[],
  ) {
    const byName = new Map(fileColumns.map((c) => [c.name, c]));
    const lookup = (name: string, what: string): TableColumn => {
      const column = byName.get(name);
      if (column === undefined)
        throw invalid(
          `missing column "${name}" (${what}); the file's columns are ${fileColumns.map((c) => c.name).join(', ')}`,
          { column: name },
        );
      return column;
    };
    const id = idColumn === undefined ? undefined : lookup(idColumn, '--id-column');
    this.passthrough = [...(id === undefined ? [] : [id]), ...keep.map((name) => lookup(name, '--keep'))];
    this.columns = [
      id === undefined ? { name: 'row', type: 'integer' } : { name: id.name, type: passthroughType(id) },
      ...keep.map((name) => ({ name, type: passthroughType(lookup(name, '--keep')) })),
      ...outputs.flatMap((o) => o.names.map((name) => ({ name, type: writeTypeOf(o.spec.datatype) }))),
    ];
    const seen = new Set<string>();
    for (const column of this.columns) {
      if (seen.has(column.name))
        throw invalid(
          `output column "${column.name}" would appear twice: rename the kept or id column, or leave it out`,
        );
      seen.add(column.name);
    }
  }

  /** Model-input columns read as numbers (with their unparsable text, see `readInput`). */
  get numericColumns(): string[] {
    const text = new Set(this.textColumns);
    return [...new Set(this.mappings.filter((m) => !readsText(m.spec.datatype)).flatMap((m) => m.columns))].filter(
      (c) => !text.has(c),
    );
  }

  /** Model-input columns read as text: those of BYTES and BOOL inputs. */
  get textColumns(): string[] {
    return [...new Set(this.mappings.filter((m) => readsText(m.spec.datatype)).flatMap((m) => m.columns))];
  }

  /** The id and kept columns, read as they are. */
  get otherColumns(): string[] {
    return this.passthrough.map((c) => c.name);
  }

  encode(chunk: TableChunk, firstRow: number): EncodedChunk {
    const rows = chunk.rows;
    const reasons = new Map<number, string>();
    // A column feeding two inputs of different datatypes is checked once for each.
    const parsed = new Map<string, ParsedColumn>();
    const unparsable = chunk.columns.get(UNPARSABLE_COLUMN);
    const badText = unparsable?.type === 'string' ? unparsable.values : undefined;
    for (const mapping of this.mappings) {
      for (const name of mapping.columns) {
        const key = parsedKey(mapping, name);
        if (!parsed.has(key))
          parsed.set(key, parseColumn(name, mapping.spec.datatype, column(chunk, name), badText, rows, reasons));
      }
    }
    const valid = new Int32Array(rows - reasons.size);
    for (let r = 0, k = 0; r < rows; r++) if (!reasons.has(r)) valid[k++] = r;
    const feeds = this.mappings.map((m) => fillFeed(m, valid, parsed, parsedKey));
    const idOf = this.idReader(chunk, firstRow);
    const rejects = [...reasons].sort((a, b) => a[0] - b[0]).map(([r, reason]) => ({ id: idOf(r), reason }));
    return { feeds, valid, rejects };
  }

  /**
   * The part's columns for the scored rows (`valid`): the row number or the id, the kept columns
   * (values gathered here), then each output's values (filled by the worker that scores).
   */
  partColumns(chunk: TableChunk, firstRow: number, valid: Int32Array): PartColumnSpec[] {
    const columns: PartColumnSpec[] =
      this.idColumn === undefined ? [{ source: 'row', name: 'row', base: firstRow }] : [];
    for (const c of this.passthrough) columns.push(gather(c, column(chunk, c.name), valid));
    this.outputs.forEach((o, output) => {
      const type = PART_TYPE[writeTypeOf(o.spec.datatype)];
      const half = o.spec.datatype === 'FP16';
      o.names.forEach((name, element) =>
        columns.push({ source: 'output', name, type, output, width: o.width, element, ...(half ? { half } : {}) }),
      );
    });
    return columns;
  }

  /** Feed tensors from arrays packed elsewhere (`vector-chunks.ts`): the first `rows` rows of each mapping's array. */
  feedsOf(arrays: readonly (Float32Array | Float64Array)[], rows: number): WireTensor[] {
    return this.mappings.map((m, i) => {
      const data = arrays[i] as Float32Array | Float64Array;
      return {
        name: m.spec.name,
        type: ORT_TYPE[m.spec.datatype],
        data: data.subarray(0, rows * m.columns.length),
        dims: dimsOf(m.spec, rows),
      };
    });
  }

  /** The id and kept columns as the file has them. */
  get passthroughColumns(): readonly TableColumn[] {
    return this.passthrough;
  }

  /** Reads a row's id for the rejects file: the id column's value, or the row number. */
  idReader(chunk: TableChunk, firstRow: number): (row: number) => unknown {
    const id = this.idColumn === undefined ? undefined : this.passthrough[0];
    if (id === undefined) return (row) => firstRow + row;
    return passthroughReader(id, column(chunk, id.name));
  }
}

/** An id or kept column's values for the scored rows, in the form the part writer takes. */
function gather(table: TableColumn, values: ColumnValues, valid: Int32Array): PartColumnSpec {
  const name = table.name;
  const n = valid.length;
  if (values.type === 'number' || values.type === 'boolean') {
    const gathered = new Float64Array(n);
    const nulls = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      const r = valid[k] as number;
      gathered[k] = values.values[r] as number;
      nulls[k] = values.nulls[r] as number;
    }
    const type = values.type === 'boolean' ? 'BOOLEAN' : PART_TYPE[passthroughType(table)];
    return { source: 'values', name, type, values: gathered, nulls };
  }
  const read = passthroughReader(table, values);
  const texts: (string | null)[] = new Array<string | null>(n);
  for (let k = 0; k < n; k++) texts[k] = read(valid[k] as number) as string | null;
  return { source: 'values', name, type: 'VARCHAR', values: texts };
}

function column(chunk: TableChunk, name: string): ColumnValues {
  const values = chunk.columns.get(name);
  if (values === undefined) throw new SlipwayError('INTERNAL', `column "${name}" was not read`);
  return values;
}

/** Where a mapping's parsed column is kept: by datatype and column. */
function parsedKey(mapping: InputMapping, column: string): string {
  return `${mapping.spec.datatype}\u0000${column}`;
}

function passthroughReader(column: TableColumn, values: ColumnValues): (row: number) => unknown {
  switch (values.type) {
    case 'string':
    case 'other':
      return (row) => values.values[row] ?? null;
    case 'boolean':
      return (row) => (values.nulls[row] === 1 ? null : values.values[row] === 1);
    case 'timestamp':
      return (row) => (values.nulls[row] === 1 ? null : new Date(values.values[row] as number).toISOString());
    case 'number': {
      const integer = passthroughType(column) === 'integer';
      return (row) => {
        if (values.nulls[row] === 1) return null;
        const value = values.values[row] as number;
        return integer && !Number.isSafeInteger(value) ? BigInt(Math.trunc(value)) : value;
      };
    }
  }
}
