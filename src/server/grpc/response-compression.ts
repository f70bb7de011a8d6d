/**
 * gRPC response compression (issue 14; SLIPWAY_GRPC_COMPRESSION in core/config.ts).
 *
 * Requests need nothing from us: @grpc/grpc-js's server inflates gzip and deflate messages itself
 * (`grpc-encoding`), with the receive limit applied to the inflated size. Responses are another
 * matter: grpc-js 1.14's server always frames them uncompressed (its `serializeMessage` writes a 0
 * compressed-flag; grpc/grpc-node issue 1823) and has no `grpc.default_compression_algorithm` nor
 * per-call encoding for servers. So this module does it on the call objects grpc-js creates:
 *
 * - the Server's two per-stream handlers (`_streamHandler`, `_channelzHandler`, bound when it
 *   listens) are wrapped, per server instance, to remember each stream's `grpc-accept-encoding`
 *   (grpc-js drops it from the metadata handlers see);
 * - a server interceptor, first in the chain so it gets grpc-js's base call, decides the call's
 *   algorithm and, only when there is one, replaces that call's `serializeMessage` (compress the
 *   message, compressed-flag 1) and `sendMetadata` (adds `grpc-encoding`).
 *
 * These are grpc-js internals, not its API: `responseCompression` checks they exist when the server
 * is created (refusing to start otherwise) and grpc-compression.test.ts checks the bytes on the wire, so an upgrade that changes them
 * fails loudly instead of silently sending uncompressed responses.
 *
 * Which algorithm: `none` answers in the request's own `grpc-encoding` (a client that compressed its
 * request asked for compression), `gzip`/`deflate` compress every response; in both cases only when
 * the client's `grpc-accept-encoding` lists the algorithm, as the gRPC spec requires. Compression is
 * synchronous (zlib's *Sync), like grpc-js's framing of the message.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { deflateSync, gzipSync } from 'node:zlib';
import { BaseServerInterceptingCall } from '@grpc/grpc-js/build/src/server-interceptors.js';
import { Metadata, type Server, type ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { GrpcCompression } from '../../core/config.js';
import { SlipwayError } from '../../core/errors.js';

type Algorithm = 'gzip' | 'deflate';

/** What grpc-js's BaseServerInterceptingCall has at run time and we use (private in its types). */
interface BaseCall {
  readonly stream: object;
  readonly incomingEncoding: string;
  serializeMessage(value: unknown): Buffer;
  sendMetadata(metadata: Metadata): void;
}

type StreamHandler = (this: Server, extraInterceptors: unknown, stream: object, headers: IncomingHttpHeaders) => void;
const STREAM_HANDLERS = ['_streamHandler', '_channelzHandler'] as const;
type ServerInternals = Partial<Record<(typeof STREAM_HANDLERS)[number], StreamHandler>>;

const COMPRESS: Readonly<Record<Algorithm, (message: Buffer) => Buffer>> = {
  gzip: (m) => gzipSync(m),
  deflate: (m) => deflateSync(m),
};

export interface ResponseCompression {
  /** Put it FIRST in the Server's `interceptors` option. */
  readonly interceptor: ServerInterceptor;
  /** Call once on the Server built with `interceptor`, before it listens. */
  attach(server: Server): void;
}

/** Response compression for one server, per `setting` (SLIPWAY_GRPC_COMPRESSION). */
export function responseCompression(setting: GrpcCompression): ResponseCompression {
  const callPrototype = BaseServerInterceptingCall.prototype as unknown as Partial<BaseCall>;
  if (typeof callPrototype.serializeMessage !== 'function' || typeof callPrototype.sendMetadata !== 'function')
    throw grpcJsChanged('BaseServerInterceptingCall');
  const acceptedBy = new WeakMap<object, string>();
  return {
    interceptor: (_method, call) => {
      const base = call as unknown as BaseCall;
      const algorithm = responseAlgorithm(setting, base.incomingEncoding, acceptedBy.get(base.stream));
      if (algorithm !== undefined) compressResponses(base, algorithm);
      // Returned as is rather than wrapped in a pass-through ServerInterceptingCall: one object less per call.
      return call as ServerInterceptingCall;
    },
    attach(server) {
      const internals = server as unknown as ServerInternals;
      for (const name of STREAM_HANDLERS) {
        const original = internals[name];
        if (typeof original !== 'function') throw grpcJsChanged(`Server.${name}`);
        internals[name] = function (this: Server, extraInterceptors, stream, headers) {
          const accepted = headers['grpc-accept-encoding'];
          if (typeof accepted === 'string') acceptedBy.set(stream, accepted);
          original.call(this, extraInterceptors, stream, headers);
        };
      }
    },
  };
}

/**
 * The algorithm a call's responses are compressed with, or undefined for none.
 * `accepted` is the client's `grpc-accept-encoding` (absent = identity only).
 */
export function responseAlgorithm(
  setting: GrpcCompression,
  requestEncoding: string | undefined,
  accepted: string | undefined,
): Algorithm | undefined {
  const wanted =
    setting !== 'none'
      ? setting
      : requestEncoding === 'gzip' || requestEncoding === 'deflate'
        ? requestEncoding
        : undefined;
  if (wanted === undefined || accepted === undefined) return undefined;
  return accepted.split(',').some((a) => a.trim() === wanted) ? wanted : undefined;
}

function compressResponses(call: BaseCall, algorithm: Algorithm): void {
  const serialize = call.serializeMessage.bind(call);
  const sendMetadata = call.sendMetadata.bind(call);
  call.serializeMessage = (value) => {
    // grpc-js frames the message (1 flag byte, 4 length bytes); we re-frame its compressed bytes.
    const compressed = COMPRESS[algorithm](serialize(value).subarray(5));
    const framed = Buffer.allocUnsafe(compressed.length + 5);
    framed.writeUInt8(1, 0);
    framed.writeUInt32BE(compressed.length, 1);
    compressed.copy(framed, 5);
    return framed;
  };
  // grpc-js sends `grpc-encoding: identity` by default; the call's own metadata wins over it.
  call.sendMetadata = (metadata) => {
    const headers = metadata?.clone() ?? new Metadata();
    headers.set('grpc-encoding', algorithm);
    sendMetadata(headers);
  };
}

function grpcJsChanged(what: string): SlipwayError {
  return new SlipwayError(
    'INTERNAL',
    `gRPC response compression needs ${what} of @grpc/grpc-js 1.14, which this version does not have; set SLIPWAY_GRPC_COMPRESSION=none and report it`,
  );
}
