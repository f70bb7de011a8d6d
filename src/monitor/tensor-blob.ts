import { invalid } from '../core/errors.js';
import { DATATYPES, DATATYPE_SIZE, elementCount } from '../tensor/datatypes.js';
import type { Datatype, Tensor, TensorData } from '../tensor/datatypes.js';
import { tensorFromBytes, tensorToBytes } from '../tensor/raw-bytes.js';
import { BinaryReader, BinaryWriter, putU16, putU32 } from './prediction-binary.js';

/**
 * A list of tensors as one compact binary value, as the prediction log stores its inputs and
 * outputs. Version 1, all integers little-endian:
 *
 * ```text
 * u8 version (1) | u8 0 | u16 tensor count
 * per tensor:
 *   u8 datatype (index in DATATYPES) | u8 rank | u16 name length | u32 data length
 *   u32 × rank dimensions | name (UTF-8)
 *   zero padding to a multiple of 8 from the start of the blob
 *   data in the raw-bytes layout (tensor/raw-bytes.ts)
 * ```
 *
 * The padding lets an encoder copy elements with a same-typed `TypedArray.set` into an aligned
 * buffer, so encoding is buffer copies only.
 *
 * The second byte holds flags (0 in blobs written before payload policies, issue 13 item 6):
 * FLAG_CUT — some tensors were cut to their first elements (see `cutTensor`); after the last
 * tensor comes, for every tensor in order, `u32 rank | u32 × rank` its shape as served.
 * FLAG_OMITTED — the tensors were not logged at all (payload policy `none`); the count is 0.
 *
 * @example
 * const blob = encodeTensors([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) }]);
 * decodeTensors(blob)[0]?.data; // Float32Array [1, 2]
 */

export const TENSOR_BLOB_VERSION = 1;

/** Element size (0: BYTES) by datatype code (index in DATATYPES). */
const SIZE_BY_CODE: readonly number[] = DATATYPES.map((datatype) => DATATYPE_SIZE[datatype]);

/**
 * The datatype's index in DATATYPES, or -1. A switch, because a keyed look-up with a
 * datatype string (`TABLE[datatype]`) costs ~30 ns on the request path; this costs ~3 ns.
 */
export function datatypeCode(datatype: Datatype): number {
  switch (datatype) {
    case 'FP32':
      return 10;
    case 'INT64':
      return 8;
    case 'FP64':
      return 11;
    case 'INT32':
      return 7;
    case 'BYTES':
      return 12;
    case 'BOOL':
      return 0;
    case 'UINT8':
      return 1;
    case 'UINT16':
      return 2;
    case 'UINT32':
      return 3;
    case 'UINT64':
      return 4;
    case 'INT8':
      return 5;
    case 'INT16':
      return 6;
    case 'FP16':
      return 9;
    default:
      return -1;
  }
}

const MAX_U16 = 0xffff;
const FLAG_CUT = 1;
const FLAG_OMITTED = 2;
/** A cut BYTES tensor keeps whole strings up to about this many bytes. */
export const MAX_CUT_STRING_BYTES = 64 * 1024;
const MAX_U32 = 0xffffffff;

/** Encode tensors into a fresh Buffer. */
export function encodeTensors(tensors: readonly Tensor[]): Buffer {
  const writer = new BinaryWriter(encodedSizeHint(tensors));
  writeTensors(writer, tensors);
  return Buffer.from(writer.buffer, 0, writer.offset);
}

/**
 * The tensor headers of the last blob written with it. Consecutive requests to one model nearly
 * always send tensors of the same names, datatypes and shapes, so writeTensors checks those and
 * copies the header bytes it built last time instead of building them again (on the request
 * path that halves the cost of a small tensor). One cache per sequence of similar blobs, e.g.
 * one for a batch's inputs and one for its outputs.
 */
export class TensorHeaderCache {
  /** By position in the tensor list. */
  readonly slots: (CachedHeader | undefined)[] = [];
}

interface CachedHeader {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly count: number;
  readonly code: number;
  readonly size: number;
  /** Where the header starts, from the start of the blob: its padding holds only there. */
  readonly at: number;
  /** From the datatype byte to the padding before the data, inclusive. */
  readonly bytes: Uint8Array;
}

