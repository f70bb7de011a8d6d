/**
 * One check for every transport: the bearer secret → a Principal (token-service.ts), its rate limit
 * (rate-limiter.ts), then the permission of what it asks for (permissions.ts). The HTTP hook and
 * the gRPC wrapper only say where the secret, the permission and the model name are.
 */
import { SlipwayError } from '../core/errors.js';
import { ANONYMOUS, type Principal } from './principal.js';
import { denial, modelOfName, type Permission } from './permissions.js';
import type { RateLimiter } from './rate-limiter.js';
import { unauthenticated, type TokenService } from './token-service.js';

export interface AuthenticatorOptions {
  /** Whether tokens are required now (auth-mode.ts); `watchForTokens` may turn it on later. */
  readonly enabled: boolean;
  readonly limiter?: RateLimiter;
  /** The model a deployment routes to (deploy/router.ts), so model patterns cover deployments of their models. */
  readonly deploymentModel?: (name: string) => string | undefined;
  /** Route patterns answered without a token (SLIPWAY_AUTH_OPEN). */
  readonly openPaths?: readonly string[];
  /** Told once when a created token turns auth on. */
  readonly log?: (line: string) => void;
}

export class Authenticator {
  /** Read on every request: a plain field, flipped once by `watchForTokens`. */
  enabled: boolean;
  private readonly openPaths: ReadonlySet<string>;
  private readonly limiter: RateLimiter | undefined;

  constructor(
    private readonly tokens: TokenService,
    private readonly options: AuthenticatorOptions,
  ) {
    this.enabled = options.enabled;
    this.openPaths = new Set(options.openPaths ?? []);
    this.limiter = options.limiter?.active ? options.limiter : undefined;
  }

  isOpen(routePattern: string): boolean {
    return this.openPaths.has(routePattern);
  }

  /**
   * The principal for a request carrying `authorization` (the header or gRPC metadata value), allowed
   * to do what `permission` needs for the model `name` names; throws UNAUTHENTICATED, PERMISSION_DENIED
   * or RATE_LIMITED. Synchronous when the token is known and fresh in memory (most requests).
   */
  check(
    authorization: string | undefined,
    permission: Permission | undefined,
    name: string | undefined,
  ): Principal | Promise<Principal> {
    if (!this.enabled) return ANONYMOUS;
    const secret = bearerSecret(authorization);
    const cached = this.tokens.verifyCached(secret);
    if (cached !== undefined) return this.authorize(cached, permission, name);
    return this.tokens.verify(secret).then((principal) => this.authorize(principal, permission, name));
  }

  private authorize(principal: Principal, permission: Permission | undefined, name: string | undefined): Principal {
    try {
      this.limiter?.take(principal);
      if (permission === undefined)
        throw new SlipwayError('PERMISSION_DENIED', 'this route has no permission entry: refused for every token');
      const model = name === undefined || name === '' ? undefined : modelOfName(name, this.options.deploymentModel);
      const why = denial(principal, permission, model);
      if (why !== undefined) throw new SlipwayError('PERMISSION_DENIED', why);
      return principal;
    } catch (error) {
      // The audit trail records who was refused (server/http/audit-hook.ts), not only that someone was.
      if (typeof error === 'object' && error !== null) REFUSED.set(error, principal);
      throw error;
    }
  }

  /**
   * While auth is off (auto mode on loopback), look for a usable token every `intervalMs` and turn
   * auth on when one exists: a token created while the server runs is never ignored. Auth stays
   * on from then on, even if every token is later revoked. Returns a stop function.
   */
  watchForTokens(intervalMs = 1000): () => void {
    if (this.enabled) return () => undefined;
    const timer = setInterval(() => {
      this.tokens.usableCount().then(
        (count) => {
          if (count === 0 || this.enabled) return;
          this.enabled = true;
          clearInterval(timer);
          this.options.log?.('auth: an API token exists now; every request needs a token from here on');
        },
        () => undefined,
      );
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

const REFUSED = new WeakMap<object, Principal>();

/** The valid token a PERMISSION_DENIED or RATE_LIMITED refusal was for; undefined for any other error. */
export function refusedPrincipal(error: unknown): Principal | undefined {
  return typeof error === 'object' && error !== null ? REFUSED.get(error) : undefined;
}

/** The secret of `Bearer <secret>`; UNAUTHENTICATED when absent or another scheme. */
export function bearerSecret(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '')
    throw unauthenticated('this server needs a token: send "Authorization: Bearer <token>"');
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
  if (match === null) throw unauthenticated('expected "Authorization: Bearer <token>"');
  return match[1]!;
}
