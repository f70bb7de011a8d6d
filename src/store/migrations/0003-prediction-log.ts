import { sql } from 'kysely';
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/**
 * The prediction log: one row per logged inference request, and feedback (ground truth) keyed by
 * request id. Times are epoch-millisecond integers (see PredictionTable in schema.ts).
 */
export function predictionLogMigration(dialect: SqlDialectName): Migration {
  // Ids are never reused, so they give insertion order even after retention deleted the oldest rows:
  // SQLite needs AUTOINCREMENT for that, PostgreSQL's identity sequence never goes back.
  const id = (col: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
    dialect === 'postgres' ? col.primaryKey().generatedByDefaultAsIdentity() : col.primaryKey().autoIncrement();
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('predictions')
        .addColumn('id', dialect === 'postgres' ? 'bigint' : 'integer', id)
        .addColumn('request_id', 'text', (col) => col.notNull())
        .addColumn('time_ms', 'bigint', (col) => col.notNull())
        .addColumn('deployment', 'text')
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('version', 'text', (col) => col.notNull())
        .addColumn('protocol', 'text', (col) => col.notNull())
        .addColumn('latency_ms', 'double precision', (col) => col.notNull())
        .addColumn('inputs', blob, (col) => col.notNull())
        .addColumn('outputs', blob, (col) => col.notNull())
        .addColumn('shadow', 'text')
        .addColumn('features', 'text')
        .addCheckConstraint('predictions_protocol_check', sql`protocol in ('http', 'grpc')`)
        .execute();
      // Per-model windows (drift, queries by version), request id look-ups and feedback joins, retention by age.
      await db.schema
        .createIndex('predictions_model_version_time_idx')
        .on('predictions')
        .columns(['model', 'version', 'time_ms'])
        .execute();
      await db.schema.createIndex('predictions_request_id_idx').on('predictions').column('request_id').execute();
      await db.schema.createIndex('predictions_time_idx').on('predictions').column('time_ms').execute();

      await db.schema
        .createTable('feedback')
        .addColumn('request_id', 'text', (col) => col.primaryKey())
        .addColumn('label', 'text')
        .addColumn('value', 'double precision')
        .addColumn('received_at_ms', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('feedback_received_idx').on('feedback').column('received_at_ms').execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('feedback').execute();
      await db.schema.dropTable('predictions').execute();
    },
  };
}
