import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureDuckDb } from '../../io/duckdb.js';
import { openTestPlatform } from '../../testing/fixtures.js';
import { parseDefinitions } from '../definitions/parse-definitions.js';
import { materialize } from './materialize.js';

/**
 * Materialization must not load the source into JavaScript (Feast's #6307: OOM on large windows).
 * The file: 3M rows x 7 columns. Held as JS row objects it would take well over 1 GB (~400 bytes
 * per object with a string and six numbers); even as bare columns, ~220 MB of doubles and strings.
 * The bound is DuckDB's memory limit for this process (192 MB, set below) plus ~110 MB for one
 * 10,000-row chunk, SQLite's page cache and V8's heap growth: 300 MB over the cold baseline
 * (measured: ~100 MB on 2 cores).
 */
const ROWS = 3_000_000;
const KEYS = 50_000;
const RSS_BOUND_BYTES = 300 * 1024 * 1024;
const BASE = Date.UTC(2026, 0, 1);
const execFileAsync = promisify(execFile);

describe('materialize on a large file', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;

  beforeAll(async () => {
    configureDuckDb({ memoryLimit: '192MB', threads: 2 });
    platform = await openTestPlatform();
    const file = path.join(platform.home, 'big.parquet');
    // Written by a child process, so this process's DuckDB starts cold and the baseline is honest.
    // Key i % KEYS; its latest event is in the last KEYS rows, so the expected value is known.
    const script = `
      import { DuckDBInstance } from '@duckdb/node-api';
      const db = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
      const connection = await db.connect();
      await connection.run(\`COPY (SELECT i % ${KEYS} AS user_id, epoch_ms(${BASE} + i * 10) AS event_ts, epoch_ms(${BASE} + i * 10 + 5) AS created_ts,
        i * 0.5 AS f1, CAST(i % 97 AS BIGINT) AS f2, 'v' || (i % 1000) AS f3, random() AS f4 FROM range(${ROWS}) t(i)) TO $1 (FORMAT parquet)\`, [process.argv[1]]);
      connection.closeSync();`;
    await execFileAsync(process.execPath, ['--input-type=module', '-e', script, file], { cwd: process.cwd() });
    const yaml = `
entities: [{ name: user, join_keys: { user_id: int64 } }]
feature_views:
  - name: big
    entities: [user]
    source: { path: big.parquet }
    timestamp_field: event_ts
    created_timestamp_field: created_ts
    features: [{ name: f1, type: float64 }, { name: f2, type: int64 }, { name: f3, type: string }, { name: f4, type: float64 }]
feature_services: [{ name: s, features: [big:f1] }]
`;
    await platform.features.apply(parseDefinitions(yaml, { baseDir: platform.home }));
  }, 60_000);
  afterAll(async () => {
    await platform.dispose();
  });

  it('keeps peak RSS growth bounded and writes the latest row per key', async () => {
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sample = (): void => void (peak = Math.max(peak, process.memoryUsage().rss));
    const timer = setInterval(sample, 20);
    const started = performance.now();
    let runs;
    try {
      runs = await materialize(platform.features, { end: BASE + ROWS * 10, onProgress: sample });
    } finally {
      clearInterval(timer);
    }
    const seconds = (performance.now() - started) / 1000;
    sample();
    const growth = peak - baseline;
    console.log(
      `materialized ${ROWS} source rows -> ${runs[0]!.rows} keys in ${seconds.toFixed(2)} s (${Math.round(ROWS / seconds)} source rows/s); peak RSS growth ${(growth / 1048576).toFixed(0)} MB`,
    );
    expect(runs[0]).toMatchObject({ view: 'big', rows: KEYS, written: KEYS, stale: 0 });
    expect(growth).toBeLessThan(RSS_BOUND_BYTES);
    const [f1, f2, f3] = (await platform.features.online.read('big', ['f1', 'f2', 'f3'], [{ user_id: 123 }]))[0]!;
    const last = ROWS - KEYS + 123;
    expect(f1).toMatchObject({ value: last * 0.5, eventTimeMs: BASE + last * 10 });
    expect(f2!.value).toBe(last % 97);
    expect(f3!.value).toBe(`v${last % 1000}`);
  }, 60_000);
});
