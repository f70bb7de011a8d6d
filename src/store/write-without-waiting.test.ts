import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, writeWithoutWaiting, type Database } from './database.js';
import { isRetryableWriteError } from './database-errors.js';

describe('writeWithoutWaiting on SQLite', () => {
  let folder: string;
  let database: Database;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-busy-'));
    database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
  });
  afterEach(async () => {
    await database.close();
    await rm(folder, { recursive: true, force: true });
  });

  const row = (revision: number) => ({
    deployment: 'd',
    revision,
    spec: '{}',
    why: null,
    source: 'user',
    created_ms: 1,
  });

  it('gives up at once while another connection holds the write lock, then writes once it is free, and leaves the busy timeout as it was', async () => {
    // Another connection (as the prediction log's writer thread has) takes the write lock.
    const other = new BetterSqlite3(path.join(folder, 'slipway.db'));
    other.prepare('BEGIN IMMEDIATE').run();
    const started = performance.now();
    const error = await writeWithoutWaiting(database, (trx) =>
      trx.insertInto('deployment_revisions').values(row(1)).execute(),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(500);
    expect(isRetryableWriteError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('SQLITE_BUSY');
    other.prepare('COMMIT').run();
    other.close();
    await writeWithoutWaiting(database, (trx) => trx.insertInto('deployment_revisions').values(row(2)).execute());
    expect(
      (await database.db.selectFrom('deployment_revisions').select('revision').execute()).map((r) => r.revision),
    ).toEqual([2]);
    expect(database.sqlite!.pragma('busy_timeout', { simple: true })).toBe(5000);
  });
});
