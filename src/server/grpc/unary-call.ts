/**
 * Unary handlers for the RPCs implemented outside handlers.ts (model configuration, refusals): the
 * same contract as handlers.ts's — whatever the client sends, it gets a status back, with the
 * Slipway error code in the `slipway-error-code` trailer and INTERNAL errors logged.
 */
import { Metadata, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { invalid, toSlipwayError } from '../../core/errors.js';
import { ERROR_CODE_METADATA_KEY } from './handlers.js';

export type UnaryHandler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** Wrap `run` as a grpc-js unary handler. */
export function unaryHandler<Req, Res>(method: string, run: (request: Req) => Promise<Res> | Res, log?: (line: string) => void): UnaryHandler<Req, Res> {
  return (call, callback) => {
    void (async () => {
      let response: Res;
      try {
        response = await run(checkDecoded(method, call.request));
      } catch (raw) {
        callback(toStatus(method, raw, log));
        return;
      }
      try {
        callback(null, response);
      } catch (raw) {
        // Serialising the response threw before anything was sent, so the call can still get a status.
        callback(toStatus(method, raw, log));
      }
    })();
  };
}

/**
 * handlers.ts's `withTolerantDecoding` hands a request that is not valid protobuf over as a
 * `MalformedRequest { reason }` instead of throwing; it is recognised here by its class name,
 * since handlers.ts does not export the class.
 */
function checkDecoded<Req>(method: string, request: Req): Req {
  if (typeof request === 'object' && request !== null && request.constructor.name === 'MalformedRequest') {
    throw invalid(`the ${method} request is not a valid protobuf message: ${String((request as { reason?: unknown }).reason)}`);
  }
  return request;
}

function toStatus(method: string, raw: unknown, log?: (line: string) => void): { code: number; details: string; metadata: Metadata } {
  const error = toSlipwayError(raw);
  if (error.code === 'INTERNAL') log?.(`gRPC ${method} failed: ${raw instanceof Error ? (raw.stack ?? raw.message) : String(raw)}`);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, error.code);
  if (error.retryAfterSeconds !== undefined) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: error.grpcStatus, details: error.message, metadata };
}
