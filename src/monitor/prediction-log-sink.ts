import { sql } from 'kysely';
import { SlipwayError } from '../core/errors.js';
import { openDatabase } from '../store/database.js';
import type { Database, OpenDatabaseOptions } from '../store/database.js';
import { unpackBatch } from './prediction-batch.js';
import type { PackedBatch } from './prediction-batch.js';
import type { PredictionStore } from './prediction-store.js';
import { SqlPredictionStore } from './sql-prediction-store.js';
import { isConnectionError } from '../store/database-errors.js';

/** While the database is unreachable, a batch is tried again this often. */
const OUTAGE_RETRY_MS = 1000;

/**
 * The writing end of the prediction log, the same in the writer thread and inline: it stores
 * packed batches one at a time, retrying a failed one, and applies retention on a timer.
 */

export interface RetentionOptions {
  /** How often to apply retention, ms. */
  readonly checkMs: number;
  /** Delete predictions older than this, ms; Infinity keeps them. */
  readonly maxAgeMs: number;
  /** Keep at most this many predictions; Infinity keeps them all. */
  readonly maxRows: number;
  /** Keep at most about this many bytes of predictions (the newest); Infinity: no byte budget. */
  readonly maxBytes?: number;
}

export interface PredictionSinkOptions {
  readonly retention: RetentionOptions;
  /** Waits before each retry of a failed batch; its length is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  /** Retention failures (batch failures reject `write` instead). */
  readonly onError: (error: Error) => void;
}

/**
 * Open a store for the log's own connection. On SQLite it commits with `synchronous = NORMAL`:
 * in WAL mode that survives a process crash (only an OS crash or power loss can take the last
 * commits), and it saves an fsync per batch.
 */
export async function openPredictionStore(options: OpenDatabaseOptions): Promise<PredictionStore> {
  const database = await openDatabase(options);
  if (database.dialect === 'sqlite') await sql`pragma synchronous = NORMAL`.execute(database.db);
  return new DatabaseOwningPredictionStore(database);
}

/** A store on a Database this module opened: stores leave their Database open, so its close closes it too. */
class DatabaseOwningPredictionStore extends SqlPredictionStore {
  readonly #owned: Database;

  constructor(database: Database) {
    super(database);
    this.#owned = database;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.#owned.close();
  }
}

export class PredictionSink {
  readonly #store: Promise<PredictionStore>;
  readonly #options: PredictionSinkOptions;
  /** Batches are written one after another, in the order they came. */
  #queue: Promise<unknown> = Promise.resolve();
  #retention: Promise<void> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #ownsStore: boolean;
  #waitForDatabase = true;
  #wake: (() => void) | undefined;
  /** Bytes written since the last retention pass began: a pass starts early once they are a share of the byte budget. */
  #bytesSincePass = 0;

  /** `ownsStore`: close the store with the sink. */
  constructor(store: Promise<PredictionStore>, options: PredictionSinkOptions & { readonly ownsStore: boolean }) {
    this.#store = store;
    this.#options = options;
    this.#ownsStore = options.ownsStore;
    const { checkMs, maxAgeMs, maxRows, maxBytes = Number.POSITIVE_INFINITY } = options.retention;
    if (Number.isFinite(maxAgeMs) || Number.isFinite(maxRows) || Number.isFinite(maxBytes)) {
      this.#timer = setInterval(() => this.#applyRetention(), checkMs);
      this.#timer.unref();
    }
  }

  /** Store a batch; resolves with its row count, rejects once every retry failed. */
  write(batch: PackedBatch): Promise<number> {
    const written = this.#queue.then(async () => {
      const rows = await this.#writeWithRetries(batch);
      // A burst of large rows must not wait for the next timed pass to be trimmed to the byte budget.
      this.#bytesSincePass += batch.byteLength;
      const { maxBytes = Number.POSITIVE_INFINITY } = this.#options.retention;
      if (Number.isFinite(maxBytes) && this.#bytesSincePass > maxBytes / 8) this.#applyRetention();
      return rows;
    });
    this.#queue = written.catch(() => undefined);
    return written;
  }

  /**
   * Stop waiting for an unreachable database: batches get their usual retries, then fail (the
   * log is closing; waiting could hold the process open for as long as the outage lasts).
   */
  stopWaitingForDatabase(): void {
    this.#waitForDatabase = false;
    this.#wake?.();
  }

  /** Finish queued batches and any retention pass, then close the store if the sink owns it. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#queue;
    await this.#retention;
    if (this.#ownsStore) await (await this.#store).close();
  }

  async #writeWithRetries(batch: PackedBatch): Promise<number> {
    const rows = unpackBatch(batch);
    const delays = this.#options.retryDelaysMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await (await this.#store).appendEncoded(rows);
        return rows.length;
      } catch (error) {
        // The database is unreachable: the batch waits for it (the log's pending bounds, rows and
        // bytes, cap what waits; more is dropped and counted there) instead of being given up
        // after a few seconds. Not once the log is closing: then the retries below apply.
        if (this.#waitForDatabase && isConnectionError(error)) {
          attempt = -1;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, OUTAGE_RETRY_MS);
            this.#wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wake = undefined;
          continue;
        }
        const delay = delays[attempt];
        if (delay === undefined) {
          const message = error instanceof Error ? error.message : String(error);
          throw new SlipwayError(
            'UNAVAILABLE',
            `prediction log: a batch of ${rows.length} rows failed ${attempt + 1} times: ${message}`,
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Starts a pass unless one is running; chunked deletes let batch writes in between. */
  #applyRetention(): void {
    if (this.#retention !== undefined) return;
    const { maxAgeMs, maxRows, maxBytes = Number.POSITIVE_INFINITY } = this.#options.retention;
    this.#bytesSincePass = 0;
    this.#retention = (async () => {
      try {
        const store = await this.#store;
        if (Number.isFinite(maxAgeMs)) await store.deleteBefore(Date.now() - maxAgeMs);
        if (Number.isFinite(maxRows)) await store.trimToRows(maxRows);
        if (Number.isFinite(maxBytes)) await store.trimToBytes(maxBytes);
      } catch (error) {
        this.#options.onError(
          new SlipwayError(
            'UNAVAILABLE',
            `prediction log retention failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          ),
        );
      } finally {
        this.#retention = undefined;
      }
    })();
  }
}
