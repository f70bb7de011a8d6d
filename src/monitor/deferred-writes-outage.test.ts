import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlTrafficStatsStore, TrafficRecorder } from '../deploy/traffic-stats.js';
import { openDatabase, type Database } from '../store/database.js';
import { DIALECTS, TEST_POSTGRES_URL } from '../testing/databases.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import type { InferenceEvent } from './events.js';
import { PredictionLog } from './prediction-log.js';
import type { PredictionEntry } from './prediction-store.js';
import { newRequestId } from './request-id.js';
import { SqlPredictionStore } from './sql-prediction-store.js';

/**
 * Writes that can wait for the database (issue 13 item 4), with PostgreSQL refusing connections
 * through a real TCP proxy: they are kept within their bound while it is down, written when it is
 * back, and what did not fit is counted.
 */
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

function entry(i: number): PredictionEntry {
  return {
    requestId: newRequestId(),
    timeMs: Date.now(),
    deployment: undefined,
    model: 'fraud',
    version: '1.0.0',
    protocol: 'http',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([i, -i]) }],
    outputs: [{ name: 'p', datatype: 'FP32', shape: [1, 1], data: new Float32Array([i / 2]) }],
    latencyMs: 0.5,
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe.skipIf(postgres.skipReason !== undefined)('deferred writes while PostgreSQL is unreachable', () => {
  let proxy: TcpProxy;
  let schema: string;
  let viaProxy: string;
  const closing: { close(): Promise<void> }[] = [];

  beforeEach(async () => {
    const target = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    target.host = `127.0.0.1:${proxy.port}`;
    viaProxy = target.toString();
    schema = `slipway_deferred_${randomBytes(6).toString('hex')}`;
  });
  afterEach(async () => {
    await proxy.resume();
    for (const item of closing.splice(0).reverse()) await item.close();
    await proxy.close();
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  async function open(url: string): Promise<Database> {
    const database = await openDatabase({ postgresUrl: url, postgresSchema: schema });
    closing.push(database);
    return database;
  }

  it('the prediction log keeps up to maxPending rows through the outage, stores them after it, and counts the rest as dropped', async () => {
    const direct = new SqlPredictionStore(await open(TEST_POSTGRES_URL));
    const log = await PredictionLog.open({
      database: { postgresUrl: viaProxy, postgresSchema: schema },
      mode: 'inline',
      maxPending: 40,
      batchRows: 10,
      flushIntervalMs: 5,
      retryDelaysMs: [10, 10],
    });
    closing.push(log);
    await proxy.pause();
    const taken: string[] = [];
    for (let i = 0; i < 60; i++) {
      const e = entry(i);
      if (log.record(e)) taken.push(e.requestId);
    }
    expect(taken).toHaveLength(40);
    // Far longer than the retries (10 + 10 ms) that used to give a batch up: rows keep waiting.
    await until(() => log.stats().pending === 40 && proxy.mode === 'refuse', 'batches waiting');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(log.stats()).toMatchObject({ pending: 40, dropped: 20, failedRows: 0, written: 0 });
    await proxy.resume();
    await log.flush();
    expect(log.stats()).toMatchObject({ pending: 0, written: 40, dropped: 20, failedRows: 0 });
    const stored = await direct.query({ model: 'fraud', limit: 100 });
    expect(stored.map((p) => p.requestId).sort()).toEqual([...taken].sort());
  });

  it('closing during an outage gives the waiting rows their retries, then counts them as failed instead of hanging', async () => {
    const log = await PredictionLog.open({
      database: { postgresUrl: viaProxy, postgresSchema: schema },
      mode: 'inline',
      flushIntervalMs: 5,
      retryDelaysMs: [10],
      onError: () => undefined,
    });
    await proxy.pause();
    for (let i = 0; i < 5; i++) log.record(entry(i));
    await until(() => log.stats().pending === 5, 'rows recorded');
    await log.close();
    expect(log.stats()).toMatchObject({ pending: 0, written: 0, failedRows: 5 });
  });

  it('traffic counters keep at most maxUnwritten slots through the outage, write them after, and count the dropped ones', async () => {
    const direct = await open(TEST_POSTGRES_URL);
    const recorder = new TrafficRecorder(
      new SqlTrafficStatsStore(await open(viaProxy)),
      'test-source',
      () => undefined,
      3,
    );
    await proxy.pause();
    const base = Math.ceil(Date.now() / 1000) * 1000 + 3_600_000; // ahead of the clock: never forgotten as old
    const event = (second: number): InferenceEvent => ({
      requestId: `r${second}`,
      timeMs: base + second * 1000,
      deployment: 'fraud-live',
      model: 'fraud',
      version: '1.0.0',
      protocol: 'http',
      outcome: 'success',
      errorCode: undefined,
      durationSeconds: 0.01,
      queueSeconds: 0,
      computeSeconds: 0.01,
      inputs: undefined,
      outputs: undefined,
    });
    for (let second = 0; second < 5; second++) recorder.observe(event(second));
    await recorder.flush();
    expect(recorder.droppedSlots).toBe(2);
    await proxy.resume();
    await until(async () => {
      await recorder.flush();
      return (await direct.db.selectFrom('deployment_stats').select('slot_ms').execute()).length === 3;
    }, 'the kept slots written');
    const slots = (await direct.db.selectFrom('deployment_stats').select('slot_ms').orderBy('slot_ms').execute()).map(
      (r) => Number(r.slot_ms),
    );
    // The newest three seconds were kept.
    expect(slots).toEqual([base + 2000, base + 3000, base + 4000]);
  });
});
