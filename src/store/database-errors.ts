/**
 * Classification of driver errors, so callers can retry without knowing which database threw.
 * better-sqlite3 reports `SQLITE_*` codes, pg reports SQLSTATEs.
 */

const UNIQUE_VIOLATION = new Set(['23505', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

/** Another writer won: the database is locked, or PostgreSQL aborted us (serialization failure, deadlock). */
const WRITE_CONFLICT = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', '40001', '40P01']);

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

/** A UNIQUE or PRIMARY KEY constraint rejected a write. */
export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error);
  return typeof code === 'string' && UNIQUE_VIOLATION.has(code);
}

/** A transaction that lost a race and may succeed if run again from the start. */
export function isRetryableWriteError(error: unknown): boolean {
  const code = codeOf(error);
  return isUniqueViolation(error) || (typeof code === 'string' && WRITE_CONFLICT.has(code));
}
