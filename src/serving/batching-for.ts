import type { ServingConfig } from '../registry/serving-config.js';
import { DEFAULT_BATCHING, type BatchingOptions } from '../runtime/batcher.js';

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
