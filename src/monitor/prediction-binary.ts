import type { TensorData } from '../tensor/datatypes.js';

/**
 * A growable little-endian byte writer and its reader: the building blocks of the prediction
 * log's binary formats (tensor blobs in tensor-blob.ts, batches in prediction-batch.ts).
 *
 * The writer sits on the request path, so it is written for V8's optimiser (checked with perf):
 * hot callers `ensure` room once and then store through `bytes`/`u32s`/`f64s` directly, with no
 * DataView (some of its setters were not inlined) and no megamorphic property reads. Fixed-size
 * elements are copied with `TypedArray.prototype.set` between arrays of the same type (a memcpy,
 * no allocation), at offsets aligned to the element size (callers `align(8)` first). Sizes come
 * from `length` times the element size, never from `byteLength`/`byteOffset`, which cost ~20 ns
 * a read in Node 20.
 */

type FixedData = Exclude<TensorData, string[]>;

/** Array type by datatype code (index in DATATYPES; BYTES, the last, has none). */
const TYPED_ARRAY = [
  Uint8Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
  BigUint64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  BigInt64Array,
  Uint16Array,
  Float32Array,
  Float64Array,
] as const;

export class BinaryWriter {
  /** The buffer written to; replaced (and the old one stale) when `ensure` grows it. */
  buffer: ArrayBuffer;
  /** Views of `buffer`, replaced with it: bytes anywhere, 32- and 64-bit words at aligned offsets. */
  bytes: Uint8Array;
  u32s: Uint32Array;
  f64s: Float64Array;
  /** Where the next byte goes. */
  offset = 0;
  #capacity: number;
  /** Views of the whole buffer by datatype code, made on first use and dropped when the buffer grows. */
  #typed: (FixedData | undefined)[] = [];
  #text: Buffer | undefined;

  /** A fresh buffer of at least `capacity` bytes, or `reuse` (a multiple of 8 bytes long): its old contents are overwritten. */
  constructor(capacity: number, reuse?: ArrayBuffer) {
    this.#capacity = reuse?.byteLength ?? roundUp8(Math.max(64, capacity));
    this.buffer = reuse ?? new ArrayBuffer(this.#capacity);
    this.bytes = new Uint8Array(this.buffer);
    this.u32s = new Uint32Array(this.buffer);
    this.f64s = new Float64Array(this.buffer);
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    if (this.offset + n > this.#capacity) this.#grow(this.offset + n);
  }

  #grow(needed: number): void {
    this.#capacity = roundUp8(Math.max(needed, this.#capacity * 2));
    const grown = new ArrayBuffer(this.#capacity);
    const bytes = new Uint8Array(grown);
    bytes.set(this.bytes.subarray(0, this.offset));
    this.buffer = grown;
    this.bytes = bytes;
    this.u32s = new Uint32Array(grown);
    this.f64s = new Float64Array(grown);
    this.#typed = [];
    this.#text = undefined;
  }

  u8(value: number): void {
    this.ensure(1);
    this.bytes[this.offset++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    putU16(this.bytes, this.offset, value);
    this.offset += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    putU32(this.bytes, this.offset, value);
    this.offset += 4;
  }

  /** Zero bytes up to the next multiple of `alignment` (a power of two). */
  align(alignment: number): void {
    const end = (this.offset + alignment - 1) & ~(alignment - 1);
    this.ensure(end - this.offset);
    const bytes = this.bytes;
    for (let i = this.offset; i < end; i++) bytes[i] = 0;
    this.offset = end;
  }

  /** Write `value` as UTF-8, without a length; returns the byte count. */
  utf8(value: string): number {
    const length = value.length;
    this.ensure(length * 3);
    const bytes = this.bytes;
    const start = this.offset;
    // Names are short and almost always ASCII: a plain loop beats a call into C++ for them.
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 0x7f) {
        this.#text ??= Buffer.from(this.buffer);
        const written = this.#text.write(value, start, 'utf8');
        this.offset = start + written;
        return written;
      }
      bytes[start + i] = code;
    }
    this.offset = start + length;
    return length;
  }

  bytesOf(value: Uint8Array): void {
    const length = value.length;
    this.ensure(length);
    this.bytes.set(value, this.offset);
    this.offset += length;
  }

  /**
   * Copy fixed-size elements of `size` bytes each, of the datatype with this code (index in
   * DATATYPES), into a view of that datatype's array type: a memcpy when `data` has that type
   * (as TensorDataByType says it must), a converting copy otherwise. `offset` must be a multiple of `size`.
   */
  elements(code: number, data: FixedData, size: number): void {
    const byteLength = data.length * size;
    this.ensure(byteLength);
    let target = this.#typed[code];
    if (target === undefined) {
      const View = TYPED_ARRAY[code];
      if (View === undefined) throw new RangeError(`datatype code ${code} has no fixed-size elements`);
      target = new View(this.buffer);
      this.#typed[code] = target;
    }
    (target as Float64Array).set(data as Float64Array, this.offset / size);
    this.offset += byteLength;
  }
}

/** Little-endian stores byte by byte: any offset, and always inlined (unlike some DataView calls). */
export function putU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
}

export function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}

/** Buffer sizes are multiples of 8 so that a view of any element type covers the whole buffer. */
function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Reads what a BinaryWriter wrote. Reading past the end throws a RangeError. */
export class BinaryReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #text: Buffer;
  offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.#bytes.byteLength;
  }

  u8(): number {
    return this.#view.getUint8(this.offset++);
  }

  u16(): number {
    const value = this.#view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(): number {
    const value = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  f64(): number {
    const value = this.#view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  align(alignment: number): void {
    this.offset += (alignment - (this.offset % alignment)) % alignment;
  }

  utf8(byteLength: number): string {
    const end = this.#checkedEnd(byteLength);
    const value = this.#text.toString('utf8', this.offset, end);
    this.offset = end;
    return value;
  }

  /** A view (no copy) of the next `byteLength` bytes, as a Buffer so database drivers bind it as a blob. */
  slice(byteLength: number): Buffer {
    const end = this.#checkedEnd(byteLength);
    const value = this.#text.subarray(this.offset, end);
    this.offset = end;
    return value;
  }

  #checkedEnd(byteLength: number): number {
    const end = this.offset + byteLength;
    if (end > this.#bytes.byteLength)
      throw new RangeError(`${byteLength} bytes requested at offset ${this.offset} of ${this.#bytes.byteLength}`);
    return end;
  }
}
