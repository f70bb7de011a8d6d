import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../../core/errors.js';
import { openDatabase } from '../../store/database.js';
import type { Database } from '../../store/database.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../../testing/databases.js';
import { blobStoreContract, testBytes } from './blob-store-contract.test-support.js';
import { sha256Of } from './blob-store.js';
import { PgBlobStore } from './pg-blob-store.js';

// Runs against SLIPWAY_TEST_POSTGRES_URL; skipped locally when it does not answer, never under CI=true.
const skipReason = DIALECTS.find((dialect) => dialect.name === 'postgres')?.skipReason;

/** A migrated database in a fresh schema; disposing unlinks its large objects (they live outside any schema). */
async function openFresh(): Promise<{ database: Database; dispose: () => Promise<void> }> {
  const schema = `slipway_blobs_${randomBytes(6).toString('hex')}`;
  const database = await openDatabase({ postgresUrl: TEST_POSTGRES_URL, postgresSchema: schema });
  return {
    database,
    async dispose() {
      await sql`select lo_unlink(oid) from artifact_objects`.execute(database.db);
      await sql.raw(`drop schema if exists "${schema}" cascade`).execute(database.db);
      await database.close();
    },
  };
}

blobStoreContract(
  'postgres',
  async () => {
    const { database, dispose } = await openFresh();
    return { store: new PgBlobStore(database), dispose };
  },
  skipReason,
);

describe.skipIf(skipReason !== undefined)('PgBlobStore', () => {
  const opened: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const dispose of opened) await dispose();
  });

  it('writes one large object for concurrent puts from two connection pools, and delete unlinks it', async () => {
    const first = await openFresh();
    opened.push(first.dispose);
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(first.database.db)).rows[0]!.s;
    const second = await openDatabase({ postgresUrl: TEST_POSTGRES_URL, postgresSchema: schema });
    opened.unshift(() => second.close());
    const bytes = testBytes(64 * 1024, 'two pools');
    const digest = sha256Of(bytes);
    const stores = [new PgBlobStore(first.database), new PgBlobStore(second)];
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => stores[i % 2]!.put(digest, bytes)));
    expect(results.filter((result) => result.created)).toHaveLength(1);
    const row = await sql<{ oid: number; size_bytes: string }>`select oid, size_bytes from artifact_objects`.execute(
      first.database.db,
    );
    expect(row.rows).toHaveLength(1);
    expect(Number(row.rows[0]!.size_bytes)).toBe(64 * 1024);
    const oid = row.rows[0]!.oid;
    const before = await sql`select 1 from pg_largeobject_metadata where oid = ${oid}`.execute(first.database.db);
    expect(before.rows).toHaveLength(1);
    await stores[1]!.delete(digest);
    const after = await sql`select 1 from pg_largeobject_metadata where oid = ${oid}`.execute(first.database.db);
    expect(after.rows).toHaveLength(0);
  });

  it('refuses a SQLite database by name', async () => {
    const sqlite = await openDatabase({ sqlitePath: ':memory:' });
    try {
      expect(() => new PgBlobStore(sqlite)).toThrow(SlipwayError);
      expect(() => new PgBlobStore(sqlite)).toThrow(/needs a PostgreSQL database, got sqlite/);
    } finally {
      await sqlite.close();
    }
  });
});
