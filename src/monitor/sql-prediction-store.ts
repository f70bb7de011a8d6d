import { sql } from 'kysely';
import type { Expression, Insertable, Kysely, SqlBool } from 'kysely';
import { SlipwayError, invalid } from '../core/errors.js';
import type { Database } from '../store/database.js';
import type { DatabaseSchema, PredictionTable } from '../store/schema.js';
import { MAX_QUERY_ROWS, MAX_READ_ROWS } from './prediction-store.js';
import type {
  EncodedPrediction,
  FeedbackFilter,
  FeedbackItem,
  PredictionEntry,
  PredictionFilter,
  PredictionPage,
  PredictionPageQuery,
  PredictionQuery,
  PredictionStore,
  PredictionWithFeedback,
  StoredPrediction,
} from './prediction-store.js';
import { encodeTensors } from './tensor-blob.js';
import { bound, checkedRowCount, matching, toStored } from './prediction-rows.js';

type Db = Kysely<DatabaseSchema>;

/** SQLite binds at most 32,766 variables per statement (PostgreSQL 65,535). */
const MAX_VARIABLES = 32_766;
const PREDICTION_COLUMNS = 11;
const FEEDBACK_COLUMNS = 4;
/** Rows per multi-row insert: well under the variable limit, and measured near the fastest. */
const ROWS_PER_INSERT = Math.min(500, Math.floor(MAX_VARIABLES / PREDICTION_COLUMNS));
const FEEDBACK_PER_INSERT = Math.floor(MAX_VARIABLES / FEEDBACK_COLUMNS);
/** Rows per retention delete: each is its own short transaction, so other writers wait little. */
const DELETE_CHUNK = 5_000;
const DEFAULT_QUERY_LIMIT = 100;
const DEFAULT_JOINED_ROWS = 10_000;
/** Ids summed per step of a byte trim. */
const TRIM_RANGE = 50_000;

/**
 * The prediction log over Kysely, for SQLite and PostgreSQL alike. Tensors are stored as tensor
 * blobs (tensor-blob.ts), times as epoch-millisecond integers (fractions are truncated on write;
 * `since`/`until` bounds compare as if rounded up, which is exact for integer times).
 *
 * `close()` only marks the store closed: the Database belongs to whoever opened it, who closes it
 * (several stores share one).
 *
 * @example
 * const store = new SqlPredictionStore(await openDatabase({ sqlitePath: 'slipway.db' }));
 * const recent = await store.query({ model: 'fraud', limit: 20 });
 */
export class SqlPredictionStore implements PredictionStore {
  readonly #database: Database;
  #closed = false;
  #insertAll: ((rows: readonly EncodedPrediction[]) => void) | undefined;

  constructor(database: Database) {
    this.#database = database;
  }

  get #db(): Db {
    if (this.#closed) throw new SlipwayError('UNAVAILABLE', 'the prediction store is closed');
    return this.#database.db;
  }

  async append(entries: readonly PredictionEntry[]): Promise<void> {
    await this.appendEncoded(entries.map(encodeEntry));
  }

