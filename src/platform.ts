import path from 'node:path';
import { CloseStack } from './core/close-stack.js';
import type { SlipwayConfig } from './core/config.js';
import { rateLimitedLog } from './core/log-limiter.js';
import { JobService } from './batch/job-service.js';
import { SqlOptimizeJobStore } from './optimize/job-store.js';
import { OptimizeJobs } from './optimize/optimize-jobs.js';
import { openChangeFeed } from './store/change-feed.js';
import { databaseOptionsFromConfig } from './store/database.js';
import { openPipelines, type OpenPipelines } from './pipelines/open-pipelines.js';
import { SqlJobStore } from './batch/job-store.js';
import { openDeployments, type Deployments } from './deploy/index.js';
import { FeatureDefinitionsStore } from './features/definitions/definitions-store.js';
import { FeatureStore } from './features/feature-store.js';
import { openOnlineStore } from './features/online/open-online-store.js';
import { openAlertService, type AlertService } from './monitor/alerts/index.js';
import { alertMetricReader } from './monitor/alerts/read-alert-metric.js';
import { DriftService } from './monitor/drift-service.js';
import { DriftStore } from './monitor/drift-store.js';
import type { InferenceEvent } from './monitor/events.js';
import { armOutcomes } from './monitor/experiment-outcomes.js';
import { ModelLogPolicies } from './monitor/model-log-policy.js';
import { Monitor } from './monitor/monitor.js';
import { openPredictionLog, predictionLogSink } from './monitor/open-prediction-log.js';
import { payloadPolicy } from './monitor/payload-policy.js';
import { PerformanceService, type PerformanceMetric } from './monitor/performance-service.js';
import type { PredictionLog } from './monitor/prediction-log.js';
import type { PredictionStore } from './monitor/prediction-store.js';
import { registerReliabilityMetrics } from './monitor/reliability-metrics.js';
import { SqlPredictionStore } from './monitor/sql-prediction-store.js';
import { openRegistry } from './registry/open-registry.js';
import type { RegistryService } from './registry/registry-service.js';
import type { SqlRegistryStore } from './registry/sql-registry-store.js';
import type { Backend } from './runtime/backend.js';
import { ModelPool, type PoolEvent } from './runtime/model-pool.js';
import { createOrtBackend } from './runtime/onnx/ort-backend.js';
import { batchingFor, loadSettingsFor } from './serving/batching-for.js';
import { createServing, type Serving } from './serving/index.js';
import type { Database } from './store/database.js';
import { TokenService } from './auth/token-service.js';
import { SqlTokenStore } from './auth/token-store.js';
import { AuditLog } from './audit/audit-log.js';
import { SqlAuditStore } from './audit/audit-store.js';

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
  /** Drift checks; `serve` starts and stops their schedule. */
  readonly drift: DriftService;
  /** Alert rules and deliveries; `serve` starts and stops their evaluation loop. */
  readonly alerts: AlertService;
  readonly features: FeatureStore;
  /** Batch scoring jobs; `serve` starts and stops their background runner. */
  readonly jobs: JobService;
  /** Optimize and distill runs asked for over the API, each in its own process; `serve` stops them. */
  readonly optimizeJobs: OptimizeJobs;
  /** Continuous training: definitions, runs, the trigger loop; `serve` advances runs in the background. */
  readonly pipelines: OpenPipelines['service'];
  readonly pipelineStores: OpenPipelines['stores'];
  /** Deployments, shadows, rollouts and experiments; `serve` starts and stops following the store and the controller. */
  readonly deployments: Deployments;
  /** API tokens (src/auth/): created, listed and revoked by the CLI, verified by `serve` on every request. */
  readonly tokens: TokenService;
  /** The audit trail: who changed what, from where, and how it ended (written directly, flushed on close). */
  readonly audit: AuditLog;
  /**
   * Close what `openPlatform` opened, once (idempotent), newest first: alert deliveries, queued
   * shadows and traffic counters, the prediction log (every answered prediction is stored), the
   * model pool, the online store, and the database last. Background loops are not its business:
   * whoever starts them stops them (server/serve.ts), before this.
   */
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

/**
 * Open the store, the artifact folder and the runtime described by `config`, and wire every
 * service. Construction only: nothing runs in the background until `serve` starts it. A failure
 * part way closes what was already opened.
 */
