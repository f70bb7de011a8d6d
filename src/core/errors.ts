/**
 * The one error type of Slipway. Every failure that crosses a module boundary is a
 * `SlipwayError` with a code from a closed union; transports map the code to a status with the
 * tables below and never inspect the message. Codes are append-only.
 *
 * @example
 * throw new SlipwayError('NOT_FOUND', `model "fraud" does not exist`);
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  /** The request is valid but breaks a policy (e.g. a semver bump the schema diff forbids). */
  'CONFLICT',
  /** The system is not in a state that allows the operation (e.g. archiving a version an alias uses). */
  'FAILED_PRECONDITION',
  'PAYLOAD_TOO_LARGE',
  'RESOURCE_EXHAUSTED',
  'UNAVAILABLE',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'UNIMPLEMENTED',
  'INTERNAL',
  /** A request body in an encoding the server cannot decode (HTTP Content-Encoding other than gzip, deflate, identity). */
  'UNSUPPORTED_MEDIA_TYPE',
  /** No credentials, or credentials the server does not accept (HTTP 401 with WWW-Authenticate). */
  'UNAUTHENTICATED',
  /** Valid credentials whose role or model patterns do not cover the request. */
  'PERMISSION_DENIED',
  /** A token spent its request budget (src/auth/rate-limiter.ts); retry after `retryAfterSeconds`. */
  'RATE_LIMITED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

interface CodeInfo {
  readonly http: number;
  /** gRPC status code number (grpc/status.h). */
  readonly grpc: number;
  readonly retryable: boolean;
}

/**
 * Status tables. The HTTP column follows Triton/KServe: client mistakes are 400 (the protocol's "typically 400"),
 * except a body over the size limit, which is 413 (gRPC RESOURCE_EXHAUSTED, as grpc-js answers an oversized message).
 */
export const ERROR_CODE_INFO: Readonly<Record<ErrorCode, CodeInfo>> = {
  INVALID_ARGUMENT: { http: 400, grpc: 3, retryable: false },
  NOT_FOUND: { http: 404, grpc: 5, retryable: false },
  ALREADY_EXISTS: { http: 409, grpc: 6, retryable: false },
  CONFLICT: { http: 409, grpc: 10, retryable: false },
  FAILED_PRECONDITION: { http: 409, grpc: 9, retryable: false },
  PAYLOAD_TOO_LARGE: { http: 413, grpc: 8, retryable: false },
  RESOURCE_EXHAUSTED: { http: 503, grpc: 8, retryable: true },
  UNAVAILABLE: { http: 503, grpc: 14, retryable: true },
  DEADLINE_EXCEEDED: { http: 504, grpc: 4, retryable: true },
  CANCELLED: { http: 499, grpc: 1, retryable: false },
  UNIMPLEMENTED: { http: 501, grpc: 12, retryable: false },
  INTERNAL: { http: 500, grpc: 13, retryable: false },
  // gRPC answers a message in an encoding it does not support with UNIMPLEMENTED.
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: 12, retryable: false },
  UNAUTHENTICATED: { http: 401, grpc: 16, retryable: false },
  PERMISSION_DENIED: { http: 403, grpc: 7, retryable: false },
  RATE_LIMITED: { http: 429, grpc: 8, retryable: true },
};

export interface SlipwayErrorOptions {
  cause?: unknown;
  /** Structured detail for clients (e.g. the list of schema differences). */
  details?: unknown;
  /** Seconds a client should wait before retrying (UNAVAILABLE / RESOURCE_EXHAUSTED). */
  retryAfterSeconds?: number;
}

export class SlipwayError extends Error {
  override readonly name = 'SlipwayError';
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: SlipwayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get httpStatus(): number {
    return ERROR_CODE_INFO[this.code].http;
  }

  get grpcStatus(): number {
    return ERROR_CODE_INFO[this.code].grpc;
  }
}

/** Normalise anything thrown into a SlipwayError; unknown errors become INTERNAL and keep their cause. */
export function toSlipwayError(error: unknown): SlipwayError {
  if (error instanceof SlipwayError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SlipwayError('INTERNAL', message, { cause: error });
}

export function invalid(message: string, details?: unknown): SlipwayError {
  return new SlipwayError('INVALID_ARGUMENT', message, { details });
}

export function notFound(message: string): SlipwayError {
  return new SlipwayError('NOT_FOUND', message);
}
