import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/**
 * Deployments (deploy/): named endpoints with append-only revisions, per-second traffic counters
 * per version (what rollout gates and experiments read, from every server process), shadow
 * results, rollouts and experiments.
 */
export function deploymentsMigration(dialect: SqlDialectName): Migration {
  const id = dialect === 'postgres' ? 'bigserial' : 'integer';
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('deployments')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('active_revision', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('deployment_revisions')
        .addColumn('deployment', 'text', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('why', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        // 1 for a rollout's steps and an experiment's split: `rollback` steps over them.
        .addColumn('intermediate', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_ms', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_revisions_pk', ['deployment', 'revision'])
        .execute();
      await db.schema
        .createTable('deployment_stats')
        .addColumn('deployment', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('slot_ms', 'bigint', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('requests', 'integer', (c) => c.notNull())
        .addColumn('errors', 'integer', (c) => c.notNull())
        .addColumn('invalid', 'integer', (c) => c.notNull())
        .addColumn('rejected', 'integer', (c) => c.notNull())
        .addColumn('latency', blob, (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_stats_pk', ['deployment', 'slot_ms', 'version', 'source'])
        .execute();
      await db.schema
        .createTable('shadow_results')
        .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('deployment', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('time_ms', 'bigint', (c) => c.notNull())
        .addColumn('primary_version', 'text', (c) => c.notNull())
        .addColumn('shadow_version', 'text', (c) => c.notNull())
        .addColumn('primary_ms', 'double precision', (c) => c.notNull())
        .addColumn('shadow_ms', 'double precision')
        .addColumn('agree', 'integer')
        .addColumn('abs_diff_mean', 'double precision')
        .addColumn('abs_diff_max', 'double precision')
        .addColumn('error', 'text')
        .addColumn('primary_outputs', 'text')
        .addColumn('shadow_outputs', 'text')
        .execute();
      await db.schema
        .createIndex('shadow_results_by_deployment')
        .on('shadow_results')
        .columns(['deployment', 'time_ms'])
        .execute();
      await db.schema
        .createTable('shadow_drops')
        .addColumn('deployment', 'text', (c) => c.notNull())
        .addColumn('shadow_version', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('dropped', 'bigint', (c) => c.notNull())
        .addColumn('updated_ms', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('shadow_drops_pk', ['deployment', 'shadow_version', 'source'])
        .execute();
      for (const table of ['rollouts', 'experiments'] as const) {
        await db.schema
          .createTable(table)
          .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('deployment', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          /** JSON: the settings given at start. */
          .addColumn('spec', 'text', (c) => c.notNull())
          /** JSON: what the controller carries between looks (step, running statistics, last checks). */
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          /** Bumped by every write; writers compare it (optimistic concurrency between controllers). */
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('started_ms', 'bigint', (c) => c.notNull())
          .addColumn('updated_ms', 'bigint', (c) => c.notNull())
          .addColumn('finished_ms', 'bigint')
          .execute();
        await db.schema.createIndex(`${table}_by_deployment`).on(table).columns(['deployment', 'status']).execute();
      }
    },
  };
}
