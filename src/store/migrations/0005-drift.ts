import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/** reference profiles and drift results. */
export function driftMigration(_dialect: SqlDialectName): Migration {
  return {
    async up(_db: Kysely<unknown>): Promise<void> {
      // filled in by its owner
    },
  };
}
