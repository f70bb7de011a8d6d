#!/usr/bin/env node
// Point-in-time join benchmark (issue 5), one step per process so that the peak RSS a step
// reports belongs to that step alone. Imports the compiled code (dist/): run `npm run build` first.
// Moved here from src/features/offline/bench-point-in-time.ts.
//
//   node bench/features/point-in-time.mjs gen <dir> [featureRowsPerView=10000000] [entityRows=1000000]
//   node bench/features/point-in-time.mjs asof <dir>       # the default strategy
//   node bench/features/point-in-time.mjs window <dir>     # Feast's range join + ROW_NUMBER
//
// Each step prints one JSON line: { mode, rows, seconds, peakRssMb, memoryLimit, threads }.
// peakRssMb is this process's maxRSS (getrusage, = VmHWM), Node + DuckDB together.
// Env: PIT_MEMORY_LIMIT (DuckDB memory_limit, default the platform's 512MB), PIT_THREADS.
import path from 'node:path';
import { closeDuckDb, configureDuckDb } from '../../dist/io/index.js';
import { withConnection } from '../../dist/io/duckdb.js';
import { pointInTimeJoin } from '../../dist/features/offline/point-in-time.js';

export const KEYS = 100_000;
const DAY_MS = 86_400_000;
export const VIEWS = [
  { name: 'v0', ttlMs: 0 },
  { name: 'v1', ttlMs: 7 * DAY_MS },
  { name: 'v2', ttlMs: DAY_MS },
];

function viewsIn(dir) {
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

/**
 * Entities: `entityRows` rows over KEYS keys, timestamps spread over 30 days. Views: `featureRows`
 * rows each over the same keys, event times on a coarse 10-minute grid so that ties on
 * (key, event_ts) are common (the tie-break is part of what is measured).
 */
async function generate(dir, featureRows, entityRows) {
  await withConnection(async (connection) => {
    const start = "TIMESTAMP '2026-01-01'";
    await connection.run(
      `COPY (SELECT i AS id, hash(i) % ${KEYS} AS k, ${start} + to_seconds(CAST(hash(i * 7) % (30 * 86400) AS BIGINT)) AS ts
       FROM range(${entityRows}) t(i)) TO $1 (FORMAT parquet)`,
      [path.join(dir, 'entities.parquet')],
    );
    for (const [index, view] of VIEWS.entries()) {
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

async function main() {
  const [mode, dir, rows, entities] = process.argv.slice(2);
  if (dir === undefined || !['gen', 'asof', 'window'].includes(mode)) {
    throw new Error('usage: point-in-time.mjs gen|asof|window <dir> [featureRowsPerView] [entityRows]');
  }
  const memoryLimit = process.env.PIT_MEMORY_LIMIT || undefined;
  const threads = process.env.PIT_THREADS ? Number(process.env.PIT_THREADS) : undefined;
  if (memoryLimit !== undefined || threads !== undefined) {
    configureDuckDb({
      ...(memoryLimit === undefined ? {} : { memoryLimit }),
      ...(threads === undefined ? {} : { threads }),
    });
  }
  const started = performance.now();
  let joined = 0;
  if (mode === 'gen') {
    await generate(dir, Number(rows ?? 10_000_000), Number(entities ?? 1_000_000));
  } else {
    const out = path.join(dir, `out-${mode}.parquet`);
    joined = (
      await pointInTimeJoin({
        entities: path.join(dir, 'entities.parquet'),
        entityTimestamp: 'ts',
        views: viewsIn(dir),
        out,
        strategy: mode,
      })
    ).rows;
  }
  const seconds = (performance.now() - started) / 1000;
  await closeDuckDb();
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({
      mode,
      rows: joined,
      seconds: Number(seconds.toFixed(2)),
      peakRssMb: Math.round(peakRssMb),
      memoryLimit: memoryLimit ?? '512MB',
      threads: threads ?? 'default',
    }),
  );
}

await main();
