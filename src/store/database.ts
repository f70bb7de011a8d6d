import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { SlipwayConfig } from '../core/config.js';
import { SlipwayError, invalid } from '../core/errors.js';
import { migrateToLatest } from './migrations/index.js';
import type { DatabaseSchema } from './schema.js';
import { ImmediateSqliteDialect } from './sqlite-dialect.js';
import { ConnectionGuard, type DatabaseHealth } from './connection-guard.js';

export type { DatabaseHealth } from './connection-guard.js';

export type SqlDialectName = 'sqlite' | 'postgres';

/**
 * An open, migrated metadata database. Stores take one in their constructor and leave it open
 * when they are closed: whoever opened it closes it (`openPlatform`, `openRegistry`), once the
 * stores sharing it are done; `close` is idempotent.
 * Open one per process for a SQLite file: a second in-process connection would block the event
 * loop while it waits for the first one's write lock.
 */
export interface Database {
  readonly db: Kysely<DatabaseSchema>;
  readonly dialect: SqlDialectName;
  /**
   * `SELECT ... FOR UPDATE` is available (PostgreSQL). Without it (SQLite) every transaction
   * already holds the database's single write lock, so there is nothing finer to take.
   */
  readonly supportsRowLocks: boolean;
  /**
   * The SQLite connection itself, for bulk writes only: Kysely's SQLite driver prepares every
   * statement anew, which costs more than the insert for the prediction log's many small rows.
   * Use it inside `db.connection().execute(...)` so Kysely's connection lock is held.
   */
  readonly sqlite?: BetterSqlite3.Database;
  /** Whether the database answers (PostgreSQL: as last seen; SQLite: always up). */
  health(): DatabaseHealth;
  /** Told when the database goes down or comes back (PostgreSQL only; SQLite never changes). Returns an unsubscribe. */
  onHealthChange(listener: (health: DatabaseHealth) => void): () => void;
  close(): Promise<void>;
}

/** Exactly one of `sqlitePath` and `postgresUrl`. */
export interface OpenDatabaseOptions {
  /** A file (its folder is created) or `:memory:`. */
  readonly sqlitePath?: string;
  /** `postgres://user@host:port/database`. */
  readonly postgresUrl?: string;
  /** PostgreSQL schema for every table, created if missing (tests use a fresh one each). */
  readonly postgresSchema?: string;
  /** PostgreSQL: give up a connect that got no answer after this long (default 5,000 ms). */
  readonly connectTimeoutMs?: number;
  /**
   * PostgreSQL: the server cancels a statement after this long (statement_timeout), and the client
   * gives up on a reply 5 s later (a peer that stopped answering); 0 = no limit. Default 60,000 ms.
   */
  readonly queryTimeoutMs?: number;
}

/** Defaults of the PostgreSQL timeouts (`SLIPWAY_DATABASE_CONNECT_TIMEOUT_MS`, `SLIPWAY_DATABASE_QUERY_TIMEOUT_MS`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_QUERY_TIMEOUT_MS = 60_000;
/** How much longer than statement_timeout the client waits for any reply before calling the peer hung. */
const QUERY_TIMEOUT_GRACE_MS = 5_000;

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** How long a SQLite statement waits for another connection's write lock. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * Open a metadata database and run its migrations.
 *
 * @example
 * const database = await openDatabase({ sqlitePath: '.slipway/slipway.db' });
 * try { ... } finally { await database.close(); }
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const { sqlitePath, postgresUrl, postgresSchema } = options;
  if (postgresUrl !== undefined && sqlitePath === undefined) return openPostgres(postgresUrl, postgresSchema, options);
  if (sqlitePath !== undefined && postgresUrl === undefined) {
    if (postgresSchema !== undefined) throw invalid('postgresSchema applies to PostgreSQL only');
    return openSqlite(sqlitePath);
  }
  throw invalid('openDatabase needs exactly one of sqlitePath and postgresUrl');
}

/** The configured database: PostgreSQL at `config.databaseUrl`, else SQLite at `<home>/slipway.db`. */
export function openDatabaseFromConfig(config: SlipwayConfig): Promise<Database> {
  return openDatabase(databaseOptionsFromConfig(config));
}

/** The options `openDatabaseFromConfig` uses (for a second connection, e.g. the prediction log's thread). */
export function databaseOptionsFromConfig(config: SlipwayConfig): OpenDatabaseOptions {
  return config.databaseUrl === undefined
    ? { sqlitePath: path.join(config.home, 'slipway.db') }
    : {
        postgresUrl: config.databaseUrl,
        connectTimeoutMs: config.databaseConnectTimeoutMs,
        queryTimeoutMs: config.databaseQueryTimeoutMs,
      };
}

async function openSqlite(file: string): Promise<Database> {
  let sqlite: BetterSqlite3.Database;
  try {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    sqlite.pragma('foreign_keys = ON');
  } catch (error) {
    throw new SlipwayError('UNAVAILABLE', `cannot open SQLite database ${file}: ${messageOf(error)}`, { cause: error });
  }
  const db = new Kysely<DatabaseSchema>({ dialect: new ImmediateSqliteDialect({ database: sqlite }) });
  return { ...(await migrated(db, 'sqlite', undefined)), sqlite };
}

