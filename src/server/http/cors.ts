/**
 * CORS, off unless `SLIPWAY_CORS_ORIGINS` lists origins. Off: no Access-Control-* header is ever
 * sent and a preflight (OPTIONS) finds no route, so a browser refuses every cross-origin call that
 * needs one. On: requests from a listed origin get the headers that let the browser read the answer,
 * and preflights from a listed origin are answered; any other origin gets nothing. Hand-written
 * rather than @fastify/cors: an exact allow-list is a few lines, and the hook is only installed
 * when there is a list.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Methods and request headers a browser may use once its origin is allowed. */
export const CORS_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
export const CORS_HEADERS =
  'authorization, content-type, content-encoding, accept-encoding, inference-header-content-length';
/** Headers the browser may read from an answer. */
export const CORS_EXPOSED = 'inference-header-content-length, retry-after, x-request-id';
/** How long a browser may cache a preflight answer (seconds). */
export const CORS_MAX_AGE = '600';

export function installCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const origin = request.headers.origin;
    // Caches must keep answers to different origins apart.
    void reply.header('vary', 'Origin');
    if (origin !== undefined && allowed.has(origin)) {
      void reply.header('access-control-allow-origin', origin);
      void reply.header('access-control-expose-headers', CORS_EXPOSED);
    }
    done();
  });
  app.options('*', { schema: { hide: true } }, (request, reply) => {
    const origin = request.headers.origin;
    if (
      origin === undefined ||
      !allowed.has(origin) ||
      request.headers['access-control-request-method'] === undefined
    ) {
      return reply
        .status(403)
        .send({ error: 'cross-origin request from an origin not allowed', code: 'PERMISSION_DENIED' });
    }
    return reply
      .status(204)
      .header('access-control-allow-methods', CORS_METHODS)
      .header('access-control-allow-headers', CORS_HEADERS)
      .header('access-control-max-age', CORS_MAX_AGE)
      .send();
  });
}
