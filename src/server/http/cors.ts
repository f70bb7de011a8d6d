/**
 * CORS, off unless `SLIPWAY_CORS_ORIGINS` lists origins. Off: no Access-Control-* header is ever
 * sent and a preflight (OPTIONS) finds no route (404), so a browser refuses every cross-origin call
 * that needs one. On: one `onRequest` hook (installed only then) gives requests from a listed origin
 * the headers that let the browser read the answer, and answers their preflights itself (204) before
 * any token check, since a browser sends no credentials on a preflight; another origin's preflight
 * is 403 and its other requests get no Access-Control-* header. Hand-written rather than
 * @fastify/cors: an exact allow-list is a few lines, and no dependency is added.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/** Methods and request headers a browser may use once its origin is allowed. */
export const CORS_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
export const CORS_HEADERS =
  'authorization, content-type, content-encoding, accept-encoding, inference-header-content-length';
/** Headers the browser may read from an answer. */
export const CORS_EXPOSED = 'inference-header-content-length, retry-after, x-request-id';
/** How long a browser may cache a preflight answer (seconds). */
export const CORS_MAX_AGE = '600';

/** Call before any other onRequest hook (the token check). Does nothing for an empty list. */
export function installCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const origin = request.headers.origin;
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    // Caches must keep answers to different origins apart.
    void reply.header('vary', 'Origin');
    if (origin === undefined || !allowed.has(origin)) {
      if (!preflight) return done();
      void reply
        .status(403)
        .send({ error: 'cross-origin request from an origin not allowed', code: 'PERMISSION_DENIED' });
      return;
    }
    void reply.header('access-control-allow-origin', origin);
    if (!preflight) {
      void reply.header('access-control-expose-headers', CORS_EXPOSED);
      return done();
    }
    void reply
      .status(204)
      .header('access-control-allow-methods', CORS_METHODS)
      .header('access-control-allow-headers', CORS_HEADERS)
      .header('access-control-max-age', CORS_MAX_AGE)
      .send();
  });
}