/**
 * Append a tensor blob to `writer`, which must stand at a multiple of 8 (the blob's padding is
 * relative to its start). Returns the blob's length. Throws INVALID_ARGUMENT for a tensor the
 * format cannot hold or whose data does not match its shape.
 */
export function writeTensors(
  writer: BinaryWriter,
  tensors: readonly Tensor[],
  cache?: TensorHeaderCache,
  maxElements = Number.POSITIVE_INFINITY,
): number {
  const start = writer.offset;
  if ((start & 7) !== 0) throw new RangeError(`a tensor blob must start at a multiple of 8, not ${start}`);
  const count = tensors.length;
  if (count > MAX_U16) throw invalid(`${count} tensors: a tensor blob holds at most ${MAX_U16}`);
  writer.ensure(4);
  const bytes = writer.bytes;
  bytes[start] = TENSOR_BLOB_VERSION;
  bytes[start + 1] = 0;
  putU16(bytes, start + 2, count);
  writer.offset = start + 4;
  let cut = false;
  for (let i = 0; i < count; i++) {
    let tensor = tensors[i]!;
    // One comparison per tensor on the request path; only a tensor over the cap is cut, by a view
    // of its first elements, so its bytes beyond them are never copied.
    if (
      tensor.data.length > maxElements ||
      (Array.isArray(tensor.data) &&
        maxElements !== Number.POSITIVE_INFINITY &&
        stringBytesOver(tensor.data, MAX_CUT_STRING_BYTES))
    ) {
      tensor = cutTensor(tensor, maxElements);
      cut = true;
    }
    const cached = cache?.slots[i];
    if (cached !== undefined && writer.offset - start === cached.at && sameLayout(cached, tensor)) {
      copyHeader(writer, cached.bytes);
      writer.elements(cached.code, tensor.data as Exclude<TensorData, string[]>, cached.size);
    } else {
      const header = writer.offset;
      const dataAt = writeTensor(writer, tensor);
      if (cache !== undefined) cache.slots[i] = remember(tensor, header - start, writer.bytes.slice(header, dataAt));
    }
  }
  if (cut) {
    writer.bytes[start + 1] = FLAG_CUT;
    for (const { shape } of tensors) {
      writer.u32(shape.length);
      for (const dimension of shape) writer.u32(dimension);
    }
  }
  return writer.offset - start;
}

/** Append the blob of tensors a payload policy of `none` left out: no tensors, flagged as omitted. */
export function writeOmittedTensors(writer: BinaryWriter): number {
  const start = writer.offset;
  writer.ensure(4);
  const bytes = writer.bytes;
  bytes[start] = TENSOR_BLOB_VERSION;
  bytes[start + 1] = FLAG_OMITTED;
  putU16(bytes, start + 2, 0);
  writer.offset = start + 4;
  return 4;
}

function stringBytesOver(data: readonly string[], limit: number): boolean {
  let bytes = 0;
  for (let i = 0; i < data.length; i++) {
    bytes += 4 + 3 * data[i]!.length;
    if (bytes > limit) return true;
  }
  return false;
}

/**
 * The first elements of a tensor over the cap, as a tensor of their own: whole rows when a row
 * fits (`[k, ...rest]`, so per-column statistics such as drift's read them as usual), else the
 * first `maxElements` elements as `[1, n]` (a row wider than the cap; drift skips rows that wide,
 * see feature-columns.ts). BYTES tensors keep whole strings up to MAX_CUT_STRING_BYTES, in whole rows.
 */
