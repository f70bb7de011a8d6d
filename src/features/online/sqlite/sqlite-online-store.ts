import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SlipwayError } from '../../../core/errors.js';
import {
  assertOpen,
  encodeEntityKey,
  toOnlineValues,
  validateRead,
  validateView,
  validateWrite,
} from '../online-store.js';
import type {
  EntityKey,
  FeatureScalar,
  OnlineReadOptions,
  OnlineRow,
  OnlineStore,
  OnlineValue,
  OnlineWriteResult,
} from '../online-store.js';

/** Options for {@link openSqliteOnlineStore}. */
export interface SqliteOnlineStoreOptions {
  /** Database file; `':memory:'` for a private in-memory store. */
  readonly path: string;
}

/**
 * Layout: ONE table for all views, `online_features(view, entity_key, event_ts, created_ts,
 * values_json)`, primary key `(view, entity_key)`, one row per entity snapshot (not per feature as
 * in Feast): a read of 50 features is one row lookup. `entity_key` is {@link encodeEntityKey};
 * `values_json` is a JSON object, which keeps the number/string/boolean/null types.
 *
 * The stale check runs in SQL (`ON CONFLICT ... DO UPDATE ... WHERE`), a batch is one transaction,
 * and a read of any number of keys is one statement (`IN (SELECT value FROM json_each(?))`).
 */
const SCHEMA = `
create table if not exists online_features (
  view text not null,
  entity_key text not null,
  event_ts real not null,
  created_ts real not null,
  values_json text not null,
  primary key (view, entity_key)
) without rowid`;

const UPSERT = `
insert into online_features (view, entity_key, event_ts, created_ts, values_json) values (?, ?, ?, ?, ?)
on conflict (view, entity_key) do update set
  event_ts = excluded.event_ts, created_ts = excluded.created_ts, values_json = excluded.values_json
where excluded.event_ts > online_features.event_ts
   or (excluded.event_ts = online_features.event_ts and excluded.created_ts > online_features.created_ts)`;

const READ = `
select entity_key, event_ts, values_json from online_features
where view = ? and entity_key in (select value from json_each(?))`;

interface StoredRow {
  entity_key: string;
  event_ts: number;
  values_json: string;
}

/**
 * Open (creating if needed) a SQLite online store.
 *
 * @example
 * const store = openSqliteOnlineStore({ path: '.slipway/online.db' });
 */
export function openSqliteOnlineStore(options: SqliteOnlineStoreOptions): OnlineStore {
  let db: BetterSqlite3.Database;
  try {
    // The folder is created as the metadata database's is (store/database.ts): a home that does
    // not exist yet (PostgreSQL mode never creates slipway.db there) must not fail here.
    if (options.path !== ':memory:') mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true });
    db = new BetterSqlite3(options.path);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
  } catch (error) {
    throw new SlipwayError('UNAVAILABLE', `cannot open SQLite online store at ${options.path}`, { cause: error });
  }
  return new SqliteOnlineStore(db);
}

/** {@link OnlineStore} on better-sqlite3. Create it with {@link openSqliteOnlineStore}. */
export class SqliteOnlineStore implements OnlineStore {
  readonly #db: BetterSqlite3.Database;
  readonly #upsert: BetterSqlite3.Statement<[string, string, number, number, string]>;
  readonly #read: BetterSqlite3.Statement<[string, string], StoredRow>;
  readonly #deleteView: BetterSqlite3.Statement<[string]>;
  readonly #deleteKeys: BetterSqlite3.Statement<[string, string]>;
  readonly #writeBatch: (view: string, rows: readonly OnlineRow[]) => number;
  #closed = false;

  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
    this.#upsert = db.prepare(UPSERT);
    this.#read = db.prepare(READ);
    this.#deleteView = db.prepare('delete from online_features where view = ?');
    this.#deleteKeys = db.prepare(
      'delete from online_features where view = ? and entity_key in (select value from json_each(?))',
    );
    this.#writeBatch = db.transaction((view: string, rows: readonly OnlineRow[]) => {
      let written = 0;
      for (const row of rows) {
        const values = JSON.stringify(row.values);
        written += this.#upsert.run(
          view,
          encodeEntityKey(row.key),
          row.eventTimeMs,
          row.createdTimeMs ?? 0,
          values,
        ).changes;
      }
      return written;
    });
  }

  write(view: string, rows: readonly OnlineRow[]): Promise<OnlineWriteResult> {
    return settle(() => {
      assertOpen(this.#closed, 'SqliteOnlineStore');
      validateWrite(view, rows);
      const written = rows.length === 0 ? 0 : this.#writeBatch(view, rows);
      return { written, stale: rows.length - written };
    });
  }

  read(
    view: string,
    features: readonly string[],
    keys: readonly EntityKey[],
    options: OnlineReadOptions = {},
  ): Promise<OnlineValue[][]> {
    return settle(() => {
      assertOpen(this.#closed, 'SqliteOnlineStore');
      const clock = validateRead(view, features, options);
      const encoded = keys.map(encodeEntityKey);
      const found = new Map<string, StoredRow>();
      if (encoded.length > 0) {
        for (const row of this.#read.all(view, JSON.stringify([...new Set(encoded)]))) found.set(row.entity_key, row);
      }
      return encoded.map((key) => {
        const row = found.get(key);
        if (row === undefined) return toOnlineValues(features, 0, () => undefined, clock);
        const values = JSON.parse(row.values_json) as Record<string, FeatureScalar>;
        return toOnlineValues(
          features,
          row.event_ts,
          (feature) => (Object.hasOwn(values, feature) ? values[feature] : undefined),
          clock,
        );
      });
    });
  }

  deleteKeys(view: string, keys: readonly EntityKey[]): Promise<number> {
    return settle(() => {
      assertOpen(this.#closed, 'SqliteOnlineStore');
      validateView(view);
      const encoded = [...new Set(keys.map(encodeEntityKey))];
      return encoded.length === 0 ? 0 : this.#deleteKeys.run(view, JSON.stringify(encoded)).changes;
    });
  }

  deleteView(view: string): Promise<void> {
    return settle(() => {
      assertOpen(this.#closed, 'SqliteOnlineStore');
      validateView(view);
      this.#deleteView.run(view);
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

/** Run synchronous work and report its outcome as a promise; unknown errors become SlipwayErrors. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(
      error instanceof SlipwayError
        ? error
        : new SlipwayError('UNAVAILABLE', 'SQLite online store failed', { cause: error }),
    );
  }
}
