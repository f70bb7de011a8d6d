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

/**
 * Failures of the connection rather than of the statement: the server refused or never answered
 * (ECONNREFUSED, a connect timeout), the socket died (ECONNRESET, "Connection terminated"), the
 * server is shutting down or not accepting (57P01-57P03, class 08), or a reply never came (pg's
 * query_timeout). The statement itself may be fine; the same call may succeed later.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);
const CONNECTION_MESSAGES =
  /Connection terminated|timeout expired|Query read timeout|not queryable|connection has been discarded|Client was closed|Connection refused/i;

/** The error, or an error in its `cause` chain, is a connection failure (see CONNECTION_CODES). */
export function isConnectionError(error: unknown): boolean {
  for (
    let e: unknown = error, depth = 0;
    typeof e === 'object' && e !== null && depth < 6;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = codeOf(e);
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    // Node's happy-eyeballs connect reports every address tried in an AggregateError.
    const inner = (e as { errors?: unknown }).errors;
    if (Array.isArray(inner) && inner.some((x) => isConnectionError(x))) return true;
  }
  return false;
}
