import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../server/serve.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import {
  api,
  eventually,
  infer,
  loadUntil,
  ROWS,
  sleep,
  startCancerServer,
  type TestPlatform,
} from './deploy.test-support.js';

describe('traffic changes under load', () => {
  let platform: TestPlatform;
  let server: RunningServer;

  afterEach(async () => {
    await server.stop(5000);
    await platform.dispose();
  });

  it('fails zero requests across weight changes, a promotion and rollbacks', async () => {
    ({ platform, server } = await startCancerServer());
    const { url } = server;
    await api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    let stop!: () => void;
    const load = loadUntil(url, 'cancer-live', 4, new Promise<void>((resolve) => (stop = resolve)));
    const changes: Array<() => Promise<{ status: number }>> = [
      () => api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=90', '1.1.0=10'] }),
      () => api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=50', '1.1.0=50'] }),
      () => api(url, 'POST', '/api/v1/deployments/cancer-live/rollback'),
      () =>
        api(url, 'POST', '/api/v1/deployments/cancer-live/rollout', {
          candidate: '1.1.0',
          steps: [10, 100],
          interval: '1h',
        }),
      () => api(url, 'POST', '/api/v1/deployments/cancer-live/rollout/promote'),
      () => api(url, 'POST', '/api/v1/deployments/cancer-live/rollback'),
      () => api(url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.1.0=100'] }),
      () => api(url, 'POST', '/api/v1/deployments/cancer-live/rollback'),
    ];
    await sleep(200);
    for (const change of changes) {
      const answer = await change();
      expect(answer.status).toBeLessThan(300);
      await sleep(250);
    }
    stop();
    const result = await load;
    expect(result.failures).toEqual([]);
    expect([...result.statuses.keys()]).toEqual([200]);
    expect(result.total).toBeGreaterThan(200);
    expect(result.versions.get('1.0.0')).toBeGreaterThan(0);
    expect(result.versions.get('1.1.0')).toBeGreaterThan(0);
    const history = (await api(url, 'GET', '/api/v1/deployments/cancer-live/history')).body.revisions as Array<{
      source: string;
    }>;
    expect(history.map((r) => r.source)).toEqual([
      'user',
      'user',
      'user',
      'rollback',
      'rollout',
      'rollout',
      'rollback',
      'user',
      'rollback',
    ]);
  });
});

const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

describe.skipIf(postgres.skipReason !== undefined)('several servers sharing one PostgreSQL database', () => {
  const servers: RunningServer[] = [];
  const platforms: TestPlatform[] = [];
  let schema = '';

  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop(5000);
    for (const p of platforms.splice(0)) await p.dispose();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  it('every server follows a change made through any of them within a second', async () => {
    schema = `slipway_test_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    await client.query(`create schema "${schema}"`);
    await client.end();
    const databaseUrl = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const first = await openTestPlatform({ databaseUrl });
    platforms.push(first);
    await first.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await first.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    // Artifacts on a shared volume: the same home folder; metadata in the shared database.
    const second = await openTestPlatform({ databaseUrl, home: first.home });
    platforms.push(second);
    for (const p of [first, second]) servers.push((await startCancerServer({}, p)).server);
    const [a, b] = servers as [RunningServer, RunningServer];
    expect(
      (await api(a.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] })).status,
    ).toBe(201);
    await eventually(
      async () => ((await infer(b.url, 'cancer-live', ROWS[0]!)).status === 200 ? true : undefined),
      2000,
      'server B to know the deployment',
    );
    // Change through B (the CLI writes the store the same way); A follows.
    const changed = await api(b.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.1.0=100'],
    });
    expect(changed.status).toBe(200);
    const started = Date.now();
    await eventually(
      async () => ((await infer(a.url, 'cancer-live', ROWS[0]!)).version === '1.1.0' ? true : undefined),
      3000,
      'server A to follow',
    );
    expect(Date.now() - started).toBeLessThan(1000);
    const rolledBack = Date.now();
    await second.deployments.service.rollback('cancer-live');
    await eventually(
      async () => ((await infer(a.url, 'cancer-live', ROWS[0]!)).version === '1.0.0' ? true : undefined),
      3000,
      'server A to follow the rollback',
    );
    expect(Date.now() - rolledBack).toBeLessThan(1000);
  });
});
