import { sql, type Kysely, type Migration } from 'kysely';

/**
 * API tokens (src/auth/token-store.ts): who may call the server and with which role. Only a scrypt
 * hash of each secret is kept, with its own salt; the secret is shown once, at creation. A name is
 * unique among tokens not revoked (a partial index, on both dialects), so a revoked name can be reused.
 */
export const apiTokensMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('models', 'text')
      .addColumn('salt', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await sql`create unique index api_tokens_active_name on api_tokens (name) where revoked_at is null`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('api_tokens').execute();
  },
};
