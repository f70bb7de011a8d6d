import { sql } from 'kysely';
import { SlipwayError } from '../../core/errors.js';
import type { Database } from '../../store/database.js';
import { assertDigest, blobNotFound, isDigest, readVerified } from './blob-store.js';
import type { BlobSource, BlobStore } from './blob-store.js';

/**
 * Blobs as PostgreSQL large objects: the bytes go in with `lo_from_bytea`, come out with `lo_get` and are removed
 * with `lo_unlink`; table `artifact_objects` (src/store/migrations/0015-artifact-objects.ts) maps each sha256 to its
 * large object. Large objects are transactional, so a put or delete that fails part way leaves neither a row without
 * bytes nor bytes without a row. Every node that reaches the database sees the same blobs.
 *
 * Limits: a large object holds up to 4 TB, but `lo_from_bytea` / `lo_get` pass the whole blob as one bytea value,
 * which PostgreSQL caps at 1 GB; model files beyond a few hundred MB belong in S3 (s3-blob-store.ts).
 * Errors reaching the database are UNAVAILABLE (the Database's connection guard, src/store/database.ts).
 */
export class PgBlobStore implements BlobStore {
  readonly kind = 'postgres' as const;

  /** `database` must be PostgreSQL and migrated (openDatabase does both); it stays open when this store is dropped. */
  constructor(private readonly database: Database) {
    if (database.dialect !== 'postgres') {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `the postgres blob store needs a PostgreSQL database, got ${database.dialect}; use the local or s3 blob store`,
      );
    }
  }

  async put(sha256: string, source: BlobSource): Promise<{ created: boolean; sizeBytes: number }> {
    const bytes = await readVerified(sha256, source, 'postgres blob store put');
    if (await this.has(sha256)) return { created: false, sizeBytes: bytes.byteLength };
    const created = await this.database.db.transaction().execute(async (trx) => {
      // Concurrent puts of one digest (from any node) queue here, so only the first writes a large object.
      await sql`select pg_advisory_xact_lock(hashtextextended(${`slipway-blob:${sha256}`}, 0))`.execute(trx);
      const existing = await sql`select 1 from artifact_objects where sha256 = ${sha256}`.execute(trx);
      if (existing.rows.length > 0) return false;
      await sql`insert into artifact_objects (sha256, oid, size_bytes, created_at)
        values (${sha256}, lo_from_bytea(0, ${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)}),
                ${bytes.byteLength}, ${new Date().toISOString()})`.execute(trx);
      return true;
    });
    return { created, sizeBytes: bytes.byteLength };
  }

  async has(sha256: string): Promise<boolean> {
    assertDigest(sha256, 'postgres blob store has');
    const result = await sql`select 1 from artifact_objects where sha256 = ${sha256}`.execute(this.database.db);
    return result.rows.length > 0;
  }

  async get(sha256: string): Promise<Uint8Array> {
    assertDigest(sha256, 'postgres blob store get');
    const result = await sql<{ bytes: Buffer }>`select lo_get(oid) as bytes from artifact_objects
      where sha256 = ${sha256}`.execute(this.database.db);
    const row = result.rows[0];
    if (row === undefined) throw blobNotFound(this.kind, sha256);
    return row.bytes;
  }

  async delete(sha256: string): Promise<void> {
    assertDigest(sha256, 'postgres blob store delete');
    // One statement: the row and its large object go together or not at all.
    await sql`with removed as (delete from artifact_objects where sha256 = ${sha256} returning oid)
      select lo_unlink(oid) from removed`.execute(this.database.db);
  }

  async list(): Promise<string[]> {
    const result = await sql<{ sha256: string }>`select sha256 from artifact_objects order by sha256`.execute(
      this.database.db,
    );
    return result.rows.map((row) => row.sha256).filter(isDigest);
  }
}
