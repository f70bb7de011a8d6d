import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../store/database.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import { SqlDeploymentStore } from './deployment-store.js';
import { DeploymentRouter } from './router.js';
import { parseDeploymentSpec } from './spec.js';
import { DeploymentSync } from './sync.js';

/**
 * The deployment sync with PostgreSQL unreachable (issue 13 item 4), through a real TCP proxy:
 * the router keeps the revisions it has, and a revision that could not be prepared because the
 * database was down is tried again at the next poll once it is back (not 30 s later, the wait
 * for a revision whose versions fail to load).
 */
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

describe.skipIf(postgres.skipReason !== undefined)('DeploymentSync while PostgreSQL is unreachable', () => {
  let proxy: TcpProxy;
  let schema: string;
  const opened: Database[] = [];

  beforeEach(async () => {
    const target = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    schema = `slipway_sync_${randomBytes(6).toString('hex')}`;
  });
  afterEach(async () => {
    await proxy.resume();
    await Promise.all(opened.splice(0).map((d) => d.close()));
    await proxy.close();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  async function open(viaProxy: boolean): Promise<Database> {
    const url = new URL(TEST_POSTGRES_URL);
    if (viaProxy) url.host = `127.0.0.1:${proxy.port}`;
    const database = await openDatabase({ postgresUrl: url.toString(), postgresSchema: schema });
    opened.push(database);
    return database;
  }

  it('keeps the active revisions through the outage and takes a revision it could not prepare at the next poll after it', async () => {
    const direct = new SqlDeploymentStore(await open(false));
    const proxied = await open(true);
    const router = new DeploymentRouter();
    const errors: unknown[] = [];
    let outageDuringPrepare = false;
    const sync = new DeploymentSync({
      store: new SqlDeploymentStore(proxied),
      router,
      // Loading a version reads the registry: here the database goes away right then.
      prepare: async () => {
        if (!outageDuringPrepare) return;
        outageDuringPrepare = false;
        await proxy.pause();
        await sql`select 1`.execute(proxied.db);
      },
      onError: (error) => errors.push(error),
    });
    await direct.commit('fraud-live', parseDeploymentSpec({ model: 'fraud', routes: ['1.0.0=100'] }), {
      source: 'user',
    });
    await sync.refresh();
    expect(router.get('fraud-live')?.revision).toBe(1);

    await direct.commit('fraud-live', parseDeploymentSpec({ model: 'fraud', routes: ['1.1.0=100'] }), {
      source: 'user',
    });
    outageDuringPrepare = true;
    await sync.refresh(); // revision 2's prepare meets the outage
    await sync.refresh(); // the poll itself fails
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(router.get('fraud-live')?.revision).toBe(1);
    expect(router.get('fraud-live')?.pick(undefined)).toBe('1.0.0');

    await proxy.resume();
    const deadline = Date.now() + 10_000;
    while (router.get('fraud-live')?.revision !== 2 && Date.now() < deadline) {
      await sync.refresh();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(router.get('fraud-live')?.revision).toBe(2);
  });
});
