import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/** the prediction log (predictions, feedback) — owned by the prediction-log work. */
export function predictionLogMigration(_dialect: SqlDialectName): Migration {
  return {
    async up(_db: Kysely<unknown>): Promise<void> {
      // filled in by its owner
    },
  };
}