async function openPostgres(url: string, schema: string | undefined, options: OpenDatabaseOptions): Promise<Database> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw invalid(`postgresSchema "${schema}": expected letters, digits and underscores`);
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: url,
    // The schema is set at connection start-up, not by a query after connecting: Kysely's
    // onCreateConnection never releases a client whose first query fails (a connection cut at
    // that moment leaked it, and closing the pool then waited forever).
    ...(schema === undefined ? {} : { options: `-c search_path="${schema}"` }),
    connectionTimeoutMillis: connectTimeoutMs,
    keepAlive: true,
    ...(queryTimeoutMs > 0
      ? { statement_timeout: queryTimeoutMs, query_timeout: queryTimeoutMs + QUERY_TIMEOUT_GRACE_MS }
      : {}),
  });
  // pg clients emit 'error' when their connection dies. The pool listens only while a client is
  // idle; a client checked out for a query (or a transaction) has no listener then, and an
  // unhandled 'error' event kills the process. Every client gets its own listener for life: the
  // failed query already rejects to its caller, and the pool drops the broken client on release
  // (a new one is connected on demand).
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    closeOnReadTimeout(client);
  });
  pool.on('error', () => undefined);
  const where = redact(url);
  const guard = new ConnectionGuard(where);
  const dialect = new PostgresDialect({ pool });
  const db = new Kysely<DatabaseSchema>({
    dialect: {
      createAdapter: () => dialect.createAdapter(),
      createDriver: () => guard.wrap(dialect.createDriver()),
      createIntrospector: (kysely) => dialect.createIntrospector(kysely),
      createQueryCompiler: () => dialect.createQueryCompiler(),
    },
  });
  guard.setProbe(async () => void (await pool.query('select 1')));
  let migrationSchema: string;
  try {
    if (schema !== undefined) await createSchema(db, schema);
    migrationSchema =
      schema ??
      (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema ??
      'public';
  } catch (error) {
    await db.destroy();
    const timedOut = /timeout/i.test(messageOf(error))
      ? ` (no answer within ${connectTimeoutMs} ms, SLIPWAY_DATABASE_CONNECT_TIMEOUT_MS)`
      : '';
    const cause = error instanceof SlipwayError && error.cause !== undefined ? error.cause : error;
    if (error instanceof SlipwayError && error.code !== 'UNAVAILABLE') throw error;
    throw new SlipwayError('UNAVAILABLE', `cannot reach PostgreSQL at ${where}: ${messageOf(cause)}${timedOut}`, {
      cause: error,
    });
  }
  return {
    ...(await migrated(db, 'postgres', migrationSchema)),
    health: () => guard.health(),
    onHealthChange: (listener) => guard.onChange(listener),
  };
}

async function createSchema(db: Kysely<DatabaseSchema>, schema: string): Promise<void> {
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (error) {
    // Two openers racing on a new schema: the loser hits the catalog's unique index. 42P06 = duplicate_schema.
    const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
    if (code !== '23505' && code !== '42P06') throw error;
  }
}

async function migrated(
  db: Kysely<DatabaseSchema>,
  dialect: SqlDialectName,
  migrationSchema: string | undefined,
): Promise<Database> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrateToLatest(db, dialect, migrationSchema);
      break;
    } catch (error) {
      // Kysely's migrator checks privileges on every schema of the database; a schema another
      // client drops meanwhile fails that query (3F000, invalid_schema_name). Look again.
      if (attempt < 5 && dialect === 'postgres' && causeCode(error) === '3F000') continue;
      await db.destroy();
      throw error;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    db,
    dialect,
    supportsRowLocks: dialect === 'postgres',
    health: () => ALWAYS_UP,
    onHealthChange: () => () => undefined,
    close: () => (closing ??= db.destroy()),
  };
}

/**
 * pg's query_timeout fails the query but leaves the connection waiting for its reply: a peer that
 * stopped answering would keep this client, and every later query given it, stuck. End it instead
 * (its socket is destroyed while a query is active); the pool drops it on release and connects a
 * new one.
 */
function closeOnReadTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (result instanceof Promise) {
      result.catch((error: unknown) => {
        // end() marks the client ending at once, so the pool discards it when Kysely releases it.
        if (error instanceof Error && error.message === 'Query read timeout') client.end().catch(() => undefined);
      });
    }
    return result;
  };
}

const ALWAYS_UP: DatabaseHealth = Object.freeze({ up: true, downSince: undefined, reason: undefined });

/** host:port/database only, so a password in the URL never reaches a log. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The PostgreSQL error code behind a (wrapped) error, if any. */
function causeCode(error: unknown): string | undefined {
  for (
    let e: unknown = error, depth = 0;
    e !== undefined && e !== null && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * A write transaction that never makes the event loop wait for SQLite's write lock. better-sqlite3
 * is synchronous: a BEGIN IMMEDIATE while another connection (the prediction log's writer thread)
 * holds the lock blocks the whole process for up to `busy_timeout` (5 s). Here SQLite gives up at
 * once instead, throwing SQLITE_BUSY (`isRetryableWriteError`); callers keep their data and try
 * again on their next round. For the request thread's periodic writes (traffic counters, shadow
 * results). PostgreSQL: an ordinary transaction.
 */
export async function writeWithoutWaiting<T>(
  database: Database,
  work: (trx: Transaction<DatabaseSchema>) => Promise<T>,
): Promise<T> {
  const { sqlite } = database;
  if (sqlite === undefined) return database.db.transaction().execute(work);
  // One connection for the pragma and the transaction (Kysely's connection lock is held throughout).
  return database.db.connection().execute(async (connection) => {
    sqlite.pragma('busy_timeout = 0');
    try {
      return await connection.transaction().execute(work);
    } finally {
      sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    }
  });
}
