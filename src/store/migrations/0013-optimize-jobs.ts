import type { Kysely, Migration } from 'kysely';

/**
 * Optimization and distillation runs (optimize/job-store.ts): the spec, status, last progress line,
 * the candidate-vs-parent report and the version it registered, for `POST .../optimize` and
 * `GET /api/v1/optimize-jobs`.
 */
export const optimizeJobsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('optimize_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('parent_version', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('progress', 'text')
      .addColumn('report', 'text')
      .addColumn('result_version', 'text')
      .addColumn('error', 'text')
      .addColumn('error_code', 'text')
      .addColumn('owner', 'text')
      .addColumn('actor', 'text')
      .addColumn('heartbeat_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema
      .createIndex('optimize_jobs_by_model')
      .on('optimize_jobs')
      .columns(['model', 'created_at'])
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('optimize_jobs').execute();
  },
};
