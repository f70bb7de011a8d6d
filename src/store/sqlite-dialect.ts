import { CompiledQuery, SqliteAdapter, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, DialectAdapter, Driver, SqliteDialectConfig } from 'kysely';

/**
 * Kysely's SQLite dialect, made safe for several processes sharing one file:
 *
 * - transactions start with `BEGIN IMMEDIATE`, taking the write lock at the start, so two
 *   processes pushing to one file serialise (the loser waits up to `busy_timeout`) instead of
 *   both reading and then failing to upgrade to a writer;
 * - DDL is declared transactional (SQLite supports it), so Kysely's Migrator runs migrations
 *   inside such a transaction and two processes opening a fresh file do not both create tables.
 *
 * Within one process Kysely already serialises transactions on its single connection.
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
