import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { openDatabase } from '../store/database.js';
import { PredictionLog } from './prediction-log.js';
import type { PredictionLogOptions } from './prediction-log.js';
import type { PredictionEntry, PredictionStore } from './prediction-store.js';
import { newRequestId } from './request-id.js';
import { SqlPredictionStore } from './sql-prediction-store.js';

function entry(i: number, overrides: Partial<PredictionEntry> = {}): PredictionEntry {
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
    ...overrides,
  };
}

describe('PredictionLog (inline, SQLite file)', () => {
  let folder: string;
  let sqlitePath: string;
  const opened: { close(): Promise<void> }[] = [];

  beforeEach(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-predlog-'));
    sqlitePath = path.join(folder, 'slipway.db');
  });
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
    await fs.rm(folder, { recursive: true, force: true });
  });

  async function openLog(options: Partial<PredictionLogOptions> = {}): Promise<PredictionLog> {
    const log = await PredictionLog.open({ database: { sqlitePath }, mode: 'inline', ...options });
    opened.push(log);
    return log;
  }

  /** A reader on the same file, as another part of the server would have. */
  async function reader(): Promise<PredictionStore> {
    const store = new SqlPredictionStore(await openDatabase({ sqlitePath }));
    opened.push(store);
    return store;
  }

  it('defaults to inline when running from source, and stores every recorded entry after flush()', async () => {
    const log = await PredictionLog.open({ database: { sqlitePath } });
    opened.push(log);
    expect(log.mode).toBe('inline');
    const shared = new Float32Array([0, 0]);
    for (let i = 0; i < 5_000; i++) {
      shared.set([i, -i]);
      // One buffer reused for every request, as a batched model's outputs would be.
      expect(log.record(entry(i, { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: shared }] }))).toBe(
        true,
      );
    }
    await log.flush();
    expect(log.stats()).toMatchObject({ recorded: 5_000, written: 5_000, pending: 0, dropped: 0, failedBatches: 0 });

    const store = await reader();
    expect(await store.count({ model: 'fraud' })).toBe(5_000);
    const rows = await store.query({ order: 'asc', limit: 10_000 });
    expect(rows.map((row) => Array.from(row.inputs[0]!.data as Float32Array))).toEqual(
      Array.from({ length: 5_000 }, (_, i) => [i, -i]),
    );
  });

  it('sends a partial batch after flushIntervalMs without a flush()', async () => {
    const log = await openLog({ flushIntervalMs: 5 });
    log.record(entry(1));
    await expect.poll(() => log.stats().written, { timeout: 2_000 }).toBe(1);
  });

  it('drops and counts when maxPending rows are waiting, without blocking', async () => {
    const log = await openLog({ maxPending: 100, batchRows: 1_000, flushIntervalMs: 60_000 });
    const started = performance.now();
    const taken = Array.from({ length: 250 }, (_, i) => log.record(entry(i))).filter(Boolean).length;
    expect(performance.now() - started).toBeLessThan(200);
    expect(taken).toBe(100);
    expect(log.stats()).toMatchObject({ recorded: 100, dropped: 150, pending: 100 });

    await log.flush();
    expect(log.stats()).toMatchObject({ pending: 0, written: 100 });
    expect(log.record(entry(1))).toBe(true);
  });

  it('close() flushes, is idempotent, and record() afterwards drops and counts', async () => {
    const log = await openLog({ flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) log.record(entry(i));
    const closing = log.close();
    expect(log.close()).toBe(closing);
    await closing;
    expect(log.record(entry(99))).toBe(false);
    expect(log.stats()).toMatchObject({ recorded: 10, written: 10, dropped: 1, pending: 0 });
    expect(await (await reader()).count({})).toBe(10);
  });

  it('keeps about sampleRate of the requests', async () => {
    const log = await openLog({ sampleRate: 0.25 });
    for (let i = 0; i < 20_000; i++) log.record(entry(i));
    await log.flush();
    const { recorded, sampledOut } = log.stats();
    expect(recorded + sampledOut).toBe(20_000);
    // 5,000 expected; ±5 standard deviations (σ ≈ 61).
    expect(recorded).toBeGreaterThan(4_700);
    expect(recorded).toBeLessThan(5_300);
    expect(await (await reader()).count({})).toBe(recorded);
  });

  it('writes through a given store inline, e.g. on :memory:, and does not close it', async () => {
    const store = new SqlPredictionStore(await openDatabase({ sqlitePath: ':memory:' }));
    opened.push(store);
    const log = await PredictionLog.open({ store });
    for (let i = 0; i < 3; i++) log.record(entry(i, { deployment: 'prod', shadow: { version: '2.0.0' } }));
    await log.close();
    const rows = await store.query({ order: 'asc' });
    expect(rows.map((row) => [row.deployment, row.shadow])).toEqual(Array(3).fill(['prod', { version: '2.0.0' }]));
  });

  it('reports an entry it cannot pack, drops it, and goes on', async () => {
    const errors: Error[] = [];
    const log = await openLog({ onError: (error) => errors.push(error) });
    expect(
      log.record(entry(1, { inputs: [{ name: 'x', datatype: 'FP32', shape: [9], data: new Float32Array(1) }] })),
    ).toBe(false);
    expect(log.record(entry(2))).toBe(true);
    await log.flush();
    expect(errors.map((error) => error.message)).toEqual([expect.stringContaining('shape [9]')]);
    expect(log.stats()).toMatchObject({ dropped: 1, written: 1 });
  });

  describe('when the database refuses writes', () => {
    /** Take the table away (a real failure, no mock) and put it back. */
    async function tableAway(): Promise<{ restore(): Promise<void> }> {
      const database = await openDatabase({ sqlitePath });
      opened.push(database);
      await sql`alter table predictions rename to predictions_away`.execute(database.db);
      return {
        restore: async () => void (await sql`alter table predictions_away rename to predictions`.execute(database.db)),
      };
    }

    it('retries a failed batch until it is stored', async () => {
      const errors: Error[] = [];
      const log = await openLog({ retryDelaysMs: [150, 150], onError: (error) => errors.push(error) });
      const table = await tableAway();
      for (let i = 0; i < 3; i++) expect(log.record(entry(i))).toBe(true);
      const flushed = log.flush();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await table.restore();
      await flushed;
      expect(log.stats()).toMatchObject({ written: 3, failedBatches: 0, pending: 0 });
      expect(errors).toEqual([]);
    });

    it('gives up after the retries: counts and reports the batch and rejects flush(), record() never throws', async () => {
      const errors: Error[] = [];
      const log = await openLog({ retryDelaysMs: [1, 1], onError: (error) => errors.push(error) });
      await tableAway();
      for (let i = 0; i < 3; i++) expect(log.record(entry(i))).toBe(true);
      const failure = await log.flush().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(SlipwayError);
      expect(log.stats()).toMatchObject({ recorded: 3, pending: 0, written: 0, failedBatches: 1, failedRows: 3 });
      expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/failed 3 times: .*predictions/)]);
      expect(log.record(entry(4))).toBe(true);
      await log.close();
    });
  });

  it('applies retention by age and by rows', async () => {
    const log = await openLog({ maxAgeMs: 60_000, maxRows: 5, retentionCheckMs: 50 });
    const now = Date.now();
    for (let i = 0; i < 4; i++) log.record(entry(i, { timeMs: now - 120_000 }));
    for (let i = 0; i < 8; i++) log.record(entry(i, { timeMs: now }));
    await log.flush();
    const store = await reader();
    await expect.poll(() => store.count({}), { timeout: 5_000 }).toBe(5);
    expect(await store.count({ until: now })).toBe(0);
  });

  it('validates its options once, reporting every problem', async () => {
    const error = await PredictionLog.open({
      database: { sqlitePath },
      sampleRate: 2,
      batchRows: 0,
      mode: 'worker',
      store: {} as PredictionStore,
    }).then(
      () => undefined,
      (reason: unknown) => reason as SlipwayError,
    );
    expect(error?.code).toBe('INVALID_ARGUMENT');
    expect(error?.message).toMatch(
      /sampleRate 2.*batchRows 0.*exactly one of database and store.*only be written inline/,
    );
    await expect(PredictionLog.open({ database: { sqlitePath: ':memory:' }, mode: 'worker' })).rejects.toThrow(
      /:memory:/,
    );
  });
});
