/**
 * API token rows (migration 0011) in the metadata database, SQLite or PostgreSQL alike. It knows
 * rows, not secrets: hashing and checking are the token service's (token-service.ts).
 */
import type { Database } from '../store/database.js';
import { isUniqueViolation } from '../store/database-errors.js';
import { SlipwayError } from '../core/errors.js';
import type { Role } from './principal.js';

export interface TokenRow {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** Model-name patterns; undefined = every model. */
  readonly models: readonly string[] | undefined;
  readonly salt: string;
  readonly hash: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

export class SqlTokenStore {
  constructor(private readonly database: Database) {}

  /** Insert a new token; ALREADY_EXISTS when a token not revoked has the name. */
  async insert(row: TokenRow): Promise<void> {
    try {
      await this.database.db
        .insertInto('api_tokens')
        .values({
          id: row.id,
          name: row.name,
          role: row.role,
          models: row.models === undefined ? null : JSON.stringify(row.models),
          salt: row.salt,
          hash: row.hash,
          created_at: row.createdAt,
          expires_at: row.expiresAt,
          revoked_at: row.revokedAt,
          last_used_at: row.lastUsedAt,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error))
        throw new SlipwayError('ALREADY_EXISTS', `a token named "${row.name}" already exists (revoke it first)`);
      throw error;
    }
  }

  async findById(id: string): Promise<TokenRow | undefined> {
    const row = await this.database.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  /** Every token, revoked ones included, oldest first. */
  async list(): Promise<TokenRow[]> {
    const rows = await this.database.db
      .selectFrom('api_tokens')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  /** Revoke the token not yet revoked that has this name; false when there is none. */
  async revokeByName(name: string, now: string): Promise<boolean> {
    const result = await this.database.db
      .updateTable('api_tokens')
      .set({ revoked_at: now })
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Tokens neither revoked nor expired at `now`. */
  async countUsable(now: string): Promise<number> {
    const row = await this.database.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Replace a token's hash (the bootstrap token, when its variable changed). */
  async setHash(id: string, salt: string, hash: string): Promise<void> {
    await this.database.db.updateTable('api_tokens').set({ salt, hash }).where('id', '=', id).execute();
  }

  /**
   * Record a use. Called from the request path, so on SQLite it never waits for the write lock (the
   * prediction log's thread may hold it): one autocommit statement with no busy wait, which fails
   * at once when the lock is taken (the caller drops it). One statement, not a transaction: there
   * is no moment at which this connection holds the lock across an await.
   */
  async touch(id: string, now: string): Promise<void> {
    const { sqlite } = this.database;
    if (sqlite === undefined) {
      await this.database.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
      return;
    }
    await this.database.db.connection().execute(() => {
      const busyTimeout = sqlite.pragma('busy_timeout', { simple: true }) as number;
      sqlite.pragma('busy_timeout = 0');
      try {
        sqlite.prepare('update api_tokens set last_used_at = ? where id = ?').run(now, id);
      } finally {
        sqlite.pragma(`busy_timeout = ${busyTimeout}`);
      }
      return Promise.resolve();
    });
  }
}

function fromRow(row: {
  id: string;
  name: string;
  role: string;
  models: string | null;
  salt: string;
  hash: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}): TokenRow {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    models: row.models === null ? undefined : (JSON.parse(row.models) as string[]),
    salt: row.salt,
    hash: row.hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}
