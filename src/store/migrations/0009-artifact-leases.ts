import type { Kysely, Migration } from 'kysely';

/**
 * Leases on artifact blobs (registry/artifact-leases.ts): a push records one before it writes or
 * reuses a blob, and the collector deletes a blob only when no version row and no live lease names
 * it, so a blob an accepted push is about to reference is never deleted under it.
 */
export const artifactLeasesMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('artifact_leases')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('artifact_leases_by_sha256').on('artifact_leases').column('sha256').execute();
    // The collector and the duplicate check look versions up by digest.
    await db.schema.createIndex('model_versions_by_artifact').on('model_versions').column('artifact_sha256').execute();
  },
};
