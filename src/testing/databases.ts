import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe } from 'vitest';
import { openDatabase } from '../store/database.js';
import type { Database, OpenDatabaseOptions, SqlDialectName } from '../store/database.js';

/**
 * Real databases for contract tests: one test body per dialect, fresh storage per
 * test. SQLite uses a temp file; PostgreSQL a random schema at `SLIPWAY_TEST_POSTGRES_URL`
 * (default `postgres://postgres@127.0.0.1:5432/test`), dropped after the test.
 *
 * An unreachable PostgreSQL skips its tests locally; with `CI=true` they run and fail instead.
 */
export const TEST_POSTGRES_URL = process.env.SLIPWAY_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDialect {
  readonly name: SqlDialectName;
  /** Why this dialect's tests are skipped; undefined = they run. */
  readonly skipReason: string | undefined;
}

/** Per-test access to the database under test. */
export interface DatabaseFixture {
  readonly dialect: SqlDialectName;
  /**
   * Open a Database on this test's storage. Each call opens an independent instance (its own
   * pool on PostgreSQL) on the same storage, for cross-instance races. All are closed after the test.
   */
  open(): Promise<Database>;
}

const postgresProblem = await probePostgres(TEST_POSTGRES_URL);

/** The dialects every contract suite runs against. */
export const DIALECTS: readonly TestDialect[] = [
  { name: 'sqlite', skipReason: undefined },
  {
    name: 'postgres',
    skipReason:
      postgresProblem === undefined || process.env.CI === 'true'
        ? undefined
        : `PostgreSQL unreachable at ${TEST_POSTGRES_URL}: ${postgresProblem}`,
  },
];

/**
 * Declare one suite per dialect.
 *
 * @example
 * describeEachDialect('RegistryStore', (fixture) => {
 *   it('stores', async () => { const store = new SqlRegistryStore(await fixture.open()); ... });
 * });
 */
export function describeEachDialect(name: string, body: (fixture: DatabaseFixture) => void): void {
  for (const dialect of DIALECTS) {
    if (dialect.skipReason !== undefined) console.warn(`skipping ${name} [${dialect.name}]: ${dialect.skipReason}`);
    describe.skipIf(dialect.skipReason !== undefined)(`${name} [${dialect.name}]`, () => {
      let storage: TestStorage | undefined;
      const opened: Database[] = [];
      beforeEach(async () => {
        storage = await createStorage(dialect.name);
      });
      afterEach(async () => {
        await Promise.all(opened.splice(0).map((database) => database.close()));
        await storage?.dispose();
        storage = undefined;
      });
      body({
        dialect: dialect.name,
        async open() {
          if (storage === undefined) throw new Error('fixture.open() is only available inside a test');
          const database = await openDatabase(storage.options);
          opened.push(database);
          return database;
        },
      });
    });
  }
}

interface TestStorage {
  readonly options: OpenDatabaseOptions;
  dispose(): Promise<void>;
}

async function createStorage(dialect: SqlDialectName): Promise<TestStorage> {
  switch (dialect) {
    case 'sqlite': {
      const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-test-'));
      return {
        options: { sqlitePath: path.join(folder, 'slipway.db') },
        dispose: () => fs.rm(folder, { recursive: true, force: true }),
      };
    }
    case 'postgres': {
      const schema = `slipway_test_${randomBytes(6).toString('hex')}`;
      return {
        options: { postgresUrl: TEST_POSTGRES_URL, postgresSchema: schema },
        dispose: () =>
          withPostgres(TEST_POSTGRES_URL, (client) => client.query(`drop schema if exists "${schema}" cascade`)),
      };
    }
  }
}

/** undefined when PostgreSQL answers, else what went wrong. */
async function probePostgres(url: string): Promise<string | undefined> {
  try {
    await withPostgres(url, (client) => client.query('select 1'));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  }
}

async function withPostgres(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