export function cutTensor(tensor: Tensor, maxElements: number): Tensor {
  const { shape, data } = tensor;
  const count = data.length;
  let keep = Math.min(count, Math.max(0, Math.floor(maxElements)));
  if (Array.isArray(data)) {
    let bytes = 0;
    let n = 0;
    while (n < keep && (bytes += 4 + 3 * data[n]!.length) <= MAX_CUT_STRING_BYTES) n++;
    keep = n;
  }
  const rows = shape.length === 0 ? 1 : shape[0]!;
  const width = rows > 0 ? count / rows : 0;
  let stored: number[];
  if (shape.length >= 1 && width >= 1 && width <= keep) {
    const kept = Math.floor(keep / width);
    stored = [kept, ...shape.slice(1)];
    keep = kept * width;
  } else if (Array.isArray(data) || keep === 0) {
    stored = shape.length === 0 ? [0] : [0, ...shape.slice(1)];
    keep = 0;
  } else {
    stored = [1, keep];
  }
  const cutData = Array.isArray(data) ? data.slice(0, keep) : data.subarray(0, keep);
  return { name: tensor.name, datatype: tensor.datatype, shape: stored, data: cutData };
}

/**
 * Bytes a blob of these tensors will take at most elements each (an estimate that never reads
 * more than the kept elements): what the log checks against its memory budget before copying.
 */
export function estimatedBlobBytes(tensors: readonly Tensor[], maxElements = Number.POSITIVE_INFINITY): number {
  let size = 4;
  for (let i = 0; i < tensors.length; i++) {
    const { data, shape, name } = tensors[i]!;
    const kept = Math.min(data.length, maxElements);
    size += 16 + 8 * shape.length + name.length;
    if (Array.isArray(data)) {
      let bytes = 0;
      for (let k = 0; k < kept && bytes <= MAX_CUT_STRING_BYTES; k++) bytes += 4 + data[k]!.length;
      size += maxElements === Number.POSITIVE_INFINITY ? bytes : Math.min(bytes, MAX_CUT_STRING_BYTES);
    } else {
      size += kept * (data.BYTES_PER_ELEMENT ?? 8);
    }
  }
  return size;
}

function sameLayout(cached: CachedHeader, tensor: Tensor): boolean {
  if (tensor.name !== cached.name || tensor.datatype !== cached.datatype || tensor.data.length !== cached.count)
    return false;
  const shape = tensor.shape;
  const rank = shape.length;
  if (rank !== cached.shape.length) return false;
  for (let d = 0; d < rank; d++) if (shape[d] !== cached.shape[d]) return false;
  return true;
}

function copyHeader(writer: BinaryWriter, header: Uint8Array): void {
  const length = header.length;
  writer.ensure(length);
  const bytes = writer.bytes;
  const offset = writer.offset;
  // A loop: for the few dozen bytes of a header it beats calling TypedArray.prototype.set.
  for (let k = 0; k < length; k++) bytes[offset + k] = header[k]!;
  writer.offset = offset + length;
}

function remember(tensor: Tensor, at: number, bytes: Uint8Array): CachedHeader | undefined {
  const code = datatypeCode(tensor.datatype);
  const size = SIZE_BY_CODE[code]!;
  // BYTES elements vary in length, so their header (data length) does not repeat.
  if (size === 0) return undefined;
  return {
    name: tensor.name,
    datatype: tensor.datatype,
    shape: [...tensor.shape],
    count: tensor.data.length,
    code,
    size,
    at,
    bytes,
  };
}

/** Write one tensor's header and data; returns where its data starts. */
function writeTensor(writer: BinaryWriter, tensor: Tensor): number {
  const { name, datatype, shape, data } = tensor;
  const code = datatypeCode(datatype);
  if (code < 0) throw invalid(`tensor "${name}": unknown datatype ${String(datatype)}`);
  const size = SIZE_BY_CODE[code]!;
  const rank = shape.length;
  if (rank > 255) throw invalid(`tensor "${name}": rank ${rank} is over 255`);
  const count = data.length;
  if (count !== elementCount(shape))
    throw invalid(`tensor "${name}": ${count} elements, but shape [${shape.join(',')}] needs ${elementCount(shape)}`);
  const encoded = size === 0 ? tensorToBytes(tensor) : undefined;
  const dataLength = encoded === undefined ? count * size : encoded.length;
  if (dataLength > MAX_U32)
    throw invalid(`tensor "${name}": ${dataLength} bytes of data is over the 4 GiB a blob holds`);

  const header = writer.offset;
  writer.ensure(8 + 4 * rank);
  const bytes = writer.bytes;
  bytes[header] = code;
  bytes[header + 1] = rank;
  putU32(bytes, header + 4, dataLength);
  let offset = header + 8;
  for (let d = 0; d < rank; d++) {
    const dimension = shape[d]!;
    if (!(dimension >= 0 && dimension <= MAX_U32 && Number.isInteger(dimension)))
      throw invalid(`tensor "${name}": dimension ${dimension} is not a size`);
    putU32(bytes, offset, dimension);
    offset += 4;
  }
  writer.offset = offset;
  const nameLength = writer.utf8(name);
  if (nameLength > MAX_U16) throw invalid(`tensor name of ${nameLength} bytes is over ${MAX_U16}`);
  putU16(writer.bytes, header + 2, nameLength);
  writer.align(8);
  const dataAt = writer.offset;
  if (encoded === undefined) writer.elements(code, data as Exclude<TensorData, string[]>, size);
  else writer.bytesOf(encoded);
  return dataAt;
}

