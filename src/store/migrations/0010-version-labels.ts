import type { Kysely, Migration } from 'kysely';

/**
 * Class labels of a version (Triton's classification extension, src/serving/classification.ts):
 * a JSON array of strings, set at push from `--labels` or the ONNX file, null when the version has none.
 * Versions stay immutable: nothing updates the column after the insert.
 */
export const versionLabelsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('model_versions').addColumn('labels', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('model_versions').dropColumn('labels').execute();
  },
};
