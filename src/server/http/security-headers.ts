/**
 * Security headers on the management API (`/api/v1`) and the docs (`/docs`): no MIME sniffing, no
 * framing, no referrer, no caching of management answers, and a Content-Security-Policy under which
 * swagger-ui still runs (its scripts and styles are files served from /docs; it sets inline styles
 * on elements and draws data: images). Attached per route (an `onSend` hook) as routes are
 * registered (an `onRoute` hook runs once per route at start): the inference routes carry no extra
 * hook, where any hook costs ~8% of requests per second.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, onSendHookHandler } from 'fastify';

const COMMON = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

export const MANAGEMENT_HEADERS = { ...COMMON, 'cache-control': 'no-store' } as const;

export const DOCS_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
].join('; ');

export const DOCS_HEADERS = { ...COMMON, 'content-security-policy': DOCS_CSP } as const;

// onSend rather than onRequest: it also runs for answers an app-wide hook gave before the route
// (a 401 from the token check), which must carry the headers too.
function setting(headers: Readonly<Record<string, string>>): onSendHookHandler {
  return (
    _request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: (error: null, payload: unknown) => void,
  ) => {
    void reply.headers(headers);
    done(null, payload);
  };
}

const management = setting(MANAGEMENT_HEADERS);
const docs = setting(DOCS_HEADERS);

/** The headers a route under `url` gets, or undefined for every other route. */
function hookFor(url: string): onSendHookHandler | undefined {
  if (url === '/api/v1' || url.startsWith('/api/v1/')) return management;
  if (url === '/docs' || url.startsWith('/docs/')) return docs;
  return undefined;
}

/** Call before registering routes: routes registered later under /api/v1 and /docs get the headers. */
export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const hook = hookFor(route.url);
    if (hook === undefined) return;
    const existing = route.onSend;
    route.onSend = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
