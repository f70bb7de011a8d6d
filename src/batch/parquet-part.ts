/** One column of a part, ready to encode; `nulls[k] === 1` marks row k null (its value is ignored). */
export interface PartColumnData {
  readonly name: string;
  readonly type: 'INT64' | 'FLOAT' | 'DOUBLE' | 'BOOLEAN' | 'BYTE_ARRAY';
  /** INT64 as a BigInt64Array, FLOAT as a Float32Array, DOUBLE as a Float64Array, BOOLEAN as 0/1 bytes, BYTE_ARRAY as strings. */
  readonly values: BigInt64Array | Float32Array | Float64Array | Uint8Array | readonly (string | null)[];
  readonly nulls?: Uint8Array;
}

/**
 * Encodes a part file as Parquet: one row group, one uncompressed PLAIN data page per column,
 * the footer in Thrift's compact protocol. Returns the file's bytes as pieces to write in order.
 *
 * Hand-rolled because parts are written once per chunk and read once (by the assembly's COPY):
 * DuckDB's appender, temp table and COPY cost ~25 ms per 100,000-row part (~2.5 s of CPU per 10M
 * rows, the largest cost after reading), this costs a copy of the values. Only what parts need is
 * here: flat columns of INT64, FLOAT, DOUBLE, BOOLEAN and UTF-8 BYTE_ARRAY, REQUIRED when a column has no
 * null and OPTIONAL (definition levels, bit-packed) when it has some.
 *
 * It must stay self-contained (no imports, nothing from outside its body): the scoring worker
 * runs it from its source text (`encodeParquetPart.toString()`, see `scoring-worker.ts`).
 */
export function encodeParquetPart(columns: readonly PartColumnData[], rows: number): Uint8Array[] {
  const PHYSICAL = { BOOLEAN: 0, INT64: 2, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
  const UTF8 = 0;
  const PLAIN = 0;
  const RLE = 3;
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

  /** Definition levels (1 = present) as one bit-packed run with its 4-byte length prefix. */
  function definitionLevels(nulls: Uint8Array): Uint8Array {
    const present = new Uint8Array(rows);
    for (let k = 0; k < rows; k++) present[k] = nulls[k] === 1 ? 0 : 1;
    const packed = packBits(present);
    const header = new Thrift();
    header.varint((packed.length << 1) | 1);
    const body = new Uint8Array(4 + header.bytes.length + packed.length);
    new DataView(body.buffer).setUint32(0, header.bytes.length + packed.length, true);
    body.set(header.bytes, 4);
    body.set(packed, 4 + header.bytes.length);
    return body;
  }

  /** The non-null values, PLAIN-encoded. */
  function plainValues(column: PartColumnData, present: ((k: number) => boolean) | undefined): Uint8Array {
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

  const pieces: Uint8Array[] = [magic];
  let offset = magic.length;
  const chunks: { column: PartColumnData; optional: boolean; offset: number; size: number }[] = [];
  for (const column of columns) {
    const nulls = column.nulls;
    const optional = nulls !== undefined && nulls.subarray(0, rows).includes(1);
    if (rows === 0) {
      chunks.push({ column, optional, offset, size: 0 });
      continue;
    }
    const levels = optional ? definitionLevels(nulls) : new Uint8Array(0);
    const data = plainValues(column, optional ? (k) => nulls[k] !== 1 : undefined);
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
    chunks.push({ column, optional, offset, size: headerBytes.length + pageSize });
    offset += headerBytes.length + pageSize;
  }

  const footer = new Thrift();
  footer.struct(() => {
    footer.int(1, 1);
    footer.listHeader(2, columns.length + 1, 12);
    footer.struct(() => {
      footer.string(4, 'schema');
      footer.int(5, columns.length);
    });
    for (const { column, optional } of chunks) {
      footer.struct(() => {
        footer.int(1, PHYSICAL[column.type]);
        footer.int(3, optional ? 1 : 0);
        footer.string(4, column.name);
        if (column.type === 'BYTE_ARRAY') footer.int(6, UTF8);
      });
    }
    footer.int(3, rows, true);
    footer.listHeader(4, rows === 0 ? 0 : 1, 12);
    if (rows > 0) {
      footer.struct(() => {
        footer.listHeader(1, chunks.length, 12);
        for (const { column, offset: at, size } of chunks) {
          footer.struct(() => {
            footer.int(2, at, true);
            footer.structField(3, () => {
              footer.int(1, PHYSICAL[column.type]);
              footer.listHeader(2, 2, 5);
              footer.varint(PLAIN * 2);
              footer.varint(RLE * 2);
              footer.listHeader(3, 1, 8);
              footer.binary(column.name);
              footer.int(4, 0); // UNCOMPRESSED
              footer.int(5, rows, true);
              footer.int(6, size, true);
              footer.int(7, size, true);
              footer.int(9, at, true);
            });
          });
        }
        footer.int(2, chunks.reduce((n, c) => n + c.size, 0), true);
        footer.int(3, rows, true);
      });
    }
    footer.string(6, 'slipway');
  });
  const footerBytes = Uint8Array.from(footer.bytes);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, footerBytes.length, true);
  pieces.push(footerBytes, length, magic);
  return pieces;
}
