import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqlJobStore } from './batch/job-store.js';
import { loadConfig } from './core/config.js';
import { SqlAlertStore } from './monitor/alerts/sql-alert-store.js';
import { SqlPredictionStore } from './monitor/sql-prediction-store.js';
import { openPlatform } from './platform.js';
import { SqlRegistryStore } from './registry/sql-registry-store.js';
import { startServer } from './server/serve.js';
import { tensorRequest } from './serving/index.js';
import { DIALECTS, TEST_POSTGRES_URL, describeEachDialect } from './testing/databases.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from './testing/fixtures.js';

const row = expectedOutputs('breast_cancer').inputs[0]!.data.slice(0, 30) as number[];
const request = (model: string) =>
  tensorRequest(model, [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: Float32Array.from(row) }]);
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

async function withSchema(work: (databaseUrl: string) => Promise<void>): Promise<void> {
  const schema = `slipway_test_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema "${schema}"`);
  try {
    await work(`${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`);
  } finally {
    await admin(`drop schema if exists "${schema}" cascade`);
  }
}

describe.skipIf(postgres.skipReason !== undefined)('the platform owns its PostgreSQL pool', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('ends the pool exactly once, after every store that shares it, however often close is called', async () => {
    await withSchema(async (databaseUrl) => {
      const platform = await openTestPlatform({ databaseUrl });
      try {
        await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
        for (let i = 0; i < 5; i++) await platform.serving.pipeline.infer(request('cancer'));
        const ends = vi.spyOn(pg.Pool.prototype, 'end');
        const closes = vi.spyOn(platform.database, 'close');
        await Promise.all([platform.close(), platform.close()]);
        await platform.close();
        expect(ends).toHaveBeenCalledTimes(1);
        // Only the opener closes it: no store closes the Database it shares.
        expect(closes).toHaveBeenCalledTimes(1);
        // The prediction log flushed into the database before it closed: the rows are there.
        const check = new pg.Client({ connectionString: databaseUrl });
        await check.connect();
        try {
          expect((await check.query<{ n: string }>('select count(*) as n from predictions')).rows[0]!.n).toBe('5');
        } finally {
          await check.end();
        }
      } finally {
        await platform.dispose();
      }
    });
  });

  it('a platform that fails part way (an unreachable Redis) ends the pool it had opened', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'slipway-ownership-'));
    try {
      await withSchema(async (databaseUrl) => {
        const ends = vi.spyOn(pg.Pool.prototype, 'end');
        const config = loadConfig(
          { SLIPWAY_LOG_LEVEL: 'silent', SLIPWAY_ONLINE_STORE: 'redis://127.0.0.1:1' },
          { databaseUrl, home },
        );
        await expect(openPlatform(config, { log: () => undefined })).rejects.toThrow(
          'cannot connect to Redis for the online store',
        );
        expect(ends).toHaveBeenCalledTimes(1);
      });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describeEachDialect('a store given a Database leaves it open when closed', (fixture) => {
  it('registry, prediction, alert and job stores: closed themselves, the shared database still answers', async () => {
    const database = await fixture.open();
    const registry = new SqlRegistryStore(database);
    const stores = [registry, new SqlPredictionStore(database), new SqlAlertStore(database), new SqlJobStore(database)];
    for (const store of stores) await store.close();
    await expect(registry.listModels()).rejects.toThrow('the registry store is closed');
    expect(await new SqlRegistryStore(database).listModels()).toEqual([]);
    expect(await new SqlPredictionStore(database).count({})).toBe(0);
    expect(await new SqlAlertStore(database).listRules()).toEqual([]);
    expect(await new SqlJobStore(database).list()).toEqual([]);
  });
});

describe('the server is the one owner of background work', () => {
  it('starts and stops every loop once; platform.close then closes each opened service once', async () => {
    const platform = await openTestPlatform({ alertIntervalMs: 50, driftIntervalMs: 50 });
    try {
      const { deployments } = platform;
      const spies = {
        alertsStop: vi.spyOn(platform.alerts, 'stop'),
        alertsClose: vi.spyOn(platform.alerts, 'close'),
        driftStop: vi.spyOn(platform.drift, 'stop'),
        jobsStop: vi.spyOn(platform.jobs, 'stop'),
        controllerStop: vi.spyOn(deployments.controller, 'stop'),
        syncStop: vi.spyOn(deployments.sync, 'stop'),
        recorderStop: vi.spyOn(deployments.recorder, 'stop'),
        deploymentsClose: vi.spyOn(deployments, 'close'),
        logClose: vi.spyOn(platform.log, 'close'),
        poolClose: vi.spyOn(platform.pool, 'close'),
        databaseClose: vi.spyOn(platform.database, 'close'),
      };
      const server = await startServer(platform, { host: '127.0.0.1', port: 0 });
      await server.preloaded;
      expect(await server.stop(5000)).toBe(true);
      await platform.close();
      const counts = Object.fromEntries(Object.entries(spies).map(([name, spy]) => [name, spy.mock.calls.length]));
      // alerts.stop: once by the server; alerts.close (the platform's) runs its own stop again, a no-op by then.
      expect(counts).toEqual({
        alertsStop: 2,
        alertsClose: 1,
        driftStop: 1,
        jobsStop: 1,
        controllerStop: 1,
        syncStop: 1,
        recorderStop: 1,
        deploymentsClose: 1,
        logClose: 1,
        poolClose: 1,
        databaseClose: 1,
      });
      // The loops stopped before anything they use closed: the server's stops come first.
      expect(spies.jobsStop.mock.invocationCallOrder[0]!).toBeLessThan(
        spies.deploymentsClose.mock.invocationCallOrder[0]!,
      );
      expect(spies.syncStop.mock.invocationCallOrder[0]!).toBeLessThan(
        spies.deploymentsClose.mock.invocationCallOrder[0]!,
      );
      expect(spies.logClose.mock.invocationCallOrder[0]!).toBeLessThan(
        spies.databaseClose.mock.invocationCallOrder[0]!,
      );
      expect(spies.poolClose.mock.invocationCallOrder[0]!).toBeLessThan(
        spies.databaseClose.mock.invocationCallOrder[0]!,
      );
    } finally {
      vi.restoreAllMocks();
      await platform.dispose();
    }
  });
});
