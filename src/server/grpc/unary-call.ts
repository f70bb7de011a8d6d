/**
 * The call plumbing every gRPC handler shares: whatever a client sends, it gets a status back,
 * with the Slipway error code in the `slipway-error-code` trailer, INTERNAL errors logged, and a
 * message that is not valid protobuf answered INVALID_ARGUMENT rather than grpc-js's INTERNAL.
 */
import { randomUUID } from 'node:crypto';
import { Metadata, type ServerUnaryCall, type ServiceDefinition, type sendUnaryData } from '@grpc/grpc-js';
import { SlipwayError, invalid, toSlipwayError } from '../../core/errors.js';
import { cancelSignal, type CancelSignal } from '../../runtime/abort.js';
import { clientErrorMessage } from '../client-errors.js';

/** Trailing metadata key carrying the Slipway error code (e.g. `INVALID_ARGUMENT`) next to the gRPC status. */
export const ERROR_CODE_METADATA_KEY = 'slipway-error-code';

export type UnaryHandler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** Wrap `run` as a grpc-js unary handler. */
export function unaryHandler<Req, Res>(
  method: string,
  run: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  log?: (line: string) => void,
): UnaryHandler<Req, Res> {
  return (call, callback) => {
    void (async () => {
      let response: Res;
      try {
        response = await run(checkDecoded(method, call.request), call);
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

/** What a request that failed to decode is replaced with, so the handler can answer INVALID_ARGUMENT. */
class MalformedRequest {
  constructor(readonly reason: string) {}
}

/**
 * The service definition with request decoding that never throws: grpc-js would answer a message
 * that is not valid protobuf with INTERNAL, but it is the client's mistake.
 */
export function withTolerantDecoding(definition: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(definition).map(([name, method]) => {
    const requestDeserialize = (bytes: Buffer): unknown => {
      try {
        return method.requestDeserialize(bytes);
      } catch (error) {
        return new MalformedRequest(error instanceof Error ? error.message : String(error));
      }
    };
    return [name, { ...method, requestDeserialize }] as const;
  });
  return Object.fromEntries(methods);
}

/** The request, or INVALID_ARGUMENT when it did not decode. */
export function checkDecoded<Req>(method: string, request: Req): Req {
  if (request instanceof MalformedRequest)
    throw invalid(`the ${method} request is not a valid protobuf message: ${request.reason}`);
  return request;
}

/** The gRPC status for an error (INTERNAL ones, and those whose detail is withheld, are logged with their stack). */
export function toStatus(
  method: string,
  raw: unknown,
  log?: (line: string) => void,
): { code: number; details: string; metadata: Metadata } {
  const error = toSlipwayError(raw);
  // The client never reads a server path or the database's address (server/client-errors.ts): it
  // gets a request id, and the log line with the full error carries the same id.
  const requestId = randomUUID();
  const details = clientErrorMessage(error, raw, requestId);
  if (error.code === 'INTERNAL' || details !== error.message)
    log?.(
      `gRPC ${method} failed (request id ${requestId}): ${raw instanceof Error ? (raw.stack ?? raw.message) : String(raw)}`,
    );
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, error.code);
  if (error.retryAfterSeconds !== undefined) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: error.grpcStatus, details, metadata };
}

/** A signal that fires when the client cancels the call or goes away (cheap: see runtime/abort.ts). */
export function cancellationSignal(call: {
  readonly cancelled: boolean;
  once(event: 'cancelled', listener: () => void): unknown;
}): CancelSignal {
  const { signal, abort } = cancelSignal();
  const cancel = (): void => abort(new SlipwayError('CANCELLED', 'the client cancelled the call'));
  if (call.cancelled) cancel();
  else call.once('cancelled', cancel);
  return signal;
}
