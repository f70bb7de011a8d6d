import type { ServingConfig } from '../registry/serving-config.js';
import { DEFAULT_BATCHING, type BatchingOptions } from '../runtime/batcher.js';
import type { ModelLoadSettings } from '../runtime/model-pool.js';

/**
 * The batcher's settings for a model: its stored serving config over the defaults (the same
 * defaults model-config.ts reports); undefined when its config turns batching off.
 */
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

/**
 * A model's ONNX Runtime session settings and execution-provider preference from its stored
 * serving config, for the pool's `loadSettings` (read at each load); undefined when it sets neither.
 */
export function loadSettingsFor(config: ServingConfig | undefined): ModelLoadSettings | undefined {
  if (config?.session === undefined && config?.executionProviders === undefined) return undefined;
  return {
    ...(config.session === undefined ? {} : { session: config.session }),
    ...(config.executionProviders === undefined ? {} : { executionProviders: config.executionProviders }),
  };
}
