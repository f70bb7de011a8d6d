import { existsSync } from 'node:fs';
import type { SlipwayConfig } from '../core/config.js';
import { databaseOptionsFromConfig } from '../store/database.js';
import type { PredictionSink } from './monitor.js';
import { PredictionLog, type PredictionLogOptions } from './prediction-log.js';
import type { PredictionStore } from './prediction-store.js';

export interface OpenPredictionLogOptions extends Pick<PredictionLogOptions, 'payload' | 'payloadFor'> {
  /** The store inline writes go through (the platform's, on its shared Database). */
  readonly store: PredictionStore;
  /** Write from a worker thread when it can (compiled code); false keeps writes inline. */
  readonly thread: boolean;
  /** Where failed batches and retention passes are reported. */
  readonly log: (line: string) => void;
}

/**
 * The configured prediction log: a writer thread with its own connection when running compiled
 * (so SQLite inserts and fsyncs stay off the request thread), inline through the shared store
 * otherwise (vitest cannot start a worker from TypeScript). The caller closes it.
 */
export async function openPredictionLog(
  config: SlipwayConfig,
  options: OpenPredictionLogOptions,
): Promise<PredictionLog> {
  const worker = options.thread && existsSync(new URL('./prediction-log-worker.js', import.meta.url));
  const settings = {
    sampleRate: config.logSampleRate,
    maxAgeMs: config.logRetentionMs,
    maxRows: config.logMaxRows,
    ...(config.logMaxBytes > 0 ? { maxBytes: config.logMaxBytes } : {}),
    payload: options.payload,
    payloadFor: options.payloadFor,
    onError: (error: Error) => options.log(`prediction log: ${error.message}`),
  };
  if (!worker) return PredictionLog.open({ store: options.store, ...settings });
  return PredictionLog.open({ database: databaseOptionsFromConfig(config), ...settings });
}

/** The monitor's sink for successful inferences: each event as one prediction-log row. */
export function predictionLogSink(log: PredictionLog): PredictionSink {
  return {
    recordInference: (event) =>
      void log.record({
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
  };
}
