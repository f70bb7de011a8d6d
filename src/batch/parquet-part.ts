/** One column of a part, ready to encode; `nulls[k] === 1` marks row k null (its value is ignored). */
export interface PartColumnData {
  readonly name: string;
  readonly type: ParquetType;
  /** INT64 as a BigInt64Array, FLOAT as a Float32Array, DOUBLE as a Float64Array, BOOLEAN as 0/1 bytes, BYTE_ARRAY as strings. */
  readonly values: BigInt64Array | Float32Array | Float64Array | Uint8Array | readonly (string | null)[];
  readonly nulls?: Uint8Array;
}

export type ParquetType = 'INT64' | 'FLOAT' | 'DOUBLE' | 'BOOLEAN' | 'BYTE_ARRAY';

/** Where a part's column chunks are in its file: one row group, a chunk per column. */
export interface PartLayout {
  readonly rows: number;
  /** Byte ranges in the part file, in column order. */
  readonly chunks: readonly { readonly offset: number; readonly size: number }[];
}

export interface ParquetCodec {
  /** A part file's bytes, as pieces to write in order. */
  readonly encodePart: (columns: readonly PartColumnData[], rows: number) => Uint8Array[];
  /**
   * The end of a file whose row groups are column chunks copied from parts (at `offset` in the new
   * file): footer, its length and the magic. The file starts with {@link ParquetCodec.magic}.
   */
  readonly footer: (
    schema: readonly { name: string; type: ParquetType }[],
    rowGroups: readonly PartLayout[],
  ) => Uint8Array[];
  /** The layout of a part this codec wrote with `columns` columns; undefined for any other file. */
  readonly readLayout: (file: Uint8Array, columns: number) => PartLayout | undefined;
  readonly magic: Uint8Array;
}

/**
 * Parquet for parts, hand-rolled: one row group, one uncompressed PLAIN data page per column,
 * every column OPTIONAL (definition levels: one RLE run when a column has no null, bit-packed
 * when it has some), the footer in Thrift's compact protocol. Only what parts need is here: flat
 * columns of INT64, FLOAT, DOUBLE, BOOLEAN and UTF-8 BYTE_ARRAY.
 *
 * Why by hand: parts are written once per chunk and read once. DuckDB's appender, temp table and
 * COPY cost ~25 ms per 100,000-row part (~2.5 s of CPU per 10M rows, the largest cost after
 * reading); this costs a copy of the values. And because every part has the same schema and
 * layout, a Parquet output is assembled by copying the parts' column chunks as row groups under
 * one new footer (`assemble-output.ts`) instead of decoding and re-encoding every value.
 *
 * It must stay self-contained (no imports, nothing from outside its body): the scoring worker
 * runs it from its source text (`parquetCodec.toString()`, see `scoring-worker.ts`).
 */