export async function openPlatform(config: SlipwayConfig, options: PlatformOptions = {}): Promise<Platform> {
  const stderr = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const backend = createOrtBackend();
  const verify = options.verifyOnPush ?? true;
  const verifyArtifact = async (file: string) => {
    const model = await backend.load({ path: file, intraOpThreads: 1, interOpThreads: 1 });
    await model.release();
  };
  // Everything below closes in the reverse order it is opened here: the database last.
  const opened = new CloseStack();
  const { database, store, registry } = opened.opened(
    await openRegistry(config, { log: stderr, ...(verify ? { verifyArtifact } : {}) }),
    (r) => r.close(),
  );
  try {
    return await wire(config, options, { opened, database, store, registry, backend });
  } catch (error) {
    await opened.close().catch(() => undefined);
    throw error;
  }
}

/** What `openPlatform` opened before wiring the rest, and the stack the rest is added to. */
interface Opened {
  readonly opened: CloseStack;
  readonly database: Database;
  readonly store: SqlRegistryStore;
  readonly registry: RegistryService;
  readonly backend: Backend;
}

async function wire(
  config: SlipwayConfig,
  options: PlatformOptions,
  { opened, database, store, registry, backend }: Opened,
): Promise<Platform> {
  // Background loops and services log through one rate limiter: with the database down, each would
  // otherwise write the same failure every tick (issue 13 item 4: 105 MB of identical lines).
  const log = rateLimitedLog(options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  database.onHealthChange((h) =>
    log(
      h.up
        ? 'database: reachable again'
        : `database: unreachable since ${new Date(h.downSince ?? Date.now()).toISOString()} (${h.reason ?? 'unknown'}); loaded models keep serving, writes that can wait are buffered`,
    ),
  );
  // Opened first so it closes last of the services: changes answered during the drain are recorded.
  const audit = opened.opened(new AuditLog(new SqlAuditStore(database), log), (a) => a.flush());
  const online = opened.opened(await openOnlineStore(config), (o) => o.close());
  const logPolicies = new ModelLogPolicies(payloadPolicy(config.logPayload, config.logMaxElements));
  // The monitor's gauges read the pool (at scrape time, so the pool may be created after it).
  const monitor = new Monitor({
    gauges: {
      queues: () =>
        pool.queueStats().map(({ key, stats }) => ({ key, queued: stats.queued, inFlight: stats.inFlight })),
      loadedModels: () => pool.list().filter((m) => m.status === 'ready').length,
      providers: () => pool.providers().map(({ key, provider }) => ({ key, provider: provider.name })),
    },
    ...(options.processMetrics === undefined ? {} : { processMetrics: options.processMetrics }),
  });
  const pool: ModelPool = opened.opened(
    new ModelPool({
      backend,
      locate: async (key) => registry.artifactPath(await registry.resolve(key.model, key.version)),
      batching: async (key) => {
        const servingConfig = await store.getServingConfig(key.model);
        logPolicies.update(key.model, servingConfig);
        return batchingFor(servingConfig);
      },
      // The serving config's `warmup` is the pool's WarmupPlan as stored (registry/serving-config.ts).
      warmup: async (key) => (await store.getServingConfig(key.model))?.warmup,
      loadSettings: async (key) => loadSettingsFor(await store.getServingConfig(key.model)),
      maxLoaded: config.maxLoadedVersions,
      intraOpThreads: config.intraOpThreads,
      interOpThreads: 1,
      onBatch: (key, rows, _requests, computeMs) => monitor.observeBatch(key, rows, computeMs),
      onEvent: (event) => {
        if (event.type === 'loaded' || event.type === 'load-failed')
          monitor.metrics.observeLoad(event.key, event.durationMs / 1000, event.type === 'loaded');
        options.onPoolEvent?.(event);
      },
    }),
    (p) => p.close(),
  );
  const predictions = new SqlPredictionStore(database);
  const predictionLog = opened.opened(
    await openPredictionLog(config, {
      store: predictions,
      thread: options.predictionLogThread ?? true,
      log,
      payload: logPolicies.fallback,
      payloadFor: logPolicies.payloadFor,
    }),
    (l) => l.close(),
  );
  predictionLog.registerMetrics(monitor.metrics.registry);
  monitor.setSink(predictionLogSink(predictionLog));
  const performance = new PerformanceService({ predictions, registry });
  // PostgreSQL: deployment changes are announced and followed at once (LISTEN/NOTIFY); SQLite keeps polling.
  const changes = opened.opened(
    openChangeFeed(database, databaseOptionsFromConfig(config), {
      onError: (error) => log(`change feed: ${error instanceof Error ? error.message : String(error)}`),
    }),
    (feed) => feed.close(),
  );
  const deployments = opened.opened(
    openDeployments({
      database,
      changes,
      registry,
      prepare: async (model, versions) => {
        for (const version of versions) await serving.lifecycle.warm(model, version);
      },
      runShadow: (model, version, inputs) => serving.pipeline.runShadow(model, version, inputs),
      metric: (name, model, version, since) =>
        performance.metric(name as PerformanceMetric, { model, version }, Math.max(1, Date.now() - since)),
      outcomes: (scope, metric) => armOutcomes(predictions, scope, metric),
      log,
      shadowQueueCapacity: config.shadowQueueSize,
      shadowRetentionMs: config.logRetentionMs,
    }),
    (d) => d.close(),
  );
  registerReliabilityMetrics(monitor.metrics.registry, {
    databaseUp: () => database.health().up,
    droppedWrites: () => ({
      prediction_log: predictionLog.stats().dropped + predictionLog.stats().failedRows,
      traffic_stats: deployments.recorder.droppedSlots,
      shadow_results: deployments.shadows.droppedResults,
    }),
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
  const drift = new DriftService({
    store: new DriftStore(database),
    predictions,
    registry,
    predict: (record, inputs) => serving.pipeline.runUnobserved(record, inputs),
    autoReferenceRows: config.driftAutoReferenceRows,
    onError: (error) => log(`drift check failed: ${error instanceof Error ? error.message : String(error)}`),
  });
  // Closing cuts pending webhook retries short; the alert store leaves the database open.
  const alerts = opened.opened(
    await openAlertService(database, {
      readMetric: alertMetricReader({ live: monitor.stats, performance, drift }),
      log: (event) => log(event.message),
      webhook: { allow: config.webhookAllow },
    }),
    (a) => a.close(),
  );
  const features = new FeatureStore({
    definitions: new FeatureDefinitionsStore(database),
    online,
    database,
    offlineDir: path.join(config.home, 'features', 'log'),
    signatureOf: async (ref) => (await registry.resolve(ref)).signature,
    maxFutureSkewMs: config.featureMaxFutureSkewMs,
  });
  const serving: Serving = createServing({
    registry,
    pool,
    observer,
    router: deployments.router,
    shadows: deployments.shadows,
    features,
    servingConfigOf: (model) => store.getServingConfig(model),
  });
  const jobs = new JobService({
    store: new SqlJobStore(database),
    // Jobs are submitted by clients over the API: their files stay inside the data roots.
    dataRoots: config.dataRoots,
    // The engine (DuckDB, worker threads) loads with the first job, not with every CLI command.
    run: async (spec, run) => {
      const { batchDepsOf, runBatchJob } = await import('./batch/run-batch-job.js');
      return runBatchJob(spec, batchDepsOf({ registry, features, config }), run);
    },
    // Submissions are checked (model, files, columns, settings) before they are accepted.
    check: async (spec) => {
      const [{ batchDepsOf }, { checkBatchJob }] = await Promise.all([
        import('./batch/run-batch-job.js'),
        import('./batch/check-job.js'),
      ]);
      await checkBatchJob(spec, batchDepsOf({ registry, features, config }));
    },
    concurrency: config.batchConcurrency,
    log,
  });
  const pipelines = openPipelines({
    database,
    registry,
    predictions,
    features,
    drift,
    performance,
    deployments,
    home: config.home,
    staleMs: config.pipelineStaleMs,
    webhookAllow: config.webhookAllow,
    log,
  });
  return {
    config,
    database,
    pipelines: pipelines.service,
    pipelineStores: pipelines.stores,
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
    audit,
    optimizeJobs: new OptimizeJobs({
      store: new SqlOptimizeJobStore(database),
      registry,
      dataRoots: config.dataRoots,
      // The runner opens this home and database whatever the environment said.
      env: {
        ...process.env,
        SLIPWAY_HOME: config.home,
        ...(config.databaseUrl === undefined ? {} : { SLIPWAY_DATABASE_URL: config.databaseUrl }),
      },
      log,
    }),
    tokens: new TokenService(new SqlTokenStore(database)),
    close: () => opened.close(),
  };
}
