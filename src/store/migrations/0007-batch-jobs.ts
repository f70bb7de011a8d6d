import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/** Batch scoring jobs (batch/job-store.ts): the spec, status, progress and summary of each. */
export function batchJobsMigration(dialect: SqlDialectName): Migration {
  const seq = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('batch_jobs')
        // Submission order: queued jobs run oldest first, lists show newest first.
        .addColumn('seq', seq, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('progress', 'text')
        .addColumn('summary', 'text')
        .addColumn('error', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('owner', 'text')
        .addColumn('heartbeat_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('batch_jobs_by_status').on('batch_jobs').columns(['status', 'seq']).execute();
    },
  };
}
