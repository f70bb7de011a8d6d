import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { SlipwayError } from '../core/errors.js';
import type { SqlDialectName } from '../store/database.js';
import type { DatabaseSchema } from '../store/schema.js';

/**
 * Blob lifetime (issue 13 item 1). A blob may be deleted only when nothing can reference it, and
 * that is decided under one lock in the metadata database, never by a push on its own:
 *
 * - A push first records a lease on the digest (`artifact_leases`), then writes or reuses the
 *   blob, then inserts its version row and drops the lease in the same transaction. So from
 *   before the push looks at the blob until after the row commits, a row names the digest.
 * - The collector takes the artifact lock exclusively and, while holding it, deletes only blobs
 *   that no `model_versions` row and no live lease names. Leases are taken and versions inserted
 *   under the same lock, shared: on PostgreSQL a transaction-scoped advisory lock (shared for
 *   pushes, exclusive for the collector, per schema); on SQLite every write transaction already
 *   holds the file's single write lock (`BEGIN IMMEDIATE`, store/sqlite-dialect.ts), across processes.
 * - A lease expires (a push whose process died must not pin its blob forever). A push whose lease
 *   expired before it committed is refused (UNAVAILABLE, retry), since the collector may have
 *   deleted its blob; the TTL is far longer than any push, so this only follows a stall. The
 *   expiry is compared with each process's clock: servers sharing a database must agree on the
 *   time to well within the TTL.
 *
 * A refused push runs the collector for its own digest at once (so a refusal stores nothing);
 * `RegistryService.collectGarbage` sweeps the whole folder for what crashed pushes left.
 */

type Db = Kysely<DatabaseSchema>;

/** How long a push may take from its lease to its version row. */
export const ARTIFACT_LEASE_TTL_MS = 60 * 60 * 1000;

/** A push's claim on a digest. */
export interface ArtifactLease {
  readonly id: string;
  readonly sha256: string;
  readonly expiresAt: string;
}

/** Classid of the advisory lock; the object id is a hash of the schema, so test schemas do not contend. */
const LOCK_CLASS = 0x5a17;
/** `IN (...)` lists stay below SQLite's bound on parameters. */
const CHUNK = 500;

/** Take the artifact lock for the rest of the transaction `trx`. */
export async function lockArtifacts(trx: Db, dialect: SqlDialectName, mode: 'shared' | 'exclusive'): Promise<void> {
  // SQLite: this transaction began with BEGIN IMMEDIATE, so it holds the only write lock already.
  if (dialect !== 'postgres') return;
  const lock = mode === 'shared' ? sql.raw('pg_advisory_xact_lock_shared') : sql.raw('pg_advisory_xact_lock');
  await sql`select ${lock}(${LOCK_CLASS}, hashtext(current_schema())) as locked`.execute(trx);
}

/** Record a lease on `sha256` (call inside a write transaction). */
export async function insertLease(
  trx: Db,
  dialect: SqlDialectName,
  sha256: string,
  ttlMs: number,
  now = new Date(),
): Promise<ArtifactLease> {
  await lockArtifacts(trx, dialect, 'shared');
  const lease = { id: randomUUID(), sha256, expiresAt: new Date(now.getTime() + ttlMs).toISOString() };
  await trx
    .insertInto('artifact_leases')
    .values({ id: lease.id, sha256, expires_at: lease.expiresAt, created_at: now.toISOString() })
    .execute();
  return lease;
}

/**
 * Inside the transaction that inserts the version referencing the lease's blob: check the lease is
 * still live (so the collector has not been free to delete the blob) and drop it; the row takes over.
 */
export async function consumeLease(
  trx: Db,
  dialect: SqlDialectName,
  lease: ArtifactLease,
  now = new Date(),
): Promise<void> {
  await lockArtifacts(trx, dialect, 'shared');
  const row = await trx
    .selectFrom('artifact_leases')
    .select(['sha256', 'expires_at'])
    .where('id', '=', lease.id)
    .executeTakeFirst();
  if (row === undefined || row.sha256 !== lease.sha256 || row.expires_at <= now.toISOString()) {
    throw new SlipwayError(
      'UNAVAILABLE',
      `the push took longer than its artifact lease (until ${lease.expiresAt}); push again`,
      { retryAfterSeconds: 1 },
    );
  }
  await trx.deleteFrom('artifact_leases').where('id', '=', lease.id).execute();
}

/**
 * Under the exclusive artifact lock: drop `release` (a refused push's own lease) and expired leases,
 * then call `remove` for each candidate digest that no version and no live lease names. `remove`
 * runs inside the transaction, so it must not use this database. Returns the removed digests.
 */
export async function collectUnreferenced(
  trx: Db,
  dialect: SqlDialectName,
  candidates: readonly string[],
  remove: (sha256: string) => Promise<void>,
  options: { release?: ArtifactLease; now?: Date } = {},
): Promise<string[]> {
  await lockArtifacts(trx, dialect, 'exclusive');
  const now = (options.now ?? new Date()).toISOString();
  if (options.release !== undefined)
    await trx.deleteFrom('artifact_leases').where('id', '=', options.release.id).execute();
  await trx.deleteFrom('artifact_leases').where('expires_at', '<=', now).execute();
  const removed: string[] = [];
  const unique = [...new Set(candidates)];
  for (let start = 0; start < unique.length; start += CHUNK) {
    const chunk = unique.slice(start, start + CHUNK);
    const versions = await trx
      .selectFrom('model_versions')
      .select('artifact_sha256 as sha256')
      .distinct()
      .where('artifact_sha256', 'in', chunk)
      .execute();
    const leases = await trx
      .selectFrom('artifact_leases')
      .select('sha256')
      .distinct()
      .where('sha256', 'in', chunk)
      .execute();
    const referenced = new Set([...versions, ...leases].map((row) => row.sha256));
    for (const sha256 of chunk) {
      if (referenced.has(sha256)) continue;
      await remove(sha256);
      removed.push(sha256);
    }
  }
  return removed;
}