  async appendEncoded(rows: readonly EncodedPrediction[]): Promise<void> {
    if (rows.length === 0) return;
    const { sqlite } = this.#database;
    if (sqlite !== undefined) {
      // One prepared statement run per row in one BEGIN IMMEDIATE transaction: ~4× less CPU than
      // Kysely's multi-row inserts, which SQLite re-prepares every time (measured in the writer thread).
      await this.#db.connection().execute(async () => {
        this.#insertAll ??= prepareInsertAll(sqlite);
        this.#insertAll(rows);
        return Promise.resolve();
      });
      return;
    }
    const values = rows.map(toInsertable);
    await this.#db.transaction().execute(async (trx) => {
      for (let start = 0; start < values.length; start += ROWS_PER_INSERT) {
        await trx
          .insertInto('predictions')
          .values(values.slice(start, start + ROWS_PER_INSERT))
          .execute();
      }
    });
  }

  async query(query: PredictionQuery): Promise<StoredPrediction[]> {
    const limit = checkedRowCount('limit', query.limit ?? DEFAULT_QUERY_LIMIT, MAX_QUERY_ROWS);
    const order = query.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw invalid(`order "${String(order)}": expected asc or desc`);
    const rows = await this.#db
      .selectFrom('predictions')
      .selectAll()
      .where(matching(query))
      .orderBy('time_ms', order)
      .orderBy('id', order)
      .limit(limit)
      .execute();
    return rows.map(toStored);
  }

  async page(query: PredictionPageQuery): Promise<PredictionPage> {
    const limit = checkedRowCount('limit', query.limit ?? DEFAULT_QUERY_LIMIT, MAX_QUERY_ROWS);
    const order = query.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw invalid(`order "${String(order)}": expected asc or desc`);
    const { maxBytes, after } = query;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
      throw invalid(`maxBytes ${String(maxBytes)}: expected a whole number of bytes >= 1`);
    const conditions: Expression<SqlBool>[] = [matching(query)];
    if (after !== undefined) {
      const t = bound('after time', after.timeMs);
      const id = after.id;
      if (!Number.isSafeInteger(id)) throw invalid(`after id ${String(id)}: expected a whole number`);
      conditions.push(
        order === 'asc'
          ? sql<SqlBool>`(time_ms > ${t} or (time_ms = ${t} and id > ${id}))`
          : sql<SqlBool>`(time_ms < ${t} or (time_ms = ${t} and id < ${id}))`,
      );
    }
    const db = this.#db;
    // Sizes first (no blob is read), then only the rows that fit the byte budget.
    const sizes = await db
      .selectFrom('predictions')
      .select(['id', 'time_ms', this.#rowBytes().as('n')])
      .where(sql<SqlBool>`${sql.join(conditions, sql` and `)}`)
      .orderBy('time_ms', order)
      .orderBy('id', order)
      .limit(limit + 1)
      .execute();
    const chosen: number[] = [];
    let bytes = 0;
    for (const row of sizes.slice(0, limit)) {
      const n = Number(row.n);
      if (chosen.length > 0 && bytes + n > maxBytes) break;
      chosen.push(Number(row.id));
      bytes += n;
    }
    const last = sizes[chosen.length - 1];
    const next =
      chosen.length < sizes.length && last !== undefined
        ? { timeMs: Number(last.time_ms), id: Number(last.id) }
        : undefined;
    if (chosen.length === 0) return { rows: [], next };
    const rows = await db
      .selectFrom('predictions')
      .selectAll()
      .where('id', 'in', chosen)
      .orderBy('time_ms', order)
      .orderBy('id', order)
      .execute();
    return { rows: rows.map(toStored), next };
  }

  async trimToBytes(maxBytes: number): Promise<number> {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw invalid(`maxBytes ${maxBytes}: expected a whole number >= 0`);
    const db = this.#db;
    // The database's size bounds the log's: under the budget, nothing to count (the usual case).
    if ((await this.#databaseBytes()) <= maxBytes) return 0;
    // Newest first, a range of ids at a time, summed in the database: lengths only, no blob is read.
    const { highest } = await db
      .selectFrom('predictions')
      .select((eb) => eb.fn.max('id').as('highest'))
      .executeTakeFirstOrThrow();
    if (highest === null) return 0;
    let total = 0;
    let cutoff: number | undefined;
    for (let top = Number(highest); top > 0 && cutoff === undefined; top -= TRIM_RANGE) {
      const sizes = await db
        .selectFrom('predictions')
        .select(['id', this.#rowBytes().as('n')])
        .where('id', '<=', top)
        .where('id', '>', top - TRIM_RANGE)
        .orderBy('id', 'desc')
        .execute();
      for (const row of sizes) {
        total += Number(row.n);
        if (total > maxBytes) {
          cutoff = Number(row.id);
          break;
        }
      }
    }
    if (cutoff === undefined) return 0;
    const last = cutoff;
    return deleteInChunks(() =>
      db
        .deleteFrom('predictions')
        .where(
          'id',
          'in',
          db.selectFrom('predictions').select('id').where('id', '<=', last).orderBy('id').limit(DELETE_CHUNK),
        )
        .executeTakeFirst(),
    );
  }

  /** Stored bytes of a row: its tensor blobs and JSON. */
  #rowBytes() {
    const length = this.#database.dialect === 'sqlite' ? sql.raw('length') : sql.raw('octet_length');
    return sql<number>`(${length}(inputs) + ${length}(outputs) + coalesce(${length}(shadow), 0) + coalesce(${length}(features), 0))`;
  }

  /** Bytes in use by the database (SQLite: pages not free) or by the predictions table and its indexes (PostgreSQL). */
  async #databaseBytes(): Promise<number> {
    const db = this.#db;
    if (this.#database.dialect === 'sqlite') {
      const { rows } = await sql<{
        n: number;
      }>`select (page_count - freelist_count) * page_size as n from pragma_page_count(), pragma_freelist_count(), pragma_page_size()`.execute(
        db,
      );
      return Number(rows[0]?.n ?? 0);
    }
    const { rows } = await sql<{ n: string }>`select pg_total_relation_size('predictions') as n`.execute(db);
    return Number(rows[0]?.n ?? 0);
  }

  async count(filter: PredictionFilter): Promise<number> {
    const row = await this.#db
      .selectFrom('predictions')
      .select((eb) => eb.fn.countAll().as('n'))
      .where(matching(filter))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async sample(filter: PredictionFilter & { readonly maxRows: number }): Promise<StoredPrediction[]> {
    const maxRows = checkedRowCount('maxRows', filter.maxRows, MAX_READ_ROWS);
    const n = await this.count(filter);
    const db = this.#db;
    if (n <= maxRows) {
      const rows = await db
        .selectFrom('predictions')
        .selectAll()
        .where(matching(filter))
        .orderBy('id')
        .limit(maxRows)
        .execute();
      return rows.map(toStored);
    }
    const k = Math.ceil(n / maxRows);
    const offset = Math.floor(k / 2);
    // Numbered in a narrow subquery (ids only, from an index where one applies); blobs are read for the chosen rows only.
    const numbered = db
      .selectFrom('predictions')
      .select(['id', sql<number>`row_number() over (order by id)`.as('rn')])
      .where(matching(filter));
    const chosen = db
      .selectFrom(numbered.as('numbered'))
      .select('numbered.id')
      .where(sql<number>`(numbered.rn - 1) % ${sql.lit(k)}`, '=', sql.lit(offset));
    // A row count that grew since count() could give a few more than maxRows: the limit keeps the bound.
    const rows = await db
      .selectFrom('predictions')
      .selectAll()
      .where('id', 'in', chosen)
      .orderBy('id')
      .limit(maxRows)
      .execute();
    return rows.map(toStored);
  }

  async first(filter: PredictionFilter & { readonly limit: number }): Promise<StoredPrediction[]> {
    const limit = checkedRowCount('limit', filter.limit, MAX_READ_ROWS);
    const rows = await this.#db
      .selectFrom('predictions')
      .selectAll()
      .where(matching(filter))
      .orderBy('time_ms')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toStored);
  }

  async addFeedback(items: readonly FeedbackItem[]): Promise<number> {
    const latest = new Map<string, FeedbackItem>();
    items.forEach((item, index) => {
      checkFeedback(item, index);
      latest.set(item.requestId, item);
    });
    if (latest.size === 0) return 0;
    const receivedAt = Date.now();
    const values = [...latest.values()].map((item) => ({
      request_id: item.requestId,
      label: item.label ?? null,
      value: item.value ?? null,
      received_at_ms: receivedAt,
    }));
    await this.#db.transaction().execute(async (trx) => {
      for (let start = 0; start < values.length; start += FEEDBACK_PER_INSERT) {
        await trx
          .insertInto('feedback')
          .values(values.slice(start, start + FEEDBACK_PER_INSERT))
          .onConflict((conflict) =>
            conflict.column('request_id').doUpdateSet((eb) => ({
              label: eb.ref('excluded.label'),
              value: eb.ref('excluded.value'),
              received_at_ms: eb.ref('excluded.received_at_ms'),
            })),
          )
          .execute();
      }
    });
    return latest.size;
  }

  async joinedFeedback(filter: FeedbackFilter, maxRows = DEFAULT_JOINED_ROWS): Promise<PredictionWithFeedback[]> {
    const limit = checkedRowCount('maxRows', maxRows, MAX_READ_ROWS);
    if (typeof filter.model !== 'string') throw invalid('joinedFeedback needs a model');
    const rows = await this.#db
      .selectFrom('predictions as p')
      .innerJoin('feedback as f', 'f.request_id', 'p.request_id')
      .selectAll('p')
      .select(['f.label', 'f.value'])
      .where(matching(filter, 'p.'))
      .orderBy('p.time_ms', 'desc')
      .orderBy('p.id', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().map((row) => ({ ...toStored(row), label: row.label, value: row.value }));
  }

  async deleteBefore(timeMs: number): Promise<number> {
    const before = bound('timeMs', timeMs);
    const db = this.#db;
    const deleted = await deleteInChunks(() =>
      db
        .deleteFrom('predictions')
        .where('id', 'in', db.selectFrom('predictions').select('id').where('time_ms', '<', before).limit(DELETE_CHUNK))
        .executeTakeFirst(),
    );
    await deleteInChunks(() =>
      db
        .deleteFrom('feedback')
        .where(
          'request_id',
          'in',
          db.selectFrom('feedback').select('request_id').where('received_at_ms', '<', before).limit(DELETE_CHUNK),
        )
        .executeTakeFirst(),
    );
    return deleted;
  }

  async trimToRows(maxRows: number): Promise<number> {
    if (!Number.isSafeInteger(maxRows) || maxRows < 0)
      throw invalid(`maxRows ${maxRows}: expected a whole number >= 0`);
    const db = this.#db;
    const { highest } = await db
      .selectFrom('predictions')
      .select((eb) => eb.fn.max('id').as('highest'))
      .executeTakeFirstOrThrow();
    if (highest === null) return 0;
    const cutoff = Number(highest) - maxRows;
    if (cutoff < 1) return 0;
    return deleteInChunks(() =>
      db
        .deleteFrom('predictions')
        .where(
          'id',
          'in',
          db.selectFrom('predictions').select('id').where('id', '<=', cutoff).orderBy('id').limit(DELETE_CHUNK),
        )
        .executeTakeFirst(),
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/** An entry in its stored form. */
export function encodeEntry(entry: PredictionEntry): EncodedPrediction {
  return {
    requestId: entry.requestId,
    timeMs: entry.timeMs,
    deployment: entry.deployment ?? null,
    model: entry.model,
    version: entry.version,
    protocol: entry.protocol,
    latencyMs: entry.latencyMs,
    inputs: encodeTensors(entry.inputs),
    outputs: encodeTensors(entry.outputs),
    shadow: jsonOrNull(entry.shadow),
    features: jsonOrNull(entry.features),
  };
}

/** `JSON.stringify`, or null for undefined (and anything else JSON cannot hold). */
export function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : (JSON.stringify(value) ?? null);
}

function toInsertable(row: EncodedPrediction): Insertable<PredictionTable> {
  return {
    request_id: row.requestId,
    time_ms: Math.trunc(row.timeMs),
    deployment: row.deployment,
    model: row.model,
    version: row.version,
    protocol: row.protocol,
    latency_ms: row.latencyMs,
    inputs: row.inputs,
    outputs: row.outputs,
    shadow: row.shadow,
    features: row.features,
  };
}

function checkFeedback(item: FeedbackItem, index: number): void {
  const where = `feedback item ${index}`;
  if (typeof item.requestId !== 'string' || item.requestId === '')
    throw invalid(`${where}: requestId must be a non-empty string`);
  if (item.label !== undefined && typeof item.label !== 'string') throw invalid(`${where}: label must be a string`);
  if (item.value !== undefined && (typeof item.value !== 'number' || !Number.isFinite(item.value)))
    throw invalid(`${where}: value must be a finite number`);
  if (item.label === undefined && item.value === undefined) throw invalid(`${where}: give a label, a value or both`);
}

async function deleteInChunks(deleteChunk: () => Promise<{ numDeletedRows: bigint }>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = Number((await deleteChunk()).numDeletedRows);
    total += deleted;
    if (deleted < DELETE_CHUNK) return total;
  }
}

function prepareInsertAll(sqlite: NonNullable<Database['sqlite']>): (rows: readonly EncodedPrediction[]) => void {
  const insert = sqlite.prepare(
    'insert into predictions (request_id, time_ms, deployment, model, version, protocol, latency_ms, inputs, outputs, shadow, features) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const insertAll = sqlite.transaction((rows: readonly EncodedPrediction[]) => {
    for (const row of rows) {
      insert.run(
        row.requestId,
        Math.trunc(row.timeMs),
        row.deployment,
        row.model,
        row.version,
        row.protocol,
        row.latencyMs,
        row.inputs,
        row.outputs,
        row.shadow,
        row.features,
      );
    }
  });
  return (rows) => insertAll.immediate(rows);
}
