import { invalid } from '../core/errors.js';
import { BinaryReader, BinaryWriter } from './prediction-binary.js';
import type { EncodedPrediction, PredictionEntry } from './prediction-store.js';
import { jsonOrNull } from './sql-prediction-store.js';
import { TensorHeaderCache, writeOmittedTensors, writeTensors } from './tensor-blob.js';

/**
 * Many prediction entries packed for the writer: one ArrayBuffer (handed over as a transferable,
 * no structured clone of objects) and one string. Strings are not copied byte by byte on the
 * request path: they are collected and joined once per batch (V8's join copies them in C++), and
 * the buffer records their lengths in UTF-16 code units. Entries follow each other in the buffer,
 * each starting at a multiple of 8; integers little-endian:
 *
 * ```text
 * f64 timeMs | f64 latencyMs | u32 inputs blob length | u32 outputs blob length
 * u32 length of: requestId | model | version | deployment | shadow JSON | features JSON
 *     (0xffffffff: none; 0xfffffffe: the same as the previous entry's, for model, version, deployment)
 * u32 protocol (0 http, 1 grpc) | u32 0
 * inputs tensor blob | padding to 8 | outputs tensor blob | padding to 8
 * ```
 *
 * Packing copies the tensors' bytes, so an entry's tensors may be views into buffers the caller
 * reuses as soon as `add` returns.
 */

export interface PackedBatch {
  readonly buffer: ArrayBuffer;
  /** Bytes of `buffer` in use. */
  readonly byteLength: number;
  readonly rows: number;
  /** The entries' strings, back to back. */
  readonly text: string;
}

const NONE = 0xffffffff;
const SAME = 0xfffffffe;
const HEADER_BYTES = 56;
/** Longest request id, model, version or deployment logged (UTF-16 code units). */
export const MAX_NAME_LENGTH = 1024;

/** Spare batch buffers kept for reuse (allocating and first touching a fresh one costs ~0.3 µs per row). */
const SPARE_BUFFERS = 4;
/**
 * Largest buffer a batch starts with or kept as a spare: a batch grown by one huge entry (a `full`
 * payload policy) is not kept, so the memory of a burst of large requests is given back.
 */
const MAX_KEPT_BUFFER_BYTES = 8 * 1024 * 1024;

/** Packs entries until `take()` hands the batch over and starts the next one. */
export class PredictionBatchPacker {
  #writer: BinaryWriter;
  #strings: string[] = [];
  #rows = 0;
  #lastModel: string | undefined;
  #lastVersion: string | undefined;
  #lastDeployment: string | undefined;
  /** The next batch starts as large as the last one was, to avoid growing it again. */
  #capacity: number;
  #spare: ArrayBuffer[] = [];
  readonly #inputHeaders = new TensorHeaderCache();
  readonly #outputHeaders = new TensorHeaderCache();

  constructor(initialCapacity = 64 * 1024) {
    this.#capacity = initialCapacity;
    this.#writer = new BinaryWriter(initialCapacity);
  }

  get rows(): number {
    return this.#rows;
  }

  /** Bytes packed into the current batch. */
  get byteLength(): number {
    return this.#writer.offset;
  }

