/**
 * Change announcements between processes sharing one database (issue 18 item 2). On PostgreSQL a
 * writer calls `notify` (`pg_notify`, inside its transaction or after it) and every subscriber gets
 * the payload at once over ONE dedicated connection per process that LISTENs; when that connection
 * drops it reconnects with backoff and then calls each subscription's `onReconnect`, since
 * notifications sent while it was away are lost (the subscriber re-reads what it follows). On SQLite
 * there is no other server to tell: the feed is a no-op and the subscribers' polls stay in charge.
 */
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { invalid } from '../core/errors.js';
import type { Database, OpenDatabaseOptions } from './database.js';
import type { DatabaseSchema } from './schema.js';

export interface SubscribeOptions {
  /** Called after the LISTEN connection came back (or first came up after failing): re-read what you follow. */
  readonly onReconnect?: () => void;
}

export interface ChangeFeed {
  /** Whether notifications arrive (PostgreSQL); false = a no-op feed, the caller's poll does the work. */
  readonly live: boolean;
  /** Announce a change on `channel`; pass the write's transaction to announce it exactly when it commits. */
  notify(channel: string, payload?: string, executor?: Kysely<DatabaseSchema>): Promise<void>;
  /**
   * Call `handler` with each payload announced on `channel`. Resolves once listening (or, when the
   * database is unreachable, once the first attempt failed: the feed keeps trying and calls
   * `onReconnect` when it gets through). Resolves to an unsubscribe.
   */
  subscribe(
    channel: string,
    handler: (payload: string) => void,
    options?: SubscribeOptions,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface ChangeFeedOptions {
  /** Told about a lost connection, a failed reconnect or a handler that threw. */
  readonly onError?: (error: unknown) => void;
  /** First reconnect delay (default 100 ms), doubled per failed attempt up to `maxBackoffMs` (default 5,000 ms). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A `select 1` on the LISTEN connection this often finds a peer that stopped answering (default 15,000 ms; 0 = off). */
  readonly heartbeatMs?: number;
  /** A query on the LISTEN connection (LISTEN, the heartbeat) with no answer after this long drops it (default 5,000 ms). */
  readonly queryTimeoutMs?: number;
  /** Connect timeout of the LISTEN connection (default 5,000 ms). */
  readonly connectTimeoutMs?: number;
}

/** PostgreSQL channel names are identifiers: at most 63 bytes. */
const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;
const MAX_CHANNEL_BYTES = 63;
/** pg_notify refuses payloads of 8,000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7_999;

/**
 * The feed for an open database: LISTEN/NOTIFY on PostgreSQL, a no-op on SQLite. `connection` is
 * how `database` was opened (its URL and schema: channels are per database, so a schema's name
 * prefixes them and two schemas in one database never hear each other).
 */
export function openChangeFeed(
  database: Database,
  connection: OpenDatabaseOptions,
  options: ChangeFeedOptions = {},
): ChangeFeed {
  if (database.dialect === 'sqlite') return new PollingOnlyChangeFeed();
  if (connection.postgresUrl === undefined)
    throw invalid('openChangeFeed: a PostgreSQL database needs its connection options (postgresUrl)');
  return new PostgresChangeFeed(database, connection.postgresUrl, connection.postgresSchema, options);
}

/** SQLite: one server per database, nothing to announce; subscribers keep polling. */
export class PollingOnlyChangeFeed implements ChangeFeed {
  readonly live = false;

  notify(channel: string, payload = ''): Promise<void> {
    try {
      checkChannel(channel);
      checkPayload(channel, payload);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  subscribe(channel: string): Promise<() => Promise<void>> {
    try {
      checkChannel(channel);
      return Promise.resolve(() => Promise.resolve());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async close(): Promise<void> {}
}

interface Subscription {
  readonly name: string;
  readonly handler: (payload: string) => void;
  readonly onReconnect: (() => void) | undefined;
  /** Notifications may have been missed since it last listened: call onReconnect once listening again. */
  stale: boolean;
}

/** LISTEN/NOTIFY over one dedicated connection, reconnecting with backoff. */
export class PostgresChangeFeed implements ChangeFeed {
  readonly live = true;
  /** Connections made after the first (for tests and reports). */
  reconnects = 0;
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #everConnected = false;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #subscriptions = new Set<Subscription>();

  constructor(
    private readonly database: Database,
    private readonly url: string,
    private readonly schema: string | undefined,
    private readonly options: ChangeFeedOptions = {},
  ) {}

  /** Whether the LISTEN connection is up now. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  async notify(channel: string, payload = '', executor?: Kysely<DatabaseSchema>): Promise<void> {
    const name = this.#channelName(channel);
    checkPayload(channel, payload);
    await sql`select pg_notify(${name}, ${payload})`.execute(executor ?? this.database.db);
  }

  async subscribe(
    channel: string,
    handler: (payload: string) => void,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    if (this.#closed) throw invalid(`change feed: subscribe to "${channel}" after close`);
    const subscription: Subscription = {
      name: this.#channelName(channel),
      handler,
      onReconnect: options.onReconnect,
      stale: false,
    };
    this.#subscriptions.add(subscription);
    if (this.#client === undefined) await this.#connect(); // listens to every subscription
    const client = this.#client;
    if (client === undefined) subscription.stale = true;
    else {
      try {
        await client.query(`LISTEN ${quoteIdentifier(subscription.name)}`);
      } catch (error) {
        subscription.stale = true;
        this.#lost(client, error);
      }
    }
    return () => this.#unsubscribe(subscription);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    this.#subscriptions.clear();
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    // A peer that stopped answering never acknowledges the end: do not wait for it longer than a second.
    if (client !== undefined) await Promise.race([client.end().catch(() => undefined), delay(1_000)]);
  }

  async #unsubscribe(subscription: Subscription): Promise<void> {
    if (!this.#subscriptions.delete(subscription)) return;
    if ([...this.#subscriptions].some((s) => s.name === subscription.name)) return;
    await this.#client?.query(`UNLISTEN ${quoteIdentifier(subscription.name)}`).catch(() => undefined);
  }

  #channelName(channel: string): string {
    checkChannel(channel);
    const name = this.schema === undefined ? channel : `${this.schema}:${channel}`;
    if (Buffer.byteLength(name) > MAX_CHANNEL_BYTES)
      throw invalid(`change feed channel "${name}": at most ${MAX_CHANNEL_BYTES} bytes with the schema prefix`);
    return name;
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#connectOnce().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connectOnce(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5_000,
      keepAlive: true,
      query_timeout: this.options.queryTimeoutMs ?? 5_000,
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('LISTEN connection ended')));
    client.on('notification', (message) => this.#dispatch(message.channel, message.payload ?? ''));
    try {
      await client.connect();
      for (const name of new Set([...this.#subscriptions].map((s) => s.name)))
        await client.query(`LISTEN ${quoteIdentifier(name)}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      for (const subscription of this.#subscriptions) subscription.stale = true;
      this.options.onError?.(error);
      this.#scheduleRetry();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#attempt = 0;
    if (this.#everConnected) this.reconnects++;
    this.#everConnected = true;
    this.#startHeartbeat(client);
    for (const subscription of this.#subscriptions) {
      if (!subscription.stale) continue;
      subscription.stale = false;
      this.#call(() => subscription.onReconnect?.());
    }
  }

  /** The connection `client` failed: forget it, mark every subscription stale, reconnect later. */
  #lost(client: pg.Client, error: unknown): void {
    if (this.#client !== client) return; // a connection still being set up: #connectOnce handles it
    this.#client = undefined;
    clearInterval(this.#heartbeat);
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    for (const subscription of this.#subscriptions) subscription.stale = true;
    if (this.#closed) return;
    this.options.onError?.(error);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retry !== undefined) return;
    const min = this.options.minBackoffMs ?? 100;
    const delay = Math.min(this.options.maxBackoffMs ?? 5_000, min * 2 ** this.#attempt++);
    // Jitter: servers that lost the database together do not all come back in the same millisecond.
    this.#retry = setTimeout(
      () => {
        this.#retry = undefined;
        void this.#connect();
      },
      delay * (0.75 + Math.random() * 0.5),
    );
    this.#retry.unref();
  }

  #startHeartbeat(client: pg.Client): void {
    const every = this.options.heartbeatMs ?? 15_000;
    if (every <= 0) return;
    this.#heartbeat = setInterval(() => {
      client.query('select 1').catch((error: unknown) => this.#lost(client, error));
    }, every);
    this.#heartbeat.unref();
  }

  #dispatch(name: string, payload: string): void {
    for (const subscription of this.#subscriptions)
      if (subscription.name === name) this.#call(() => subscription.handler(payload));
  }

  #call(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}

function checkChannel(channel: string): void {
  if (!CHANNEL_NAME.test(channel) || channel.length > MAX_CHANNEL_BYTES)
    throw invalid(`change feed channel "${channel}": expected lower-case letters, digits and underscores`);
}

function checkPayload(channel: string, payload: string): void {
  if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES)
    throw invalid(
      `change feed payload on "${channel}": at most ${MAX_PAYLOAD_BYTES} bytes (PostgreSQL's NOTIFY limit)`,
    );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
