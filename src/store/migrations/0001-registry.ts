import { sql } from 'kysely';
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/** Models, their versions, aliases and the alias history. */
export function registryMigration(dialect: SqlDialectName): Migration {
  // SQLite's `integer primary key` is the auto-assigned rowid; PostgreSQL needs an identity column.
  const id = (col: ColumnDefinitionBuilder): ColumnDefinitionBuilder =>
    dialect === 'postgres' ? col.primaryKey().generatedByDefaultAsIdentity() : col.primaryKey();

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('models')
        .addColumn('id', 'integer', id)
        .addColumn('name', 'text', (col) => col.notNull().unique())
        .addColumn('description', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('model_versions')
        .addColumn('id', 'integer', id)
        .addColumn('model_id', 'integer', (col) => col.notNull().references('models.id').onDelete('cascade'))
        .addColumn('version', 'text', (col) => col.notNull())
        .addColumn('major', 'integer', (col) => col.notNull())
        .addColumn('minor', 'integer', (col) => col.notNull())
        .addColumn('patch', 'integer', (col) => col.notNull())
        .addColumn('status', 'text', (col) => col.notNull().defaultTo('active'))
        .addColumn('description', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('signature', 'text', (col) => col.notNull())
        .addColumn('artifact_sha256', 'text', (col) => col.notNull())
        .addColumn('artifact_size', 'bigint', (col) => col.notNull())
        .addColumn('artifact_format', 'text', (col) => col.notNull())
        .addColumn('card', 'text')
        .addColumn('metrics', 'text', (col) => col.notNull())
        .addColumn('params', 'text', (col) => col.notNull())
        .addColumn('tags', 'text', (col) => col.notNull())
        .addColumn('lineage', 'text', (col) => col.notNull())
        .addColumn('schema_change', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('archived_at', 'text')
        .addColumn('archive_reason', 'text')
        .addUniqueConstraint('model_versions_model_version_unique', ['model_id', 'version'])
        .addCheckConstraint('model_versions_status_check', sql`status in ('active', 'archived')`)
        .execute();
      // Newest-first listing and the "newest version" read of every push.
      await db.schema
        .createIndex('model_versions_semver_idx')
        .on('model_versions')
        .columns(['model_id', 'major', 'minor', 'patch'])
        .execute();
      // Garbage collection of artifacts asks whether any version still uses a digest.
      await db.schema
        .createIndex('model_versions_artifact_idx')
        .on('model_versions')
        .column('artifact_sha256')
        .execute();

      await db.schema
        .createTable('aliases')
        .addColumn('model_id', 'integer', (col) => col.notNull().references('models.id').onDelete('cascade'))
        .addColumn('alias', 'text', (col) => col.notNull())
        .addColumn('version_id', 'integer', (col) => col.notNull().references('model_versions.id'))
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('aliases_pk', ['model_id', 'alias'])
        .execute();
      // Archiving asks which aliases point at a version.
      await db.schema.createIndex('aliases_version_idx').on('aliases').column('version_id').execute();

      await db.schema
        .createTable('alias_events')
        .addColumn('id', 'integer', id)
        .addColumn('model_id', 'integer', (col) => col.notNull().references('models.id').onDelete('cascade'))
        .addColumn('alias', 'text', (col) => col.notNull())
        .addColumn('from_version', 'text')
        .addColumn('to_version', 'text')
        .addColumn('reason', 'text')
        .addColumn('at', 'text', (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('alias_events_history_idx')
        .on('alias_events')
        .columns(['model_id', 'alias', 'id'])
        .execute();
    },

    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['alias_events', 'aliases', 'model_versions', 'models']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
