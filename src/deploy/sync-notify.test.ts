import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RegistryService } from '../registry/registry-service.js';
import { openChangeFeed, type ChangeFeed, type PostgresChangeFeed } from '../store/change-feed.js';
import { openDatabase, type Database, type OpenDatabaseOptions } from '../store/database.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import { SqlControllerStore } from './controller-store.js';
import { DeploymentService } from './deployment-service.js';
import { SqlDeploymentStore } from './deployment-store.js';
import { DeploymentRouter } from './router.js';
import { parseDeploymentSpec } from './spec.js';
import { deploymentAnnouncer, followDeploymentChanges } from './sync-notify.js';
import { DeploymentSync } from './sync.js';

/**
 * Instant propagation between servers (issue 18 item 2): two "servers" (each its own database pool,
 * change feed, router and DeploymentSync) over one PostgreSQL schema, with the poll set to 10 s so
 * only a NOTIFY can explain a change that arrives in milliseconds.
 */
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;
const POLL_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TestServer {
  readonly router: DeploymentRouter;
  readonly sync: DeploymentSync;
  readonly service: DeploymentService;
  readonly feed: ChangeFeed;
  /** performance.now() at which each revision of `live` was installed in this server's router. */
  readonly installedAt: Map<number, number>;
}

describe.skipIf(postgres.skipReason !== undefined)('DeploymentSync with LISTEN/NOTIFY', () => {
  let proxy: TcpProxy;
  let schema: string;
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    const target = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    schema = `slipway_notify_${randomBytes(6).toString('hex')}`;
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await proxy.close();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  /** A server whose LISTEN connection goes through the proxy when `listenViaProxy`. */
  async function startServer(listenViaProxy = false): Promise<TestServer> {
    const options: OpenDatabaseOptions = { postgresUrl: TEST_POSTGRES_URL, postgresSchema: schema };
    const database: Database = await openDatabase(options);
    const listenUrl = new URL(TEST_POSTGRES_URL);
    if (listenViaProxy) listenUrl.host = `127.0.0.1:${proxy.port}`;
    const feed = openChangeFeed(
      database,
      { postgresUrl: listenUrl.toString(), postgresSchema: schema },
      { minBackoffMs: 50, maxBackoffMs: 200 },
    );
    const store = new SqlDeploymentStore(database);
    const router = new DeploymentRouter();
    const installedAt = new Map<number, number>();
    const install = router.install.bind(router);
    router.install = (deployment) => {
      install(deployment);
      if (deployment.name === 'live') installedAt.set(deployment.revision, performance.now());
    };
    const errors: unknown[] = [];
    const sync = new DeploymentSync({
      store,
      router,
      prepare: () => Promise.resolve(),
      intervalMs: POLL_MS,
      onError: (error) => errors.push(error),
    });
    const service = new DeploymentService({
      store,
      // commit() never reads the registry (deploy() checks versions there; this test commits specs).
      registry: undefined as unknown as RegistryService,
      prepare: () => Promise.resolve(),
      rollouts: new SqlControllerStore(database, 'rollouts'),
      experiments: new SqlControllerStore(database, 'experiments'),
      sync,
      announce: deploymentAnnouncer(feed, (error) => errors.push(error)),
    });
    await sync.refresh();
    sync.start();
    const stopFollowing = await followDeploymentChanges(sync, feed);
    closers.push(async () => {
      await stopFollowing();
      await sync.stop();
      await feed.close();
      await database.close();
      expect(errors).toEqual([]);
    });
    return { router, sync, service, feed, installedAt };
  }

  const spec = (i: number) => parseDeploymentSpec({ model: 'fraud', routes: [`1.${i}.0=100`] });

  async function waitForRevision(server: TestServer, revision: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!server.installedAt.has(revision)) {
      if (Date.now() > deadline) throw new Error(`revision ${revision} not installed within ${timeoutMs} ms`);
      await sleep(1);
    }
  }

  it('a deploy on one server is served by the other long before the 10 s poll, over 50 changes (p50/p99 logged)', async () => {
    const a = await startServer();
    const b = await startServer();
    const latencies: number[] = [];
    for (let i = 1; i <= 50; i++) {
      const started = performance.now();
      const revision = await a.service.commit('live', spec(i), { source: 'user' });
      expect(revision.revision).toBe(i);
      await waitForRevision(b, i, 2_000);
      latencies.push(b.installedAt.get(i)! - started);
      expect(b.router.get('live')?.pick(undefined)).toBe(`1.${i}.0`);
      await sleep(10);
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    const percentile = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
    const p50 = percentile(50);
    const p99 = percentile(99);
    console.log(
      `propagation over ${latencies.length} changes (commit on A -> B's router swapped, poll ${POLL_MS} ms): ` +
        `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`,
    );
    // Every change arrived far inside the 10 s poll: only the notification can explain it.
    // Every change arrived long before the 10 s poll could have brought it: only the notification explains
    // that. The p99 budget (100 ms) is reported above and judged by the benchmarks, not asserted here.
    expect(sorted.at(-1)!).toBeLessThan(2_000);
  });

  it('a cut LISTEN connection reconnects and resyncs: the change announced while it was away is taken at once', async () => {
    const a = await startServer();
    const b = await startServer(true);
    await a.service.commit('live', spec(1), { source: 'user' });
    await waitForRevision(b, 1, 2_000);

    await proxy.pause(); // B's LISTEN connection is cut and reconnects are refused
    const feed = b.feed as PostgresChangeFeed;
    const deadline = Date.now() + 2_000;
    while (feed.connected && Date.now() < deadline) await sleep(5);
    expect(feed.connected).toBe(false);
    await a.service.commit('live', spec(2), { source: 'user' }); // B cannot hear this announcement
    await sleep(500);
    expect(b.router.get('live')?.revision).toBe(1);

    const resumed = performance.now();
    await proxy.resume();
    await waitForRevision(b, 2, 3_000); // the poll is 10 s away: this is the reconnect's resync
    console.log(`resync after the LISTEN connection came back: ${(b.installedAt.get(2)! - resumed).toFixed(1)} ms`);
    expect(feed.reconnects).toBe(1);
    expect(b.router.get('live')?.pick(undefined)).toBe('1.2.0');

    const started = performance.now();
    await a.service.commit('live', spec(3), { source: 'user' });
    await waitForRevision(b, 3, 2_000);
    expect(b.installedAt.get(3)! - started).toBeLessThan(1_000);
  });
});
