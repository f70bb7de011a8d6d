/**
 * Tokens on gRPC: every method of the service implementation is wrapped once, here, with the check
 * its entry in the permission table (auth/permissions.ts) asks for. The secret is the call's
 * `authorization` metadata (`Bearer <secret>`); a refusal ends the call with UNAUTHENTICATED (16),
 * PERMISSION_DENIED (7) or RESOURCE_EXHAUSTED (8, with `retry-after`) before the handler runs.
 */
import type { Metadata, ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Authenticator } from '../../auth/authenticator.js';
import { GRPC_PERMISSIONS, type Permission } from '../../auth/permissions.js';
import { ANONYMOUS, type Principal } from '../../auth/principal.js';
import { SlipwayError } from '../../core/errors.js';
import { toStatus } from './unary-call.js';

type UnaryCallback = (error: unknown, value?: unknown) => void;
interface AnyCall {
  readonly metadata: Metadata;
  readonly request?: unknown;
}

const PRINCIPAL = Symbol('slipway.principal');

/** Who made a gRPC call (set by `withAuth` before the handler runs); `anonymous` when no token is asked. */
export function grpcPrincipalOf(call: object): Principal {
  return (call as { [PRINCIPAL]?: Principal })[PRINCIPAL] ?? ANONYMOUS;
}

function remember(call: object, principal: Principal): void {
  (call as { [PRINCIPAL]?: Principal })[PRINCIPAL] = principal;
}

/** The implementation with every method checked; methods with no table entry refuse every call. */
export function withAuth(
  implementation: UntypedServiceImplementation,
  auth: Authenticator,
  log?: (line: string) => void,
): UntypedServiceImplementation {
  const wrapped: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const permission = GRPC_PERMISSIONS[method];
    const fn = handler as (...args: unknown[]) => void;
    if (method === 'ModelStreamInfer') {
      wrapped[method] = ((call: ServerDuplexStream<unknown, unknown>) => {
        const checked = checkCall(auth, call, permission, undefined, true);
        const fail = (error: unknown) => {
          call.emit('error', toStatus(method, error, log));
        };
        if (checked instanceof Error) return fail(checked);
        if (!(checked instanceof Promise)) {
          remember(call, checked);
          return fn(call);
        }
        checked.then((principal) => {
          remember(call, principal);
          fn(call);
        }, fail);
      }) as never;
      continue;
    }
    wrapped[method] = ((call: AnyCall, callback: UnaryCallback) => {
      const name = modelField(permission, call.request);
      const checked = checkCall(auth, call, permission, name, false);
      if (checked instanceof Error) return callback(toStatus(method, checked, log));
      if (!(checked instanceof Promise)) {
        remember(call, checked);
        return fn(call, callback);
      }
      checked.then(
        (principal) => {
          remember(call, principal);
          fn(call, callback);
        },
        (error: unknown) => callback(toStatus(method, error, log)),
      );
    }) as never;
  }
  return wrapped;
}

/**
 * The principal, a promise of it, or the refusal. A stream names a model per message, so a token
 * limited to model patterns may not open one (it is told to use ModelInfer, checked per call).
 */
function checkCall(
  auth: Authenticator,
  call: AnyCall,
  permission: Permission | undefined,
  name: string | undefined,
  stream: boolean,
): Principal | Promise<Principal> | Error {
  if (!auth.enabled) return auth.check(undefined, permission, name);
  const header = call.metadata.get('authorization')[0];
  const authorization = typeof header === 'string' ? header : undefined;
  const streamPermission = stream && permission !== undefined ? { ...permission, model: 'none' as const } : permission;
  try {
    const result = auth.check(authorization, streamPermission, name);
    if (!stream) return result;
    const limited = (principal: Principal) => {
      if (principal.models !== undefined)
        throw new SlipwayError(
          'PERMISSION_DENIED',
          `token "${principal.name}" is limited to models ${principal.models.join(', ')}: use ModelInfer, which is checked per model`,
        );
      return principal;
    };
    return result instanceof Promise ? result.then(limited) : limited(result);
  } catch (error) {
    return error as Error;
  }
}

function modelField(permission: Permission | undefined, request: unknown): string | undefined {
  if (permission === undefined || typeof permission.model !== 'object' || !('field' in permission.model))
    return undefined;
  if (typeof request !== 'object' || request === null) return undefined;
  const value = (request as Record<string, unknown>)[permission.model.field];
  return typeof value === 'string' ? value : undefined;
}
