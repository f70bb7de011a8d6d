/**
 * Request bodies sent with `Content-Encoding: gzip` or `deflate` (issue 14, as Triton accepts them),
 * decoded for every route by a preParsing hook (server/app.ts) before any content-type parser reads
 * them: the inference routes (infer-body-reader.ts), `:predict`, `/api/v1`.
 *
 * The body limit applies to the DECODED bytes, inside the decoder: once they pass it, the decoder is
 * stopped and destroyed and the request gets 413, so a small gzip bomb never inflates past the limit.
 * The request stream itself is never destroyed (that would reset the connection before the 413 or
 * 400 is sent): it is unpiped and drained. `receivedEncodedLength` counts the bytes received on the
 * wire, which the parsers compare with Content-Length (Fastify's contract for preParsing streams).
 */
import { Transform, type Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import { errorCodes, type FastifyReply, type FastifyRequest } from 'fastify';
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
 * Fastify preParsing hook: a decoding stream in place of the request when it has a body with a
 * Content-Encoding, the request itself otherwise (the common case costs one header lookup).
 */
export function decodeRequestBody(
  request: FastifyRequest,
  _reply: FastifyReply,
  payload: Readable,
  done: (error: Error | null, payload?: Readable) => void,
): void {
  const header = request.headers['content-encoding'];
  if (header === undefined || !hasBody(request)) {
    done(null, payload);
    return;
  }
  let coding: Coding | undefined;
  try {
    coding = requestCoding(header);
  } catch (error) {
    done(error as SlipwayError);
    return;
  }
  done(null, coding === undefined ? payload : decodeBody(payload, coding, request.routeOptions.bodyLimit));
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
