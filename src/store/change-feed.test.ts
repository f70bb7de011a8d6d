import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import { openChangeFeed, PostgresChangeFeed, type ChangeFeed } from './change-feed.js';
import { openDatabase, type Database, type OpenDatabaseOptions } from './database.js';

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

/** Wait until `check` holds (polled every 5 ms) or fail naming `what`. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('ChangeFeed on SQLite', () => {
  it('is a no-op feed: notify and subscribe work, nothing is delivered (the poll stays in charge)', async () => {
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-feed-'));
    const options = { sqlitePath: path.join(folder, 'slipway.db') };
    const database = await openDatabase(options);
    try {
      const feed = openChangeFeed(database, options);
      expect(feed.live).toBe(false);
      const heard: string[] = [];
      await feed.subscribe('slipway_deployments', (payload) => heard.push(payload));
      await feed.notify('slipway_deployments', 'fraud-live');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(heard).toEqual([]);
      await expect(feed.notify('Bad-Channel')).rejects.toThrow(/change feed channel "Bad-Channel"/);
      await expect(feed.notify('slipway_deployments', 'x'.repeat(8_000))).rejects.toThrow(/at most 7999 bytes/);
      await feed.close();
    } finally {
      await database.close();
      await fs.rm(folder, { recursive: true, force: true });
    }
  });
});

describe.skipIf(postgres.skipReason !== undefined)('ChangeFeed on PostgreSQL', () => {
  let proxy: TcpProxy;
  let schema: string;
  const opened: Database[] = [];
  const feeds: ChangeFeed[] = [];

  beforeEach(async () => {
    const target = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    schema = `slipway_feed_${randomBytes(6).toString('hex')}`;
  });
  afterEach(async () => {
    await Promise.all(feeds.splice(0).map((f) => f.close()));
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await proxy.close();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  async function feedOn(viaProxy: boolean, inSchema = schema): Promise<PostgresChangeFeed> {
    const url = new URL(TEST_POSTGRES_URL);
    if (viaProxy) url.host = `127.0.0.1:${proxy.port}`;
    const options: OpenDatabaseOptions = { postgresUrl: url.toString(), postgresSchema: inSchema };
    const database = await openDatabase(options);
    opened.push(database);
    const feed = openChangeFeed(database, options, { minBackoffMs: 50, maxBackoffMs: 200 });
    feeds.push(feed);
    expect(feed).toBeInstanceOf(PostgresChangeFeed);
    return feed as PostgresChangeFeed;
  }

  it('delivers a notification to every subscriber of the channel, in order, and only after a transaction commits', async () => {
    const writer = await feedOn(false);
    const reader = await feedOn(false);
    const heard: string[] = [];
    const other: string[] = [];
    await reader.subscribe('slipway_deployments', (payload) => heard.push(payload));
    await reader.subscribe('slipway_aliases', (payload) => other.push(payload));
    for (const name of ['a', 'b', 'c']) await writer.notify('slipway_deployments', name);
    await until(() => heard.length === 3, 2_000, 'three notifications');
    expect(heard).toEqual(['a', 'b', 'c']);
    expect(other).toEqual([]);

    const database = opened[0]!;
    await database.db.transaction().execute(async (trx) => {
      await writer.notify('slipway_deployments', 'in-transaction', trx);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard).toHaveLength(3); // not before the commit
    });
    await until(() => heard.length === 4, 2_000, 'the committed notification');
    expect(heard[3]).toBe('in-transaction');
  });

  it('keeps schemas apart: a notification in one schema is not heard in another on the same database', async () => {
    const writer = await feedOn(false);
    const elsewhere = await feedOn(false, `${schema}_b`);
    const heard: string[] = [];
    await elsewhere.subscribe('slipway_deployments', (payload) => heard.push(payload));
    await writer.notify('slipway_deployments', 'x');
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(heard).toEqual([]);
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`drop schema if exists "${schema}_b" cascade`);
    await client.end();
  });

  it('reconnects after the LISTEN connection is cut, calls onReconnect, and hears notifications again', async () => {
    const writer = await feedOn(false);
    const reader = await feedOn(true);
    const heard: string[] = [];
    let resyncs = 0;
    await reader.subscribe('slipway_deployments', (payload) => heard.push(payload), {
      onReconnect: () => resyncs++,
    });
    await writer.notify('slipway_deployments', 'before');
    await until(() => heard.length === 1, 2_000, 'the first notification');

    await proxy.pause(); // cut every connection through the proxy and refuse new ones
    await until(() => !reader.connected, 2_000, 'the feed noticing the cut');
    await writer.notify('slipway_deployments', 'while-away'); // lost: nobody of the reader listens
    await new Promise((resolve) => setTimeout(resolve, 300)); // a few refused reconnect attempts
    expect(resyncs).toBe(0);
    await proxy.resume();
    await until(() => resyncs === 1, 3_000, 'onReconnect after the connection came back');
    expect(reader.connected).toBe(true);
    expect(reader.reconnects).toBe(1);
    expect(heard).toEqual(['before']);

    await writer.notify('slipway_deployments', 'after');
    await until(() => heard.length === 2, 2_000, 'a notification after the reconnect');
    expect(heard).toEqual(['before', 'after']);
  });

  it('drops a LISTEN connection whose peer stopped answering (heartbeat) and reconnects once it answers again', async () => {
    const writer = await feedOn(false);
    const url = new URL(TEST_POSTGRES_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    const options: OpenDatabaseOptions = { postgresUrl: url.toString(), postgresSchema: schema };
    const reader = openChangeFeed(opened[0]!, options, {
      minBackoffMs: 50,
      maxBackoffMs: 200,
      heartbeatMs: 100,
      queryTimeoutMs: 300,
      connectTimeoutMs: 300,
    }) as PostgresChangeFeed;
    feeds.push(reader);
    const heard: string[] = [];
    let resyncs = 0;
    await reader.subscribe('slipway_deployments', (payload) => heard.push(payload), {
      onReconnect: () => resyncs++,
    });
    expect(reader.connected).toBe(true);

    await proxy.freeze(); // the socket stays open and carries nothing: no error, no end
    await until(() => !reader.connected, 2_000, 'the heartbeat dropping the silent connection');
    await proxy.resume();
    await until(() => resyncs === 1, 3_000, 'onReconnect after the peer answers again');
    await writer.notify('slipway_deployments', 'after');
    await until(() => heard.length === 1, 2_000, 'a notification on the new connection');
    expect(heard).toEqual(['after']);
  });
});
