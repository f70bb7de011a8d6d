/**
 * Tokens on HTTP. Every route gets its permission from the table (auth/permissions.ts) once, when it
 * is registered (an `onRoute` hook: nothing per request); one `onRequest` hook, added only when the
 * server may ask for tokens, checks the bearer token against it. A route with no entry is refused
 * for every token, so a new route is never served unprotected by accident. Unknown paths need a
 * valid token too (then answer 404), so probing for routes needs one.
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

/** Give each route its permission as it is registered; call before any route is added. */
export function attachRoutePermissions(app: FastifyInstance): RegisteredRoutes {
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
  });
  return registered;
}

/** What an unknown path needs: any valid token (then 404). */
const ANY_TOKEN: Permission = { role: 'infer', model: 'none' };

/** The onRequest hook; add it only when `auth` may ask for tokens (enabled now, or watching for the first). */
export function installAuthHook(app: FastifyInstance, auth: Authenticator): void {
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (!auth.enabled) return done();
    const url = request.routeOptions.url;
    if (url !== undefined && auth.isOpen(url)) return done();
    const permission = url === undefined ? ANY_TOKEN : request.routeOptions.config.permissions?.[request.method];
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
  });
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
