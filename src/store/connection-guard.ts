/**
 * The store boundary for PostgreSQL connection faults: a Kysely driver wrapper that
 *
 * - maps connection failures (refused, timed out, cut, server shutting down; database-errors.ts)
 *   to `SlipwayError('UNAVAILABLE')` with a Retry-After, so callers answer 503 instead of 500 and
 *   never need to know pg's error shapes (statement errors such as unique violations pass unchanged);
 * - tracks whether the database is reachable: a failed connect marks it down (since when, why),
 *   any query that succeeds marks it up again;
 * - fails fast while it is down: every caller gets UNAVAILABLE at once instead of queueing
 *   behind a peer that may never answer (a connect timeout each);
 * - probes by itself once a second while down (one probe at a time), and lets callers through
 *   again as soon as one succeeds.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { SlipwayError } from '../core/errors.js';
import { isConnectionError } from './database-errors.js';

/** Whether the database answers, as this process last saw it. */
export interface DatabaseHealth {
  readonly up: boolean;
  /** When it was first seen unreachable (epoch ms); undefined while up. */
  readonly downSince: number | undefined;
  /** The last connection failure while down. */
  readonly reason: string | undefined;
}

/** What a client should wait before trying again while the database is down. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

const PROBE_INTERVAL_MS = 1000;
/** pg-pool's message when no connection came free within the connect timeout. */
const POOL_EXHAUSTED = /timeout exceeded when trying to connect/i;

export class ConnectionGuard {
  #downSince: number | undefined;
  #reason: string | undefined;
  #probing = false;
  /** The connect failure behind `#reason`: the cause of the fail-fast errors (isConnectionError looks there). */
  #lastError: unknown;
  #probeTimer: NodeJS.Timeout | undefined;
  #probe: (() => Promise<void>) | undefined;
  readonly #listeners = new Set<(health: DatabaseHealth) => void>();

  /** `where`: host:port/database, named in every error (never the password). */
  constructor(readonly where: string) {}

  health(): DatabaseHealth {
    return { up: this.#downSince === undefined, downSince: this.#downSince, reason: this.#reason };
  }

  /** Called on every change between up and down. */
  onChange(listener: (health: DatabaseHealth) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How the guard checks the server while down: a `select 1` on the pool itself (admit would refuse it). */
  setProbe(probe: () => Promise<void>): void {
    this.#probe = probe;
  }

  wrap(inner: Driver): Driver {
    return new GuardedDriver(inner, this);
  }

  stop(): void {
    clearInterval(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  /**
   * Before a connect: while the database is down, fail at once (UNAVAILABLE) rather than queue
   * behind a peer that may never answer; the guard's own probe finds out when it is back.
   */
  admit(): void {
    if (this.#downSince === undefined) return;
    throw this.#unavailable(
      `PostgreSQL at ${this.where} is unreachable since ${new Date(this.#downSince).toISOString()}: ${this.#reason ?? 'unknown'}`,
      this.#lastError,
    );
  }

  /** The server answered (a result, or a statement error: either way it is reachable). */
  succeeded(): void {
    if (this.#downSince === undefined) return;
    this.#downSince = undefined;
    this.#reason = undefined;
    this.#lastError = undefined;
    this.stop();
    this.#emit();
  }

  /**
   * Map a failure: connection failures become UNAVAILABLE, and a failed connect marks the
   * database down; any other error means the server answered and is returned
   * unchanged.
   */
  failed(error: unknown, connecting: boolean): unknown {
    if (error instanceof SlipwayError) return error;
    if (!isConnectionError(error)) {
      this.succeeded();
      return error;
    }
    const message = error instanceof Error ? error.message || error.name : String(error);
    // A full pool (every connection busy) is contention, and a connection cut while it was being
    // made is a blip: neither says the server is unreachable. Refused or unanswered connects do.
    if (connecting && !POOL_EXHAUSTED.test(message) && !wasCut(error)) {
      this.#reason = message;
      this.#lastError = error;
      if (this.#downSince === undefined) {
        this.#downSince = Date.now();
        this.#startProbing();
        this.#emit();
      }
    }
    return this.#unavailable(`PostgreSQL at ${this.where}: ${message}`, error);
  }

  #unavailable(message: string, cause?: unknown): SlipwayError {
    return new SlipwayError('UNAVAILABLE', message, {
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
      ...(cause === undefined ? {} : { cause }),
    });
  }

  #startProbing(): void {
    if (this.#probeTimer !== undefined || this.#probe === undefined) return;
    const probe = this.#probe;
    this.#probeTimer = setInterval(() => {
      if (this.#probing) return;
      this.#probing = true;
      probe()
        .then(
          () => this.succeeded(),
          (error: unknown) => this.failed(error, true),
        )
        .finally(() => (this.#probing = false));
    }, PROBE_INTERVAL_MS);
    this.#probeTimer.unref();
  }

  #emit(): void {
    const health = this.health();
    for (const listener of this.#listeners) {
      try {
        listener(health);
      } catch {
        // A listener's failure is not the database's.
      }
    }
  }
}

/** Kysely's PostgreSQL driver with every call's connection failures mapped by the guard. */
class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly guard: ConnectionGuard,
  ) {}

  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.#call(async () => this.inner.savepoint?.(unwrap(connection), name, compile));
  }

  rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#call(async () => this.inner.rollbackToSavepoint?.(unwrap(connection), name, compile));
  }

  releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.#call(async () => this.inner.releaseSavepoint?.(unwrap(connection), name, compile));
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    this.guard.admit();
    let connection: DatabaseConnection;
    try {
      connection = await this.inner.acquireConnection();
    } catch (error) {
      throw this.guard.failed(error, true);
    }
    // Not marked up yet: an idle pooled connection proves nothing until a query comes back.
    return new GuardedConnection(connection, this.guard);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#call(() => this.inner.beginTransaction(unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#call(() => this.inner.commitTransaction(unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#call(() => this.inner.rollbackTransaction(unwrap(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }

  async destroy(): Promise<void> {
    this.guard.stop();
    await this.inner.destroy();
  }

  async #call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.guard.failed(error, false);
    }
  }
}

class GuardedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly guard: ConnectionGuard,
  ) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      const result = await this.inner.executeQuery<R>(compiledQuery);
      this.guard.succeeded();
      return result;
    } catch (error) {
      throw this.guard.failed(error, false);
    }
  }

  streamQuery<R>(compiledQuery: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(compiledQuery, chunkSize);
  }
}

function wasCut(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  return code === 'ECONNRESET' || code === 'EPIPE' || /terminated unexpectedly/i.test(message);
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof GuardedConnection ? connection.inner : connection;
}
