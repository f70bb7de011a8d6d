import path from 'node:path';
import type { SlipwayConfig } from './core/config.js';
import { LocalArtifactStore } from './registry/artifact-store.js';
import { RegistryService } from './registry/registry-service.js';
import { SqlRegistryStore } from './registry/sql-registry-store.js';
import { createOrtBackend } from './runtime/onnx/ort-backend.js';
import { ModelPool, type PoolEvent } from './runtime/model-pool.js';
import { DEFAULT_BATCHING, type BatchingOptions } from './runtime/batcher.js';
import type { ServingConfig } from './registry/serving-config.js';
import { Monitor } from './monitor/monitor.js';
import { InferenceService } from './server/inference-service.js';
import { openDatabaseFromConfig, type Database } from './store/database.js';

/** Every long-lived service of one Slipway process, wired by constructor arguments (STYLE.md §7). */
export interface Platform {
  readonly config: SlipwayConfig;
  readonly database: Database;
  readonly registry: RegistryService;
  readonly pool: ModelPool;
  readonly inference: InferenceService;
  readonly monitor: Monitor;
  close(): Promise<void>;
}

export interface PlatformOptions {
  /** Load every pushed model in ONNX Runtime before accepting it (default true). */
  readonly verifyOnPush?: boolean;
  readonly onPoolEvent?: (event: PoolEvent) => void;
  /** Export process metrics (CPU, memory, event loop) at /metrics; default true. */
  readonly processMetrics?: boolean;
}

/** Open the store, the artifact folder and the runtime described by `config`. */
export async function openPlatform(config: SlipwayConfig, options: PlatformOptions = {}): Promise<Platform> {
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
    batching: async (key) => batchingFor(await store.getServingConfig(modelOfKey(key))),
    maxLoaded: config.maxLoadedVersions,
    intraOpThreads: config.intraOpThreads,
    interOpThreads: 1,
    onBatch: (key, rows) => monitor.metrics.observeBatch(key, rows),
    onEvent: (event) => {
      if (event.type === 'loaded' || event.type === 'load-failed') monitor.metrics.observeLoad(event.key, event.durationMs / 1000, event.type === 'loaded');
      options.onPoolEvent?.(event);
    },
  });
  const inference = new InferenceService({ registry, pool, observer: monitor.observer });
  let closed: Promise<void> | undefined;
  return {
    config,
    database,
    registry,
    pool,
    inference,
    monitor,
    close() {
      closed ??= (async () => {
        await pool.close();
        await store.close();
        await database.close();
      })();
      return closed;
    },
  };
}

/** Pool keys are `model@version`. */
function modelOfKey(key: string): string {
  return key.slice(0, key.lastIndexOf('@'));
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
