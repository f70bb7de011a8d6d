/**
 * API tokens: create (the secret is returned once), list (never a secret or hash), revoke, and
 * verify a presented secret into a Principal. Verifying is on every request's path, so the slow
 * part (scrypt) is remembered per secret fingerprint, while the token's row is read again once it
 * is older than `rowTtlMs` (1 s): a revocation or an expiry written by any process sharing the
 * database is honoured within that time.
 */
import { SlipwayError, invalid } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { parseDuration } from '../core/duration.js';
import { isRole, ROLES, type Principal, type Role } from './principal.js';
import type { SqlTokenStore, TokenRow } from './token-store.js';
import {
  BOOTSTRAP_TOKEN_ID,
  MIN_BOOTSTRAP_LENGTH,
  fingerprint,
  hashSecret,
  newSecret,
  secretMatches,
  tokenIdOf,
} from './token-secret.js';

/** What `token list` shows: never the secret or its hash. */
export interface TokenInfo {
  readonly name: string;
  readonly role: Role;
  readonly models: readonly string[] | undefined;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
  /** `active`, `expired` or `revoked`, as of the listing. */
  readonly status: 'active' | 'expired' | 'revoked';
}

export interface CreateTokenRequest {
  readonly name: string;
  readonly role: string;
  /** Model-name patterns, e.g. `['fraud', 'risk*']`; absent = every model. */
  readonly models?: readonly string[];
  /** A duration (`90d`, `12h`); absent = never expires. */
  readonly expires?: string;
}

export interface TokenServiceOptions {
  /** How long a token's row is trusted before it is read again (default 1,000 ms). */
  readonly rowTtlMs?: number;
  readonly now?: () => number;
}

const PATTERN = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\*?|\*)$/;
/** Failed secrets remembered so a client retrying a bad one does not cost a scrypt each time. */
const FAILURE_TTL_MS = 1000;
const MAX_REMEMBERED = 10_000;
/** scrypt checks of secrets not seen before, at once; more answer 503 (Retry-After 1). */
const MAX_CONCURRENT_SCRYPT = 2;
/** `last_used_at` is written at most this often per token. */
const TOUCH_INTERVAL_MS = 60_000;

interface CachedRow {
  readonly row: TokenRow | undefined;
  readonly principal: Principal | undefined;
  readonly readAt: number;
}

