import path from 'node:path';
import type { SlipwayConfig } from './core/config.js';
import { LocalArtifactStore } from './registry/artifact-store.js';
import { RegistryService } from './registry/registry-service.js';
import { SqlRegistryStore } from './registry/sql-registry-store.js';
import { createOrtBackend } from './runtime/onnx/ort-backend.js';
import { ModelPool, type PoolEvent } from './runtime/model-pool.js';
import { DEFAULT_BATCHING, type BatchingOptions } from './runtime/batcher.js';
import type { ServingConfig } from './registry/serving-config.js';
import { InferenceService } from './server/inference-service.js';
import { openDatabaseFromConfig, type Database } from './store/database.js';

/** Every long-lived service of one Slipway process, wired by constructor arguments (STYLE.md §7). */
export interface Platform {
  readonly config: SlipwayConfig;
  readonly database: Database;
  readonly registry: RegistryService;
  readonly pool: ModelPool;
  readonly inference: InferenceService;
  close(): Promise<void>;
}

export interface PlatformOptions {
  /** Load every pushed model in ONNX Runtime before accepting it (default true). */
  readonly verifyOnPush?: boolean;
  readonly onPoolEvent?: (event: PoolEvent) => void;
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
  const pool = new ModelPool({
    backend,
    batching: async (key) => batchingFor(await store.getServingConfig(modelOfKey(key))),
    maxLoaded: config.maxLoadedVersions,
    intraOpThreads: config.intraOpThreads,
    interOpThreads: 1,
    ...(options.onPoolEvent ? { onEvent: options.onPoolEvent } : {}),
  });
  const inference = new InferenceService({ registry, pool });
  let closed: Promise<void> | undefined;
  return {
    config,
    database,
    registry,
    pool,
    inference,
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
