import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/**
 * Continuous training (src/pipelines/): versioned pipeline definitions, runs as durable state
 * machines, and the trigger loop's recent evaluations. The partial unique index on running runs is
 * what keeps one run per pipeline at a time, even for several servers sharing one PostgreSQL.
 */
export function pipelinesMigration(dialect: SqlDialectName): Migration {
  const id = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('pipeline_definitions')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('active', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('pipeline_definitions_pk', ['name', 'version'])
        .execute();
      await db.schema
        .createTable('pipeline_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('pipeline', 'text', (c) => c.notNull())
        .addColumn('pipeline_version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('step', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('owner', 'text')
        .addColumn('heartbeat_at', 'text')
        .addColumn('training_pid', 'integer')
        .addColumn('data', 'text')
        .addColumn('training', 'text')
        .addColumn('evaluation', 'text')
        .addColumn('champion_version', 'text')
        .addColumn('candidate_version', 'text')
        .addColumn('release', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .execute();
      await sql`create unique index pipeline_runs_one_running on pipeline_runs (pipeline) where status = 'running'`.execute(
        db,
      );
      await db.schema
        .createIndex('pipeline_runs_by_pipeline')
        .on('pipeline_runs')
        .columns(['pipeline', 'created_at'])
        .execute();
      await db.schema
        .createTable('pipeline_trigger_evaluations')
        .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('pipeline', 'text', (c) => c.notNull())
        .addColumn('trig', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('fired', 'integer', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .addColumn('reason', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('pipeline_trigger_evaluations_by_pipeline')
        .on('pipeline_trigger_evaluations')
        .columns(['pipeline', 'id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('pipeline_trigger_evaluations').execute();
      await db.schema.dropTable('pipeline_runs').execute();
      await db.schema.dropTable('pipeline_definitions').execute();
    },
  };
}
