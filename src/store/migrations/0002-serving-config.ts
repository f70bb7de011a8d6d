import type { Kysely, Migration } from 'kysely';

/** Per-model serving settings (dynamic batching, instances) as a JSON object. */
export const servingConfigMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('models')
      .addColumn('serving_config', 'text', (col) => col.notNull().defaultTo('{}'))
      .execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('models').dropColumn('serving_config').execute();
  },
};
