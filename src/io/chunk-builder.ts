import type { DuckDBDataChunk, DuckDBVector } from '@duckdb/node-api';
import type { ColumnValues, NumericColumnValues, TableChunk, TableColumn } from './types.js';

/** Buffers start small and double up to the chunk size, so a 10-row file does not allocate 50,000. */
const INITIAL_CAPACITY = 16_384;

interface ColumnBuffer {
  /** Copies `count` values of `vector`, from index `from`, to position `at`. */
  fill(vector: DuckDBVector, from: number, count: number, at: number): void;
  grow(capacity: number): void;
  take(rows: number): ColumnValues;
}

/**
 * The vector's values as one Float64Array when it is a DOUBLE vector without nulls, else undefined.
 * @duckdb/node-api only offers `getItem(i)`, which checks validity bit by bit with BigInts (~45 ns
 * a value: 1.4 s per million rows of 30 columns); its DOUBLE vector keeps the values in a
 * Float64Array (`items`) and an all-valid vector has no validity bitmap (`validity.data` null), so
 * one `set` copies 2,048 values. Guarded by shape, so another library version falls back to getItem.
 */
function allValidDoubles(vector: DuckDBVector): Float64Array | undefined {
  const inside = vector as unknown as { items?: unknown; validity?: { data?: unknown; offset?: unknown } };
  const { items, validity } = inside;
  if (!(items instanceof Float64Array) || validity === undefined || validity.data !== null || validity.offset !== 0)
    return undefined;
  return items;
}

class NumericBuffer implements ColumnBuffer {
  private values: Float64Array;
  private nulls: Uint8Array;
  private nullCount = 0;

  constructor(
    private readonly type: NumericColumnValues['type'],
    capacity: number,
  ) {
    this.values = new Float64Array(capacity);
    this.nulls = new Uint8Array(capacity);
  }

  fill(vector: DuckDBVector, from: number, count: number, at: number): void {
    const { values, nulls } = this;
    const bulk = allValidDoubles(vector);
    if (bulk !== undefined) {
      values.set(bulk.subarray(from, from + count), at);
      return;
    }
    for (let i = 0; i < count; i++) {
      // The query casts every numeric column to DOUBLE, so an item is a number or null.
      const value = vector.getItem(from + i);
      if (typeof value === 'number') {
        values[at + i] = value;
      } else {
        values[at + i] = Number.NaN;
        nulls[at + i] = 1;
        this.nullCount++;
      }
    }
  }

  grow(capacity: number): void {
    const values = new Float64Array(capacity);
    values.set(this.values);
    const nulls = new Uint8Array(capacity);
    nulls.set(this.nulls);
    this.values = values;
    this.nulls = nulls;
  }

  take(rows: number): ColumnValues {
    return {
      type: this.type,
      values: this.values.subarray(0, rows),
      nulls: this.nulls.subarray(0, rows),
      nullCount: this.nullCount,
    };
  }
}

class TextBuffer implements ColumnBuffer {
  private readonly values: (string | null)[] = [];
  private nullCount = 0;

  constructor(private readonly type: 'string' | 'other') {}

  fill(vector: DuckDBVector, from: number, count: number): void {
    for (let i = 0; i < count; i++) {
      // The query casts text and other columns to VARCHAR.
      const value = vector.getItem(from + i);
      if (typeof value === 'string') {
        this.values.push(value);
      } else {
        this.values.push(null);
        this.nullCount++;
      }
    }
  }

  grow(): void {}

  take(): ColumnValues {
    return { type: this.type, values: this.values, nullCount: this.nullCount };
  }
}

/**
 * Gathers DuckDB's batches (2,048 rows) into {@link TableChunk}s of exactly `chunkRows` rows.
 * A batch can straddle two chunks; `append` returns every chunk it completes.
 */
export class ChunkBuilder {
  private buffers: ColumnBuffer[] = [];
  private capacity = 0;
  private filled = 0;

  constructor(
    private readonly columns: readonly TableColumn[],
    private readonly chunkRows: number,
  ) {
    this.reset();
  }

  append(batch: DuckDBDataChunk): TableChunk[] {
    const done: TableChunk[] = [];
    const vectors = this.columns.map((_, index) => batch.getColumnVector(index));
    const total = batch.rowCount;
    let from = 0;
    while (from < total) {
      const count = Math.min(total - from, this.chunkRows - this.filled);
      this.ensureCapacity(this.filled + count);
      this.buffers.forEach((buffer, index) => {
        const vector = vectors[index];
        if (vector !== undefined) buffer.fill(vector, from, count, this.filled);
      });
      this.filled += count;
      from += count;
      if (this.filled === this.chunkRows) done.push(this.take());
    }
    return done;
  }

  /** The rows gathered since the last full chunk, or undefined when there are none. */
  finish(): TableChunk | undefined {
    return this.filled > 0 ? this.take() : undefined;
  }

  private take(): TableChunk {
    const columns = new Map<string, ColumnValues>();
    this.columns.forEach((column, index) => {
      const buffer = this.buffers[index];
      if (buffer !== undefined) columns.set(column.name, buffer.take(this.filled));
    });
    const chunk = { rows: this.filled, columns };
    // After one full chunk, expect more: start the next at full size rather than grow it again.
    this.reset(this.filled === this.chunkRows ? this.chunkRows : INITIAL_CAPACITY);
    return chunk;
  }

  private reset(capacity = INITIAL_CAPACITY): void {
    this.capacity = Math.min(this.chunkRows, capacity);
    this.filled = 0;
    this.buffers = this.columns.map((column): ColumnBuffer => {
      switch (column.type) {
        case 'number':
        case 'boolean':
        case 'timestamp':
          return new NumericBuffer(column.type, this.capacity);
        case 'string':
        case 'other':
          return new TextBuffer(column.type);
      }
    });
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.capacity) return;
    let capacity = this.capacity;
    while (capacity < rows) capacity *= 2;
    this.capacity = Math.min(capacity, this.chunkRows);
    for (const buffer of this.buffers) buffer.grow(this.capacity);
  }
}
