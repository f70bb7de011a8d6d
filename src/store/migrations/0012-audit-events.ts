import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/**
 * The audit trail (src/audit/): one row per change made through the API, the gRPC repository RPCs or
 * a CLI command that writes the store directly, with who made it, from where, and how it ended. Alias
 * moves and deployment revisions also name their actor, so their own histories show it.
 */
export function auditEventsMigration(dialect: SqlDialectName): Migration {
  const id = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('audit_events')
        .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('time_ms', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('actor_role', 'text')
        .addColumn('address', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('details', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .execute();
      // Reads are newest first by id, filtered by time, actor or action prefix.
      await db.schema.createIndex('audit_events_time_idx').on('audit_events').columns(['time_ms', 'id']).execute();
      await db.schema.createIndex('audit_events_actor_idx').on('audit_events').columns(['actor', 'id']).execute();
      await db.schema.alterTable('alias_events').addColumn('actor', 'text').execute();
      await db.schema.alterTable('deployment_revisions').addColumn('actor', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployment_revisions').dropColumn('actor').execute();
      await db.schema.alterTable('alias_events').dropColumn('actor').execute();
      await db.schema.dropTable('audit_events').execute();
    },
  };
}
