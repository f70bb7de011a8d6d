import path from 'node:path';
import type { SlipwayConfig } from './core/config.js';
import { ensureHome, homeCreatedLine } from './core/home.js';
import { LocalArtifactStore } from './registry/artifact-store.js';
import { RegistryService } from './registry/registry-service.js';
import { SqlRegistryStore } from './registry/sql-registry-store.js';
import { createOrtBackend } from './runtime/onnx/ort-backend.js';
import { ModelPool, type PoolEvent } from './runtime/model-pool.js';
import { DEFAULT_BATCHING, type BatchingOptions } from './runtime/batcher.js';
import type { ServingConfig } from './registry/serving-config.js';
import { existsSync } from 'node:fs';
import { openAlertService, type AlertService } from './monitor/alerts/index.js';
import type { AlertScope } from './monitor/alerts/index.js';
import { DriftService } from './monitor/drift-service.js';
import { DriftStore } from './monitor/drift-store.js';
import { Monitor } from './monitor/monitor.js';
import { LIVE_METRICS, type LiveMetric } from './monitor/live-stats.js';
import { PERFORMANCE_METRICS, PerformanceService, type PerformanceMetric } from './monitor/performance-service.js';
import { PredictionLog, type PredictionLogOptions } from './monitor/prediction-log.js';
import { payloadPolicy, type PayloadPolicy } from './monitor/payload-policy.js';
import type { PredictionStore } from './monitor/prediction-store.js';
import { SqlPredictionStore } from './monitor/sql-prediction-store.js';
import { createServing, type Serving } from './serving/index.js';
import { FeatureDefinitionsStore } from './features/definitions/definitions-store.js';
import { FeatureStore } from './features/feature-store.js';
import { openRedisOnlineStore, openSqliteOnlineStore, type OnlineStore } from './features/online/index.js';
import { databaseOptionsFromConfig, openDatabaseFromConfig, type Database } from './store/database.js';
import { rateLimitedLog } from './core/log-limiter.js';
import { registerReliabilityMetrics } from './monitor/reliability-metrics.js';
import { JobService } from './batch/job-service.js';
import { SqlJobStore } from './batch/job-store.js';
import { openDeployments, type Deployments } from './deploy/index.js';
import { armOutcomes } from './monitor/experiment-outcomes.js';
import type { InferenceEvent } from './monitor/events.js';

/** Every long-lived service of one Slipway process, wired by constructor arguments. */
export interface Platform {
  readonly config: SlipwayConfig;
  readonly database: Database;
  readonly registry: RegistryService;
  readonly pool: ModelPool;
  /** The serving core: version resolver, lifecycle (load, ready, repository index) and the request pipeline. */
  readonly serving: Serving;
  readonly monitor: Monitor;
  /** Logged predictions and feedback (queries; writes go through `log`). */
  readonly predictions: PredictionStore;
  readonly log: PredictionLog;
  readonly performance: PerformanceService;
  readonly drift: DriftService;
  readonly alerts: AlertService;
  readonly features: FeatureStore;
  /** Batch scoring jobs; `serve` starts their background runner. */
  readonly jobs: JobService;
  /** Deployments, shadows, rollouts and experiments; `serve` starts following the store and the controller. */
  readonly deployments: Deployments;
  close(): Promise<void>;
}

export interface PlatformOptions {
  /** Load every pushed model in ONNX Runtime before accepting it (default true). */
  readonly verifyOnPush?: boolean;
  readonly onPoolEvent?: (event: PoolEvent) => void;
  /**
   * Write the prediction log from a worker thread (default true when running compiled). Short-lived
   * processes that serve no traffic (CLI commands) turn it off and skip the thread's start-up.
   */
  readonly predictionLogThread?: boolean;
  /** Where background services (alerts, drift, the prediction log) report; default stderr. */
  readonly log?: (line: string) => void;
  /** Export process metrics (CPU, memory, event loop) at /metrics; default true. */
  readonly processMetrics?: boolean;
}

