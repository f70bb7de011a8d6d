import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { rejection } from '../testing/rejection.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import { openDatabase, type Database } from './database.js';
import { isConnectionError } from './database-errors.js';

/**
 * PostgreSQL connection faults (issue 13 items 3-5), through a real TCP proxy in front of the real
 * server: connections cut mid-query, the server refusing, a peer that never answers.
 */
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(postgres.skipReason !== undefined)('PostgreSQL through a faulty network', () => {
  let proxy: TcpProxy;
  let schema: string;
  let url: string;
  const opened: Database[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeEach(async () => {
    proxy = await TcpProxy.start({ target: targetOf(TEST_POSTGRES_URL) });
    const direct = new URL(TEST_POSTGRES_URL);
    direct.host = `127.0.0.1:${proxy.port}`;
    url = direct.toString();
    schema = `slipway_faults_${randomBytes(6).toString('hex')}`;
    uncaught.length = 0;
    process.on('uncaughtException', onUncaught);
  });
  afterEach(async () => {
    process.off('uncaughtException', onUncaught);
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await proxy.close();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  async function open(options: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Promise<Database> {
    const database = await openDatabase({ postgresUrl: url, postgresSchema: schema, ...options });
    opened.push(database);
    return database;
  }

  it('a cut under queries in flight fails them with UNAVAILABLE, does not crash the process, and the pool connects again', async () => {
    const database = await open();
    const queries = Array.from({ length: 5 }, () =>
      sql`select pg_sleep(3)`.execute(database.db).then(
        () => 'answered',
        (error: unknown) => error,
      ),
    );
    // Every query holds its own connection through the proxy (client + server side each).
    await until(() => proxy.open >= 10, 'five connections in flight');
    expect(proxy.cutAll()).toBeGreaterThanOrEqual(5);
    const outcomes = await Promise.all(queries);
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(SlipwayError);
      expect((outcome as SlipwayError).code).toBe('UNAVAILABLE');
      expect((outcome as SlipwayError).message).toContain(`127.0.0.1:${proxy.port}`);
    }
    // Give the sockets' close events a turn to reach the idle and checked-out clients.
    await new Promise((resolve) => setImmediate(resolve));
    const { rows } = await sql<{ n: number }>`select 41 + 1 as n`.execute(database.db);
    expect(rows).toEqual([{ n: 42 }]);
    expect(uncaught).toEqual([]);
    expect(database.health().up).toBe(true);
  });

  it('refused connections: fail fast with UNAVAILABLE and a Retry-After, health says since when, and it recovers by itself', async () => {
    const database = await open();
    const before = Date.now();
    await proxy.pause();
    // The pooled connection was cut with the pause: a query on it fails as cut, the next connect is refused.
    const first = await rejection(sql`select 1`.execute(database.db), 'UNAVAILABLE');
    expect(first.retryAfterSeconds).toBeGreaterThan(0);
    await until(
      async () =>
        (await sql`select 1`.execute(database.db).then(
          () => true,
          () => true,
        )) && !database.health().up,
      'a refused connect',
    );
    const health = database.health();
    expect(health.up).toBe(false);
    expect(health.downSince).toBeGreaterThanOrEqual(before);
    expect(health.reason).toMatch(/ECONNREFUSED/);
    // While down, callers are refused without a connect attempt of their own.
    const second = await rejection(sql`select 1`.execute(database.db), 'UNAVAILABLE');
    expect(second.message).toContain('is unreachable since');
    // Its cause is the refused connect, so callers can tell a connection failure (database-errors.ts).
    expect(isConnectionError(second)).toBe(true);
    const changes: boolean[] = [];
    database.onHealthChange((h) => changes.push(h.up));
    await proxy.resume();
    await until(() => database.health().up, 'the probe to see the database again');
    expect(changes).toEqual([true]);
    const { rows } = await sql<{ n: number }>`select 7 as n`.execute(database.db);
    expect(rows).toEqual([{ n: 7 }]);
    expect(uncaught).toEqual([]);
  });

  it('a peer that stops answering mid-run: a query gives up after the query timeout with UNAVAILABLE', async () => {
    const database = await open({ queryTimeoutMs: 300 });
    await sql`select 1`.execute(database.db);
    await proxy.freeze();
    const error = await rejection(sql`select 1`.execute(database.db), 'UNAVAILABLE');
    expect(error.message).toMatch(/timeout/i);
    // The hung connection is closed, not handed to the next query: once the network is back
    // (frozen connections stay frozen), the pool connects anew and answers.
    await proxy.resume();
    const { rows } = await sql<{ n: number }>`select 3 as n`.execute(database.db);
    expect(rows).toEqual([{ n: 3 }]);
    expect(uncaught).toEqual([]);
  });

  it('start-up against a peer that never answers fails after the connect timeout, naming host, port and timeout', async () => {
    await proxy.blackhole();
    const error = await rejection(open({ connectTimeoutMs: 500 }), 'UNAVAILABLE');
    expect(error.message).toContain(`cannot reach PostgreSQL at 127.0.0.1:${proxy.port}`);
    expect(error.message).toContain('500 ms');
    expect(error.message).toContain('SLIPWAY_DATABASE_CONNECT_TIMEOUT_MS');
  });
});

function targetOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}
