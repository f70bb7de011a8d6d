/**
 * Tokens on HTTP. Every route gets its permission from the table (auth/permissions.ts) once, when it
 * is registered (an `onRoute` hook), and, when the server may ask for tokens, a route-level
 * `onRequest` check of the bearer token against it. A route with no entry is refused for every
 * token, so a new route is never served unprotected by accident. An unknown path answers 404
 * without a token: it has no route to check against, and the routes are public in the OpenAPI
 * document anyway.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Authenticator } from '../../auth/authenticator.js';
import { httpPermission, type Permission } from '../../auth/permissions.js';
import { ANONYMOUS, type Principal } from '../../auth/principal.js';
import { SlipwayError } from '../../core/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: set by the auth hook; null when the server asks for no token (see `principalOf`). */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Per method, the route's permission; a method without one is refused. */
    permissions?: Readonly<Record<string, Permission | undefined>>;
  }
}

/** The request's principal: `anonymous` (admin) when the server asks for no token. */
export function principalOf(request: FastifyRequest): Principal {
  return request.principal ?? ANONYMOUS;
}

/** Every route registered from now on, as `METHOD url`: what the route-table test walks. */
export interface RegisteredRoutes {
  readonly routes: { readonly method: string; readonly url: string; readonly permission: Permission | undefined }[];
}

const registeredByApp = new WeakMap<FastifyInstance, RegisteredRoutes>();

/** The routes `attachRoutePermissions` saw on this app, with the permission each got. */
export function registeredRoutes(app: FastifyInstance): RegisteredRoutes['routes'] {
  return registeredByApp.get(app)?.routes ?? [];
}

/**
 * Give each route its permission as it is registered; call before any route is added. With `auth`,
 * each route that is not left open also gets its own `onRequest` check, the permission already in
 * its closure: nothing is looked up per request (a global hook reading `request.routeOptions`
 * cost a fifth of single-row throughput in a paired run, measured; this costs a tenth of that).
 */
export function attachRoutePermissions(app: FastifyInstance, auth?: Authenticator): RegisteredRoutes {
  const registered: RegisteredRoutes = { routes: [] };
  registeredByApp.set(app, registered);
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const permissions: Record<string, Permission | undefined> = {};
    for (const method of methods) {
      const permission = httpPermission(method, route.url);
      permissions[method] = permission;
      registered.routes.push({ method, url: route.url, permission });
    }
    route.config = { ...route.config, permissions };
    if (auth === undefined || auth.isOpen(route.url)) return;
    const check =
      methods.length === 1
        ? tokenCheck(auth, () => permissions[methods[0]!])
        : tokenCheck(auth, (request) => permissions[request.method]);
    const existing = route.onRequest;
    route.onRequest = existing === undefined ? [check] : [...(Array.isArray(existing) ? existing : [existing]), check];
  });
  return registered;
}

type OnRequest = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** One route's check: the token, its role and model patterns against the route's permission. */
function tokenCheck(auth: Authenticator, permissionOf: (request: FastifyRequest) => Permission | undefined): OnRequest {
  return (request, reply, done) => {
    if (!auth.enabled) return done();
    const permission = permissionOf(request);
    let result: Principal | Promise<Principal>;
    try {
      result = auth.check(request.headers.authorization, permission, modelName(permission, request));
    } catch (error) {
      return fail(reply, error, done);
    }
    if (!(result instanceof Promise)) {
      request.principal = result;
      return done();
    }
    result.then(
      (principal) => {
        request.principal = principal;
        done();
      },
      (error: unknown) => fail(reply, error, done),
    );
  };
}

function fail(reply: FastifyReply, error: unknown, done: HookHandlerDoneFunction): void {
  if (error instanceof SlipwayError && error.code === 'UNAUTHENTICATED')
    void reply.header('www-authenticate', 'Bearer realm="slipway"');
  done(error as Error);
}

function modelName(permission: Permission | undefined, request: FastifyRequest): string | undefined {
  const source = permission?.model;
  if (source === undefined || typeof source !== 'object') return undefined;
  if ('param' in source) return (request.params as Record<string, string | undefined>)[source.param];
  if ('query' in source) {
    const value = (request.query as Record<string, unknown>)[source.query];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}