/** Open the store, the artifact folder and the runtime described by `config`. */
export async function openPlatform(config: SlipwayConfig, options: PlatformOptions = {}): Promise<Platform> {
  // Both dialects keep artifacts and the online store in the home: create it first, and say so.
  if (ensureHome(config.home)) (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(homeCreatedLine(config.home));
  const database = await openDatabaseFromConfig(config);
  const backend = createOrtBackend();
  const store = new SqlRegistryStore(database);
  const artifacts = new LocalArtifactStore(path.join(config.home, 'blobs'));
  const verify = options.verifyOnPush ?? true;
  const registry = new RegistryService({
    store,
    artifacts,
    ...(verify
      ? {
          verifyArtifact: async (file: string) => {
            const model = await backend.load({ path: file, intraOpThreads: 1, interOpThreads: 1 });
            await model.release();
          },
        }
      : {}),
  });
  const defaultLogPolicy = payloadPolicy(config.logPayload, config.logMaxElements);
  const logPolicies = new Map<string, PayloadPolicy | undefined>();
  // The monitor's gauges read the pool (at scrape time, so the pool may be created after it).
  const monitor = new Monitor({
    gauges: {
      queues: () => pool.queueStats().map(({ key, stats }) => ({ key, queued: stats.queued, inFlight: stats.inFlight })),
      loadedModels: () => pool.list().filter((m) => m.status === 'ready').length,
    },
    ...(options.processMetrics === undefined ? {} : { processMetrics: options.processMetrics }),
  });
  const pool: ModelPool = new ModelPool({
    backend,
    locate: async (key) => registry.artifactPath(await registry.resolve(key.model, key.version)),
    batching: async (key) => {
      const servingConfig = await store.getServingConfig(key.model);
      // The log's payload policy comes with the other serving settings, at (re)load (issue 13 item 6).
      logPolicies.set(key.model, logPolicyFor(servingConfig, defaultLogPolicy));
      return batchingFor(servingConfig);
    },
    maxLoaded: config.maxLoadedVersions,
    intraOpThreads: config.intraOpThreads,
    interOpThreads: 1,
    onBatch: (key, rows, _requests, computeMs) => monitor.observeBatch(key, rows, computeMs),
    onEvent: (event) => {
      if (event.type === 'loaded' || event.type === 'load-failed') monitor.metrics.observeLoad(event.key, event.durationMs / 1000, event.type === 'loaded');
      options.onPoolEvent?.(event);
    },
  });
  // Background loops and services log through one rate limiter: with the database down, each would
  // otherwise write the same failure every tick (issue 13 item 4: 105 MB of identical lines).
  const log = rateLimitedLog(options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  database.onHealthChange((h) => log(h.up ? 'database: reachable again' : `database: unreachable since ${new Date(h.downSince ?? Date.now()).toISOString()} (${h.reason ?? 'unknown'}); loaded models keep serving, writes that can wait are buffered`));
  const predictions = new SqlPredictionStore(database);
  const deployments = openDeployments({
    database,
    registry,
    prepare: async (model, versions) => {
      for (const version of versions) await serving.lifecycle.warm(model, version);
    },
    runShadow: (model, version, inputs) => serving.pipeline.runShadow(model, version, inputs),
    metric: (name, model, version, since) => performance.metric(name as PerformanceMetric, { model, version }, Math.max(1, Date.now() - since)),
    outcomes: (scope, metric) => armOutcomes(predictions, scope, metric),
    log,
    shadowQueueCapacity: config.shadowQueueSize,
    shadowRetentionMs: config.logRetentionMs,
  });
  // Deployment traffic counters see every request; the monitor's metrics only when turned on.
  const observer = config.metrics
    ? (event: InferenceEvent) => {
        monitor.observer(event);
        deployments.recorder.observe(event);
      }
    : (event: InferenceEvent) => {
        // Triton's statistics extension counts whether or not metrics are exported.
        monitor.statistics.observe(event);
        deployments.recorder.observe(event);
      };
  const predictionLog = await openPredictionLog(config, predictions, log, options.predictionLogThread ?? true, { payload: defaultLogPolicy, payloadFor: (model) => logPolicies.get(model) });
  predictionLog.registerMetrics(monitor.metrics.registry);
  registerReliabilityMetrics(monitor.metrics.registry, {
    databaseUp: () => database.health().up,
    droppedWrites: () => ({ prediction_log: predictionLog.stats().dropped + predictionLog.stats().failedRows, traffic_stats: deployments.recorder.droppedSlots, shadow_results: deployments.shadows.droppedResults }),
  });
  monitor.setSink({
    recordInference: (event) =>
      void predictionLog.record({
        requestId: event.requestId,
        timeMs: event.timeMs,
        deployment: event.deployment,
        model: event.model,
        version: event.version,
        protocol: event.protocol,
        inputs: event.inputs ?? [],
        outputs: event.outputs ?? [],
        latencyMs: event.durationSeconds * 1000,
        features: event.features,
      }),
  });
  const performance = new PerformanceService({ predictions, registry });
  const drift = new DriftService({
    store: new DriftStore(database),
    predictions,
    registry,
    predict: (record, inputs) => serving.pipeline.runUnobserved(record, inputs),
    autoReferenceRows: config.driftAutoReferenceRows,
    onError: (error) => log(`drift check failed: ${error instanceof Error ? error.message : String(error)}`),
  });
  const alerts = await openAlertService(database, {
    readMetric: (metric, scope) => readMetric(metric, scope, { monitor, performance, drift }),
    log: (event) => log(event.message),
  });
  const features = new FeatureStore({
    definitions: new FeatureDefinitionsStore(database),
    online: await openOnlineStore(config),
    database,
    offlineDir: path.join(config.home, 'features', 'log'),
    signatureOf: async (ref) => (await registry.resolve(ref)).signature,
    maxFutureSkewMs: config.featureMaxFutureSkewMs,
  });
  const serving: Serving = createServing({ registry, pool, observer, router: deployments.router, shadows: deployments.shadows, features });
  const jobs = new JobService({
    store: new SqlJobStore(database),
    // The engine (DuckDB, worker threads) loads with the first job, not with every CLI command.
    run: async (spec, run) => {
      const { batchDepsOf, runBatchJob } = await import('./batch/run-batch-job.js');
      return runBatchJob(spec, batchDepsOf({ registry, features, config }), run);
    },
    // Submissions are checked (model, files, columns, settings) before they are accepted.
    check: async (spec) => {
      const [{ batchDepsOf }, { checkBatchJob }] = await Promise.all([import('./batch/run-batch-job.js'), import('./batch/check-job.js')]);
      await checkBatchJob(spec, batchDepsOf({ registry, features, config }));
    },
    concurrency: config.batchConcurrency,
    log,
  });
  let closed: Promise<void> | undefined;
  return {
    config,
    database,
    registry,
    pool,
    serving,
    monitor,
    predictions,
    log: predictionLog,
    performance,
    drift,
    alerts,
    features,
    jobs,
    deployments,
    close() {
      closed ??= (async () => {
        // Running batch jobs stop and go back to the queue (resumed at the next start).
        await jobs.stop();
        // Shadow results and traffic counters are written before the database closes.
        await deployments.close();
        await drift.stop();
        // Not alerts.close(): it closes the shared Database, and the log still has to flush into it.
        await alerts.shutdown();
        // Every prediction answered before the close is stored before the database closes.
        await predictionLog.close();
        await pool.close();
        await features.close();
        await store.close();
        await database.close();
      })();
      return closed;
    },
  };
}

/** The configured online store: SQLite in `home` by default, or Redis. */
async function openOnlineStore(config: SlipwayConfig): Promise<OnlineStore> {
  if (config.onlineStore === 'sqlite') return openSqliteOnlineStore({ path: path.join(config.home, 'online.db') });
  return openRedisOnlineStore({ url: config.onlineStore, keyPrefix: 'slipway:online:' });
}

/**
 * The prediction log: a writer thread with its own connection when running compiled (so SQLite
 * inserts and fsyncs stay off the request thread), inline through the shared store otherwise
 * (vitest cannot start a worker from TypeScript).
 */
async function openPredictionLog(config: SlipwayConfig, store: PredictionStore, log: (line: string) => void, thread: boolean, payload: Pick<PredictionLogOptions, 'payload' | 'payloadFor'>): Promise<PredictionLog> {
  const worker = thread && existsSync(new URL('./monitor/prediction-log-worker.js', import.meta.url));
  const retention = {
    sampleRate: config.logSampleRate,
    maxAgeMs: config.logRetentionMs,
    maxRows: config.logMaxRows,
    ...(config.logMaxBytes > 0 ? { maxBytes: config.logMaxBytes } : {}),
    ...payload,
    onError: (error: Error) => log(`prediction log: ${error.message}`),
  };
  if (!worker) return PredictionLog.open({ store, ...retention });
  const database = databaseOptionsFromConfig(config);
  return PredictionLog.open({ database, ...retention });
}

/** Alert rules read live metrics (last minute), performance (last 24 h) and the latest drift result. */
async function readMetric(metric: string, scope: AlertScope, sources: { monitor: Monitor; performance: PerformanceService; drift: DriftService }): Promise<number | undefined> {
  const { model, version, deployment } = scope;
  if ((LIVE_METRICS as readonly string[]).includes(metric)) {
    return sources.monitor.stats.metric(metric as LiveMetric, { window: '1m', ...(model === undefined ? {} : { model }), ...(version === undefined ? {} : { version }), ...(deployment === undefined ? {} : { deployment }) });
  }
  if (model === undefined) return undefined;
  if ((PERFORMANCE_METRICS as readonly string[]).includes(metric)) {
    return sources.performance.metric(metric as PerformanceMetric, { model, ...(version === undefined ? {} : { version }) }, 86_400_000);
  }
  const [latest] = await sources.drift.results({ model, ...(version === undefined ? {} : { version }), limit: 1 });
  if (latest === undefined || latest.dataset.drifted === null) return undefined;
  if (metric === 'drift_share') return latest.dataset.share;
  if (metric === 'drifted_columns') return latest.dataset.driftedColumns;
  return undefined;
}

/** A model's own prediction-log payload policy, when its serving config sets one. */
function logPolicyFor(config: ServingConfig | undefined, fallback: PayloadPolicy): PayloadPolicy | undefined {
  if (config?.logPayload === undefined && config?.logMaxElements === undefined) return undefined;
  return payloadPolicy(config.logPayload, config.logMaxElements, fallback);
}

/** A model's stored serving settings over the defaults; undefined when batching is turned off. */
export function batchingFor(config: ServingConfig | undefined): BatchingOptions | undefined {
  if (config?.batching === false) return undefined;
  return {
    maxBatchSize: config?.maxBatchSize ?? DEFAULT_BATCHING.maxBatchSize,
    maxQueueDelayMicros: config?.maxQueueDelayMicros ?? DEFAULT_BATCHING.maxQueueDelayMicros,
    maxQueueSize: config?.maxQueueSize ?? DEFAULT_BATCHING.maxQueueSize,
    instances: config?.instances ?? DEFAULT_BATCHING.instances,
    priorityLevels: config?.priorityLevels ?? DEFAULT_BATCHING.priorityLevels,
  };
}
