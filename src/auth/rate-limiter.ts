/**
 * Per-token rate limits: a token bucket per token, its rate and burst set per role
 * (`SLIPWAY_RATE_LIMITS`, parsed by `parseRateLimits`). Buckets live in this process's memory: with
 * `--workers N` each worker keeps its own, so a token may get up to N times its rate in total.
 */
import { invalid, SlipwayError } from '../core/errors.js';
import { isRole, ROLES, type Principal, type Role } from './principal.js';

export interface RateLimit {
  /** Requests per second refilled. */
  readonly perSecond: number;
  /** Most requests at once (the bucket's size). */
  readonly burst: number;
}

export type RateLimits = Readonly<Partial<Record<Role, RateLimit>>>;

/**
 * `infer=1000:2000,deploy=5` → per-role limits (rate per second, optional burst, default the rate).
 * An empty text = no limits. Unknown roles and malformed numbers are refused by name.
 */
export function parseRateLimits(text: string | undefined, what = 'SLIPWAY_RATE_LIMITS'): RateLimits {
  const limits: Partial<Record<Role, RateLimit>> = {};
  if (text === undefined || text.trim() === '') return limits;
  for (const part of text.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+(?:\.\d+)?)(?::(\d+))?\s*$/.exec(part);
    if (match === null) throw invalid(`${what}: "${part}": expected <role>=<requests per second>[:<burst>]`);
    const [, role, rate, burst] = match as unknown as [string, string, string, string | undefined];
    if (!isRole(role)) throw invalid(`${what}: unknown role "${role}" (roles: ${ROLES.join(', ')})`);
    const perSecond = Number(rate);
    const size = burst === undefined ? Math.max(1, Math.ceil(perSecond)) : Number(burst);
    if (!(perSecond > 0) || !(size >= 1)) throw invalid(`${what}: "${part}": rate and burst must be above 0`);
    limits[role] = { perSecond, burst: size };
  }
  return limits;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

const MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: RateLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether any role is limited (a server without limits skips the limiter altogether). */
  get active(): boolean {
    return Object.keys(this.limits).length > 0;
  }

  /** Spend one request of the principal's bucket; RATE_LIMITED with the seconds to wait when it is empty. */
  take(principal: Principal): void {
    const limit = this.limits[principal.role];
    if (limit === undefined) return;
    const key = principal.tokenId ?? principal.name;
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
      bucket = { tokens: limit.burst, updatedMs: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * limit.perSecond);
      bucket.updatedMs = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const waitSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));
    throw new SlipwayError(
      'RATE_LIMITED',
      `token "${principal.name}" is over its rate limit (${limit.perSecond}/s, burst ${limit.burst} for role ${principal.role})`,
      { retryAfterSeconds: waitSeconds },
    );
  }
}
