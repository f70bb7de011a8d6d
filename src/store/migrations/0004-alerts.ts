import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../database.js';

/** alert rules and alert events — owned by the alerts work. */
export function alertsMigration(_dialect: SqlDialectName): Migration {
  return {
    async up(_db: Kysely<unknown>): Promise<void> {
      // filled in by its owner
    },
  };
}