export class TokenService {
  private readonly rowTtlMs: number;
  private readonly now: () => number;
  private readonly rows = new Map<string, CachedRow>();
  private readonly reading = new Map<string, Promise<CachedRow>>();
  /** Secret fingerprint → the stored hash it was checked against. */
  private readonly verified = new Map<string, string>();
  private readonly failed = new Map<string, number>();
  private readonly touched = new Map<string, number>();
  /** scrypt checks running now, by secret fingerprint. */
  private readonly checking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly store: SqlTokenStore,
    options: TokenServiceOptions = {},
  ) {
    this.rowTtlMs = options.rowTtlMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** Create a token and return its secret: the only time anyone sees it. */
  async create(request: CreateTokenRequest): Promise<{ token: TokenInfo; secret: string }> {
    const name = checkName('token name', request.name);
    if (!isRole(request.role)) throw invalid(`role "${request.role}": expected one of ${ROLES.join(', ')}`);
    const models = request.models === undefined ? undefined : checkPatterns(request.models);
    const createdMs = this.now();
    const expiresAt =
      request.expires === undefined
        ? null
        : new Date(createdMs + parseDuration(request.expires, '--expires')).toISOString();
    const { id, secret } = newSecret();
    const { salt, hash } = await hashSecret(secret);
    const row: TokenRow = {
      id,
      name,
      role: request.role,
      models,
      salt,
      hash,
      createdAt: new Date(createdMs).toISOString(),
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.store.insert(row);
    return { token: this.info(row, createdMs), secret };
  }

  async list(): Promise<TokenInfo[]> {
    const now = this.now();
    return (await this.store.list()).map((row) => this.info(row, now));
  }

  /** Revoke the token with this name; NOT_FOUND when no token of that name is still active. */
  async revoke(name: string): Promise<void> {
    if (!(await this.store.revokeByName(name, new Date(this.now()).toISOString())))
      throw new SlipwayError('NOT_FOUND', `no token named "${name}" that is not revoked`);
    for (const [id, cached] of this.rows) if (cached.row?.name === name) this.rows.delete(id);
  }

  /** Tokens neither revoked nor expired. */
  usableCount(): Promise<number> {
    return this.store.countUsable(new Date(this.now()).toISOString());
  }

  /**
   * Make `SLIPWAY_BOOTSTRAP_TOKEN` an admin token named `bootstrap`: created the first time, its hash
   * replaced when the variable changed. A bootstrap token revoked in the store stays revoked: the
   * variable must not bring it back. Returns what happened, for the start-up log.
   */
  async ensureBootstrap(secret: string): Promise<'created' | 'updated' | 'unchanged' | 'revoked'> {
    if (secret.length < MIN_BOOTSTRAP_LENGTH)
      throw invalid(`SLIPWAY_BOOTSTRAP_TOKEN: at least ${MIN_BOOTSTRAP_LENGTH} characters`);
    if (tokenIdOf(secret) !== BOOTSTRAP_TOKEN_ID)
      throw invalid('SLIPWAY_BOOTSTRAP_TOKEN: must not look like a created token (slw_<id>_...)');
    const existing = await this.store.findById(BOOTSTRAP_TOKEN_ID);
    if (existing?.revokedAt) return 'revoked';
    if (existing !== undefined) {
      if (await secretMatches(secret, existing)) return 'unchanged';
      const { salt, hash } = await hashSecret(secret);
      await this.store.setHash(BOOTSTRAP_TOKEN_ID, salt, hash);
      this.rows.delete(BOOTSTRAP_TOKEN_ID);
      return 'updated';
    }
    const { salt, hash } = await hashSecret(secret);
    await this.store.insert({
      id: BOOTSTRAP_TOKEN_ID,
      name: 'bootstrap',
      role: 'admin',
      models: undefined,
      salt,
      hash,
      createdAt: new Date(this.now()).toISOString(),
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    });
    return 'created';
  }

  /**
   * The principal of a secret when everything needed is in memory and fresh, without a promise
   * (the request hook's fast path); undefined = ask `verify`.
   */
  verifyCached(secret: string): Principal | undefined {
    const id = tokenIdOf(secret);
    if (id === undefined) return undefined;
    const cached = this.rows.get(id);
    if (cached?.principal === undefined || this.now() - cached.readAt >= this.rowTtlMs) return undefined;
    if (this.verified.get(fingerprint(secret)) !== cached.row!.hash) return undefined;
    return cached.principal;
  }

  /** The principal of a presented secret; UNAUTHENTICATED when it is unknown, wrong, revoked or expired. */
  async verify(secret: string): Promise<Principal> {
    const id = tokenIdOf(secret);
    if (id === undefined) throw unauthenticated('invalid token');
    const print = fingerprint(secret);
    const now = this.now();
    const failedAt = this.failed.get(print);
    if (failedAt !== undefined && now - failedAt < FAILURE_TTL_MS) throw unauthenticated('invalid token');
    const cached = await this.row(id, now);
    const row = cached.row;
    if (row === undefined) throw this.failure(print, now);
    if (this.verified.get(print) !== row.hash) {
      // scrypt runs on libuv's small thread pool (shared with zlib and file I/O): a flood of wrong
      // secrets for a real token id must not queue everything else behind it.
      // Requests carrying the same new secret at once (a client opening 32 connections) share one.
      let check = this.checking.get(print);
      if (check === undefined) {
        if (this.checking.size >= MAX_CONCURRENT_SCRYPT)
          throw new SlipwayError('UNAVAILABLE', 'too many token checks at once; retry', { retryAfterSeconds: 1 });
        check = secretMatches(secret, row).finally(() => this.checking.delete(print));
        this.checking.set(print, check);
      }
      if (!(await check)) throw this.failure(print, now);
      remember(this.verified, print, row.hash);
    }
    // Checked only once the secret matched: a guess learns nothing about which tokens exist.
    if (row.revokedAt !== null) throw unauthenticated(`token "${row.name}" was revoked`);
    if (cached.principal === undefined) throw unauthenticated(`token "${row.name}" has expired`);
    this.touch(row.id, now);
    return cached.principal;
  }

  private failure(print: string, now: number): SlipwayError {
    remember(this.failed, print, now);
    return unauthenticated('invalid token');
  }

  /** The row of a token id, read again when older than the TTL (one read at a time per id). */
  private async row(id: string, now: number): Promise<CachedRow> {
    const cached = this.rows.get(id);
    if (cached !== undefined && now - cached.readAt < this.rowTtlMs) return cached;
    let reading = this.reading.get(id);
    if (reading === undefined) {
      reading = this.store.findById(id).then(
        (row) => {
          const fresh: CachedRow = { row, principal: usablePrincipal(row, this.now()), readAt: this.now() };
          if (row !== undefined) remember(this.rows, id, fresh);
          this.reading.delete(id);
          return fresh;
        },
        (error: unknown) => {
          this.reading.delete(id);
          // The database is down: loaded models keep serving (README "Database outages"), so a token
          // seen before keeps its last known row, read again a second later; one never seen is
          // UNAVAILABLE rather than refused.
          const stale = this.rows.get(id);
          if (stale === undefined)
            throw new SlipwayError('UNAVAILABLE', 'cannot check the token: the metadata database is unreachable', {
              cause: error,
              retryAfterSeconds: 1,
            });
          const kept: CachedRow = { ...stale, principal: usablePrincipal(stale.row, this.now()), readAt: this.now() };
          this.rows.set(id, kept);
          return kept;
        },
      );
      this.reading.set(id, reading);
    }
    return reading;
  }

  private touch(id: string, now: number): void {
    const last = this.touched.get(id);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    remember(this.touched, id, now);
    // Best effort: a failed write of the last-used time must never fail the request.
    this.store.touch(id, new Date(now).toISOString()).catch(() => undefined);
  }

  private info(row: TokenRow, now: number): TokenInfo {
    return {
      name: row.name,
      role: row.role,
      models: row.models,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      revokedAt: row.revokedAt,
      lastUsedAt: row.lastUsedAt,
      status: row.revokedAt !== null ? 'revoked' : isExpired(row, now) ? 'expired' : 'active',
    };
  }
}

export function unauthenticated(message: string): SlipwayError {
  return new SlipwayError('UNAUTHENTICATED', message);
}

function isExpired(row: TokenRow, now: number): boolean {
  return row.expiresAt !== null && Date.parse(row.expiresAt) <= now;
}

/** The principal a row grants now; undefined when revoked or expired. */
function usablePrincipal(row: TokenRow | undefined, now: number): Principal | undefined {
  if (row === undefined || row.revokedAt !== null || isExpired(row, now)) return undefined;
  return Object.freeze({
    name: row.name,
    role: row.role,
    tokenId: row.id,
    ...(row.models === undefined ? {} : { models: Object.freeze([...row.models]) }),
  });
}

function checkPatterns(patterns: readonly string[]): readonly string[] {
  if (patterns.length === 0) throw invalid('--models: give at least one model-name pattern, or leave it out');
  for (const pattern of patterns)
    if (!PATTERN.test(pattern) || pattern.length > 129)
      throw invalid(`--models pattern "${pattern}": a model name, optionally ending in * (e.g. fraud, risk*)`);
  return [...new Set(patterns)];
}

/** Set with a bound: the maps keyed by what clients send must not grow without end. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_REMEMBERED && !map.has(key)) map.clear();
  map.set(key, value);
}
