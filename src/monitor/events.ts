/**
 * The typed instrumentation of the inference path: the inference service emits one
 * {@link InferenceEvent} per request; metrics, live statistics and the prediction log subscribe.
 * Nothing in the core calls a metrics vendor directly.
 */
import type { ErrorCode } from '../core/errors.js';
import type { ServedFeatures } from '../features/served-features.js';
import type { Tensor } from '../tensor/datatypes.js';

/**
 * How a request ended. `invalid`: the client's mistake (bad input, unknown model); `rejected`:
 * refused for load or time (queue full, not loaded, deadline, client gone); `error`: the server failed.
 */
export type RequestOutcome = 'success' | 'invalid' | 'error' | 'rejected';

export const REQUEST_OUTCOMES: readonly RequestOutcome[] = ['success', 'invalid', 'error', 'rejected'];

export type Protocol = 'http' | 'grpc';

export interface InferenceEvent {
  readonly requestId: string;
  /** Epoch ms when the request arrived. */
  readonly timeMs: number;
  readonly deployment: string | undefined;
  /** The model's name, or '' when the request named no model the registry knows (bounded labels). */
  readonly model: string;
  /** The resolved semver, or '' when resolution failed. */
  readonly version: string;
  readonly protocol: Protocol;
  readonly outcome: RequestOutcome;
  readonly errorCode: ErrorCode | undefined;
  /** Arrival to answer, in seconds. */
  readonly durationSeconds: number;
  /** Waiting in the batch queue, in seconds (0 when not batched or not run). */
  readonly queueSeconds: number;
  /** The model run that carried this request, in seconds (0 when it did not run). */
  readonly computeSeconds: number;
  /** The validated inputs and the outputs returned; absent when the request failed. */
  readonly inputs: readonly Tensor[] | undefined;
  readonly outputs: readonly Tensor[] | undefined;
  /** What inference by entity fed the model (values, statuses, event times); absent for tensor requests. */
  readonly features?: ServedFeatures;
}

/** Receives every inference event synchronously on the request path: keep it cheap, never throw. */
export type InferenceObserver = (event: InferenceEvent) => void;

/** Map an error code to the outcome label metrics use. */
export function outcomeOf(code: ErrorCode): Exclude<RequestOutcome, 'success'> {
  switch (code) {
    case 'INVALID_ARGUMENT':
    case 'NOT_FOUND':
    case 'PAYLOAD_TOO_LARGE':
    case 'FAILED_PRECONDITION':
    case 'CONFLICT':
    case 'ALREADY_EXISTS':
    case 'UNIMPLEMENTED':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'UNAUTHENTICATED':
    case 'PERMISSION_DENIED':
      return 'invalid';
    case 'RESOURCE_EXHAUSTED':
    case 'RATE_LIMITED':
    case 'UNAVAILABLE':
    case 'DEADLINE_EXCEEDED':
    case 'CANCELLED':
      return 'rejected';
    case 'INTERNAL':
      return 'error';
  }
}
