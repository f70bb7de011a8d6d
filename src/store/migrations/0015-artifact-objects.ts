import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/**
 * Artifact blobs kept as PostgreSQL large objects (src/registry/artifacts/pg-blob-store.ts): one row maps a blob's
 * sha256 to the large object holding its bytes. PostgreSQL only: SQLite has no large objects, and a SQLite
 * deployment keeps its blobs in a local folder, so there the migration creates nothing.
 */
export function artifactObjectsMigration(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await db.schema
        .createTable('artifact_objects')
        .addColumn('sha256', 'text', (c) => c.primaryKey())
        .addColumn('oid', sql`oid`, (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