/** Decode a blob written by encodeTensors; element data is copied out, so `bytes` may be reused. */
export function decodeTensors(bytes: Uint8Array): Tensor[] {
  return decodeTensorBlob(bytes).tensors;
}

export interface DecodedTensorBlob {
  /** As stored: a cut tensor holds its first elements only (see `cutTensor`). */
  readonly tensors: Tensor[];
  /** When some tensors were cut: every tensor's shape as served, by position. */
  readonly servedShapes: number[][] | undefined;
  /** The payload policy left the tensors out. */
  readonly omitted: boolean;
}

/** Decode a blob, with what the payload policy cut or left out. */
export function decodeTensorBlob(bytes: Uint8Array): DecodedTensorBlob {
  const reader = new BinaryReader(bytes);
  try {
    const version = reader.u8();
    if (version !== TENSOR_BLOB_VERSION)
      throw invalid(`tensor blob version ${version}; this build reads version ${TENSOR_BLOB_VERSION}`);
    const flags = reader.u8();
    const count = reader.u16();
    const tensors: Tensor[] = new Array<Tensor>(count);
    for (let i = 0; i < count; i++) tensors[i] = readTensor(reader);
    let servedShapes: number[][] | undefined;
    if ((flags & FLAG_CUT) !== 0) {
      servedShapes = new Array<number[]>(count);
      for (let i = 0; i < count; i++) {
        const rank = reader.u32();
        const shape: number[] = new Array<number>(rank);
        for (let d = 0; d < rank; d++) shape[d] = reader.u32();
        servedShapes[i] = shape;
      }
    }
    if (reader.offset !== reader.length)
      throw invalid(`tensor blob has ${reader.length - reader.offset} bytes after its last tensor`);
    return { tensors, servedShapes, omitted: (flags & FLAG_OMITTED) !== 0 };
  } catch (error) {
    if (error instanceof RangeError) throw invalid(`tensor blob of ${bytes.byteLength} bytes is truncated`);
    throw error;
  }
}

function readTensor(reader: BinaryReader): Tensor {
  const datatype = DATATYPES[reader.u8()];
  if (datatype === undefined) throw invalid('tensor blob names an unknown datatype');
  const rank = reader.u8();
  const nameLength = reader.u16();
  const dataLength = reader.u32();
  const shape: number[] = new Array<number>(rank);
  for (let d = 0; d < rank; d++) shape[d] = reader.u32();
  const name = reader.utf8(nameLength);
  reader.align(8);
  // 'any-utf8': a logged output may hold a NUL a model produced; stored strings are read back exactly, never refused for it.
  const data = tensorFromBytes(`tensor "${name}"`, datatype, shape, reader.slice(dataLength), 'any-utf8');
  return { name, datatype, shape, data };
}

/** Bytes a blob of these tensors takes, BYTES data and non-ASCII names estimated generously. */
function encodedSizeHint(tensors: readonly Tensor[]): number {
  let size = 4;
  for (const { name, shape, data } of tensors) {
    size += 8 + 4 * shape.length + 3 * name.length + 7;
    size += Array.isArray(data) ? 4 * data.length + 3 * data.reduce((n, s) => n + s.length, 0) : data.byteLength;
  }
  return size;
}
