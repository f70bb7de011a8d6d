/**
 * Reading an infer request's body into bytes, for v2-routes.ts's content-type parser.
 *
 * We read the stream ourselves instead of using Fastify's `parseAs: 'buffer'` to place the tensor
 * bytes of a binary-extension request (`Inference-Header-Content-Length: H` with a Content-Length) at
 * an 8-byte-aligned address: tensor/raw-bytes.ts then uses them as a typed-array view of the body,
 * without a copy. The body is also read into ONE buffer of the announced size instead of a list of
 * chunks that is concatenated at the end (the chunks and their concatenation, twice the body, while
 * concatenating). A binary request whose size is not known up front (chunked, or a compressed body
 * decoded by request-decoding.ts, where Content-Length counts the compressed bytes) is read as chunks
 * copied once, at the end, into an aligned buffer. Other bodies (no inference header) are read as
 * Fastify does. Limits and errors as Fastify's reader: over the body limit is
 * FST_ERR_CTP_BODY_TOO_LARGE, a stream error (a client that went away) is passed on with status 400;
 * a body shorter or longer than its Content-Length is INVALID_ARGUMENT giving both sizes (Fastify
 * says only that they differ).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { errorCodes } from 'fastify';
import { invalid } from '../../core/errors.js';
import { inferenceHeaderLength } from './binary-infer.js';

/** The alignment of the tensor bytes after the JSON header: that of the widest element (FP64, INT64). */
const ALIGNMENT = 8;

/** A request payload stream; `receivedEncodedLength` is set by preParsing streams that decode. */
type Payload = Readable & { receivedEncodedLength?: number };

interface Sink {
  /** False when the chunk does not fit the announced length. */
  write(chunk: Buffer): boolean;
  body(): Buffer;
}

/**
 * Read `payload` to its end and call `done` once with the body, or with the error that stopped it.
 * `raw` says whether `payload` is the request itself (no preParsing stream changed its bytes); only
 * then can Content-Length size the buffer.
 */
export function readInferBody(
  headers: IncomingHttpHeaders,
  payload: Payload,
  raw: boolean,
  limit: number,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const contentLength = Number(headers['content-length']);
  if (contentLength > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    return;
  }
  const headerLength = jsonHeaderLength(headers);
  const sink =
    headerLength === undefined
      ? chunkSink()
      : raw && Number.isSafeInteger(contentLength)
        ? alignedSink(contentLength, headerLength)
        : alignedChunkSink(headerLength);
  let received = 0;

  const finish = (error: Error | null, body?: Buffer): void => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(error, body);
  };
  function onData(data: Buffer | string): void {
    // A preParsing stream may emit strings.
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    received += chunk.byteLength;
    if (received > limit || (payload.receivedEncodedLength ?? 0) > limit) {
      finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    if (!sink.write(chunk)) finish(mismatch(`more than the ${contentLength} bytes`, contentLength));
  }
  function onEnd(): void {
    const length = payload.receivedEncodedLength ?? received;
    if (!Number.isNaN(contentLength) && length !== contentLength) finish(mismatch(`${length} bytes`, contentLength));
    else finish(null, sink.body());
  }
  function onError(error: Error & { statusCode?: number }): void {
    // As Fastify: an error without a 4xx/5xx status (ECONNRESET from a client that went away) is a 400.
    if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
    finish(error);
  }
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  payload.resume();
}

function mismatch(got: string, contentLength: number): Error {
  return invalid(`the request body has ${got}, but its Content-Length header says ${contentLength}`);
}

/** `Inference-Header-Content-Length`, or undefined when absent or malformed (the route reports that). */
function jsonHeaderLength(headers: IncomingHttpHeaders): number | undefined {
  try {
    return inferenceHeaderLength(headers);
  } catch {
    return undefined;
  }
}

/** Fastify's way: keep the chunks, concatenate at the end (copying, as chunks may share socket memory). */
function chunkSink(): Sink {
  const chunks: Buffer[] = [];
  return {
    write(chunk) {
      chunks.push(chunk);
      return true;
    },
    body: () => Buffer.concat(chunks),
  };
}

/** The chunks, copied at the end into one buffer whose byte `headerLength` is aligned (see alignedBuffer). */
function alignedChunkSink(headerLength: number): Sink {
  const chunks: Buffer[] = [];
  let length = 0;
  return {
    write(chunk) {
      chunks.push(chunk);
      length += chunk.byteLength;
      return true;
    },
    body() {
      const body = alignedBuffer(length, headerLength);
      let offset = 0;
      for (const chunk of chunks) offset += chunk.copy(body, offset);
      return body;
    },
  };
}

/**
 * One buffer of `contentLength` bytes whose byte `headerLength` (the first tensor byte) sits at a
 * multiple of ALIGNMENT. ALIGNMENT - 1 spare bytes allow for any offset Buffer.allocUnsafe returns
 * (its pool hands out small buffers inside a shared one); they are zeroed, since a tensor view's
 * `.buffer` reaches them.
 */
function alignedSink(contentLength: number, headerLength: number): Sink {
  const body = alignedBuffer(contentLength, headerLength);
  let offset = 0;
  return {
    write(chunk) {
      if (offset + chunk.byteLength > contentLength) return false;
      chunk.copy(body, offset);
      offset += chunk.byteLength;
      return true;
    },
    body: () => body,
  };
}

/** `length` bytes whose byte `headerLength` sits at a multiple of ALIGNMENT (spare bytes zeroed, see alignedSink). */
function alignedBuffer(length: number, headerLength: number): Buffer {
  const whole = Buffer.allocUnsafe(length + ALIGNMENT - 1);
  const pad = (ALIGNMENT - ((whole.byteOffset + headerLength) % ALIGNMENT)) % ALIGNMENT;
  whole.fill(0, 0, pad);
  whole.fill(0, pad + length);
  return whole.subarray(pad, pad + length);
}
