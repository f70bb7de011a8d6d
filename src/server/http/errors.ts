import type { FastifyError, FastifyInstance } from 'fastify';
import { SlipwayError, toSlipwayError } from '../../core/errors.js';
import { LogLimiter } from '../../core/log-limiter.js';
import { clientErrorMessage } from '../client-errors.js';

/** Fastify's own error codes, normalised to Slipway's one error model at the boundary. */
function fromFastify(error: FastifyError, bodyLimit: number): SlipwayError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SlipwayError('INVALID_ARGUMENT', `request body is not valid JSON: ${error.message}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SlipwayError(
        'PAYLOAD_TOO_LARGE',
        `request body is larger than the limit of ${bodyLimit} bytes (SLIPWAY_MAX_BODY_BYTES)`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SlipwayError('INVALID_ARGUMENT', `unsupported content type: ${error.message}`);
    case 'FST_ERR_VALIDATION':
      return new SlipwayError('INVALID_ARGUMENT', error.message);
    default:
      if (error instanceof SyntaxError)
        return new SlipwayError('INVALID_ARGUMENT', `request body is not valid JSON: ${error.message}`);
      if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
        return new SlipwayError('INVALID_ARGUMENT', error.message);
      }
      return undefined;
  }
}

/** Every error becomes `{"error": "..."}` with the status of its code (and Retry-After when retryable). */
export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  // One line per distinct failure per 30 s, with the count of repeats suppressed (core/log-limiter.ts).
  const limiter = new LogLimiter();
  app.setErrorHandler((raw: FastifyError, request, reply) => {
    const known = raw instanceof SlipwayError ? raw : fromFastify(raw, bodyLimit);
    const error = known ?? toSlipwayError(raw);
    // What the client reads never carries a server path or the database's address; the full error
    // goes to the log with the request id the client is given (server/client-errors.ts).
    const message = clientErrorMessage(error, known ?? raw, request.id);
    const logged = error.code === 'INTERNAL' || message !== error.message;
    const suppressed = logged ? limiter.check(error.message) : undefined;
    if (suppressed !== undefined)
      request.log.error(
        { err: raw, reqId: request.id, url: request.url, ...(suppressed > 0 ? { suppressedRepeats: suppressed } : {}) },
        error.code === 'INTERNAL' ? 'internal error' : 'request error (detail withheld from the client)',
      );
    if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
    const body: { error: string; code: string; details?: unknown } = { error: message, code: error.code };
    if (error.details !== undefined) body.details = error.details;
    return reply.status(error.httpStatus).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: `no route for ${request.method} ${request.url.split('?')[0] ?? ''}`, code: 'NOT_FOUND' }),
  );
}
