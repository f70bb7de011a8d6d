/**
 * What `slipway serve` does about tokens at start: create or refresh the bootstrap token, decide the
 * mode (auth-mode.ts; a non-loopback bind with no token fails the start here), and build the one
 * Authenticator the HTTP hook and the gRPC wrapper share.
 */
import type { AuthConfig } from '../core/auth-config.js';
import { decideAuthMode, isLoopback } from './auth-mode.js';
import { Authenticator } from './authenticator.js';
import { parseRateLimits, RateLimiter } from './rate-limiter.js';
import type { TokenService } from './token-service.js';

export interface OpenAuthOptions {
  readonly config: AuthConfig & { readonly host: string };
  readonly tokens: TokenService;
  /** The model a deployment routes to, so model patterns cover deployments (deploy/router.ts). */
  readonly deploymentModel?: (name: string) => string | undefined;
  readonly log: (line: string) => void;
}

/** The authenticator, or undefined when no token will ever be asked (SLIPWAY_AUTH=off). */
export async function openAuth(options: OpenAuthOptions): Promise<Authenticator | undefined> {
  const { config, tokens, log } = options;
  if (config.bootstrapToken !== undefined) {
    const outcome = await tokens.ensureBootstrap(config.bootstrapToken);
    if (outcome === 'revoked') log('auth: the bootstrap token was revoked; SLIPWAY_BOOTSTRAP_TOKEN is not accepted');
    else if (outcome !== 'unchanged') log(`auth: bootstrap admin token ${outcome} from SLIPWAY_BOOTSTRAP_TOKEN`);
  }
  const mode = decideAuthMode({ setting: config.auth, host: config.host, usableTokens: await tokens.usableCount() });
  if (!mode.enabled && !mode.watchForTokens) {
    if (!isLoopback(config.host))
      log(`warning: SLIPWAY_AUTH=off: anyone who can reach ${config.host} may push, deploy and read everything`);
    return undefined;
  }
  const authenticator = new Authenticator(tokens, {
    enabled: mode.enabled,
    limiter: new RateLimiter(parseRateLimits(config.rateLimits)),
    openPaths: config.authOpenPaths,
    log,
    ...(options.deploymentModel ? { deploymentModel: options.deploymentModel } : {}),
  });
  if (mode.watchForTokens) {
    authenticator.watchForTokens();
    log('auth: off (loopback, no token yet); creating a token turns it on within a second');
  }
  return authenticator;
}
