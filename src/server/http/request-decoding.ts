/**
 * Request bodies sent with `Content-Encoding: gzip` or `deflate` (issue 14, as Triton accepts them),
 * decoded for every route by the content-type parsers as they read the body ({@link readRequestBody}):
 * the inference routes, `:predict`, `/api/v1`. Not a preParsing hook: any preParsing hook puts
 * Fastify's hook runner on every request's path, which cost 8-10% of the small-model req/s (measured
 * with wrk, A/B in one run), for the few requests that are compressed.
 *
 * The body limit applies to the DECODED bytes, inside the decoder: once they pass it, the decoder is
 * stopped and destroyed and the request gets 413, so a small gzip bomb never inflates past the limit.
 * The request stream itself is never destroyed (that would reset the connection before the 413 or
 * 400 is sent): it is unpiped and drained. `receivedEncodedLength` counts the bytes received on the
 * wire, which the parsers compare with Content-Length (Fastify's contract for preParsing streams).
 */
import { Transform, type Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { errorCodes, type FastifyRequest } from 'fastify';
import { readInferBody } from './infer-body-reader.js';
import { SlipwayError, invalid } from '../../core/errors.js';

/** The Content-Encoding values a request body may have. */
export const REQUEST_CODINGS = ['gzip', 'deflate', 'identity'] as const;

type Coding = 'gzip' | 'deflate';

/** A decoded body stream, as Fastify's parsers and infer-body-reader.ts read it. */
export type DecodedBody = Readable & { receivedEncodedLength: number };

/**
 * The coding to undo for a Content-Encoding header value; undefined = the body is as sent
 * (no header, or `identity`). `x-gzip` is gzip (RFC 9110 §8.4.1.3). More than one coding, or one we
 * do not know, is UNSUPPORTED_MEDIA_TYPE (415) naming the header and what is supported.
 */
export function requestCoding(header: string | undefined): Coding | undefined {
  if (header === undefined) return undefined;
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return undefined;
  if (codings.length === 1 && (codings[0] === 'gzip' || codings[0] === 'x-gzip')) return 'gzip';
  if (codings.length === 1 && codings[0] === 'deflate') return 'deflate';
  throw new SlipwayError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Encoding "${header}" is not supported: request bodies may be ${REQUEST_CODINGS.join(', ')} (one coding)`,
  );
}

/**
 * Read a request's body to its end with its Content-Encoding undone, the body limit applying to the
 * decoded bytes: what every content-type parser calls (server/app.ts, http/v2-routes.ts). A body
 * without a Content-Encoding is read as sent, at the cost of one header lookup.
 */
export function readRequestBody(
  request: FastifyRequest,
  payload: Readable,
  limit: number,
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const header = request.headers['content-encoding'];
  let stream: Readable = payload;
  if (header !== undefined && hasBody(request)) {
    let coding: Coding | undefined;
    try {
      coding = requestCoding(header);
    } catch (error) {
      done(error as SlipwayError);
      return;
    }
    if (coding !== undefined) stream = decodeBody(payload, coding, limit);
  }
  readInferBody(request.headers, stream, stream === request.raw, limit, done);
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * `raw` piped through zlib into a stream that refuses to pass more than `limit` decoded bytes
 * (FST_ERR_CTP_BODY_TOO_LARGE, 413, as Fastify's own limit). A corrupt stream is INVALID_ARGUMENT
 * naming Content-Encoding.
 */
export function decodeBody(raw: Readable, coding: Coding, limit: number): DecodedBody {
  const inflater = coding === 'gzip' ? createGunzip() : createInflate();
  let decodedBytes = 0;
  let stopped = false;
  const decoded = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      decodedBytes += chunk.byteLength;
      if (decodedBytes > limit) {
        stop();
        callback(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      callback(null, chunk);
    },
  }) as Transform & DecodedBody;
  decoded.receivedEncodedLength = 0;

  const countEncoded = (chunk: Buffer): void => {
    decoded.receivedEncodedLength += chunk.byteLength;
  };
  const onRawError = (error: Error): void => {
    stop();
    decoded.destroy(error);
  };
  const onAborted = (): void =>
    onRawError(
      Object.assign(new Error('the client closed the request before sending all of its body'), { code: 'ECONNRESET' }),
    );
  /** Stop decoding for good: no more input to zlib, zlib's memory freed, the rest of the body discarded. */
  function stop(): void {
    if (stopped) return;
    stopped = true;
    raw.unpipe(inflater);
    raw.removeListener('data', countEncoded);
    raw.removeListener('error', onRawError);
    raw.removeListener('aborted', onAborted);
    inflater.destroy();
    // Drain what the client still sends, so the error reaches it on a connection in a known state.
    raw.resume();
  }

  inflater.on('error', (error: Error) => {
    stop();
    decoded.destroy(
      invalid(`the request body is not valid ${coding} data (Content-Encoding: ${coding}): ${error.message}`),
    );
  });
  // The parsers stop listening once they have an answer (a Content-Length mismatch, say); an error
  // zlib raises after that must not become an uncaught exception.
  decoded.on('error', () => undefined);
  decoded.on('close', stop);
  decoded.on('end', stop);
  raw.on('data', countEncoded);
  raw.on('error', onRawError);
  raw.on('aborted', onAborted);
  raw.pipe(inflater).pipe(decoded);
  return decoded;
}
