/**
 * Authentication settings (src/auth/, README "Security"), validated with the rest of the
 * configuration by `loadConfig` (config.ts). Kept apart so the auth settings read in one place.
 */

/** `auto`: off only on a loopback bind with no tokens; `required`: always on; `off`: never (explicit). */
export type AuthSetting = 'auto' | 'required' | 'off';

export interface AuthConfig {
  /** `SLIPWAY_AUTH` (default `auto`). */
  readonly auth: AuthSetting;
  /** `SLIPWAY_BOOTSTRAP_TOKEN`: an admin token's secret, chosen by the operator (at least 24 characters). */
  readonly bootstrapToken: string | undefined;
  /**
   * `SLIPWAY_AUTH_OPEN`: route paths answered without a token (comma-separated, `none` for no path);
   * default the health probes `/v2/health/live,/v2/health/ready`. Only these and `/metrics` may be opened.
   */
  readonly authOpenPaths: readonly string[];
  /** `SLIPWAY_RATE_LIMITS`: per-role token buckets, `infer=1000:2000,deploy=5` (rate/s[:burst]); empty = none. */
  readonly rateLimits: string;
}

export const AUTH_ENV = {
  auth: 'SLIPWAY_AUTH',
  bootstrapToken: 'SLIPWAY_BOOTSTRAP_TOKEN',
  authOpenPaths: 'SLIPWAY_AUTH_OPEN',
  rateLimits: 'SLIPWAY_RATE_LIMITS',
} as const satisfies Record<keyof AuthConfig, string>;

/** What may be left open: probes and the Prometheus scrape, never a route that reads or changes data. */
export const OPENABLE_PATHS = ['/v2/health/live', '/v2/health/ready', '/metrics'] as const;
const DEFAULT_OPEN = ['/v2/health/live', '/v2/health/ready'];
const RATE_LIMIT_PART = /^\s*(infer|read|deploy|admin)\s*=\s*\d+(\.\d+)?(:\d+)?\s*$/;

export function loadAuthConfig(env: NodeJS.ProcessEnv, problems: string[]): AuthConfig {
  const rawAuth = env[AUTH_ENV.auth] || 'auto';
  let auth: AuthSetting = 'auto';
  if (rawAuth === 'auto' || rawAuth === 'required' || rawAuth === 'off') auth = rawAuth;
  else problems.push(`${AUTH_ENV.auth}=${rawAuth}: expected required, off or auto`);
  const rawOpen = env[AUTH_ENV.authOpenPaths];
  let authOpenPaths: readonly string[] = DEFAULT_OPEN;
  if (rawOpen !== undefined && rawOpen !== '') {
    const paths = rawOpen === 'none' ? [] : rawOpen.split(',').map((p) => p.trim());
    const bad = paths.filter((p) => !(OPENABLE_PATHS as readonly string[]).includes(p));
    if (bad.length > 0)
      problems.push(
        `${AUTH_ENV.authOpenPaths}: cannot leave ${bad.join(', ')} open (only ${OPENABLE_PATHS.join(', ')}, or none)`,
      );
    else authOpenPaths = Object.freeze(paths);
  }
  const rateLimits = env[AUTH_ENV.rateLimits] ?? '';
  for (const part of rateLimits.trim() === '' ? [] : rateLimits.split(','))
    if (!RATE_LIMIT_PART.test(part))
      problems.push(
        `${AUTH_ENV.rateLimits}: "${part}": expected <role>=<requests per second>[:<burst>] with a role of infer, read, deploy, admin`,
      );
  const bootstrapToken = env[AUTH_ENV.bootstrapToken] || undefined;
  if (bootstrapToken !== undefined && bootstrapToken.length < 24)
    problems.push(`${AUTH_ENV.bootstrapToken}: at least 24 characters (a long random secret)`);
  return { auth, bootstrapToken, authOpenPaths, rateLimits };
}
