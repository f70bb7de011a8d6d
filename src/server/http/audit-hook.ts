import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.js';
import { ERROR_CODE_INFO, ERROR_CODES, SlipwayError } from '../../core/errors.js';
import { isPlainObject } from '../../tensor/format.js';
import { refusedPrincipal } from '../../auth/authenticator.js';
import type { Principal } from '../../auth/principal.js';
import { principalOf } from './auth-hook.js';

type Params = Record<string, string | undefined>;

/**
 * What a changing route records in the audit trail, set as its route config
 * (`config: { audit: 'model.push' }` or the object form). A route without it records nothing and
 * carries no audit hook at all: the inference routes stay hook-free.
 */
export type AuditRoute =
  | string
  | {
      /** The action, or a function of the request (`rollout.<params.action>`). */
      readonly action: string | ((request: FastifyRequest) => string);
      /** What it acted on; default {@link defaultTarget}. `response` is the 2xx JSON answer, when there is one. */
      readonly target?: (
        request: FastifyRequest,
        response: Readonly<Record<string, unknown>> | undefined,
      ) => string | undefined;
      /** A small object worth keeping (a reason, a version); the body itself is never kept. */
      readonly details?: (
        request: FastifyRequest,
        response: Readonly<Record<string, unknown>> | undefined,
      ) => Record<string, unknown> | undefined;
      /** True when the request changes nothing (a dry run): nothing is recorded. */
      readonly skip?: (request: FastifyRequest) => boolean;
    };

declare module 'fastify' {
  interface FastifyContextConfig {
    audit?: AuditRoute;
  }
}

/** The 2xx answer and the error code of a failed one, captured by the route's hooks for onResponse. */
const CAPTURED = Symbol('audit.captured');
interface Captured {
  response?: Readonly<Record<string, unknown>>;
  /** The token a PERMISSION_DENIED or RATE_LIMITED refusal was for (the auth hook sets no principal then). */
  refused?: Principal;
  code?: string;
}
type WithCapture = FastifyRequest & { [CAPTURED]?: Captured };

/**
 * `fraud` for `/models/:name`, `fraud@1.2.0` with a `:version`, `fraud:champion` with an `:alias`;
 * the first of name, model, ref, view, id otherwise.
 */
export function defaultTarget(request: FastifyRequest): string | undefined {
  const params = (request.params ?? {}) as Params;
  const subject = params.name ?? params.model ?? params.ref ?? params.view ?? params.id;
  if (subject === undefined) return undefined;
  if (params.version !== undefined) return `${subject}@${params.version}`;
  if (params.alias !== undefined) return `${subject}:${params.alias}`;
  return subject;
}

/**
 * Who made the change: the request's principal; for a refusal of a valid token, that token; for a
 * request refused without a valid token, 'anonymous' with no role (principalOf would say admin: that is
 * who a caller is only while auth is off).
 */
function actorOf(
  request: FastifyRequest,
  captured: Captured,
): Pick<Principal, 'name'> & Partial<Pick<Principal, 'role'>> {
  if (captured.refused !== undefined) return captured.refused;
  if (captured.code === 'UNAUTHENTICATED') return { name: 'anonymous' };
  return principalOf(request);
}

function captureOf(request: FastifyRequest): Captured {
  const holder = request as WithCapture;
  return (holder[CAPTURED] ??= {});
}

/**
 * The error code of a status when the error was not ours (a schema or body-parser refusal): the one
 * code errors.ts answers with that status, INVALID_ARGUMENT for the 4xx Fastify raises itself.
 */
function codeOfStatus(status: number): string {
  const codes = ERROR_CODES.filter((code) => ERROR_CODE_INFO[code].http === status);
  if (codes.length === 1) return codes[0]!;
  return status >= 400 && status < 500 && codes.length === 0 ? 'INVALID_ARGUMENT' : `HTTP_${status}`;
}

/**
 * Record every change made over HTTP: for each route registered after this call whose config has
 * `audit`, add route-level onError (the error code) and, when the target or details read the answer,
 * preSerialization hooks, and an onResponse hook (to record who, from where, what and how it ended once it is answered).
 * Per-route hooks, not global ones: routes without `audit` run no audit code at all.
 * Call before any route is registered.
 */
export function installAuditTrail(app: FastifyInstance, audit: AuditLog): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const spec = route.config?.audit;
    if (spec === undefined) return;
    const rule = typeof spec === 'string' ? { action: spec } : spec;
    // The error as thrown (before the error handler answers it): its code is the outcome.
    const onError = async (request: FastifyRequest, _reply: FastifyReply, error: Error) => {
      const captured = captureOf(request);
      captured.code = error instanceof SlipwayError ? error.code : undefined;
      captured.refused = refusedPrincipal(error);
    };
    // The answer as an object, before it is serialized and compressed, for a target or details that read it.
    const preSerialization = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (reply.statusCode < 400 && isPlainObject(payload)) captureOf(request).response = payload;
      return payload;
    };
    const onResponse = async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        if (rule.skip?.(request) === true) return;
        const captured = (request as WithCapture)[CAPTURED] ?? {};
        const status = reply.statusCode;
        const outcome = status < 400 ? 'ok' : (captured.code ?? codeOfStatus(status));
        const action = typeof rule.action === 'string' ? rule.action : rule.action(request);
        const target = rule.target?.(request, captured.response) ?? defaultTarget(request);
        const details = rule.details?.(request, captured.response);
        audit.record(
          { principal: actorOf(request, captured), address: request.ip, requestId: request.id },
          { action, target, details, outcome },
        );
      } catch (error) {
        request.log.warn({ err: error, reqId: request.id }, 'audit trail: could not describe a change');
      }
    };
    route.onError = [...toArray(route.onError), onError] as RouteOptions['onError'];
    if (rule.target !== undefined || rule.details !== undefined)
      route.preSerialization = [
        ...toArray(route.preSerialization),
        preSerialization,
      ] as RouteOptions['preSerialization'];
    route.onResponse = [...toArray(route.onResponse), onResponse] as RouteOptions['onResponse'];
  });
}

function toArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The name a change is recorded under (alias moves, deployment revisions): the token's, or 'anonymous' with auth off. */
export function actorName(request: FastifyRequest): string {
  return principalOf(request).name;
}

/** A text field of a JSON body, for details; absent when the body has no such string. */
export function bodyText(request: FastifyRequest, field: string): string | undefined {
  const body = request.body;
  if (typeof body !== 'object' || body === null || Buffer.isBuffer(body)) return undefined;
  const value = (body as Record<string, unknown>)[field];
  return typeof value === 'string' ? value.slice(0, 200) : undefined;
}
