import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import type { OpenDatabaseOptions } from '../store/database.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import type * as PredictionLogModule from './prediction-log.js';
import type { PredictionEntry } from './prediction-store.js';
import { newRequestId } from './request-id.js';
import { SqlPredictionStore } from './sql-prediction-store.js';

/**
 * Worker mode needs the compiled writer thread (vitest cannot start a worker from a .ts file), so
 * these tests load the log from dist/: run `npm run build` first. They skip without dist/
 * locally; with CI=true (which builds first) they run and fail instead.
 */
const DIST_LOG = fileURLToPath(new URL('../../dist/monitor/prediction-log.js', import.meta.url));
const built = existsSync(DIST_LOG) && existsSync(path.join(path.dirname(DIST_LOG), 'prediction-log-worker.js'));
if (!built && process.env.CI !== 'true')
  console.warn('skipping PredictionLog worker-mode tests: run `npm run build` first');

type LogModule = typeof PredictionLogModule;
const loadDistLog = async (): Promise<LogModule> => (await import(pathToFileURL(DIST_LOG).href)) as LogModule;

function entry(i: number): PredictionEntry {
  return {
    requestId: newRequestId(),
    timeMs: Date.now(),
    deployment: 'prod',
    model: 'fraud',
    version: '1.0.0',
    protocol: i % 2 === 0 ? 'http' : 'grpc',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 3], data: new Float32Array([i, i + 1, i + 2]) }],
    outputs: [{ name: 'label', datatype: 'INT64', shape: [1], data: new BigInt64Array([BigInt(i)]) }],
    latencyMs: 0.25,
  };
}

async function recordAll(log: { record(entry: PredictionEntry): boolean }, count: number): Promise<number> {
  let taken = 0;
  for (let i = 0; i < count; i++) {
    if (log.record(entry(i))) taken++;
    if (i % 1_000 === 999) await nextTurn(); // let acknowledgements in, as a server's event loop would
  }
  return taken;
}

async function expectStored(database: OpenDatabaseOptions, count: number): Promise<void> {
  const store = new SqlPredictionStore(await openDatabase(database));
  try {
    expect(await store.count({ model: 'fraud' })).toBe(count);
    const [last] = await store.query({ limit: 1 });
    expect(last!.timeMs).toBeGreaterThan(0);
    const [oldest] = await store.first({ limit: 1 });
    expect(Array.from(oldest!.inputs[0]!.data as Float32Array)).toEqual([0, 1, 2]);
    expect(oldest!.outputs[0]!.data).toEqual(new BigInt64Array([0n]));
  } finally {
    await store.close();
  }
}

describe.skipIf(!built && process.env.CI !== 'true')('PredictionLog in worker mode (dist/)', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-predlog-worker-'));
  });
  afterEach(async () => {
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('runs the writer in a thread by default and stores 50,000 records on SQLite', async () => {
    const { PredictionLog } = await loadDistLog();
    const database = { sqlitePath: path.join(folder, 'slipway.db') };
    const log = await PredictionLog.open({ database });
    try {
      expect(log.mode).toBe('worker');
      expect(await recordAll(log, 50_000)).toBe(50_000);
      await log.flush();
      expect(log.stats()).toMatchObject({
        recorded: 50_000,
        written: 50_000,
        pending: 0,
        dropped: 0,
        failedBatches: 0,
      });
    } finally {
      await log.close();
    }
    await expectStored(database, 50_000);
  });

  it('close() flushes what is still buffered, then stops the thread', async () => {
    const { PredictionLog } = await loadDistLog();
    const database = { sqlitePath: path.join(folder, 'slipway.db') };
    const log = await PredictionLog.open({ database, flushIntervalMs: 60_000 });
    await recordAll(log, 10);
    await log.close();
    await log.close();
    expect(log.record(entry(11))).toBe(false);
    expect(log.stats()).toMatchObject({ written: 10, dropped: 1 });
    await expectStored(database, 10);
  });

  it('fails at open when the writer cannot open its database', async () => {
    const { PredictionLog } = await loadDistLog();
    const blocker = path.join(folder, 'a-file');
    await fs.writeFile(blocker, '');
    await expect(PredictionLog.open({ database: { sqlitePath: path.join(blocker, 'slipway.db') } })).rejects.toThrow(
      /cannot open its database/,
    );
  });

  const postgres = DIALECTS.find((dialect) => dialect.name === 'postgres')!;
  it.skipIf(postgres.skipReason !== undefined)('stores 50,000 records on PostgreSQL', async () => {
    const { PredictionLog } = await loadDistLog();
    const schema = `slipway_test_${randomBytes(6).toString('hex')}`;
    const database = { postgresUrl: TEST_POSTGRES_URL, postgresSchema: schema };
    try {
      const log = await PredictionLog.open({ database });
      try {
        expect(await recordAll(log, 50_000)).toBe(50_000);
        await log.flush();
        expect(log.stats()).toMatchObject({ written: 50_000, failedBatches: 0 });
      } finally {
        await log.close();
      }
      await expectStored(database, 50_000);
    } finally {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
  });
});
