// Benchmark settings, read once from the environment.
//
//   BENCH_SECONDS      seconds per measured cell (default 10; 2 with BENCH_QUICK=1)
//   BENCH_QUICK=1      smoke run: 2 s cells, 1 s warm-ups, concurrency 1 and 32 only
//   BENCH_WARMUP       seconds of warm-up per server and payload (default 3)
//   BENCH_CONCURRENCY  comma-separated list (default 1,32,64)
//   BENCH_ORT_THREADS  ONNX Runtime intra-op threads for the raw and bare-stack runs (default 1,
//                      Slipway's own default SLIPWAY_INTRA_OP_THREADS)
//   BENCH_QUIET_WAIT   before each cell, wait up to this many seconds for other processes to use
//                      less than BENCH_QUIET_THRESHOLD of the machine (default 15 and 0.1; 0 = no wait)
//   BENCH_RETRIES      re-measure a cell disturbed by other processes (> BENCH_DISTURBED of the
//                      machine, default 0.15) up to this many times, keeping the least disturbed (default 2)
//   BENCH_ONLY         comma-separated scenario groups to run (raw,ceiling,bare,flask,gunicorn,slipway,monitoring,features,batch,deployments,optimize)
//   BENCH_PIT_*, BENCH_ONLINE_*, BENCH_REDIS_URL   sizes of the `features` group (see bench/README.md)
//   BENCH_BATCH_*      sizes of the `batch` group (see bench/README.md)
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const env = process.env;
const quick = env.BENCH_QUICK === '1';

function number(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return value;
}

function text(name, fallback) {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

function list(name, fallback) {
  const raw = env[name];
  return raw
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : fallback;
}

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = resolve(BENCH_DIR, '..');
export const MODELS_DIR = join(ROOT, 'fixtures', 'models');
export const PYTHON = '/usr/bin/python3';

export const config = Object.freeze({
  quick,
  seconds: number('BENCH_SECONDS', quick ? 2 : 10),
  warmupSeconds: number('BENCH_WARMUP', quick ? 1 : 3),
  concurrency: list('BENCH_CONCURRENCY', quick ? ['1', '32'] : ['1', '32', '64']).map(Number),
  ortThreads: number('BENCH_ORT_THREADS', 1),
  quietWait: env.BENCH_QUIET_WAIT === '0' ? 0 : number('BENCH_QUIET_WAIT', 15),
  quietThreshold: number('BENCH_QUIET_THRESHOLD', 0.1),
  retries: env.BENCH_RETRIES === '0' ? 0 : number('BENCH_RETRIES', 2),
  disturbedThreshold: number('BENCH_DISTURBED', 0.15),
  only: new Set(
    list('BENCH_ONLY', [
      'raw',
      'ceiling',
      'bare',
      'flask',
      'gunicorn',
      'slipway',
      'monitoring',
      'features',
      'batch',
      'deployments',
      'optimize',
    ]),
  ),
  rawBatches: [1, 8, 64, 512],
  // The `features` group (issue 5): point-in-time join sizes and online retrieval.
  features: Object.freeze({
    pitEntityRows: number('BENCH_PIT_ENTITY_ROWS', 1_000_000),
    pitFeatureRows: number('BENCH_PIT_FEATURE_ROWS', quick ? 1_000_000 : 10_000_000),
    pitStrategies: list('BENCH_PIT_STRATEGIES', ['asof']),
    pitMemoryLimit: text('BENCH_PIT_MEMORY_LIMIT', undefined),
    pitThreads: env.BENCH_PIT_THREADS ? number('BENCH_PIT_THREADS', 0) : undefined,
    onlineEntities: number('BENCH_ONLINE_ENTITIES', 100_000),
    onlineFeatures: number('BENCH_ONLINE_FEATURES', 50),
    onlineReads: number('BENCH_ONLINE_READS', 20_000),
    onlineWarmup: number('BENCH_ONLINE_WARMUP', 2_000),
    redisUrl: text('BENCH_REDIS_URL', 'redis://127.0.0.1:6379'),
  }),
  // The `batch` group (issue 6): rows scored from Parquet, rows per chunk (both engines),
  // `slipway batch run --workers` (unset = the engine's default) and the raw worker_threads variant (0 = skip).
  batch: Object.freeze({
    rows: number('BENCH_BATCH_ROWS', quick ? 1_000_000 : 10_000_000),
    chunkRows: number('BENCH_BATCH_CHUNK_ROWS', 100_000),
    workers: env.BENCH_BATCH_WORKERS ? number('BENCH_BATCH_WORKERS', 0) : undefined,
    rawWorkers: env.BENCH_BATCH_RAW_WORKERS === '0' ? 0 : number('BENCH_BATCH_RAW_WORKERS', cpus().length),
  }),
});

/** Groups that start model servers or ORT (need the models, wrk and the Python baseline). */
export const MODEL_GROUPS = ['raw', 'ceiling', 'bare', 'flask', 'gunicorn', 'slipway', 'monitoring'];
