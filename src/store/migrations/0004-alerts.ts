import { sql } from 'kysely';
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/** Alert rules with their current state, and the history of alert events. */
export function alertsMigration(dialect: SqlDialectName): Migration {
  // SQLite's `integer primary key` is the auto-assigned rowid; PostgreSQL needs an identity column.
  const id = (col: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
    dialect === 'postgres' ? col.primaryKey().generatedByDefaultAsIdentity() : col.primaryKey();

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('alert_rules')
        .addColumn('name', 'text', (col) => col.primaryKey())
        .addColumn('expr', 'text', (col) => col.notNull())
        .addColumn('scope', 'text', (col) => col.notNull())
        .addColumn('webhook', 'text')
        .addColumn('severity', 'text', (col) => col.notNull())
        .addColumn('description', 'text')
        .addColumn('enabled', 'integer', (col) => col.notNull().defaultTo(1))
        .addColumn('source', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addColumn('state', 'text', (col) => col.notNull().defaultTo('ok'))
        .addColumn('state_since', 'text')
        .addColumn('last_value', 'double precision')
        .addColumn('evaluated_at', 'text')
        .addCheckConstraint('alert_rules_severity_check', sql`severity in ('info', 'warning', 'critical')`)
        .addCheckConstraint('alert_rules_source_check', sql`source in ('api', 'file')`)
        .addCheckConstraint('alert_rules_state_check', sql`state in ('ok', 'pending', 'firing')`)
        .execute();

      await db.schema
        .createTable('alert_events')
        .addColumn('id', 'integer', id)
        .addColumn('rule', 'text', (col) => col.notNull())
        .addColumn('state', 'text', (col) => col.notNull())
        .addColumn('value', 'double precision', (col) => col.notNull())
        .addColumn('threshold', 'double precision', (col) => col.notNull())
        .addColumn('expr', 'text', (col) => col.notNull())
        .addColumn('severity', 'text', (col) => col.notNull())
        .addColumn('description', 'text')
        .addColumn('scope', 'text', (col) => col.notNull())
        .addColumn('starts_at', 'text', (col) => col.notNull())
        .addColumn('at', 'text', (col) => col.notNull())
        .addColumn('delivery', 'text')
        .addCheckConstraint('alert_events_state_check', sql`state in ('firing', 'resolved')`)
        .execute();
      // History of one rule, newest first.
      await db.schema.createIndex('alert_events_rule_idx').on('alert_events').columns(['rule', 'id']).execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('alert_events').execute();
      await db.schema.dropTable('alert_rules').execute();
    },
  };
}
