/**
 * Benchmark script (not a test) for {@link pointInTimeJoin}: 1M entity rows x 3 views.
 * Build, then run each step in its own process so that peak RSS belongs to the join alone:
 *
 *   node <build>/features/offline/bench-point-in-time.js gen <dir> [featureRows=3000000]
 *   node <build>/features/offline/bench-point-in-time.js asof <dir>     # the default strategy
 *   node <build>/features/offline/bench-point-in-time.js window <dir>
 *
 * Env: PIT_MEMORY_LIMIT (DuckDB memory_limit, default the platform's 512MB).
 */
import path from 'node:path';
import { closeDuckDb, configureDuckDb } from '../../io/index.js';
import { withConnection } from '../../io/duckdb.js';
import { pointInTimeJoin, type PointInTimeView } from './point-in-time.js';

const ENTITY_ROWS = 1_000_000;
const KEYS = 100_000;
const DAY_MS = 86_400_000;
const VIEWS = [
  { name: 'v0', ttlMs: 0 },
  { name: 'v1', ttlMs: 7 * DAY_MS },
  { name: 'v2', ttlMs: DAY_MS },
] as const;

function viewsIn(dir: string): PointInTimeView[] {
  return VIEWS.map(({ name, ttlMs }) => ({
    name,
    source: path.join(dir, `${name}.parquet`),
    joinKeys: ['k'],
    eventTimestamp: 'event_ts',
    createdTimestamp: 'created_ts',
    ttlMs,
    features: ['value'],
  }));
}

async function generate(dir: string, featureRows: number): Promise<void> {
  await withConnection(async (connection) => {
    const start = "TIMESTAMP '2026-01-01'";
    await connection.run(
      `COPY (SELECT i AS id, hash(i) % ${KEYS} AS k, ${start} + to_seconds(CAST(hash(i * 7) % (30 * 86400) AS BIGINT)) AS ts
       FROM range(${ENTITY_ROWS}) t(i)) TO $1 (FORMAT parquet)`,
      [path.join(dir, 'entities.parquet')],
    );
    for (const [index, view] of VIEWS.entries()) {
      // Event times on a coarse 10-minute grid so that ties on (key, event_ts) are common.
      await connection.run(
        `COPY (SELECT hash(i + ${index}) % ${KEYS} AS k,
           ${start} + to_minutes(CAST(10 * (hash(i * 3 + ${index}) % 4320) AS BIGINT)) AS event_ts,
           ${start} + to_seconds(CAST(hash(i * 5 + ${index}) % 1000000 AS BIGINT)) AS created_ts,
           CAST(hash(i * 11 + ${index}) % 1000 AS DOUBLE) AS value
         FROM range(${featureRows}) t(i)) TO $1 (FORMAT parquet)`,
        [path.join(dir, `${view.name}.parquet`)],
      );
    }
  });
}

async function main(): Promise<void> {
  const [mode, dir, rows] = process.argv.slice(2);
  if (dir === undefined || (mode !== 'gen' && mode !== 'asof' && mode !== 'window')) {
    throw new Error('usage: bench-point-in-time.js gen|asof|window <dir> [featureRows]');
  }
  const memoryLimit = process.env.PIT_MEMORY_LIMIT;
  if (memoryLimit !== undefined) configureDuckDb({ memoryLimit });
  const started = performance.now();
  let joined = 0;
  if (mode === 'gen') await generate(dir, Number(rows ?? 3_000_000));
  else {
    const out = path.join(dir, `out-${mode}.parquet`);
    joined = (await pointInTimeJoin({ entities: path.join(dir, 'entities.parquet'), entityTimestamp: 'ts', views: viewsIn(dir), out, strategy: mode })).rows;
  }
  const seconds = (performance.now() - started) / 1000;
  await closeDuckDb();
  const peakMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ mode, rows: joined, seconds: Number(seconds.toFixed(2)), peakRssMb: Math.round(peakMb), memoryLimit: memoryLimit ?? '512MB' }));
}

await main();