  /**
   * Append one entry, each tensor cut to its first `maxElements` elements (tensor-blob.ts
   * `cutTensor`: only those are copied); 0 leaves the tensors, shadow and features out. Throws
   * (leaving the batch as it was) for an entry the format cannot hold.
   */
  add(entry: PredictionEntry, maxElements = Number.POSITIVE_INFINITY): void {
    const { requestId, model, version, deployment } = entry;
    if (
      typeof requestId !== 'string' ||
      typeof model !== 'string' ||
      typeof version !== 'string' ||
      (deployment !== undefined && typeof deployment !== 'string')
    ) {
      throw invalid('requestId, model, version and deployment must be strings');
    }
    if (
      requestId.length > MAX_NAME_LENGTH ||
      model.length > MAX_NAME_LENGTH ||
      version.length > MAX_NAME_LENGTH ||
      (deployment?.length ?? 0) > MAX_NAME_LENGTH
    ) {
      throw invalid(`requestId, model, version and deployment are logged up to ${MAX_NAME_LENGTH} characters`);
    }
    const protocol = entry.protocol === 'http' ? 0 : entry.protocol === 'grpc' ? 1 : -1;
    if (protocol < 0) throw invalid(`protocol "${String(entry.protocol)}": expected http or grpc`);
    const omit = maxElements === 0;
    const shadow = entry.shadow === undefined || omit ? null : jsonOrNull(entry.shadow);
    const features = entry.features === undefined || omit ? null : jsonOrNull(entry.features);
    const sameModel = model === this.#lastModel;
    const sameVersion = version === this.#lastVersion;
    const sameDeployment = deployment !== undefined && deployment === this.#lastDeployment;

    const writer = this.#writer;
    const start = writer.offset; // a multiple of 8: every entry ends aligned
    writer.ensure(HEADER_BYTES);
    const f64s = writer.f64s;
    const u32s = writer.u32s;
    const word = start >>> 2;
    f64s[start >>> 3] = entry.timeMs;
    f64s[(start >>> 3) + 1] = entry.latencyMs;
    u32s[word + 6] = requestId.length;
    u32s[word + 7] = sameModel ? SAME : model.length;
    u32s[word + 8] = sameVersion ? SAME : version.length;
    u32s[word + 9] = deployment === undefined ? NONE : sameDeployment ? SAME : deployment.length;
    u32s[word + 10] = shadow === null ? NONE : shadow.length;
    u32s[word + 11] = features === null ? NONE : features.length;
    u32s[word + 12] = protocol;
    u32s[word + 13] = 0;
    writer.offset = start + HEADER_BYTES;
    let inputs: number;
    let outputs: number;
    try {
      inputs = omit ? writeOmittedTensors(writer) : writeTensors(writer, entry.inputs, this.#inputHeaders, maxElements);
      writer.align(8);
      outputs = omit
        ? writeOmittedTensors(writer)
        : writeTensors(writer, entry.outputs, this.#outputHeaders, maxElements);
      writer.align(8);
    } catch (error) {
      writer.offset = start;
      throw error;
    }
    // Through the views of now: writing the tensors may have grown the buffer.
    writer.u32s[word + 4] = inputs;
    writer.u32s[word + 5] = outputs;

    const strings = this.#strings;
    strings.push(requestId);
    if (!sameModel) strings.push((this.#lastModel = model));
    if (!sameVersion) strings.push((this.#lastVersion = version));
    if (deployment !== undefined && !sameDeployment) strings.push((this.#lastDeployment = deployment));
    if (shadow !== null) strings.push(shadow);
    if (features !== null) strings.push(features);
    this.#rows++;
  }

  /**
   * Give back the buffer of a batch that was stored (or given up on), to pack a later batch into.
   * Nothing may read the batch or its unpacked rows afterwards.
   */
  recycle(buffer: ArrayBuffer): void {
    if (
      this.#spare.length < SPARE_BUFFERS &&
      buffer.byteLength >= this.#capacity &&
      buffer.byteLength <= MAX_KEPT_BUFFER_BYTES &&
      buffer.byteLength % 8 === 0 &&
      buffer !== this.#writer.buffer
    ) {
      this.#spare.push(buffer);
    }
  }

  /** The packed batch, or undefined when empty; packing goes on into a fresh (or recycled) buffer. */
  take(): PackedBatch | undefined {
    if (this.#rows === 0) return undefined;
    const writer = this.#writer;
    const batch: PackedBatch = {
      buffer: writer.buffer,
      byteLength: writer.offset,
      rows: this.#rows,
      text: this.#strings.join(''),
    };
    this.#capacity = Math.min(MAX_KEPT_BUFFER_BYTES, Math.max(this.#capacity, writer.offset + (writer.offset >> 3)));
    // Oldest first: the writer thread touched it longest ago, so its cache lines have most likely
    // left that core's cache and writing them does not wait on it (measured: faster than newest first).
    let spare = this.#spare.shift();
    while (spare !== undefined && spare.byteLength < this.#capacity) spare = this.#spare.shift();
    this.#writer = new BinaryWriter(this.#capacity, spare);
    this.#strings = [];
    this.#rows = 0;
    this.#lastModel = this.#lastVersion = this.#lastDeployment = undefined;
    return batch;
  }
}

/**
 * The entries of a packed batch in their stored form. Tensor blobs are views into the batch's
 * buffer (no copy), so the buffer must outlive the rows.
 */
export function unpackBatch(batch: PackedBatch): EncodedPrediction[] {
  const { text } = batch;
  const reader = new BinaryReader(new Uint8Array(batch.buffer, 0, batch.byteLength));
  const rows: EncodedPrediction[] = new Array<EncodedPrediction>(batch.rows);
  let at = 0;
  const next = (length: number, previous: string | null): string | null => {
    if (length === NONE) return null;
    if (length === SAME) {
      if (previous === null) throw invalid('packed batch repeats a string of no previous entry');
      return previous;
    }
    if (at + length > text.length) throw invalid('packed batch text ends early');
    at += length;
    return text.substring(at - length, at);
  };
  let model: string | null = null;
  let version: string | null = null;
  let deployment: string | null = null;
  for (let i = 0; i < batch.rows; i++) {
    const timeMs = reader.f64();
    const latencyMs = reader.f64();
    const inputsLength = reader.u32();
    const outputsLength = reader.u32();
    const lengths = [reader.u32(), reader.u32(), reader.u32(), reader.u32(), reader.u32(), reader.u32()] as const;
    const protocolCode = reader.u32();
    const protocol = protocolCode === 0 ? 'http' : protocolCode === 1 ? 'grpc' : undefined;
    if (protocol === undefined) throw invalid(`packed batch entry ${i} has protocol code ${protocolCode}`);
    reader.u32();
    const requestId = next(lengths[0], null);
    model = next(lengths[1], model);
    version = next(lengths[2], version);
    const thisDeployment = next(lengths[3], deployment);
    if (thisDeployment !== null) deployment = thisDeployment;
    const shadow = next(lengths[4], null);
    const features = next(lengths[5], null);
    if (requestId === null || model === null || version === null)
      throw invalid(`packed batch entry ${i} lacks its request id, model or version`);
    const inputs = reader.slice(inputsLength);
    reader.align(8);
    const outputs = reader.slice(outputsLength);
    reader.align(8);
    rows[i] = {
      requestId,
      timeMs,
      deployment: thisDeployment,
      model,
      version,
      protocol,
      latencyMs,
      inputs,
      outputs,
      shadow,
      features,
    };
  }
  if (reader.offset !== batch.byteLength || at !== text.length)
    throw invalid(`packed batch has data after its ${batch.rows} entries`);
  return rows;
}