export function parquetCodec(): ParquetCodec {
  const PHYSICAL = { BOOLEAN: 0, INT64: 2, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
  const UTF8 = 0;
  const PLAIN = 0;
  const RLE = 3;
  const CREATED_BY = 'slipway batch parts 1';
  const text = new TextEncoder();
  const magic = text.encode('PAR1');

  /** Thrift compact protocol, just the parts used: non-negative integers, strings, lists, structs. */
  class Thrift {
    readonly bytes: number[] = [];
    private last = [0];
    byte(value: number): void {
      this.bytes.push(value & 0xff);
    }
    varint(value: number): void {
      let rest = value;
      while (rest >= 0x80) {
        this.byte((rest % 0x80) | 0x80);
        rest = Math.floor(rest / 0x80);
      }
      this.byte(rest);
    }
    field(id: number, type: number): void {
      const delta = id - (this.last[this.last.length - 1] as number);
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else {
        this.byte(type);
        this.varint(id * 2);
      }
      this.last[this.last.length - 1] = id;
    }
    /** i32 (type 5) and i64 (type 6) are zigzag varints; every value written here is >= 0. */
    int(id: number, value: number, wide = false): void {
      this.field(id, wide ? 6 : 5);
      this.varint(value * 2);
    }
    string(id: number, value: string): void {
      this.field(id, 8);
      this.binary(value);
    }
    binary(value: string): void {
      const encoded = text.encode(value);
      this.varint(encoded.length);
      for (const b of encoded) this.byte(b);
    }
    listHeader(id: number, size: number, elementType: number): void {
      this.field(id, 9);
      if (size < 15) this.byte((size << 4) | elementType);
      else {
        this.byte(0xf0 | elementType);
        this.varint(size);
      }
    }
    struct(write: () => void): void {
      this.last.push(0);
      write();
      this.byte(0);
      this.last.pop();
    }
    structField(id: number, write: () => void): void {
      this.field(id, 12);
      this.struct(write);
    }
  }

  /** Bit-packed booleans (LSB first), as the hybrid RLE encoding's bit-packed runs and PLAIN BOOLEAN both store them. */
  function packBits(bits: Uint8Array): Uint8Array {
    const out = new Uint8Array(Math.ceil(bits.length / 8));
    for (let i = 0; i < bits.length; i++) if (bits[i] === 1) out[i >> 3] = (out[i >> 3] as number) | (1 << (i & 7));
    return out;
  }

  /** Definition levels (1 = present) with their 4-byte length prefix: one RLE run of 1s without nulls, else one bit-packed run. */
  function definitionLevels(nulls: Uint8Array | undefined, rows: number): Uint8Array {
    const run = new Thrift();
    if (nulls === undefined) {
      run.varint(rows * 2);
      run.byte(1);
    } else {
      const present = new Uint8Array(rows);
      for (let k = 0; k < rows; k++) present[k] = nulls[k] === 1 ? 0 : 1;
      const packed = packBits(present);
      run.varint((packed.length << 1) | 1);
      for (const b of packed) run.byte(b);
    }
    const body = new Uint8Array(4 + run.bytes.length);
    new DataView(body.buffer).setUint32(0, run.bytes.length, true);
    body.set(run.bytes, 4);
    return body;
  }

  /** The non-null values, PLAIN-encoded. */
  function plainValues(
    column: PartColumnData,
    rows: number,
    present: ((k: number) => boolean) | undefined,
  ): Uint8Array {
    const { values } = column;
    if (column.type === 'BYTE_ARRAY') {
      const encoded: Uint8Array[] = [];
      let size = 0;
      for (let k = 0; k < rows; k++) {
        if (present !== undefined && !present(k)) continue;
        const bytes = text.encode(((values as readonly (string | null)[])[k] as string | null) ?? '');
        encoded.push(bytes);
        size += 4 + bytes.length;
      }
      const out = new Uint8Array(size);
      const view = new DataView(out.buffer);
      let at = 0;
      for (const bytes of encoded) {
        view.setUint32(at, bytes.length, true);
        out.set(bytes, at + 4);
        at += 4 + bytes.length;
      }
      return out;
    }
    const typed = values as BigInt64Array | Float32Array | Float64Array | Uint8Array;
    let kept: BigInt64Array | Float32Array | Float64Array | Uint8Array = typed.subarray(0, rows);
    if (present !== undefined) {
      const indexes: number[] = [];
      for (let k = 0; k < rows; k++) if (present(k)) indexes.push(k);
      kept = new (typed.constructor as new (n: number) => typeof typed)(indexes.length);
      indexes.forEach((k, i) => ((kept as Float64Array)[i] = (typed as Float64Array)[k] as number));
    }
    if (column.type === 'BOOLEAN') return packBits(kept as Uint8Array);
    return new Uint8Array(kept.buffer, kept.byteOffset, kept.byteLength);
  }

  function encodePart(columns: readonly PartColumnData[], rows: number): Uint8Array[] {
    const pieces: Uint8Array[] = [magic];
    let offset = magic.length;
    const chunks: { offset: number; size: number }[] = [];
    if (rows > 0) {
      for (const column of columns) {
        const nulls =
          column.nulls !== undefined && column.nulls.subarray(0, rows).includes(1) ? column.nulls : undefined;
        const levels = definitionLevels(nulls, rows);
        const data = plainValues(column, rows, nulls === undefined ? undefined : (k) => nulls[k] !== 1);
        const pageSize = levels.length + data.length;
        const header = new Thrift();
        header.struct(() => {
          header.int(1, 0); // DATA_PAGE
          header.int(2, pageSize);
          header.int(3, pageSize);
          header.structField(5, () => {
            header.int(1, rows);
            header.int(2, PLAIN);
            header.int(3, RLE);
            header.int(4, RLE);
          });
        });
        const headerBytes = Uint8Array.from(header.bytes);
        pieces.push(headerBytes, levels, data);
        chunks.push({ offset, size: headerBytes.length + pageSize });
        offset += headerBytes.length + pageSize;
      }
    }
    pieces.push(...footer(columns, rows > 0 ? [{ rows, chunks }] : []));
    return pieces;
  }

  function footer(
    schema: readonly { name: string; type: ParquetType }[],
    rowGroups: readonly PartLayout[],
  ): Uint8Array[] {
    const out = new Thrift();
    out.struct(() => {
      out.int(1, 1);
      out.listHeader(2, schema.length + 1, 12);
      out.struct(() => {
        out.string(4, 'schema');
        out.int(5, schema.length);
      });
      for (const column of schema) {
        out.struct(() => {
          out.int(1, PHYSICAL[column.type]);
          out.int(3, 1); // OPTIONAL
          out.string(4, column.name);
          if (column.type === 'BYTE_ARRAY') out.int(6, UTF8);
        });
      }
      out.int(
        3,
        rowGroups.reduce((n, g) => n + g.rows, 0),
        true,
      );
      out.listHeader(4, rowGroups.length, 12);
      for (const group of rowGroups) {
        out.struct(() => {
          out.listHeader(1, group.chunks.length, 12);
          group.chunks.forEach(({ offset, size }, c) => {
            const column = schema[c] as { name: string; type: ParquetType };
            out.struct(() => {
              out.int(2, offset, true);
              out.structField(3, () => {
                out.int(1, PHYSICAL[column.type]);
                out.listHeader(2, 2, 5);
                out.varint(PLAIN * 2);
                out.varint(RLE * 2);
                out.listHeader(3, 1, 8);
                out.binary(column.name);
                out.int(4, 0); // UNCOMPRESSED
                out.int(5, group.rows, true);
                out.int(6, size, true);
                out.int(7, size, true);
                out.int(9, offset, true);
              });
            });
          });
          out.int(
            2,
            group.chunks.reduce((n, c) => n + c.size, 0),
            true,
          );
          out.int(3, group.rows, true);
        });
      }
      out.string(6, CREATED_BY);
    });
    const footerBytes = Uint8Array.from(out.bytes);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, footerBytes.length, true);
    return [footerBytes, length, magic];
  }

  /** Reads compact-Thrift integers and skips what it does not need; just enough for our page headers. */
  function readLayout(file: Uint8Array, columns: number): PartLayout | undefined {
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    if (file.length < 12 || !magic.every((b, i) => file[i] === b && file[file.length - 4 + i] === b)) return undefined;
    const footerStart = file.length - 8 - view.getUint32(file.length - 8, true);
    if (footerStart < 4 || !new TextDecoder().decode(file.subarray(footerStart)).includes(CREATED_BY)) return undefined;
    if (footerStart === 4) return { rows: 0, chunks: [] };
    let at = 4;
    const varint = (): number => {
      let value = 0;
      let scale = 1;
      for (;;) {
        const byte = file[at++] as number;
        value += (byte & 0x7f) * scale;
        if (byte < 0x80) return value;
        scale *= 0x80;
      }
    };
    /** A struct's fields as id -> integer (nested structs flattened under 100 * id + field). */
    const struct = (prefix: number, fields: Map<number, number>): void => {
      let id = 0;
      for (;;) {
        const head = file[at++] as number;
        if (head === 0) return;
        id = head >> 4 === 0 ? varint() / 2 : id + (head >> 4);
        const type = head & 0x0f;
        if (type === 5 || type === 6) fields.set(prefix + id, varint() / 2);
        else if (type === 12) struct((prefix + id) * 100, fields);
        else throw new Error(`unexpected Thrift type ${type}`);
      }
    };
    const chunks: { offset: number; size: number }[] = [];
    let rows = -1;
    try {
      for (let c = 0; c < columns; c++) {
        const offset = at;
        const fields = new Map<number, number>();
        struct(0, fields);
        const size = fields.get(3);
        const values = fields.get(501);
        if (
          fields.get(1) !== 0 ||
          size === undefined ||
          values === undefined ||
          fields.get(2) !== size ||
          (rows >= 0 && values !== rows)
        )
          return undefined;
        rows = values;
        at += size;
        chunks.push({ offset, size: at - offset });
      }
    } catch {
      return undefined;
    }
    return at === footerStart ? { rows, chunks } : undefined;
  }

  return { encodePart, footer, readLayout, magic };
}
